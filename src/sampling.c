/* sampling.c - see sampling.h; the arithmetic is src/geometry.h's, shared
 * with the CUDA kernels.  Compiled with -ffp-contract=off (src/meson.build).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sampling.h"
#include "config-private.h"

void
ct_sample_triplane (const CtConfig *c, const float *z, const float *coords,
    int n, float *emb)
{
  CtPlaneGeometry g = ct_config_plane_geometry (c);
  for (int i = 0; i < n; i++) {
    const float *p = coords + (gsize) 3 * i;
    ct_geom_sample_triplane (&g, z, p[0], p[1], p[2], emb + (gsize) i * 3 * g.C);
  }
}

gsize
ct_pos_embed_row (const CtConfig *c, const float *coord)
{
  CtPlaneGeometry g = ct_config_plane_geometry (c);
  return ct_geom_pos_row (&g, coord[0], coord[1], coord[2]);
}
