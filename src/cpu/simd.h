/* cpu/simd.h - one vector vocabulary for the CPU kernel sets.
 *
 * src/cpu/kernels.c is compiled once per kernel set (src/meson.build), with
 * CT_SIMD_WIDTH = 16 (AVX-512), 8 (AVX2 + FMA) or 1 (portable C), so that
 * every set runs the same algorithm from the same source and they can only
 * differ by the order of float additions.  The width comes from meson, not
 * from __AVX512F__: a -march=native build must still build an honest
 * generic set.
 *
 * vf_fnmadd (a, b, c) is c - a * b, as in the intrinsics.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_SIMD_H
#define CT_CPU_SIMD_H

#include "cpu/exp-poly.h"

#include <glib.h>
#include <math.h>
#include <string.h>

#ifndef CT_SIMD_WIDTH
#error "CT_SIMD_WIDTH must be set by the build (16, 8 or 1)"
#endif

#if CT_SIMD_WIDTH == 16
#include <immintrin.h>
typedef __m512 vf;
#define VW 16
static inline vf vf_load (const float *p) { return _mm512_loadu_ps (p); }
static inline void vf_store (float *p, vf a) { _mm512_storeu_ps (p, a); }
static inline vf vf_set1 (float x) { return _mm512_set1_ps (x); }
static inline vf vf_zero (void) { return _mm512_setzero_ps (); }
static inline vf vf_add (vf a, vf b) { return _mm512_add_ps (a, b); }
static inline vf vf_sub (vf a, vf b) { return _mm512_sub_ps (a, b); }
static inline vf vf_mul (vf a, vf b) { return _mm512_mul_ps (a, b); }
static inline vf vf_div (vf a, vf b) { return _mm512_div_ps (a, b); }
static inline vf vf_max (vf a, vf b) { return _mm512_max_ps (a, b); }
static inline vf vf_min (vf a, vf b) { return _mm512_min_ps (a, b); }
static inline vf vf_fmadd (vf a, vf b, vf c) { return _mm512_fmadd_ps (a, b, c); }
static inline vf vf_fnmadd (vf a, vf b, vf c) { return _mm512_fnmadd_ps (a, b, c); }
static inline vf vf_abs (vf a) { return _mm512_abs_ps (a); }
static inline vf vf_round (vf a)
{ return _mm512_roundscale_ps (a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* y * 2^n for integral n */
static inline vf vf_scale2 (vf y, vf n) { return _mm512_scalef_ps (y, n); }
/* |a| with the sign of s */
static inline vf vf_copysign (vf a, vf s)
{
  const __m512i sign = _mm512_set1_epi32 ((int) 0x80000000u);
  return _mm512_castsi512_ps (_mm512_or_si512 (
          _mm512_andnot_si512 (sign, _mm512_castps_si512 (a)),
          _mm512_and_si512 (sign, _mm512_castps_si512 (s))));
}
static inline float vf_reduce_add (vf a) { return _mm512_reduce_add_ps (a); }
static inline float vf_reduce_max (vf a) { return _mm512_reduce_max_ps (a); }

