/* cpu/ops.c - LayerNorm, GELU, the ViT block, the linear layers' benchmarks
 * (the linear layers themselves: cpu/linear.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/linear.h"
#include "cpu/ops.h"

#include "cpu/kernels.h"
#include "cpu/blas-core.h"

#include <cblas.h>
#include <omp.h>
#include <math.h>
#include <string.h>

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
  const CtCpuKernels *k = ct_cpu_kernels ();
  /* blocks of rows: one call per block keeps the dispatch out of the loop */
  int nb = (M + 7) / 8;
  #pragma omp parallel for if (M > 32)
  for (int blk = 0; blk < nb; blk++)
    k->layernorm_rows (x, D, n->w, n->b, n->eps, y, blk * 8, MIN (M, blk * 8 + 8));
}

void
ct_cpu_gelu (float *x, gsize n)
{
  const CtCpuKernels *k = ct_cpu_kernels ();
  #pragma omp parallel if (n > 65536)
  {
    int nt = omp_get_num_threads (), id = omp_get_thread_num ();
    gsize chunk = ((n + nt - 1) / nt + 15) & ~(gsize) 15;
    gsize i = MIN (n, chunk * id), end = MIN (n, i + chunk);
    k->gelu_range (x, i, end);
  }
}

gsize
ct_cpu_vit_scratch_floats (int S, int D)
{
  /* ln (S,D) + qkv (S,3D) + att (S,D) + hidden (S,4D): hidden reuses qkv+att */
  return (gsize) S * D + (gsize) S * 4 * D;
}

void
ct_cpu_vit_block (const CtVitBlock *b, float *x, int S, int seq, int D,
    int heads, float *scratch)
{
  float *ln = scratch;
  float *qkv = ln + (gsize) S * D;        /* (S, 3D) */
  float *att = qkv + (gsize) S * 3 * D;   /* (S, D) */
  float *hidden = qkv;                    /* (S, 4D), after attention */
  int hd = D / heads;

  ct_cpu_layernorm (&b->norm1, x, S, D, ln);
  ct_cpu_linear (&b->qkv, ln, S, qkv, FALSE);
  for (int s0 = 0; s0 < S; s0 += seq) {
    float *q = qkv + (gsize) s0 * 3 * D;
    ct_cpu_attention (q, 3 * D, q + D, 3 * D, q + 2 * D, 3 * D,
        att + (gsize) s0 * D, D, seq, seq, heads, hd, NULL);
  }
  ct_cpu_linear (&b->proj, att, S, x, TRUE);
  ct_cpu_layernorm (&b->norm2, x, S, D, ln);
  ct_cpu_linear (&b->fc1, ln, S, hidden, FALSE);
  ct_cpu_gelu (hidden, (gsize) S * 4 * D);
  ct_cpu_linear (&b->fc2, hidden, S, x, TRUE);
}

/* The linear layers' own rate (whichever path ct_cpu_linear takes), over
 * `layers` distinct weight matrices, as a model's blocks have: weights come
 * from memory, not from a cache that one matrix would stay in. */
double
ct_cpu_linear_gflops (int rows, int in, int out, int layers, int reps)
{
  if (rows < 1 || in < 1 || out < 1 || layers < 1 || reps < 1)
    return 0;
  ct_cpu_blas_setup ();
  gsize wn = (gsize) layers * out * in;
  float *w = g_try_malloc (wn * sizeof (float)), *b = g_malloc (out * sizeof (float));
  float *x = g_malloc ((gsize) rows * in * sizeof (float));
  float *y = g_malloc ((gsize) rows * out * sizeof (float));
  if (!w) {
    g_free (b); g_free (x); g_free (y);
    return 0;
  }
  for (gsize i = 0; i < wn; i++)
    w[i] = (float) ((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
  for (int j = 0; j < out; j++)
    b[j] = 0.01f * (j % 7);
  for (gsize i = 0; i < (gsize) rows * in; i++)
    x[i] = (float) (i % 13) * 0.05f - 0.3f;
  double best = 0;
  for (int r = -1; r < reps; r++) {   /* r = -1: packs the weights, untimed */
    gint64 t0 = g_get_monotonic_time ();
    for (int l = 0; l < layers; l++) {
      CtLinear lin = { w + (gsize) l * out * in, b, out, in };
      ct_cpu_linear (&lin, x, rows, y, FALSE);
    }
    double s = (g_get_monotonic_time () - t0) / 1e6;
    if (r >= 0)
      best = MAX (best, 2.0 * rows * in * out * layers / s / 1e9);
  }
  ct_cpu_linear_forget (w, wn * sizeof (float));
  g_free (w); g_free (b); g_free (x); g_free (y);
  return best;
}

/* The machine's fp32 GEMM rate through the same BLAS, for `coordtok bench
 * --gemm`: the ceiling the linear layers are compared against. */
double
ct_cpu_sgemm_gflops (int n, int reps)
{
  ct_cpu_blas_setup ();
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
