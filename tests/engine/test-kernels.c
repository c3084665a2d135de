/* test-kernels.c - every CPU kernel set this machine can run, against a
 * double-precision reference: softmax rows, GELU, LayerNorm, and the fused
 * attention over the head dims it takes (16/32/64), several key blocks,
 * ragged tails and a key bias.  The golden cases check whole models; this
 * reaches the shapes they do not (CoordTok-L's head dim 64, sequences of
 * thousands), and the engine's GEMM (cpu/gemm-kernels.c) over ragged
 * rows, panels and k blocks, with bias and residual, cut into work items in
 * different ways (the result must not change by a bit).  Sets the CPU lacks
 * are reported as skipped.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "coordtok.h"
#include "cpu/kernels.h"
#include "cpu/blas-core.h"

#include <glib.h>
#include <math.h>
#include <string.h>

static float
urand (GRand *r)
{
  return (float) g_rand_double_range (r, -1.0, 1.0);
}

static void
check_close (const char *what, const float *got, const double *want, gsize n,
    double rel, double abs_tol)
{
  double worst = 0;
  for (gsize i = 0; i < n; i++) {
    double e = fabs (got[i] - want[i]) - rel * fabs (want[i]);
    if (e > worst)
      worst = e;
    if (!(fabs (got[i] - want[i]) <= rel * fabs (want[i]) + abs_tol))
      g_error ("%s[%" G_GSIZE_FORMAT "]: got %.9g, want %.9g", what, i, got[i], want[i]);
  }
}

static void
check_softmax (const CtCpuKernels *k, GRand *r)
{
  const int sizes[] = { 1, 7, 16, 33, 128, 1000 };
  for (guint si = 0; si < G_N_ELEMENTS (sizes); si++) {
    int n = sizes[si];
    float *x = g_new (float, n), *bias = g_new (float, n);
    double *want = g_new (double, n);
    for (int i = 0; i < n; i++) {
      x[i] = 20 * urand (r);
      bias[i] = i % 5 ? 0.0f : 1.0f;
    }
    /* the reference exp of the same float inputs (x + bias - max rounded
     * to float, as any float kernel must): what is checked is the exp */
    float mx = -INFINITY;
    double sum = 0;
    for (int i = 0; i < n; i++)
      mx = MAX (mx, x[i] + bias[i]);
    for (int i = 0; i < n; i++) {
      float arg = (x[i] + bias[i]) - mx;
      sum += want[i] = exp ((double) arg);
    }
    float got_sum = k->softmax_exp_row (x, bias, n);
    check_close ("softmax", x, want, n, 1e-6, 1e-30);
    g_assert_cmpfloat (fabs (got_sum - sum), <=, 1e-6 * sum);
    g_free (x);
    g_free (bias);
    g_free (want);
  }
}

static void
check_gelu (const CtCpuKernels *k, GRand *r)
{
  const gsize n = 1003;
  float *x = g_new (float, n);
  double *want = g_new (double, n);
  for (gsize i = 0; i < n; i++) {
    x[i] = 6 * urand (r);
    want[i] = 0.5 * x[i] * (1 + erf (x[i] / sqrt (2.0)));
  }
  k->gelu_range (x, 0, 500);
  k->gelu_range (x, 500, n);
  /* A&S erf: |error| <= 1.5e-7, times x/2 in the tail where 1 + erf cancels */
  check_close ("gelu", x, want, n, 1e-6, 5e-7);
  g_free (x);
  g_free (want);
}

static void
check_layernorm (const CtCpuKernels *k, GRand *r)
{
  const int M = 5, D = 72;
  float x[M * D], y[M * D], w[D], b[D];
  double want[M * D];
  for (int i = 0; i < M * D; i++)
    x[i] = 3 * urand (r) + 2;
  for (int j = 0; j < D; j++) {
    w[j] = urand (r);
    b[j] = urand (r);
  }
  for (int i = 0; i < M; i++) {
    double mean = 0, var = 0;
    for (int j = 0; j < D; j++)
      mean += x[i * D + j];
    mean /= D;
    for (int j = 0; j < D; j++)
      var += (x[i * D + j] - mean) * (x[i * D + j] - mean);
    var /= D;
    for (int j = 0; j < D; j++)
      want[i * D + j] = (x[i * D + j] - mean) / sqrt (var + 1e-5) * w[j] + b[j];
  }
  k->layernorm_rows (x, D, w, b, 1e-5f, y, 0, 2);
  k->layernorm_rows (x, D, w, b, 1e-5f, y, 2, M);
  check_close ("layernorm", y, want, M * D, 1e-5, 1e-6);
}

