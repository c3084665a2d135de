/* geometry.h - the arithmetic every backend must compute identically: the
 * triplane's layout, patch coordinates, bilinear sampling, the
 * positional-embedding row, the encoder's patch gather and the projector's
 * unpatchify (spec sections 4.1, 4.8, 5.1-5.2), and the argument checks on
 * them.  One source, compiled as C by libcoordtok (src/sampling.c,
 * src/session.c, src/cpu/encoder.c) and as CUDA C++ by kernels/ (host and
 * device code), so the CPU and CUDA backends cannot drift apart.
 *
 * Float arithmetic rounds once per operation, as the spec's float32 does:
 * device code spells every operation as an explicitly rounded intrinsic
 * (nvcc would contract a*b + c into an FMA), host code is compiled with
 * -ffp-contract=off (src/meson.build, kernels/meson.build).
 * Header only; needs nothing but <stddef.h>.  Not installed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_GEOMETRY_H
#define CT_GEOMETRY_H

#include <stddef.h>

#ifdef __CUDACC__
#define CT_GEOM_FN static __host__ __device__ __forceinline__
#else
#define CT_GEOM_FN static inline
#endif

#ifdef __CUDA_ARCH__
#define CT_GEOM_MUL(a, b) __fmul_rn ((a), (b))
#define CT_GEOM_ADD(a, b) __fadd_rn ((a), (b))
#define CT_GEOM_SUB(a, b) __fsub_rn ((a), (b))
#define CT_GEOM_DIV(a, b) __fdiv_rn ((a), (b))
#define CT_GEOM_FLOOR(a) floorf (a)
#else
#define CT_GEOM_MUL(a, b) ((a) * (b))
#define CT_GEOM_ADD(a, b) ((a) + (b))
#define CT_GEOM_SUB(a, b) ((a) - (b))
#define CT_GEOM_DIV(a, b) ((a) / (b))
#define CT_GEOM_FLOOR(a) __builtin_floorf (a)
#endif

CT_GEOM_FN int ct_geom_clampi (int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* ---- the triplane and the decoder's patch grid ------------------------- */

/* Planes xy (rxy, rxy, C), yt (rt, rxy, C), xt (rt, rxy, C), stored in that
 * order; the decoder's patch grid is (nt, nx, ny) (= pos_embed's grid). */
typedef struct {
  int rxy, rt, C;
  int nt, nx, ny;
} CtPlaneGeometry;

CT_GEOM_FN int
ct_geom_planes_valid (const CtPlaneGeometry *g)
{
  return g->rxy > 0 && g->rt > 0 && g->C > 0 && g->nt > 0 && g->nx > 0 && g->ny > 0;
}

/* floats of plane p (0 xy, 1 yt, 2 xt) and where it starts in z */
CT_GEOM_FN size_t
ct_geom_plane_floats (const CtPlaneGeometry *g, int p)
{
  return (size_t) (p == 0 ? g->rxy : g->rt) * g->rxy * g->C;
}

CT_GEOM_FN size_t
ct_geom_plane_offset (const CtPlaneGeometry *g, int p)
{
  return p == 0 ? 0 : ct_geom_plane_floats (g, 0) + (size_t) (p - 1) * ct_geom_plane_floats (g, 1);
}

/* (ct, cx, cy) of patch (it, ix, iy): index / (n - 1) in float32 */
CT_GEOM_FN void
ct_geom_patch_coord (const CtPlaneGeometry *g, int it, int ix, int iy, float out[3])
{
  out[0] = CT_GEOM_DIV ((float) it, (float) (g->nt - 1));
  out[1] = CT_GEOM_DIV ((float) ix, (float) (g->nx - 1));
  out[2] = CT_GEOM_DIV ((float) iy, (float) (g->ny - 1));
}

/* a coordinate the decoder accepts (NaN is not) */
CT_GEOM_FN int ct_geom_coord_valid (float v) { return v >= 0.0f && v <= 1.0f; }

/* Bilinear sample e (C) of plane p (Ra, Rb, C) at (ca, cb) in [0, 1]^2:
 * (p00 (1-fb) + p01 fb) (1-fa) + (p10 (1-fb) + p11 fb) fa.  Indices are
 * clamped, so a coordinate outside [0, 1] cannot read outside the plane. */
CT_GEOM_FN void
ct_geom_sample_plane (const float *p, int Ra, int Rb, int C, float ca, float cb, float *e)
{
  float sa = CT_GEOM_MUL (ca, (float) (Ra - 1)), sb = CT_GEOM_MUL (cb, (float) (Rb - 1));
  float fa0 = CT_GEOM_FLOOR (sa), fb0 = CT_GEOM_FLOOR (sb);
  int a0 = ct_geom_clampi ((int) fa0, 0, Ra - 1), b0 = ct_geom_clampi ((int) fb0, 0, Rb - 1);
  int a1 = a0 + 1 < Ra ? a0 + 1 : Ra - 1, b1 = b0 + 1 < Rb ? b0 + 1 : Rb - 1;
  float fa = CT_GEOM_SUB (sa, fa0), fb = CT_GEOM_SUB (sb, fb0);
  float ga = CT_GEOM_SUB (1.0f, fa), gb = CT_GEOM_SUB (1.0f, fb);
  const float *p00 = p + ((size_t) a0 * Rb + b0) * C, *p01 = p + ((size_t) a0 * Rb + b1) * C;
  const float *p10 = p + ((size_t) a1 * Rb + b0) * C, *p11 = p + ((size_t) a1 * Rb + b1) * C;
  for (int k = 0; k < C; k++) {
    float r0 = CT_GEOM_ADD (CT_GEOM_MUL (p00[k], gb), CT_GEOM_MUL (p01[k], fb));
    float r1 = CT_GEOM_ADD (CT_GEOM_MUL (p10[k], gb), CT_GEOM_MUL (p11[k], fb));
    e[k] = CT_GEOM_ADD (CT_GEOM_MUL (r0, ga), CT_GEOM_MUL (r1, fa));
  }
}

