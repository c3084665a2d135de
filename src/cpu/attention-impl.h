/* cpu/attention-impl.h - attention implementations behind ct_cpu_attention.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_ATTENTION_IMPL_H
#define CT_CPU_ATTENTION_IMPL_H
#include <glib.h>

/* Head dims the kernel sets' fused attention handles (cpu/kernels.c). */
static inline gboolean
ct_attention_fused_supported (int hd)
{
  return hd == 16 || hd == 32 || hd == 64;
}
/* Portable path: per (head, query block) BLAS GEMMs around a row softmax. */
void ct_attention_blas (const float *q, int ldq, const float *k, int ldk,
    const float *v, int ldv, float *out, int ldo, int Sq, int Sk, int heads,
    int hd, const float *key_bias);
#endif