static void
check_attention (const CtCpuKernels *k, GRand *r, int hd, int Sq, int Sk, gboolean bias)
{
  const int heads = 2, D = heads * hd, ld = 3 * D + 5;   /* strided rows */
  float *qkv = g_new (float, (gsize) MAX (Sq, Sk) * ld);
  float *kb = g_new (float, Sk), *out = g_new (float, (gsize) Sq * D);
  double *want = g_new (double, (gsize) Sq * D), *p = g_new (double, Sk);
  for (gsize i = 0; i < (gsize) MAX (Sq, Sk) * ld; i++)
    qkv[i] = 2 * urand (r);
  for (int j = 0; j < Sk; j++)
    kb[j] = bias && j % 3 == 0 ? 1.0f : 0.0f;
  const float *q = qkv, *kk = qkv + D, *v = qkv + 2 * D;
  for (int h = 0; h < heads; h++)
    for (int i = 0; i < Sq; i++) {
      double mx = -INFINITY, sum = 0;
      for (int j = 0; j < Sk; j++) {
        double s = 0;
        for (int d = 0; d < hd; d++)
          s += (double) q[(gsize) i * ld + h * hd + d] * kk[(gsize) j * ld + h * hd + d];
        p[j] = s / sqrt ((double) hd) + (bias ? kb[j] : 0);
        mx = MAX (mx, p[j]);
      }
      for (int j = 0; j < Sk; j++)
        sum += p[j] = exp (p[j] - mx);
      for (int d = 0; d < hd; d++) {
        double o = 0;
        for (int j = 0; j < Sk; j++)
          o += p[j] * v[(gsize) j * ld + h * hd + d];
        want[(gsize) i * D + h * hd + d] = o / sum;
      }
    }
  k->attention_fused (q, ld, kk, ld, v, ld, out, D, Sq, Sk, heads, hd, bias ? kb : NULL);
  char *what = g_strdup_printf ("attention hd=%d Sq=%d Sk=%d", hd, Sq, Sk);
  check_close (what, out, want, (gsize) Sq * D, 1e-5, 1e-5);
  g_free (what);
  g_free (qkv);
  g_free (kb);
  g_free (out);
  g_free (want);
  g_free (p);
}

/* y (M, N) (+)= x (M, K) W^T (+ b) through the set's packing and blocks:
 * against a double reference within the bound of a K-term float sum, and
 * bit-identical however the rows and panels are cut into items */
static void
check_gemm (const CtCpuKernels *k, GRand *r, int M, int N, int K, gboolean bias,
    gboolean accumulate)
{
  int nr = k->gemm_nr, panels = (N + nr - 1) / nr;
  float *x = g_new (float, (gsize) M * K), *w = g_new (float, (gsize) N * K);
  float *b = g_new (float, N), *y0 = g_new (float, (gsize) M * N);
  float *packed = g_new (float, (gsize) panels * nr * K);
  float *y = g_new (float, (gsize) M * N), *y2 = g_new (float, (gsize) M * N);
  double *want = g_new (double, (gsize) M * N), *bound = g_new (double, (gsize) M * N);
  for (gsize i = 0; i < (gsize) M * K; i++) x[i] = urand (r);
  for (gsize i = 0; i < (gsize) N * K; i++) w[i] = urand (r);
  for (int j = 0; j < N; j++) b[j] = urand (r);
  for (gsize i = 0; i < (gsize) M * N; i++) y0[i] = urand (r);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0, mag = 0;
      for (int q = 0; q < K; q++) {
        double t = (double) x[(gsize) i * K + q] * w[(gsize) j * K + q];
        s += t;
        mag += fabs (t);
      }
      double start = (accumulate ? y0[(gsize) i * N + j] : 0) + (bias ? b[j] : 0);
      want[(gsize) i * N + j] = start + s;
      /* a float sum of K + 2 terms: error <= (K + 2) u sum |terms| */
      bound[(gsize) i * N + j] = (K + 2) * 6e-8 * (mag + fabs (start)) + 1e-30;
    }
  k->gemm_pack (w, N, K, packed);
  CtGemmArgs a = { x, packed, bias ? b : NULL, y, M, N, K, accumulate };
  memcpy (y, y0, sizeof (float) * M * N);
  k->gemm_block (&a, 0, M, 0, panels);
  for (gsize i = 0; i < (gsize) M * N; i++)
    if (!(fabs (y[i] - want[i]) <= bound[i]))
      g_error ("gemm %s M=%d N=%d K=%d bias=%d acc=%d: y[%" G_GSIZE_FORMAT "] = %.9g, "
          "want %.9g (bound %.3g)", k->name, M, N, K, bias, accumulate, i, y[i], want[i],
          bound[i]);
  /* other cuts: odd row blocks and one panel per item */
  a.y = y2;
  memcpy (y2, y0, sizeof (float) * M * N);
  for (int r0 = 0; r0 < M; r0 += 5)
    for (int p = 0; p < panels; p++)
      k->gemm_block (&a, r0, MIN (M, r0 + 5), p, p + 1);
  if (memcmp (y, y2, sizeof (float) * M * N) != 0)
    g_error ("gemm %s M=%d N=%d K=%d: the result depends on how it is cut into items",
        k->name, M, N, K);
  g_free (x); g_free (w); g_free (b); g_free (y0); g_free (packed);
  g_free (y); g_free (y2); g_free (want); g_free (bound);
}

