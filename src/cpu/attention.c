/* cpu/attention.c - multi-head attention without an S x S matrix.
 *
 * Work items are (head, block of QB query rows); each computes its QB x Sk
 * logits with one GEMM, a row softmax, and one GEMM with V.  The logits of
 * one block (QB * Sk floats) stay in cache for Sk up to a few thousand.
 * Items run on the OpenMP pool; OpenBLAS (OpenMP build) runs single-threaded
 * inside a parallel region, so the two never compete for cores.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/ops.h"
#include "cpu/kernels.h"
#include "cpu/attention-impl.h"

#include <stdlib.h>

#include <cblas.h>
#include <math.h>
#include <omp.h>

#define QB 64

void
ct_attention_blas (const float *q, int ldq, const float *k, int ldk,
    const float *v, int ldv, float *out, int ldo, int Sq, int Sk, int heads,
    int hd, const float *key_bias)
{
  int nqb = (Sq + QB - 1) / QB;
  int items = heads * nqb;
  float scale = 1.0f / sqrtf ((float) hd);
  float (*softmax_exp_row) (float *, const float *, int) = ct_cpu_kernels ()->softmax_exp_row;

  #pragma omp parallel
  {
    float *logits = g_malloc ((gsize) QB * Sk * sizeof (float));
    #pragma omp for schedule(dynamic, 1)
    for (int it = 0; it < items; it++) {
      int h = it / nqb, q0 = (it % nqb) * QB;
      int nq = MIN (QB, Sq - q0);
      const float *qh = q + (gsize) q0 * ldq + h * hd;
      const float *kh = k + h * hd;
      const float *vh = v + h * hd;
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, nq, Sk, hd, scale,
          qh, ldq, kh, ldk, 0.0f, logits, Sk);
      float inv[QB];
      for (int i = 0; i < nq; i++)
        inv[i] = 1.0f / softmax_exp_row (logits + (gsize) i * Sk, key_bias, Sk);
      /* normalise the (nq, hd) output instead of the (nq, Sk) weights */
      float *o = out + (gsize) q0 * ldo + h * hd;
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, hd, Sk, 1.0f,
          logits, Sk, vh, ldv, 0.0f, o, ldo);
      for (int i = 0; i < nq; i++)
        for (int j = 0; j < hd; j++)
          o[(gsize) i * ldo + j] *= inv[i];
    }
    g_free (logits);
  }
}

/* The kernel set's fused attention where it has one for this head dim;
 * COORDTOK_ATTENTION=blas forces the BLAS path (benchmarks, checks). */
void
ct_cpu_attention (const float *q, int ldq, const float *k, int ldk,
    const float *v, int ldv, float *out, int ldo, int Sq, int Sk, int heads,
    int hd, const float *key_bias)
{
  static int force_blas = -1;
  if (force_blas < 0)
    force_blas = g_strcmp0 (g_getenv ("COORDTOK_ATTENTION"), "blas") == 0;
  const CtCpuKernels *ks = ct_cpu_kernels ();
  if (!force_blas && ks->attention_fused && ct_attention_fused_supported (hd))
    ks->attention_fused (q, ldq, k, ldk, v, ldv, out, ldo, Sq, Sk, heads, hd, key_bias);
  else
    ct_attention_blas (q, ldq, k, ldk, v, ldv, out, ldo, Sq, Sk, heads, hd, key_bias);
}
