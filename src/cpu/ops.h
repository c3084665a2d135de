/* cpu/ops.h - the CPU backend's layer functions over explicit layouts.
 * All matrices are row-major float32; shapes are in the comments.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_OPS_H
#define CT_CPU_OPS_H

#include "model-private.h"

/* y (M, out) = x (M, in) W^T + b; accumulate: y += instead of y = */
void ct_cpu_linear (const CtLinear *lin, const float *x, int M, float *y,
    gboolean accumulate);
/* y (M, D) = LayerNorm(x) */
void ct_cpu_layernorm (const CtNorm *n, const float *x, int M, int D, float *y);
/* in place, exact erf GELU */
void ct_cpu_gelu (float *x, gsize n);
/* y (M, D) += a (broadcast rows of D) */
void ct_cpu_add_rows (float *y, const float *a, int M, int D);

/* Multi-head attention, softmax(q k^T / sqrt(hd) + key_bias) v.
 * q: (Sq, heads*hd) with row stride ldq; k, v likewise over Sk rows;
 * out: (Sq, heads*hd), stride ldo.  key_bias (Sk) is added to every row of
 * logits (the encoder's +1.0 padding quirk) or NULL. */
void ct_cpu_attention (const float *q, int ldq, const float *k, int ldk,
    const float *v, int ldv, float *out, int ldo, int Sq, int Sk, int heads,
    int hd, const float *key_bias);

/* Pre-norm ViT block over x (S, D) in place (encoder ViT and decoder).
 * The S rows are S / seq independent sequences of seq rows: attention stays
 * inside each sequence, every other layer runs on all S rows at once (a
 * bigger, faster GEMM).  scratch: ct_cpu_vit_scratch_floats(S, D) floats. */
gsize ct_cpu_vit_scratch_floats (int S, int D);
void ct_cpu_vit_block (const CtVitBlock *b, float *x, int S, int seq, int D,
    int heads, float *scratch);

#endif
