/* cpu/linear-onednn.h - linear layers over weights packed once by oneDNN.
 *
 * OpenBLAS repacks a weight matrix into its blocked layout on every sgemm
 * call; with few rows per call (the encoder's 12 queries per cross block,
 * 256-query decoder sequences) that repacking is a large part of the call.
 * Where libcoordtok is built with oneDNN (Debian's libdnnl, the library
 * PyTorch itself uses for its linear layers), each weight matrix is
 * reordered once, at its first use, into the layout of oneDNN's matmul
 * kernels, and kept for the model's lifetime, as onnxruntime prepacks its
 * constant weights.  cpu/linear.c decides when this path runs (by default:
 * the AVX-512 set, where oneDNN's kernel is its brgemm matmul); when it
 * runs by itself it takes:
 *   - every call where oneDNN's kernel is its brgemm matmul;
 *   - calls of fewer than CT_PACKED_SMALL_M rows otherwise (oneDNN 2.6's
 *     AVX2 jit sgemm is slower than OpenBLAS's for more rows);
 * COORDTOK_LINEAR=onednn takes it for every call (for measuring).  The
 * packed copy costs the layer's weight memory again.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_LINEAR_ONEDNN_H
#define CT_CPU_LINEAR_ONEDNN_H

#include "model-private.h"

#define CT_PACKED_SMALL_M 32

/* y (M, out) = x W^T + b, or y += x W^T + b with accumulate: the contract
 * of ct_cpu_linear.  Returns FALSE (having done nothing) where this path
 * does not apply or fails. */
gboolean ct_cpu_linear_onednn (const CtLinear *lin, const float *x, int M, float *y,
    gboolean accumulate);

/* Drops the packed copies of weights inside [base, base + bytes). */
void ct_cpu_linear_onednn_forget (const void *base, gsize bytes);

/* "oneDNN packed (brg:avx512_core)" or "... below 32 rows (gemm:jit),
 * OpenBLAS above"; NULL where oneDNN is off.  g_free it. */
char *ct_cpu_linear_onednn_describe (void);

/* TRUE when oneDNN's matmul is its brgemm kernel (AVX-512): it splits rows
 * and columns only, never a sum; its AVX2 jit sgemm splits some sums by
 * thread count (tests/engine/test-reproducible.c). */
gboolean ct_cpu_linear_onednn_brgemm (void);

#endif