/* e (3C) = samples of xy at (cx, cy), yt at (ct, cy), xt at (ct, cx) */
CT_GEOM_FN void
ct_geom_sample_triplane (const CtPlaneGeometry *g, const float *z, float ct,
    float cx, float cy, float *e)
{
  int C = g->C;
  ct_geom_sample_plane (z, g->rxy, g->rxy, C, cx, cy, e);
  ct_geom_sample_plane (z + ct_geom_plane_offset (g, 1), g->rt, g->rxy, C, ct, cy, e + C);
  ct_geom_sample_plane (z + ct_geom_plane_offset (g, 2), g->rt, g->rxy, C, ct, cx, e + 2 * C);
}

/* row of pos_embed (nt, nx, ny) for (ct, cx, cy): float32 products
 * truncated toward zero, clamped */
CT_GEOM_FN size_t
ct_geom_pos_row (const CtPlaneGeometry *g, float ct, float cx, float cy)
{
  int it = ct_geom_clampi ((int) CT_GEOM_MUL (ct, (float) (g->nt - 1)), 0, g->nt - 1);
  int ix = ct_geom_clampi ((int) CT_GEOM_MUL (cx, (float) (g->nx - 1)), 0, g->nx - 1);
  int iy = ct_geom_clampi ((int) CT_GEOM_MUL (cy, (float) (g->ny - 1)), 0, g->ny - 1);
  return ((size_t) it * g->nx + ix) * g->ny + iy;
}

/* ---- the encoder's patches --------------------------------------------- */

/* Video (T, H, W, 3) cut into (et, ep, ep) patches; patch rows in order
 * a (time) major, then b (rows), then c (columns); a row's 3 et ep ep values
 * flattened (ch, dt, dx, dy) (spec 4.1). */
typedef struct {
  int T, H, W, et, ep;
} CtPatchGeometry;

/* whole patches, and [a0, a1) a non-empty range of time slabs */
CT_GEOM_FN int
ct_geom_patches_valid (const CtPatchGeometry *g, int a0, int a1)
{
  return g->et > 0 && g->ep > 0 && g->T > 0 && g->H > 0 && g->W > 0 &&
      g->T % g->et == 0 && g->H % g->ep == 0 && g->W % g->ep == 0 &&
      a0 >= 0 && a0 < a1 && a1 <= g->T / g->et;
}

CT_GEOM_FN int ct_geom_patch_values (const CtPatchGeometry *g) { return 3 * g->et * g->ep * g->ep; }

/* index into the video of value (ch, dt, dx, dy = 0) of patch row `row`;
 * dy advances by 3 */
CT_GEOM_FN size_t
ct_geom_patch_run (const CtPatchGeometry *g, size_t row, int ch, int dt, int dx)
{
  int nb = g->H / g->ep, nc = g->W / g->ep;
  int cc = (int) (row % nc), b = (int) ((row / nc) % nb), a = (int) (row / ((size_t) nb * nc));
  return (((size_t) (a * g->et + dt) * g->H + b * g->ep + dx) * g->W + cc * g->ep) * 3 + ch;
}

/* index into the video of value k of patch row `row` */
CT_GEOM_FN size_t
ct_geom_patch_value_index (const CtPatchGeometry *g, size_t row, int k)
{
  int ep = g->ep;
  int dy = k % ep, dx = (k / ep) % ep, dt = (k / (ep * ep)) % g->et, ch = k / (ep * ep * g->et);
  return ct_geom_patch_run (g, row, ch, dt, dx) + (size_t) 3 * dy;
}

/* The projector's grid for plane p (0 xy, 1 yt, 2 xt; spec 4.8): the
 * plane (rows, cols) is gr x gc query tokens, each projected to P1 x P2
 * pixels; planes' tokens follow each other in the query sequence. */
typedef struct {
  int P1, P2, rows, cols, gr, gc;
} CtQueryGrid;

CT_GEOM_FN CtQueryGrid
ct_geom_query_grid (int rxy, int rt, int qxy, int qt, int p)
{
  CtQueryGrid q;
  q.P1 = p == 0 ? qxy : qt;
  q.P2 = qxy;
  q.rows = p == 0 ? rxy : rt;
  q.cols = rxy;
  q.gr = q.rows / q.P1;
  q.gc = q.cols / q.P2;
  return q;
}

/* Unpatchify (spec 4.8): a plane (gr P1, gc P2, C) from gr gc projected
 * tokens of P1 P2 C values each.  Offset in the tokens of pixel (x, y)'s
 * first channel. */
CT_GEOM_FN size_t
ct_geom_unpatchify_src (int gc, int P1, int P2, int C, int x, int y)
{
  int gi = x / P1, pi = x % P1, hi = y / P2, pj = y % P2;
  return ((size_t) (gi * gc + hi) * P1 * P2 + (size_t) pi * P2 + pj) * C;
}

#endif
