/* rasterize.c - whole frames from token planes: every patch coordinate of
 * a region is queried, in (t, x, y) order per tile, cut into contiguous
 * sequences of `slice` queries; sequences of every tile are stacked into
 * calls of about 4096 rows (bigger matrix products), and the patches are
 * put back into frames of the grid's size, cropped at its edges.
 *
 * Frames are produced chunk by chunk (ct_session_rasterize_chunk_frames):
 * a chunk is whole sequences of every tile, so decoding a window chunk by
 * chunk (the decoder element, to push frames early) gives exactly the
 * pixels of decoding it at once (the Python API).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "session-private.h"

#include <string.h>

#define ROWS_PER_CALL 4096

/* start and len are caller data: compared without forming start + len,
 * which overflows an int (issue 25: top = 2^31 - 8 passed as negative). */
static gboolean
check_span (const char *what, int *start, int *len, int limit, int align,
    GError **error)
{
  if (*start >= 0 && *start < limit && *len <= 0)
    *len = limit - *start;
  if (*start < 0 || *start >= limit || *len < 1 || *len > limit - *start ||
      *start % align || (*len % align && *len != limit - *start)) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "rasterize: %s [%d, %" G_GINT64_FORMAT ") must lie inside [0, %d) and "
        "be aligned to %d", what, *start, (gint64) *start + *len, limit, align);
    return FALSE;
  }
  return TRUE;
}

gboolean
ct_session_region_normalise (CtSession *s, const CtTileGrid *g, int n_frames,
    CtRegion *r, GError **error)
{
  const CtConfig *c = ct_model_config (s->model);
  if (n_frames < 1 || n_frames > c->T) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "rasterize: n_frames %d outside 1..%d", n_frames, c->T);
    return FALSE;
  }
  return check_span ("frames", &r->t0, &r->nt, n_frames, c->dec_pt, error) &&
      check_span ("rows", &r->top, &r->height, g->height, c->dec_pxy, error) &&
      check_span ("columns", &r->left, &r->width, g->width, c->dec_pxy, error);
}

/* The part of a (normalised) region inside one tile, in patches of the
 * tile; rows/cols are the pixels to keep (the rest is padding). */
typedef struct {
  int ix0, nx, iy0, ny;      /* patches queried */
  int top, left;             /* frame position of the first queried pixel */
  int rows, cols;            /* pixels kept */
} TilePart;

static gboolean
tile_part (const CtConfig *c, const CtTileGrid *g, const CtRegion *r, int tile,
    TilePart *tp)
{
  int p = c->dec_pxy;
  int ty = (tile / g->cols) * c->H, tx = (tile % g->cols) * c->W;
  int y0 = MAX (r->top, ty), y1 = MIN (r->top + r->height, ty + c->H);
  int x0 = MAX (r->left, tx), x1 = MIN (r->left + r->width, tx + c->W);
  if (y0 >= y1 || x0 >= x1)
    return FALSE;
  tp->ix0 = (y0 - ty) / p;
  tp->nx = (y1 - ty + p - 1) / p - tp->ix0;
  tp->iy0 = (x0 - tx) / p;
  tp->ny = (x1 - tx + p - 1) / p - tp->iy0;
  tp->top = y0;
  tp->left = x0;
  tp->rows = y1 - y0;
  tp->cols = x1 - x0;
  return TRUE;
}

static gboolean
reserve (CtSession *s, int rows, int seqs, GError **error)
{
  const CtConfig *c = ct_model_config (s->model);
  if (rows > s->capacity) {
    g_free (s->coords);
    g_free (s->patches);
    s->coords = g_try_malloc ((gsize) rows * 3 * sizeof (float));
    s->patches = g_try_malloc ((gsize) rows * ct_config_patch_values (c) * sizeof (float));
    s->capacity = rows;
    if (!s->coords || !s->patches) {
      g_free (s->coords);
      g_free (s->patches);
      s->coords = s->patches = NULL;
      s->capacity = 0;
      g_set_error (error, CT_ERROR, CT_ERROR_IO,
          "rasterize: out of memory for %d queries", rows);
      return FALSE;
    }
  }
  if (seqs > s->seq_capacity) {
    g_free (s->seq_tiles);
    s->seq_tiles = g_new (int, seqs);
    s->seq_capacity = seqs;
  }
  return TRUE;
}

/* Queries of one tile's part per patch-frame, and the sequence length used
 * for it (slice, at most all of its queries in the region). */
static void
part_slice (const TilePart *tp, int n_its, int slice, gint64 *per_it, int *seq)
{
  *per_it = (gint64) tp->nx * tp->ny;
  gint64 nq = *per_it * n_its;
  *seq = (int) MIN ((gint64) slice, nq);
}

