/* cpu/attention-impl.h - attention implementations behind ct_cpu_attention.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_ATTENTION_IMPL_H
#define CT_CPU_ATTENTION_IMPL_H
#include <glib.h>

/* Fused AVX-512 kernel (compiled only with AVX-512; else unsupported). */
gboolean ct_attention_avx512_supported (int hd);
void ct_attention_avx512 (const float *q, int ldq, const float *k, int ldk,
    const float *v, int ldv, float *out, int ldo, int Sq, int Sk, int heads,
    int hd, const float *key_bias);
/* Portable path: per (head, query block) BLAS GEMMs around a row softmax. */
void ct_attention_blas (const float *q, int ldq, const float *k, int ldk,
    const float *v, int ldv, float *out, int ldo, int Sq, int Sk, int heads,
    int hd, const float *key_bias);
#endif
