/* tiling.c - frames of any size as a grid of model-size tiles: the grid,
 * cutting a tile out of an RGB8 window (edges replicated), and encoding
 * every tile of a window as one batch.  The decoder side (reassembly and
 * cropping) is in rasterize.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "session-private.h"

#include <string.h>

gboolean
ct_tile_grid_init (CtTileGrid *g, const CtConfig *c, int width, int height,
    GError **error)
{
  memset (g, 0, sizeof *g);
  if (width < 1 || height < 1 || width > CT_FRAME_MAX || height > CT_FRAME_MAX) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "frame size %dx%d: width and height must be 1..%d", width, height,
        CT_FRAME_MAX);
    return FALSE;
  }
  g->width = width;
  g->height = height;
  g->tile_width = c->W;
  g->tile_height = c->H;
  g->cols = (width + c->W - 1) / c->W;
  g->rows = (height + c->H - 1) / c->H;
  if ((gint64) g->cols * g->rows > CT_TILES_MAX) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "frame size %dx%d needs %d x %d tiles of %dx%d, more than the %d a "
        "window may have", width, height, g->cols, g->rows, c->W, c->H, CT_TILES_MAX);
    return FALSE;
  }
  return TRUE;
}

int
ct_tile_grid_n_tiles (const CtTileGrid *g)
{
  return g->cols * g->rows;
}

void
ct_tile_gather_rgb8 (const CtConfig *c, const CtTileGrid *g, int tile,
    const guint8 *rgb, gsize stride, gsize frame_stride, int n_frames,
    float *video)
{
  int x0 = (tile % g->cols) * c->W, y0 = (tile / g->cols) * c->H;
  gsize frame = (gsize) c->H * c->W * 3;
  for (int f = 0; f < n_frames; f++) {
    const guint8 *src = rgb + (gsize) f * frame_stride;
    float *dst = video + f * frame;
    for (int y = 0; y < c->H; y++) {
      /* replicate the last row and column past the frame's edge */
      const guint8 *row = src + (gsize) MIN (y0 + y, g->height - 1) * stride;
      float *d = dst + (gsize) y * c->W * 3;
      int inside = CLAMP (g->width - x0, 0, c->W);
      ct_rgb8_to_model (row + (gsize) x0 * 3, inside, 1, inside * 3, d);
      for (int x = inside; x < c->W; x++)
        memcpy (d + 3 * x, d + 3 * (inside - 1), 3 * sizeof (float));
    }
  }
  /* A short tail fills its last temporal patch with its own last frame
   * (ct_window_encoded_frames says why) */
  int n_enc = ct_window_encoded_frames (c, n_frames);
  for (int f = n_frames; f < n_enc; f++)
    memcpy (video + f * frame, video + (gsize) (n_frames - 1) * frame, frame * sizeof (float));
  ct_pad_window (c, video, n_enc);
}

int
ct_window_encoded_frames (const CtConfig *c, int n_frames)
{
  int pt = c->enc_pt;
  return MIN (c->T, (n_frames + pt - 1) / pt * pt);
}

gboolean
ct_session_encode_rgb8 (CtSession *s, const guint8 *rgb, int width, int height,
    gsize stride, gsize frame_stride, int n_frames, float *z, GError **error)
{
  const CtConfig *c = ct_model_config (s->model);
  CtTileGrid g;
  if (!ct_tile_grid_init (&g, c, width, height, error))
    return FALSE;
  if (!rgb || !z || n_frames < 1 || n_frames > c->T || stride < (gsize) width * 3 ||
      (n_frames > 1 && frame_stride < stride * height)) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "encode: need frames, output, 1 <= n_frames (%d) <= T (%d), rows of at "
        "least %d bytes and frames of at least %" G_GSIZE_FORMAT " bytes",
        n_frames, c->T, width * 3, stride * height);
    return FALSE;
  }
  /* the backend gets the bytes (a GPU converts them on the device) and
   * encodes a short tail's last temporal patch whole, filled with copies of
   * its last frame (ct_window_encoded_frames) */
  CtTileSource ts = { .rgb = rgb, .stride = stride, .frame_stride = frame_stride,
    .grid = g, .frames = n_frames };
  return ct_session_encode_source (s, &ts, ct_tile_grid_n_tiles (&g),
      ct_window_encoded_frames (c, n_frames), z, error);
}
