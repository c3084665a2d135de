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
  int *seq_tiles;              /* bound tile of each stacked sequence */
  int seq_capacity;
  /* ct_session_decode_rgb8: one chunk of frames, model space and RGB8 */
  float *chunk;
  guint8 *chunk_rgb;
  gsize chunk_cap;             /* values (floats, bytes) each holds */
};

/* Rasterizes a checked region (ct_rasterize_check) of a window whose
 * planes the caller bound (ops->bind_planes): the loop behind
 * ct_session_rasterize_tiles and ct_session_decode_rgb8. */
gboolean ct_rasterize_bound (CtSession *s, const CtTileGrid *g, int n_frames,
    int slice, const CtRegion *r, float *out, GError **error);

/* Checks a rasterizer call's planes, output, grid and frame count and
 * normalises the region (sizes <= 0: to the end; errors name the field). */
gboolean ct_rasterize_check (CtSession *s, const float *z, const void *out,
    const CtTileGrid *g, int n_frames, CtRegion *r, GError **error);

/* Encodes n_tiles windows from `src` (z: n_tiles triplanes) as one batch. */
gboolean ct_session_encode_source (CtSession *s, const CtTileSource *src,
    int n_tiles, int n_frames, float *z, GError **error);

#endif
