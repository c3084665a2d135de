/* cpu/softmax.c - see softmax.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/softmax.h"

#include <math.h>
#include <string.h>

static inline float
exp_scalar (float x)
{
  if (x < -87.0f)
    return 0.0f;
  float n = floorf (x * CT_EXP_LOG2E + 0.5f);
  float f = x - n * CT_EXP_LN2_HI - n * CT_EXP_LN2_LO;
  float y = ((((CT_EXP_P0 * f + CT_EXP_P1) * f + CT_EXP_P2) * f + CT_EXP_P3) * f
      + CT_EXP_P4) * f + CT_EXP_P5;
  y = y * f * f + f + 1.0f;
  gint32 bits = ((gint32) n + 127) << 23;
  float s;
  memcpy (&s, &bits, 4);
  return y * s;
}

float
ct_softmax_exp_row (float *r, const float *bias, int n)
{
  int j = 0;
  float mx = -INFINITY, sum = 0.0f;
#ifdef __AVX512F__
  __m512 vmx = _mm512_set1_ps (-INFINITY);
  for (; j + 16 <= n; j += 16) {
    __m512 v = _mm512_loadu_ps (r + j);
    if (bias)
      v = _mm512_add_ps (v, _mm512_loadu_ps (bias + j));
    _mm512_storeu_ps (r + j, v);
    vmx = _mm512_max_ps (vmx, v);
  }
  mx = _mm512_reduce_max_ps (vmx);
#endif
  for (; j < n; j++) {
    if (bias)
      r[j] += bias[j];
    mx = r[j] > mx ? r[j] : mx;
  }
  j = 0;
#ifdef __AVX512F__
  __m512 vmax = _mm512_set1_ps (mx), vsum = _mm512_setzero_ps ();
  for (; j + 16 <= n; j += 16) {
    __m512 e = ct_exp_avx512 (_mm512_sub_ps (_mm512_loadu_ps (r + j), vmax));
    _mm512_storeu_ps (r + j, e);
    vsum = _mm512_add_ps (vsum, e);
  }
  sum = _mm512_reduce_add_ps (vsum);
#endif
  for (; j < n; j++) {
    r[j] = exp_scalar (r[j] - mx);
    sum += r[j];
  }
  return sum;
}
