/* cpu/kernels.h - the CPU kernel sets and the choice between them.
 *
 * One library runs on every x86-64 CPU: src/cpu/kernels.c is compiled once
 * per set (AVX-512, AVX2 + FMA, portable C; src/meson.build) and the best
 * set the CPU supports is chosen once, at first use (cpu/gemm-kernels.c,
 * the engine's GEMM, is compiled per set the same way).  COORDTOK_CPU=avx512,
 * avx2 or generic forces a set no better than the machine's (tests run the
 * golden cases with every set the machine can run).  The GEMMs go to
 * OpenBLAS, which makes the same choice for itself.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_KERNELS_H
#define CT_CPU_KERNELS_H

#include "cpu/gemm-kernels.h"

#include <glib.h>

typedef enum {
  CT_CPU_GENERIC = 0,
  CT_CPU_AVX2,
  CT_CPU_AVX512,
  CT_CPU_N_KERNEL_SETS
} CtCpuKernelSet;

/* What one set provides; every function has the contract of the ops.h
 * function that calls it. */
typedef struct {
  const char *name;                 /* "avx512", "avx2", "generic" */
  /* r[j] = exp(r[j] + bias[j] - max) in place; returns the sum */
  float (*softmax_exp_row) (float *r, const float *bias, int n);
  /* in place, exact-erf GELU on [begin, end) (one thread's share) */
  void (*gelu_range) (float *x, gsize begin, gsize end);
  /* rows [r0, r1) of y = LayerNorm(x) * w + b */
  void (*layernorm_rows) (const float *x, int D, const float *w, const float *b,
      float eps, float *y, int r0, int r1);
  /* fused flash-style attention, NULL in sets without one; head dims
   * 16, 32 and 64 */
  void (*attention_fused) (const float *q, int ldq, const float *k, int ldk,
      const float *v, int ldv, float *out, int ldo, int Sq, int Sk, int heads,
      int hd, const float *key_bias);
  /* the engine's GEMM (cpu/gemm-kernels.h): panel width, micro-kernel
   * rows, packing of W, one work item */
  int gemm_nr, gemm_mr;
  void (*gemm_pack) (const float *w, int N, int K, float *packed);
  void (*gemm_block) (const CtGemmArgs *a, int r0, int r1, int p0, int p1);
} CtCpuKernels;

/* The set in use (chosen once; logged at INFO level as "cpu kernels: ..."). */
const CtCpuKernels *ct_cpu_kernels (void);
/* The best set this CPU can run, and a set by index (NULL if this CPU cannot
 * run it). */
CtCpuKernelSet ct_cpu_best_kernel_set (void);
const CtCpuKernels *ct_cpu_kernel_set (CtCpuKernelSet set);

/* The per-set tables (kernels.c, compiled once per set). */
extern const CtCpuKernels ct_cpu_kernels_generic;
extern const CtCpuKernels ct_cpu_kernels_avx2;
extern const CtCpuKernels ct_cpu_kernels_avx512;

#endif
