/* cpu/gemm-packed.h - linear layers through the engine's own GEMM
 * (cpu/gemm-kernels.h) over weights packed once per model.
 *
 * Each weight matrix is packed at its first use into the panel layout of
 * the kernel set in use and kept until the model's weights go
 * (ct_cpu_gemm_forget): as onnxruntime prepacks constant weights, and
 * unlike OpenBLAS, which repacks W on every call.  Work items are blocks of
 * rows x panels taken by the OpenMP threads dynamically: a thread slowed by
 * a neighbour takes fewer; the result does not depend on who took what.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_GEMM_PACKED_H
#define CT_CPU_GEMM_PACKED_H

#include "model-private.h"

/* The contract of ct_cpu_linear.  Returns FALSE (having done nothing)
 * where the packed copy could not be made (memory); the caller then uses
 * OpenBLAS. */
gboolean ct_cpu_gemm_linear (const CtLinear *lin, const float *x, int M, float *y,
    gboolean accumulate);

/* Drops the packed copies of weights inside [base, base + bytes). */
void ct_cpu_gemm_forget (const void *base, gsize bytes);

/* "6x16 micro-kernel (avx2)": what the engine's GEMM runs here. g_free it. */
char *ct_cpu_gemm_describe (void);

#endif