static void
test_set (gconstpointer data)
{
  CtCpuKernelSet set = GPOINTER_TO_INT (data);
  const CtCpuKernels *k = ct_cpu_kernel_set (set);
  if (!k) {
    g_test_skip ("this CPU cannot run this kernel set");
    return;
  }
  GRand *r = g_rand_new_with_seed (7 + set);
  check_softmax (k, r);
  check_gelu (k, r);
  check_layernorm (k, r);
  /* ragged rows (< MR, > MR), panels (N % NR), k blocks (K % KC) */
  const int shapes[][3] = { { 1, 1, 1 }, { 5, 17, 3 }, { 6, 16, 256 }, { 13, 33, 300 },
    { 12, 64, 520 }, { 25, 96, 64 }, { 40, 40, 1024 }, { 3, 200, 129 } };
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    for (int f = 0; f < 4; f++)
      check_gemm (k, r, shapes[i][0], shapes[i][1], shapes[i][2], f & 1, f & 2);
  if (set == CT_CPU_GENERIC)
    g_assert_null (k->attention_fused);   /* the generic set uses BLAS */
  else {
    g_assert_nonnull (k->attention_fused);
    const int hds[] = { 16, 32, 64 };
    for (guint i = 0; i < G_N_ELEMENTS (hds); i++) {
      check_attention (k, r, hds[i], 1, 1, FALSE);
      check_attention (k, r, hds[i], 70, 127, TRUE);
      check_attention (k, r, hds[i], 13, 300, FALSE);
    }
    check_attention (k, r, 64, 256, 1100, TRUE);
  }
  g_rand_free (r);
}

/* OpenBLAS must not run pre-AVX2 GEMM kernels on a CPU with AVX2 (Debian's
 * 0.3.21 calls an Emerald Rapids Xeon "Prescott": 4x slower sgemm) */
static void
test_blas_core (void)
{
  char *core = ct_cpu_blas_core ();
  if (g_test_verbose ())
    g_printerr ("  BLAS kernels: %s\n", core);
  if (strcmp (core, "not OpenBLAS") != 0 && ct_cpu_best_kernel_set () >= CT_CPU_AVX2) {
    char **w = g_strsplit (core, " ", 2);
    if (ct_cpu_blas_core_lacks_avx2 (w[0]))
      g_error ("OpenBLAS runs %s kernels on a CPU with AVX2", core);
    g_strfreev (w);
  }
  g_free (core);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/kernels/blas-core", test_blas_core);
  g_test_add_data_func ("/kernels/generic", GINT_TO_POINTER (CT_CPU_GENERIC), test_set);
  g_test_add_data_func ("/kernels/avx2", GINT_TO_POINTER (CT_CPU_AVX2), test_set);
  g_test_add_data_func ("/kernels/avx512", GINT_TO_POINTER (CT_CPU_AVX512), test_set);
  return g_test_run ();
}
