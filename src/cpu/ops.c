/* cpu/ops.c - linear layers on OpenBLAS, LayerNorm, GELU, the ViT block.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/ops.h"

#include <cblas.h>
#include <omp.h>
#ifdef __AVX512F__
#include <immintrin.h>
#include "cpu/softmax.h"
#endif
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

#ifdef __AVX512F__
/* erf(x) = sign(x) (1 - poly(t) e^{-x^2}), t = 1 / (1 + p|x|)
 * (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7): GELU was the largest
 * cost after the GEMMs with libm's scalar erff. */
static inline __m512
erf_avx512 (__m512 x)
{
  const __m512 one = _mm512_set1_ps (1.0f);
  __m512 ax = _mm512_abs_ps (x);
  __m512 t = _mm512_div_ps (one, _mm512_fmadd_ps (_mm512_set1_ps (0.3275911f), ax, one));
  __m512 y = _mm512_set1_ps (1.061405429f);
  y = _mm512_fmadd_ps (y, t, _mm512_set1_ps (-1.453152027f));
  y = _mm512_fmadd_ps (y, t, _mm512_set1_ps (1.421413741f));
  y = _mm512_fmadd_ps (y, t, _mm512_set1_ps (-0.284496736f));
  y = _mm512_fmadd_ps (y, t, _mm512_set1_ps (0.254829592f));
  y = _mm512_mul_ps (y, t);
  __m512 e = ct_exp_avx512 (_mm512_sub_ps (_mm512_setzero_ps (), _mm512_mul_ps (ax, ax)));
  __m512 r = _mm512_fnmadd_ps (y, e, one);
  /* copy the sign of x */
  return _mm512_castsi512_ps (_mm512_or_si512 (_mm512_castps_si512 (r),
          _mm512_and_si512 (_mm512_castps_si512 (x), _mm512_set1_epi32 ((int) 0x80000000u))));
}
#endif

void
ct_cpu_gelu (float *x, gsize n)
{
  #pragma omp parallel if (n > 65536)
  {
    int nt = omp_get_num_threads (), id = omp_get_thread_num ();
    gsize chunk = ((n + nt - 1) / nt + 15) & ~(gsize) 15;
    gsize i = MIN (n, chunk * id), end = MIN (n, i + chunk);
#ifdef __AVX512F__
    const __m512 half = _mm512_set1_ps (0.5f), one = _mm512_set1_ps (1.0f);
    for (; i + 16 <= end; i += 16) {
      __m512 v = _mm512_loadu_ps (x + i);
      __m512 e = erf_avx512 (_mm512_mul_ps (v, _mm512_set1_ps ((float) M_SQRT1_2)));
      _mm512_storeu_ps (x + i, _mm512_mul_ps (_mm512_mul_ps (half, v), _mm512_add_ps (one, e)));
    }
#endif
    for (; i < end; i++)
      x[i] = 0.5f * x[i] * (1.0f + erff (x[i] * (float) M_SQRT1_2));
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