static gint64
gcd64 (gint64 a, gint64 b)
{
  while (b) {
    gint64 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* Patch-frames (of pt frames) per chunk: whole sequences of every tile
 * part, and enough of them for about ROWS_PER_CALL rows. */
static int
chunk_its (const CtConfig *c, const CtTileGrid *g, const CtRegion *r, int slice,
    int n_its)
{
  gint64 unit = 1, rows = 0;
  for (int k = 0; k < ct_tile_grid_n_tiles (g); k++) {
    TilePart tp;
    gint64 per_it;
    int seq;
    if (!tile_part (c, g, r, k, &tp))
      continue;
    part_slice (&tp, n_its, slice, &per_it, &seq);
    gint64 need = seq / gcd64 (per_it, seq);    /* its per whole sequences */
    unit = unit / gcd64 (unit, need) * need;
    if (unit >= n_its)
      return n_its;
    rows += per_it;
  }
  gint64 k = MAX (ROWS_PER_CALL / MAX (rows * unit, 1), 1);
  return (int) MIN (unit * k, (gint64) n_its);
}

int
ct_session_rasterize_chunk_frames (CtSession *s, const CtTileGrid *g,
    int n_frames, int slice, const CtRegion *region)
{
  const CtConfig *c = ct_model_config (s->model);
  CtRegion r = region ? *region : (CtRegion) { 0 };
  /* a region rasterize would refuse: any count will do, it is refused there */
  if (!ct_session_region_normalise (s, g, n_frames, &r, NULL))
    return 1;
  if (slice <= 0)
    slice = c->default_slice;
  int pt = c->dec_pt;
  int n_its = (r.t0 + r.nt + pt - 1) / pt - r.t0 / pt;
  if (n_its < 1)
    return MAX (r.nt, 1);
  return MIN (chunk_its (c, g, &r, slice, n_its) * pt, MAX (r.nt, 1));
}

/* One sequence of queries: part of tile `tile`, queries [q0, q0 + len) of
 * the chunk in (t, x, y) order. */
typedef struct {
  int tile;
  TilePart tp;
  gint64 per_it, q0;
  int len;
} Sequence;

static void
sequence_coords (const CtConfig *c, const Sequence *sq, int it0, float *coords)
{
  for (int i = 0; i < sq->len; i++) {
    gint64 q = sq->q0 + i;
    int iy = q % sq->tp.ny, ix = (q / sq->tp.ny) % sq->tp.nx, it = it0 + q / sq->per_it;
    ct_patch_coord (c, it, sq->tp.ix0 + ix, sq->tp.iy0 + iy, coords + 3 * i);
  }
}

/* Patches of one sequence into the frames, cropped to the region. */
static void
sequence_place (const CtConfig *c, const CtTileGrid *g, const CtRegion *r,
    const Sequence *sq, int it0, const float *patches, float *out)
{
  int pt = c->dec_pt, p = c->dec_pxy, pv = ct_config_patch_values (c);
  gsize frame = (gsize) r->height * r->width * 3;
  const TilePart *tp = &sq->tp;
  for (int i = 0; i < sq->len; i++) {
    gint64 q = sq->q0 + i;
    int iy = q % tp->ny, ix = (q / tp->ny) % tp->nx, it = it0 + q / sq->per_it;
    const float *pp = patches + (gsize) i * pv;
    /* frame row and column of the patch's first pixel */
    int fy = (sq->tile / g->cols) * c->H + (tp->ix0 + ix) * p;
    int fx = (sq->tile % g->cols) * c->W + (tp->iy0 + iy) * p;
    int nrows = MIN (p, tp->top + tp->rows - fy), ncols = MIN (p, tp->left + tp->cols - fx);
    for (int dt = 0; dt < pt; dt++) {
      int f = it * pt + dt;
      if (f < r->t0 || f >= r->t0 + r->nt)
        continue;
      for (int dx = 0; dx < nrows; dx++)
        memcpy (out + (f - r->t0) * frame + ((gsize) (fy - r->top + dx) * r->width
                + fx - r->left) * 3, pp + ((dt * p + dx) * p) * 3,
            (gsize) ncols * 3 * sizeof (float));
    }
  }
}

/* Decodes patch-frames [it0, it0 + n_its) of every tile part: all their
 * sequences, those of one length stacked into calls of up to
 * ROWS_PER_CALL rows across tiles. */
static gboolean
rasterize_chunk (CtSession *s, const CtTileGrid *g, const CtRegion *r,
    int slice, int n_its_total, int it0, int n_its, float *out, GError **error)
{
  const CtConfig *c = ct_model_config (s->model);
  int pv = ct_config_patch_values (c);
  GArray *seqs = g_array_new (FALSE, FALSE, sizeof (Sequence));
  gboolean ok = TRUE;

  for (int k = 0; k < ct_tile_grid_n_tiles (g); k++) {
    Sequence sq = { .tile = k };
    int seq;
    if (!tile_part (c, g, r, k, &sq.tp))
      continue;
    part_slice (&sq.tp, n_its_total, slice, &sq.per_it, &seq);
    gint64 nq = sq.per_it * n_its;
    for (sq.q0 = 0; sq.q0 < nq; sq.q0 += seq) {
      sq.len = (int) MIN ((gint64) seq, nq - sq.q0);
      g_array_append_val (seqs, sq);
    }
  }
  for (guint i = 0; ok && i < seqs->len;) {
    const Sequence *first = &g_array_index (seqs, Sequence, i);
    int len = first->len;
    guint n_seq = 1;
    while (i + n_seq < seqs->len &&
        g_array_index (seqs, Sequence, i + n_seq).len == len &&
        (gint64) (n_seq + 1) * len <= MAX (ROWS_PER_CALL, len))
      n_seq++;
    ok = reserve (s, (int) n_seq * len, (int) n_seq, error);
    for (guint j = 0; ok && j < n_seq; j++) {
      const Sequence *sq = &g_array_index (seqs, Sequence, i + j);
      sequence_coords (c, sq, it0, s->coords + (gsize) 3 * j * len);
      s->seq_tiles[j] = sq->tile;
    }
    if (ok)
      ok = s->ops->decode_seqs (s->ctx, s->seq_tiles, s->coords, n_seq, len,
          s->patches, NULL, error);
    for (guint j = 0; ok && j < n_seq; j++)
      sequence_place (c, g, r, &g_array_index (seqs, Sequence, i + j), it0,
          s->patches + (gsize) j * len * pv, out);
    i += n_seq;
  }
  g_array_unref (seqs);
  return ok;
}

gboolean
ct_rasterize_bound (CtSession *s, const CtTileGrid *g, int n_frames, int slice,
    const CtRegion *r, float *out, GError **error)
{
  const CtConfig *c = ct_model_config (s->model);
  int pt = c->dec_pt;
  if (slice <= 0)
    slice = c->default_slice;
  int it_first = r->t0 / pt, it_end = (r->t0 + r->nt + pt - 1) / pt;
  int n_its = it_end - it_first;
  int chunk = chunk_its (c, g, r, slice, n_its);
  for (int it = it_first; it < it_end; it += chunk)
    if (!rasterize_chunk (s, g, r, slice, n_its, it, MIN (chunk, it_end - it),
            out, error))
      return FALSE;
  return TRUE;
}

gboolean
ct_rasterize_check (CtSession *s, const float *z, const void *out,
    const CtTileGrid *g, int n_frames, CtRegion *r, GError **error)
{
  const CtConfig *c = ct_model_config (s->model);
  if (!z || !out || !g || g->tile_width != c->W || g->tile_height != c->H ||
      g->cols < 1 || g->rows < 1 || g->width > g->cols * c->W ||
      g->height > g->rows * c->H) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "rasterize: need planes, output and a tile grid of this model's %dx%d tiles",
        c->W, c->H);
    return FALSE;
  }
  return ct_session_region_normalise (s, g, n_frames, r, error);
}

