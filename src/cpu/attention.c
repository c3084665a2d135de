/* cpu/attention.c - multi-head attention without an S x S matrix.
 *
 * Work items are (head, block of QB query rows); each computes its QB x Sk
 * logits with one GEMM, a row softmax, and one GEMM with V.  The logits of
 * one block (QB * Sk floats) stay in cache for Sk up to a few thousand.
 * Items run on the OpenMP pool; OpenBLAS (OpenMP build) runs single-threaded
 * inside a parallel region, so the two never compete for cores.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/ops.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>

#define QB 64

void
ct_cpu_attention (const float *q, int ldq, const float *k, int ldk,
    const float *v, int ldv, float *out, int ldo, int Sq, int Sk, int heads,
    int hd, const float *key_bias)
{
  int nqb = (Sq + QB - 1) / QB;
  int items = heads * nqb;
  float scale = 1.0f / sqrtf ((float) hd);

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
      for (int i = 0; i < nq; i++) {
        float *r = logits + (gsize) i * Sk;
        if (key_bias)
          for (int j = 0; j < Sk; j++)
            r[j] += key_bias[j];
        float mx = -INFINITY;
        for (int j = 0; j < Sk; j++)
          mx = r[j] > mx ? r[j] : mx;
        float sum = 0;
        for (int j = 0; j < Sk; j++) {
          r[j] = expf (r[j] - mx);
          sum += r[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < Sk; j++)
          r[j] *= inv;
      }
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, hd, Sk, 1.0f,
          logits, Sk, vh, ldv, 0.0f, out + (gsize) q0 * ldo + h * hd, ldo);
    }
    g_free (logits);
  }
}
