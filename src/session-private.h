/* session-private.h - the session object, shared by session.c (backends),
 * tiling.c and rasterize.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_SESSION_PRIVATE_H
#define CT_SESSION_PRIVATE_H

#include "backend.h"

struct _CtSession {
  CtModel *model;
  const CtBackendOps *ops;
  void *ctx;
  CtDevice device;
  /* rasterizer scratch, grown on demand */
  float *coords, *patches;
  int capacity;
  const float **seq_planes;    /* planes of each stacked sequence */
  int seq_capacity;
  /* per-tile window for backends without a batched encode */
  float *tile_video;
  /* ct_session_decode_rgb8: one chunk of frames, model space and RGB8 */
  float *chunk;
  guint8 *chunk_rgb;
  gsize chunk_cap;             /* values (floats, bytes) each holds */
};

/* Checks a rasterizer call's planes, output, grid and frame count and
 * normalises the region (sizes <= 0: to the end; errors name the field). */
gboolean ct_rasterize_check (CtSession *s, const float *z, const void *out,
    const CtTileGrid *g, int n_frames, CtRegion *r, GError **error);

/* Encodes n_tiles windows from `src` (z: n_tiles triplanes), batched when
 * the backend can. */
gboolean ct_session_encode_source (CtSession *s, const CtTileSource *src,
    int n_tiles, int n_frames, float *z, GError **error);

#endif
