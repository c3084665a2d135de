/* cpu/linear.h - which code computes a linear layer (y = x W^T + b).
 *
 * Three paths, one contract (ct_cpu_linear in cpu/ops.h):
 *   - own:    the engine's GEMM over weights packed once (cpu/gemm-packed.c,
 *             cpu/gemm-kernels.c); the default with the avx2 set;
 *   - onednn: oneDNN's matmul over weights packed once
 *             (cpu/linear-onednn.c); the default with the avx512 set (its
 *             brgemm kernel measured ahead, docs/performance.md);
 *   - blas:   OpenBLAS's sgemm, which repacks W every call; the default
 *             with the generic set, and where neither of the others was
 *             built or works.
 * COORDTOK_LINEAR=auto|own|onednn|blas forces one for every call
 * ("packed" is the old name of onednn); a forced path that this build or
 * CPU lacks falls back to OpenBLAS.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_LINEAR_H
#define CT_CPU_LINEAR_H

#include <glib.h>

typedef enum {
  CT_LINEAR_AUTO,
  CT_LINEAR_OWN,
  CT_LINEAR_ONEDNN,
  CT_LINEAR_BLAS,
} CtLinearPath;

/* COORDTOK_LINEAR, read once (CT_LINEAR_AUTO when unset). */
CtLinearPath ct_cpu_linear_path_forced (void);

/* TRUE when no linear layer's sums depend on the thread count: the engine's
 * GEMM, OpenBLAS and oneDNN's brgemm split rows and columns only. */
gboolean ct_cpu_linear_split_fixed (void);

/* Drops every path's packed copies of weights inside [base, base + bytes):
 * called when a model's weights are freed. */
void ct_cpu_linear_forget (const void *base, gsize bytes);

/* ct_cpu_linear_describe (coordtok.h) says which path the calls take. */

#endif