#elif CT_SIMD_WIDTH == 8
#include <immintrin.h>
typedef __m256 vf;
#define VW 8
static inline vf vf_load (const float *p) { return _mm256_loadu_ps (p); }
static inline void vf_store (float *p, vf a) { _mm256_storeu_ps (p, a); }
static inline vf vf_set1 (float x) { return _mm256_set1_ps (x); }
static inline vf vf_zero (void) { return _mm256_setzero_ps (); }
static inline vf vf_add (vf a, vf b) { return _mm256_add_ps (a, b); }
static inline vf vf_sub (vf a, vf b) { return _mm256_sub_ps (a, b); }
static inline vf vf_mul (vf a, vf b) { return _mm256_mul_ps (a, b); }
static inline vf vf_div (vf a, vf b) { return _mm256_div_ps (a, b); }
static inline vf vf_max (vf a, vf b) { return _mm256_max_ps (a, b); }
static inline vf vf_min (vf a, vf b) { return _mm256_min_ps (a, b); }
static inline vf vf_fmadd (vf a, vf b, vf c) { return _mm256_fmadd_ps (a, b, c); }
static inline vf vf_fnmadd (vf a, vf b, vf c) { return _mm256_fnmadd_ps (a, b, c); }
static inline vf vf_abs (vf a)
{ return _mm256_andnot_ps (_mm256_set1_ps (-0.0f), a); }
static inline vf vf_round (vf a)
{ return _mm256_round_ps (a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* y * 2^n for integral n in [-126, 127] (callers clamp): AVX2 has no
 * scalef, so 2^n is built in the exponent field */
static inline vf vf_scale2 (vf y, vf n)
{
  __m256i e = _mm256_slli_epi32 (_mm256_add_epi32 (_mm256_cvtps_epi32 (n),
          _mm256_set1_epi32 (127)), 23);
  return _mm256_mul_ps (y, _mm256_castsi256_ps (e));
}
static inline vf vf_copysign (vf a, vf s)
{
  const vf sign = _mm256_set1_ps (-0.0f);
  return _mm256_or_ps (_mm256_andnot_ps (sign, a), _mm256_and_ps (sign, s));
}
static inline float vf_reduce_add (vf a)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (a), _mm256_extractf128_ps (a, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}
static inline float vf_reduce_max (vf a)
{
  __m128 s = _mm_max_ps (_mm256_castps256_ps128 (a), _mm256_extractf128_ps (a, 1));
  s = _mm_max_ps (s, _mm_movehl_ps (s, s));
  s = _mm_max_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

#elif CT_SIMD_WIDTH == 1
typedef float vf;
#define VW 1
static inline vf vf_load (const float *p) { return *p; }
static inline void vf_store (float *p, vf a) { *p = a; }
static inline vf vf_set1 (float x) { return x; }
static inline vf vf_zero (void) { return 0.0f; }
static inline vf vf_add (vf a, vf b) { return a + b; }
static inline vf vf_sub (vf a, vf b) { return a - b; }
static inline vf vf_mul (vf a, vf b) { return a * b; }
static inline vf vf_div (vf a, vf b) { return a / b; }
static inline vf vf_max (vf a, vf b) { return a > b ? a : b; }
static inline vf vf_min (vf a, vf b) { return a < b ? a : b; }
static inline vf vf_fmadd (vf a, vf b, vf c) { return a * b + c; }
static inline vf vf_fnmadd (vf a, vf b, vf c) { return c - a * b; }
static inline vf vf_abs (vf a) { return fabsf (a); }
static inline vf vf_round (vf a) { return nearbyintf (a); }
static inline vf vf_scale2 (vf y, vf n)
{
  gint32 bits = ((gint32) n + 127) << 23;
  float s;
  memcpy (&s, &bits, 4);
  return y * s;
}
static inline vf vf_copysign (vf a, vf s) { return copysignf (a, s); }
static inline float vf_reduce_add (vf a) { return a; }
static inline float vf_reduce_max (vf a) { return a; }

#else
#error "unsupported CT_SIMD_WIDTH"
#endif

/* e^x, relative error ~2e-7 (cpu/exp-poly.h has the method and the constants);
 * x is clamped to [-87, 88] so that 2^n stays a normal float. */
static inline vf
vf_exp (vf x)
{
  x = vf_min (vf_max (x, vf_set1 (-87.0f)), vf_set1 (88.0f));
  vf n = vf_round (vf_mul (x, vf_set1 (CT_EXP_LOG2E)));
  vf f = vf_fnmadd (n, vf_set1 (CT_EXP_LN2_HI), x);
  f = vf_fnmadd (n, vf_set1 (CT_EXP_LN2_LO), f);
  vf y = vf_set1 (CT_EXP_P0);
  y = vf_fmadd (y, f, vf_set1 (CT_EXP_P1));
  y = vf_fmadd (y, f, vf_set1 (CT_EXP_P2));
  y = vf_fmadd (y, f, vf_set1 (CT_EXP_P3));
  y = vf_fmadd (y, f, vf_set1 (CT_EXP_P4));
  y = vf_fmadd (y, f, vf_set1 (CT_EXP_P5));
  y = vf_fmadd (y, vf_mul (f, f), vf_add (f, vf_set1 (1.0f)));
  return vf_scale2 (y, n);
}

/* erf(x) = sign(x) (1 - poly(t) e^{-x^2}), t = 1 / (1 + p|x|)
 * (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7) */
static inline vf
vf_erf (vf x)
{
  const vf one = vf_set1 (1.0f);
  vf ax = vf_abs (x);
  vf t = vf_div (one, vf_fmadd (vf_set1 (0.3275911f), ax, one));
  vf y = vf_set1 (1.061405429f);
  y = vf_fmadd (y, t, vf_set1 (-1.453152027f));
  y = vf_fmadd (y, t, vf_set1 (1.421413741f));
  y = vf_fmadd (y, t, vf_set1 (-0.284496736f));
  y = vf_fmadd (y, t, vf_set1 (0.254829592f));
  y = vf_mul (y, t);
  vf e = vf_exp (vf_sub (vf_zero (), vf_mul (ax, ax)));
  return vf_copysign (vf_fnmadd (y, e, one), x);
}

#endif
