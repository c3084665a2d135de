/* cpu/ops.c - linear layers on OpenBLAS, LayerNorm, GELU, the ViT block.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void
ct_cpu_linear (const CtLinear *lin, const float *x, int M, float *y,
    gboolean accumulate)
{
  int out = lin->out, in = lin->in;
  float beta = 1.0f;
  if (!accumulate) {
    if (lin->b) {
      #pragma omp parallel for if (M > 64)
      for (int i = 0; i < M; i++)
        memcpy (y + (gsize) i * out, lin->b, out * sizeof (float));
    } else
      beta = 0.0f;
  } else if (lin->b)
    ct_cpu_add_rows (y, lin->b, M, out);
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, M, out, in, 1.0f,
      x, in, lin->w, in, beta, y, out);
}

void
ct_cpu_add_rows (float *y, const float *a, int M, int D)
{
  #pragma omp parallel for if (M > 64)
  for (int i = 0; i < M; i++) {
    float *r = y + (gsize) i * D;
    for (int j = 0; j < D; j++)
      r[j] += a[j];
  }
}

void
ct_cpu_layernorm (const CtNorm *n, const float *x, int M, int D, float *y)
{
  #pragma omp parallel for if (M > 32)
  for (int i = 0; i < M; i++) {
    const float *r = x + (gsize) i * D;
    float *o = y + (gsize) i * D;
    /* two-pass in float, as PyTorch's CPU kernel (accumulated in double
     * here for stability; differences are far below tolerance) */
    double s = 0;
    for (int j = 0; j < D; j++)
      s += r[j];
    float mean = (float) (s / D);
    double v = 0;
    for (int j = 0; j < D; j++) {
      float d = r[j] - mean;
      v += (double) d * d;
    }
    float rstd = 1.0f / sqrtf ((float) (v / D) + n->eps);
    for (int j = 0; j < D; j++)
      o[j] = (r[j] - mean) * rstd * n->w[j] + n->b[j];
  }
}

void
ct_cpu_gelu (float *x, gsize n)
{
  #pragma omp parallel for if (n > 65536) schedule(static)
  for (gsize i = 0; i < n; i++)
    x[i] = 0.5f * x[i] * (1.0f + erff (x[i] * (float) M_SQRT1_2));
}

gsize
ct_cpu_vit_scratch_floats (int S, int D)
{
  /* ln (S,D) + qkv (S,3D) + att (S,D) + hidden (S,4D): hidden reuses qkv+att */
  return (gsize) S * D + (gsize) S * 4 * D;
}

void
ct_cpu_vit_block (const CtVitBlock *b, float *x, int S, int D, int heads,
    float *scratch)
{
  float *ln = scratch;
  float *qkv = ln + (gsize) S * D;        /* (S, 3D) */
  float *att = qkv + (gsize) S * 3 * D;   /* (S, D) */
  float *hidden = qkv;                    /* (S, 4D), after attention */
  int hd = D / heads;

  ct_cpu_layernorm (&b->norm1, x, S, D, ln);
  ct_cpu_linear (&b->qkv, ln, S, qkv, FALSE);
  ct_cpu_attention (qkv, 3 * D, qkv + D, 3 * D, qkv + 2 * D, 3 * D, att, D,
      S, S, heads, hd, NULL);
  ct_cpu_linear (&b->proj, att, S, x, TRUE);
  ct_cpu_layernorm (&b->norm2, x, S, D, ln);
  ct_cpu_linear (&b->fc1, ln, S, hidden, FALSE);
  ct_cpu_gelu (hidden, (gsize) S * 4 * D);
  ct_cpu_linear (&b->fc2, hidden, S, x, TRUE);
}

/* The machine's fp32 GEMM rate through the same BLAS, for `coordtok bench
 * --gemm`: the ceiling the linear layers are compared against. */
double
ct_cpu_sgemm_gflops (int n, int reps)
{
  float *a = g_malloc ((gsize) n * n * sizeof (float));
  float *b = g_malloc ((gsize) n * n * sizeof (float));
  float *c = g_malloc ((gsize) n * n * sizeof (float));
  for (gsize i = 0; i < (gsize) n * n; i++) {
    a[i] = (float) (i % 7) * 0.1f;
    b[i] = (float) (i % 5) * 0.1f;
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
  double best = 0;
  for (int r = 0; r < reps; r++) {
    gint64 t0 = g_get_monotonic_time ();
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double s = (g_get_monotonic_time () - t0) / 1e6;
    best = MAX (best, 2.0 * n * n * n / s / 1e9);
  }
  g_free (a);
  g_free (b);
  g_free (c);
  return best;
}
