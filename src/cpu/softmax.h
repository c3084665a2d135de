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

#ifdef __AVX512F__
#include <immintrin.h>
/* e^x for 16 lanes (x >= -87 clamps to ~0), relative error ~2e-7 */
__m512 ct_exp_avx512 (__m512 x);
#endif

#endif