gboolean
ct_session_rasterize_tiles (CtSession *s, const float *z, const CtTileGrid *g,
    int n_frames, int slice, CtRegion *r, float *out, GError **error)
{
  if (!ct_rasterize_check (s, z, out, g, n_frames, r, error) ||
      !s->ops->bind_planes (s->ctx, z, ct_tile_grid_n_tiles (g), error))
    return FALSE;
  gboolean ok = ct_rasterize_bound (s, g, n_frames, slice, r, out, error);
  s->ops->unbind_planes (s->ctx);
  return ok;
}

gboolean
ct_session_rasterize_region (CtSession *s, const float *z, int n_frames,
    int slice, CtRegion *r, float *out, GError **error)
{
  const CtConfig *c = ct_model_config (s->model);
  CtTileGrid g;
  if (!ct_tile_grid_init (&g, c, c->W, c->H, error))
    return FALSE;
  return ct_session_rasterize_tiles (s, z, &g, n_frames, slice, r, out, error);
}

gboolean
ct_session_rasterize_range (CtSession *s, const float *z, int n_frames,
    int slice, int t0, int nt, float *out, GError **error)
{
  CtRegion r = { .t0 = t0, .nt = nt };
  return ct_session_rasterize_region (s, z, n_frames, slice, &r, out, error);
}

gboolean
ct_session_rasterize (CtSession *s, const float *z, int n_frames, int slice,
    float *out, GError **error)
{
  return ct_session_rasterize_range (s, z, n_frames, slice, 0, 0, out, error);
}
