/* cpu/linear.c - see linear.h: the path of each linear layer, and
 * OpenBLAS's, the fallback.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/linear.h"
#include "cpu/gemm-packed.h"
#include "cpu/kernels.h"
#include "cpu/linear-onednn.h"
#include "cpu/ops.h"
#include "config.h"

#include <cblas.h>
#include <string.h>

static gpointer
read_env (gpointer unused)
{
  const char *env = g_getenv ("COORDTOK_LINEAR");
  static const struct { const char *name; CtLinearPath path; } names[] = {
    { "auto", CT_LINEAR_AUTO }, { "own", CT_LINEAR_OWN }, { "onednn", CT_LINEAR_ONEDNN },
    { "packed", CT_LINEAR_ONEDNN }, { "blas", CT_LINEAR_BLAS } };
  if (!env || !*env)
    return GINT_TO_POINTER (CT_LINEAR_AUTO);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (!strcmp (env, names[i].name))
      return GINT_TO_POINTER (names[i].path);
  g_warning ("COORDTOK_LINEAR=%s is not one of auto, own, onednn, blas: using auto", env);
  return GINT_TO_POINTER (CT_LINEAR_AUTO);
}

CtLinearPath
ct_cpu_linear_path_forced (void)
{
  static GOnce once = G_ONCE_INIT;
  return GPOINTER_TO_INT (g_once (&once, read_env, NULL));
}

/* The engine's GEMM: forced, or by default with the avx2 set (measured
 * ahead of oneDNN's jit sgemm and OpenBLAS at every row count,
 * docs/performance.md) and with avx512 where oneDNN was not built. */
static gpointer
own_gemm_once (gpointer unused)
{
  switch (ct_cpu_linear_path_forced ()) {
    case CT_LINEAR_OWN:
      return GINT_TO_POINTER (TRUE);
    case CT_LINEAR_AUTO: {
      const CtCpuKernels *k = ct_cpu_kernels ();
#ifdef CT_HAVE_DNNL
      return GINT_TO_POINTER (k == &ct_cpu_kernels_avx2);
#else
      return GINT_TO_POINTER (k != &ct_cpu_kernels_generic);
#endif
    }
    default:
      return GINT_TO_POINTER (FALSE);
  }
}

/* decided once: every linear call asks */
static gboolean
own_gemm (void)
{
  static GOnce once = G_ONCE_INIT;
  return GPOINTER_TO_INT (g_once (&once, own_gemm_once, NULL));
}

void
ct_cpu_linear (const CtLinear *lin, const float *x, int M, float *y,
    gboolean accumulate)
{
  if (own_gemm () ? ct_cpu_gemm_linear (lin, x, M, y, accumulate) :
      ct_cpu_linear_onednn (lin, x, M, y, accumulate))
    return;
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

char *
ct_cpu_linear_describe (void)
{
  if (own_gemm ())
    return ct_cpu_gemm_describe ();
  char *d = ct_cpu_linear_onednn_describe ();
  if (d)
    return d;
  switch (ct_cpu_linear_path_forced ()) {
    case CT_LINEAR_BLAS:
      return g_strdup ("OpenBLAS (COORDTOK_LINEAR=blas)");
#ifndef CT_HAVE_DNNL
    case CT_LINEAR_ONEDNN:
      return g_strdup ("OpenBLAS (built without oneDNN)");
#endif
    default:
      return g_strdup ("OpenBLAS");
  }
}

static gpointer
split_fixed_once (gpointer unused)
{
  if (own_gemm ())
    return GINT_TO_POINTER (TRUE);
  char *d = ct_cpu_linear_onednn_describe ();   /* makes a probe primitive */
  g_free (d);
  return GINT_TO_POINTER (!d || ct_cpu_linear_onednn_brgemm ());
}

/* once: every thread policy (every session) asks */
gboolean
ct_cpu_linear_split_fixed (void)
{
  static GOnce once = G_ONCE_INIT;
  return GPOINTER_TO_INT (g_once (&once, split_fixed_once, NULL));
}

void
ct_cpu_linear_forget (const void *base, gsize bytes)
{
  ct_cpu_gemm_forget (base, bytes);
  ct_cpu_linear_onednn_forget (base, bytes);
}
