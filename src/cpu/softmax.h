/* cpu/softmax.h - row softmax with a vectorised exp.
 *
 * The exp is exp(x) = 2^n * e^f with n = round(x log2 e) and a degree-6
 * polynomial for e^f on [-ln2/2, ln2/2]: relative error ~2e-7, far inside
 * the 1e-4 tolerance, and ~10x faster than libm's scalar expf, which
 * dominated long-sequence attention.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_SOFTMAX_H
#define CT_CPU_SOFTMAX_H

#include <glib.h>

/* r[j] = exp(r[j] + bias[j] - max) in place (bias may be NULL); returns the
 * sum of the new values.  The caller divides by it. */
float ct_softmax_exp_row (float *r, const float *bias, int n);

/* The exp's constants, shared by the scalar and the AVX-512 versions:
 * ln 2 split in a high part exact in float and a low correction, and the
 * minimax coefficients for e^f, |f| <= ln2/2 (cephes expf). */
#define CT_EXP_LOG2E 1.44269504088896341f
#define CT_EXP_LN2_HI 0.693359375f
#define CT_EXP_LN2_LO -2.12194440e-4f
#define CT_EXP_P0 1.9875691500e-4f
#define CT_EXP_P1 1.3981999507e-3f
#define CT_EXP_P2 8.3334519073e-3f
#define CT_EXP_P3 4.1665795894e-2f
#define CT_EXP_P4 1.6666665459e-1f
#define CT_EXP_P5 5.0000001201e-1f

#ifdef __AVX512F__
#include <immintrin.h>
/* e^x for 16 lanes (x >= -87 clamps to ~0), relative error ~2e-7; inline
 * because attention, softmax and GELU call it in their inner loops */
static inline __m512
ct_exp_avx512 (__m512 x)
{
  x = _mm512_max_ps (x, _mm512_set1_ps (-87.0f));
  __m512 n = _mm512_roundscale_ps (_mm512_mul_ps (x, _mm512_set1_ps (CT_EXP_LOG2E)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_fnmadd_ps (n, _mm512_set1_ps (CT_EXP_LN2_HI), x);
  f = _mm512_fnmadd_ps (n, _mm512_set1_ps (CT_EXP_LN2_LO), f);
  __m512 y = _mm512_set1_ps (CT_EXP_P0);
  y = _mm512_fmadd_ps (y, f, _mm512_set1_ps (CT_EXP_P1));
  y = _mm512_fmadd_ps (y, f, _mm512_set1_ps (CT_EXP_P2));
  y = _mm512_fmadd_ps (y, f, _mm512_set1_ps (CT_EXP_P3));
  y = _mm512_fmadd_ps (y, f, _mm512_set1_ps (CT_EXP_P4));
  y = _mm512_fmadd_ps (y, f, _mm512_set1_ps (CT_EXP_P5));
  y = _mm512_fmadd_ps (y, _mm512_mul_ps (f, f), _mm512_add_ps (f, _mm512_set1_ps (1.0f)));
  return _mm512_scalef_ps (y, n);
}
#endif

#endif
