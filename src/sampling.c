/* sampling.c - see sampling.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sampling.h"

#include <math.h>

/* bilinear sample of plane g (Ra, Rb, C) at (ca, cb), float32 arithmetic */
static inline void
sample_plane (const float *g, int Ra, int Rb, int C, float ca, float cb, float *e)
{
  float sa = ca * (float) (Ra - 1), sb = cb * (float) (Rb - 1);
  float fa0 = floorf (sa), fb0 = floorf (sb);
  int a0 = (int) fa0, b0 = (int) fb0;
  /* clamp defensively: coordinates outside [0, 1] must not read outside */
  a0 = CLAMP (a0, 0, Ra - 1);
  b0 = CLAMP (b0, 0, Rb - 1);
  int a1 = MIN (a0 + 1, Ra - 1), b1 = MIN (b0 + 1, Rb - 1);
  float fa = sa - fa0, fb = sb - fb0;
  const float *p00 = g + ((gsize) a0 * Rb + b0) * C, *p01 = g + ((gsize) a0 * Rb + b1) * C;
  const float *p10 = g + ((gsize) a1 * Rb + b0) * C, *p11 = g + ((gsize) a1 * Rb + b1) * C;
  for (int k = 0; k < C; k++)
    e[k] = (p00[k] * (1 - fb) + p01[k] * fb) * (1 - fa) + (p10[k] * (1 - fb) + p11[k] * fb) * fa;
}

void
ct_sample_triplane (const CtConfig *c, const float *z, const float *coords,
    int n, float *emb)
{
  int C = c->channels;
  const float *zxy = z, *zyt = z + ct_config_plane_floats (c, 0);
  const float *zxt = zyt + ct_config_plane_floats (c, 1);
  for (int i = 0; i < n; i++) {
    float ct = coords[3 * i], cx = coords[3 * i + 1], cy = coords[3 * i + 2];
    float *e = emb + (gsize) i * 3 * C;
    sample_plane (zxy, c->rxy, c->rxy, C, cx, cy, e);
    sample_plane (zyt, c->rt, c->rxy, C, ct, cy, e + C);
    sample_plane (zxt, c->rt, c->rxy, C, ct, cx, e + 2 * C);
  }
}

gsize
ct_pos_embed_row (const CtConfig *c, const float *coord)
{
  int nt = ct_config_nt (c), nx = ct_config_nx (c), ny = ct_config_ny (c);
  /* float32 products, truncated toward zero */
  int it = (int) (coord[0] * (float) (nt - 1));
  int ix = (int) (coord[1] * (float) (nx - 1));
  int iy = (int) (coord[2] * (float) (ny - 1));
  it = CLAMP (it, 0, nt - 1);
  ix = CLAMP (ix, 0, nx - 1);
  iy = CLAMP (iy, 0, ny - 1);
  return ((gsize) it * nx + ix) * ny + iy;
}
