/* cpu/gemm-kernels.h - the engine's own GEMM for linear layers: weights
 * packed once into column panels, one register-blocked micro-kernel.
 *
 * y (M, N) = x (M, K) W^T (+ b) (+ y), W (N, K) row-major as the weight
 * files store it.  The packing and the compute are in cpu/gemm-kernels.c,
 * written over cpu/simd.h and compiled once per kernel set like
 * cpu/kernels.c; the set's table (cpu/kernels.h) carries them.  The
 * weight cache and the threads are in cpu/gemm-packed.c.
 *
 * Packed layout: panels of NR output columns; panel p holds, for k = 0..K-1,
 * the NR weights W[p*NR + c][k] contiguously (zeros past N).
 *
 * Every y element is summed in one thread, over k in order, in blocks of
 * CT_GEMM_KC stored back to y between blocks: how rows and panels are cut
 * into work items, and how many threads take them, cannot change a bit of
 * the result (tests/engine/test-reproducible.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_GEMM_KERNELS_H
#define CT_CPU_GEMM_KERNELS_H

#include <glib.h>

/* k per block: the block of one panel (KC x NR floats, 16 KiB for AVX2,
 * 32 KiB for AVX-512) stays in L1 while the micro-kernel walks the rows */
#ifndef CT_GEMM_KC
#define CT_GEMM_KC 256
#endif

typedef struct {
  const float *x;          /* (M, K), row stride K */
  const float *packed;     /* panels, as above */
  const float *bias;       /* (N) or NULL */
  float *y;                /* (M, N), row stride N */
  int M, N, K;
  gboolean accumulate;     /* y += instead of y = */
} CtGemmArgs;

/* Per-set entry points (named with the set's suffix by the build). */
#define CT_GEMM_CAT2(a, b) a##_##b
#define CT_GEMM_CAT(a, b) CT_GEMM_CAT2 (a, b)
#define CT_GEMM_FN(name) CT_GEMM_CAT (name, CT_KSET_ID)

#ifdef CT_KSET_ID
/* the set's micro-kernel rows and panel width (vectors x lanes): AVX2
 * 6 x 16, 12 of 16 ymm registers accumulate; AVX-512 12 x 32, 24 of 32 zmm */
#if CT_SIMD_WIDTH == 16
#define CT_GEMM_MR 12
#define CT_GEMM_NV 2
#elif CT_SIMD_WIDTH == 8
#define CT_GEMM_MR 6
#define CT_GEMM_NV 2
#else
#define CT_GEMM_MR 4
#define CT_GEMM_NV 4
#endif
#define CT_GEMM_NR (CT_GEMM_NV * CT_SIMD_WIDTH)
/* packs W (N, K) into `packed`, ceil(N / NR) * NR * K floats */
void CT_GEMM_FN (ct_gemm_pack) (const float *w, int N, int K, float *packed);
/* rows [r0, r1) x panels [p0, p1) of the product: one work item */
void CT_GEMM_FN (ct_gemm_block) (const CtGemmArgs *a, int r0, int r1, int p0, int p1);
#endif

#endif
