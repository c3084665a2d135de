/* decode-rgb8.c - a record's planes to RGB8 frames, chunk by chunk: the
 * decode loop every front end runs (coordtokdec, the Python module, the
 * CLI), written once.  Chunks are whole rasterizer chunks
 * (ct_session_rasterize_chunk_frames), so the pixels equal decoding the
 * region at once and converting every frame with ct_model_to_rgb8.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "session-private.h"

/* Grows the session's chunk buffers to `values` floats and bytes. */
static gboolean
reserve_chunk (CtSession *s, gsize values, int n, const CtRegion *r,
    GError **error)
{
  if (values <= s->chunk_cap)
    return TRUE;
  g_free (s->chunk);
  g_free (s->chunk_rgb);
  s->chunk = g_try_malloc (values * sizeof (float));
  s->chunk_rgb = g_try_malloc (values);
  s->chunk_cap = values;
  if (s->chunk && s->chunk_rgb)
    return TRUE;
  g_clear_pointer (&s->chunk, g_free);
  g_clear_pointer (&s->chunk_rgb, g_free);
  s->chunk_cap = 0;
  g_set_error (error, CT_ERROR, CT_ERROR_IO,
      "decode: out of memory for %d decoded frames of %dx%d", n, r->width,
      r->height);
  return FALSE;
}

gboolean
ct_session_decode_rgb8 (CtSession *s, const float *z, int width, int height,
    int n_frames, int slice, CtRegion *region, const CtFrameSink *sink,
    GError **error)
{
  const CtConfig *c = ct_model_config (s->model);
  CtTileGrid g;
  if (!sink || !sink->frames) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "decode: need a frame sink with a frames callback");
    return FALSE;
  }
  if (!ct_tile_grid_init (&g, c, width, height, error) ||
      !ct_rasterize_check (s, z, sink, &g, n_frames, region, error))
    return FALSE;

  int chunk = ct_session_rasterize_chunk_frames (s, &g, n_frames, slice, region);
  gsize frame = (gsize) region->width * region->height * 3;
  if (!reserve_chunk (s, frame * chunk, chunk, region, error))
    return FALSE;
  /* the planes stay bound (on a GPU: uploaded once) for every chunk */
  if (!s->ops->bind_planes (s->ctx, z, ct_tile_grid_n_tiles (&g), error))
    return FALSE;
  gboolean ok = TRUE;
  int end = region->t0 + region->nt;
  for (int f0 = region->t0; ok && f0 < end; f0 += chunk) {
    int n = MIN (chunk, end - f0);
    if (sink->skip && sink->skip (sink->user, f0, n))
      continue;
    CtRegion part = *region;
    part.t0 = f0;
    part.nt = n;
    ok = ct_rasterize_bound (s, &g, n_frames, slice, &part, s->chunk, error);
    if (!ok)
      break;
    ct_model_to_rgb8 (s->chunk, region->width, region->height * n, s->chunk_rgb,
        region->width * 3);
    if (!sink->frames (sink->user, s->chunk_rgb, f0, n))
      break;
  }
  s->ops->unbind_planes (s->ctx);
  return ok;
}
