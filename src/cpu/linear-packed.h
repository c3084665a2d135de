/* cpu/linear-packed.h - linear layers over weights packed once (oneDNN).
 *
 * OpenBLAS repacks a weight matrix into its blocked layout on every sgemm
 * call; with few rows per call (the encoder's 12 queries per cross block,
 * 256-query decoder sequences) that repacking is a large part of the call.
 * Where libcoordtok is built with oneDNN (Debian's libdnnl, the library
 * PyTorch itself uses for its linear layers), each weight matrix is
 * reordered once, at its first use, into the layout of oneDNN's matmul
 * kernels, and kept for the model's lifetime, as onnxruntime prepacks its
 * constant weights.  Which calls take this path (measured,
 * docs/performance.md "Packed linear layers"):
 *   - every call where oneDNN's kernel is its brgemm matmul (AVX-512 sets);
 *   - calls of fewer than CT_PACKED_SMALL_M rows otherwise (AVX2: there
 *     oneDNN 2.6's sgemm is slower than OpenBLAS's for more rows);
 *   - never with the generic kernel set, nor when COORDTOK_LINEAR=blas.
 * COORDTOK_LINEAR=packed takes it for every call (for measuring).  The
 * packed copy costs the layer's weight memory again.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_LINEAR_PACKED_H
#define CT_CPU_LINEAR_PACKED_H

#include "model-private.h"

#define CT_PACKED_SMALL_M 32

/* y (M, out) = x W^T + b, or y += x W^T + b with accumulate: the contract
 * of ct_cpu_linear.  Returns FALSE (having done nothing) where the packed
 * path does not apply or fails; the caller then uses OpenBLAS. */
gboolean ct_cpu_linear_packed (const CtLinear *lin, const float *x, int M, float *y,
    gboolean accumulate);

/* Drops the packed copies of weights inside [base, base + bytes): called when
 * a model's weights are freed. */
void ct_cpu_linear_packed_forget (const void *base, gsize bytes);

/* ct_cpu_linear_describe (coordtok.h) says which path the calls take. */

/* TRUE when no product's sum depends on the thread count: OpenBLAS and
 * oneDNN's brgemm split rows and columns only; oneDNN's AVX2 jit sgemm
 * splits some sums (tests/engine/test-reproducible.c). */
gboolean ct_cpu_linear_split_fixed (void);

#endif
