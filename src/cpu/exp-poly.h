/* cpu/exp-poly.h - the constants of the kernels' vectorised exp (vf_exp in
 * cpu/simd.h), used by every kernel set.
 *
 * The exp is exp(x) = 2^n * e^f with n = round(x log2 e) and a degree-6
 * polynomial for e^f on [-ln2/2, ln2/2]: relative error ~2e-7, far inside
 * the 1e-4 tolerance, and ~10x faster than libm's scalar expf, which
 * dominated long-sequence attention.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_EXP_POLY_H
#define CT_CPU_EXP_POLY_H

/* The exp's constants:
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

#endif
