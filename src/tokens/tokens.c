/* tokens.c - token record header, packing and validation (see tokens.h and
 * docs/token-format.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tokens.h"
#include "safetensors.h"   /* the f16/bf16 conversions */

#include <string.h>

/* ---- dtypes ------------------------------------------------------------ */

gsize
ct_tokens_dtype_size (CtTokensDType dtype)
{
  switch (dtype) {
    case CT_TOKENS_F32: return 4;
    case CT_TOKENS_F16: return 2;
    case CT_TOKENS_BF16: return 2;
  }
  return 0;
}

const char *
ct_tokens_dtype_name (CtTokensDType dtype)
{
  switch (dtype) {
    case CT_TOKENS_F32: return "f32";
    case CT_TOKENS_F16: return "f16";
    case CT_TOKENS_BF16: return "bf16";
  }
  return NULL;
}

gboolean
ct_tokens_dtype_from_name (const char *name, CtTokensDType *dtype)
{
  for (int d = CT_TOKENS_F32; d <= CT_TOKENS_BF16; d++)
    if (name && g_strcmp0 (name, ct_tokens_dtype_name (d)) == 0) {
      *dtype = d;
      return TRUE;
    }
  return FALSE;
}

/* ---- CRC-32 (reflected, polynomial 0xEDB88320) ------------------------- */

static guint32 crc_table[256];

static gpointer
crc_init (gpointer unused)
{
  for (guint32 i = 0; i < 256; i++) {
    guint32 c = i;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
  return NULL;
}

guint32
ct_crc32 (guint32 crc, const void *data, gsize size)
{
  static GOnce once = G_ONCE_INIT;
  g_once (&once, crc_init, NULL);
  const guint8 *p = data;
  crc ^= 0xFFFFFFFFu;
  for (gsize i = 0; i < size; i++)
    crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

/* ---- half / bfloat16 --------------------------------------------------- */

static inline guint32
f2u (float f)
{
  guint32 u;
  memcpy (&u, &f, 4);
  return u;
}

static inline float
u2f (guint32 u)
{
  float f;
  memcpy (&f, &u, 4);
  return f;
}

void
ct_tokens_f32_to_f16 (const float *src, guint16 *dst, gsize n)
{
  for (gsize i = 0; i < n; i++)
    dst[i] = ct_f32_to_f16 (src[i]);
}

void
ct_tokens_f16_to_f32 (const guint16 *src, float *dst, gsize n)
{
  for (gsize i = 0; i < n; i++)
    dst[i] = ct_f16_to_f32 (src[i]);
}

void
ct_tokens_f32_to_bf16 (const float *src, guint16 *dst, gsize n)
{
  for (gsize i = 0; i < n; i++)
    dst[i] = ct_f32_to_bf16 (src[i]);
}

void
ct_tokens_bf16_to_f32 (const guint16 *src, float *dst, gsize n)
{
  for (gsize i = 0; i < n; i++)
    dst[i] = ct_bf16_to_f32 (src[i]);
}

/* ---- header ------------------------------------------------------------ */

void
ct_tokens_header_init (CtTokensHeader *h, const CtModel *model, CtTokensDType dtype,
    guint n_frames)
{
  const CtConfig *c = ct_model_config (model);
  memset (h, 0, sizeof *h);
  h->version = CT_TOKENS_VERSION;
  h->fixed_size = CT_TOKENS_FIXED_HEADER_SIZE;
  h->flags = CT_TOKENS_FLAG_FRAME_TABLE;
  h->dtype = dtype;
  h->T = c->T;
  h->n_frames = n_frames;
  h->height = c->H;
  h->width = c->W;
  h->rxy = c->rxy;
  h->rt = c->rt;
  h->channels = c->channels;
  h->fps_n = 0;
  h->fps_d = 1;
  h->pts = h->duration = CT_TOKENS_TIME_NONE;
  h->tiles_x = h->tiles_y = 1;
  h->tile_width = c->W;
  h->tile_height = c->H;
  h->par_n = h->par_d = 1;
  h->header_size = CT_TOKENS_FIXED_HEADER_SIZE + CT_TOKENS_FRAME_ENTRY_SIZE * n_frames;
  /* (a model too large for a record: refused by ct_tokens_header_finish) */
  gsize n;
  h->payload_size = ct_tokens_count_elems (h, &n) ? (guint64) n *
      ct_tokens_dtype_size (dtype) : G_MAXUINT64;
  g_strlcpy (h->model_id, ct_model_id (model), sizeof h->model_id);
}

gboolean
ct_tokens_header_init_tiled (CtTokensHeader *h, const CtModel *model,
    CtTokensDType dtype, guint n_frames, int width, int height, GError **error)
{
  CtTileGrid g;
  ct_tokens_header_init (h, model, dtype, n_frames);
  if (!ct_tile_grid_init (&g, ct_model_config (model), width, height, error))
    return FALSE;
  h->width = width;
  h->height = height;
  h->tiles_x = g.cols;
  h->tiles_y = g.rows;
  gsize n;
  if (!ct_tokens_count_elems (h, &n)) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "frames of %dx%d are %u tiles of %ux%u: %" G_GUINT64_FORMAT " token "
        "elements per window, more than the %u a token record may carry",
        width, height, ct_tokens_n_tiles (h), h->tile_width, h->tile_height,
        (guint64) ct_tokens_tile_elems (h) * ct_tokens_n_tiles (h),
        CT_TOKENS_MAX_ELEMS);
    return FALSE;
  }
  h->payload_size = n * ct_tokens_dtype_size (dtype);
  return TRUE;
}

void
ct_tokens_header_grid (const CtTokensHeader *h, CtTileGrid *g)
{
  g->width = h->width;
  g->height = h->height;
  g->tile_width = h->tile_width;
  g->tile_height = h->tile_height;
  g->cols = h->tiles_x;
  g->rows = h->tiles_y;
}

/* a * b when it is at most limit; FALSE (and no product) otherwise.  Every
 * size below is built from 32-bit header fields one factor at a time, each
 * partial product bounded before the next multiplication, so none wraps
 * (a 64-bit product of four 2^16 fields did: issue 25). */
static inline gboolean
mul_bounded (guint64 a, guint64 b, guint64 limit, guint64 *out)
{
  if (a != 0 && b > limit / a)
    return FALSE;
  *out = a * b;
  return TRUE;
}

/* Elements of one plane, saturated at G_MAXSIZE. */
static guint64
plane_elems_sat (const CtTokensHeader *h, int plane)
{
  guint64 rc, n;
  if (!mul_bounded (h->rxy, h->channels, G_MAXSIZE, &rc) ||
      !mul_bounded (rc, plane == 0 ? h->rxy : h->rt, G_MAXSIZE, &n))
    return G_MAXSIZE;
  return n;
}

gboolean
ct_tokens_count_elems (const CtTokensHeader *h, gsize *n_elems)
{
  const guint64 lim = CT_TOKENS_MAX_ELEMS;
  guint64 rc, xy, yt, tile, tiles, all;
  if (!mul_bounded (h->rxy, h->channels, lim, &rc) ||
      !mul_bounded (rc, h->rxy, lim, &xy) ||
      !mul_bounded (rc, h->rt, lim, &yt) ||
      !mul_bounded (2, yt, lim - xy, &tile) ||
      !mul_bounded (h->tiles_x, h->tiles_y, lim, &tiles) ||
      !mul_bounded (xy + tile, tiles, lim, &all))
    return FALSE;
  if (n_elems)
    *n_elems = all;
  return TRUE;
}

gsize
ct_tokens_plane_elems (const CtTokensHeader *h, int plane)
{
  return plane_elems_sat (h, plane);
}

gsize
ct_tokens_tile_elems (const CtTokensHeader *h)
{
  guint64 xy = plane_elems_sat (h, 0), yt = plane_elems_sat (h, 1);
  if (yt > (G_MAXSIZE - xy) / 2)
    return G_MAXSIZE;
  return xy + 2 * yt;
}

guint
ct_tokens_n_tiles (const CtTokensHeader *h)
{
  guint64 n;
  return mul_bounded (h->tiles_x, h->tiles_y, G_MAXUINT, &n) ? (guint) n : G_MAXUINT;
}

gsize
ct_tokens_n_elems (const CtTokensHeader *h)
{
  gsize n;
  return ct_tokens_count_elems (h, &n) ? n : G_MAXSIZE;
}

gsize
ct_tokens_record_size (const CtTokensHeader *h)
{
  return (gsize) h->header_size + (gsize) h->payload_size;
}

static inline guint16 rd16 (const guint8 *p) { return p[0] | (p[1] << 8); }
static inline guint32 rd32 (const guint8 *p)
{ return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16) | ((guint32) p[3] << 24); }
static inline guint64 rd64 (const guint8 *p)
{ return (guint64) rd32 (p) | ((guint64) rd32 (p + 4) << 32); }
static inline void wr16 (guint8 *p, guint16 v) { p[0] = v; p[1] = v >> 8; }
static inline void wr32 (guint8 *p, guint32 v)
{ p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static inline void wr64 (guint8 *p, guint64 v) { wr32 (p, (guint32) v); wr32 (p + 4, v >> 32); }

/* Where plane `plane` of tile t starts in the engine's layout. */
static const float *
plane_of_tile (const CtTokensHeader *h, const float *z, guint t, int plane)
{
  const float *p = z + (gsize) t * ct_tokens_tile_elems (h);
  for (int i = 0; i < plane; i++)
    p += ct_tokens_plane_elems (h, i);
  return p;
}

static void
pack_elems (CtTokensDType dtype, const float *z, gsize n, guint8 *pl)
{
  switch (dtype) {
    case CT_TOKENS_F32:
      if (G_BYTE_ORDER == G_LITTLE_ENDIAN)
        memcpy (pl, z, n * 4);
      else
        for (gsize i = 0; i < n; i++)
          wr32 (pl + 4 * i, f2u (z[i]));
      break;
    case CT_TOKENS_F16:
    case CT_TOKENS_BF16:{
      guint16 tmp[256];
      for (gsize i = 0; i < n; i += 256) {
        gsize k = MIN (256, n - i);
        if (dtype == CT_TOKENS_F16)
          ct_tokens_f32_to_f16 (z + i, tmp, k);
        else
          ct_tokens_f32_to_bf16 (z + i, tmp, k);
        for (gsize j = 0; j < k; j++)
          wr16 (pl + 2 * (i + j), tmp[j]);
      }
      break;
    }
  }
}

static void
unpack_elems (CtTokensDType dtype, const guint8 *pl, gsize n, float *z)
{
  switch (dtype) {
    case CT_TOKENS_F32:
      for (gsize i = 0; i < n; i++)
        z[i] = u2f (rd32 (pl + 4 * i));
      break;
    case CT_TOKENS_F16:
      for (gsize i = 0; i < n; i++)
        z[i] = ct_f16_to_f32 (rd16 (pl + 2 * i));
      break;
    case CT_TOKENS_BF16:
      for (gsize i = 0; i < n; i++)
        z[i] = ct_bf16_to_f32 (rd16 (pl + 2 * i));
      break;
  }
}

#define FERR(...) g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, __VA_ARGS__)

#define HERR(...) g_set_error (error, CT_ERROR, code, __VA_ARGS__)

/* Everything a reader requires of a header's fields, and so everything a
 * writer must hold to (ct_tokens_pack checks the same): bounded dimensions,
 * the grid the frame size calls for, sizes (all products checked),
 * framerate and aspect ratio, a printable model id. */
static gboolean
header_check (const CtTokensHeader *h, guint esize, int code, GError **error)
{
  const guint32 lim = 1u << 16;
  if (h->T < 1 || h->T > lim || h->height < 1 || h->height > lim ||
      h->width < 1 || h->width > lim || h->rxy < 1 || h->rxy > lim ||
      h->rt < 1 || h->rt > lim || h->channels < 1 || h->channels > lim) {
    HERR ("token header: implausible dimensions T=%u %ux%u planes rxy=%u rt=%u C=%u",
        h->T, h->width, h->height, h->rxy, h->rt, h->channels);
    return FALSE;
  }
  if (h->n_frames < 1 || h->n_frames > h->T) {
    HERR ("token header: %u real frames, must be 1..%u", h->n_frames, h->T);
    return FALSE;
  }
  /* 65535: the largest tile side a version-2 record holds, so that any
   * record read (version 1 included) can be written again */
  if (h->tile_width > G_MAXUINT16 || h->tile_height > G_MAXUINT16) {
    HERR ("token header: tiles of %ux%u, a tile side is at most %u",
        h->tile_width, h->tile_height, G_MAXUINT16);
    return FALSE;
  }
  /* the grid must be the one the frame size calls for (ct_tile_grid_init) */
  if (h->tile_width < 1 || h->tile_height < 1 ||
      h->tiles_x != (h->width + h->tile_width - 1) / h->tile_width ||
      h->tiles_y != (h->height + h->tile_height - 1) / h->tile_height) {
    HERR ("token header: a grid of %u x %u tiles of %ux%u does not cover "
        "%ux%u frames exactly", h->tiles_x, h->tiles_y, h->tile_width,
        h->tile_height, h->width, h->height);
    return FALSE;
  }
  if (h->par_n <= 0 || h->par_d <= 0) {
    HERR ("token header: invalid pixel aspect ratio %d/%d", h->par_n, h->par_d);
    return FALSE;
  }
  if (h->fps_n < 0 || h->fps_d <= 0) {
    HERR ("token header: invalid framerate %d/%d", h->fps_n, h->fps_d);
    return FALSE;
  }
  guint64 want_hs = h->fixed_size +
      ((h->flags & CT_TOKENS_FLAG_FRAME_TABLE) ?
      (guint64) CT_TOKENS_FRAME_ENTRY_SIZE * h->n_frames : 0);
  if (h->header_size != want_hs) {
    HERR ("token header: header size %u, expected %" G_GUINT64_FORMAT
        " for %u frames", h->header_size, want_hs, h->n_frames);
    return FALSE;
  }
  gsize n_elems;
  if (!ct_tokens_count_elems (h, &n_elems)) {
    HERR ("token header: %u x %u tiles of planes rxy=%u rt=%u C=%u hold more "
        "than the %u elements a token record may carry", h->tiles_x, h->tiles_y,
        h->rxy, h->rt, h->channels, CT_TOKENS_MAX_ELEMS);
    return FALSE;
  }
  guint64 want_ps = (guint64) n_elems * esize;
  if (h->payload_size != want_ps) {
    HERR ("token header: payload size %" G_GUINT64_FORMAT ", expected %"
        G_GUINT64_FORMAT " for planes rxy=%u rt=%u C=%u %s",
        h->payload_size, want_ps, h->rxy, h->rt, h->channels,
        ct_tokens_dtype_name (h->dtype));
    return FALSE;
  }
  for (int i = 0; i < CT_TOKENS_MODEL_ID_LEN && h->model_id[i]; i++)
    if (!g_ascii_isprint (h->model_id[i])) {
      HERR ("token header: model id is not printable ASCII");
      return FALSE;
    }
  return TRUE;
}

#undef HERR

gboolean
ct_tokens_header_peek (const guint8 *data, gsize size, CtTokensHeader *h,
    GError **error)
{
  memset (h, 0, sizeof *h);
  if (size < CT_TOKENS_FIXED_HEADER_SIZE_V1) {
    FERR ("token buffer too short: %" G_GSIZE_FORMAT " bytes, a header needs %d",
        size, CT_TOKENS_FIXED_HEADER_SIZE_V1);
    return FALSE;
  }
  if (memcmp (data, CT_TOKENS_MAGIC, 4) != 0) {
    FERR ("not a CoordTok token record: magic is %02x %02x %02x %02x, expected \"CTOK\"",
        data[0], data[1], data[2], data[3]);
    return FALSE;
  }
  h->version = rd16 (data + 4);
  if (h->version < CT_TOKENS_VERSION_MIN || h->version > CT_TOKENS_VERSION) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "token record version %u is not supported (this build reads versions "
        "%d to %d): a newer gst-coordtok wrote it", h->version,
        CT_TOKENS_VERSION_MIN, CT_TOKENS_VERSION);
    return FALSE;
  }
  guint fixed = rd16 (data + 6), want_fixed = h->version == 1 ?
      CT_TOKENS_FIXED_HEADER_SIZE_V1 : CT_TOKENS_FIXED_HEADER_SIZE;
  if (fixed != want_fixed) {
    FERR ("token header: fixed header size %u, expected %u for version %u",
        fixed, want_fixed, h->version);
    return FALSE;
  }
  if (size < fixed) {
    FERR ("token buffer too short: %" G_GSIZE_FORMAT " bytes, a version %u "
        "header needs %u", size, h->version, fixed);
    return FALSE;
  }
  h->fixed_size = fixed;
  h->header_size = rd32 (data + 8);
  h->flags = rd32 (data + 12);
  guint dtype = data[16], esize = data[17];
  if (dtype > CT_TOKENS_BF16 || esize != ct_tokens_dtype_size (dtype)) {
    FERR ("token header: unknown element type %u (size %u)", dtype, esize);
    return FALSE;
  }
  h->dtype = dtype;
  h->T = rd32 (data + 20);
  h->n_frames = rd32 (data + 24);
  h->height = rd32 (data + 28);
  h->width = rd32 (data + 32);
  h->rxy = rd32 (data + 36);
  h->rt = rd32 (data + 40);
  h->channels = rd32 (data + 44);
  h->fps_n = (gint32) rd32 (data + 48);
  h->fps_d = (gint32) rd32 (data + 52);
  h->pts = rd64 (data + 56);
  h->duration = rd64 (data + 64);
  h->payload_size = rd64 (data + 72);
  h->payload_crc = rd32 (data + 80);
  memcpy (h->model_id, data + 88, CT_TOKENS_MODEL_ID_LEN);
  h->model_id[CT_TOKENS_MODEL_ID_LEN] = 0;
  if (h->version == 1) {
    h->tiles_x = h->tiles_y = 1;
    h->tile_width = h->width;
    h->tile_height = h->height;
    h->par_n = h->par_d = 1;
  } else {
    h->tiles_x = rd16 (data + 120);
    h->tiles_y = rd16 (data + 122);
    h->tile_width = rd16 (data + 124);
    h->tile_height = rd16 (data + 126);
    h->par_n = (gint32) rd32 (data + 128);
    h->par_d = (gint32) rd32 (data + 132);
  }

  return header_check (h, esize, CT_ERROR_FORMAT, error);
}

gsize
ct_tokens_fixed_size (const guint8 *data, gsize size)
{
  if (size < 8 || memcmp (data, CT_TOKENS_MAGIC, 4) != 0)
    return 0;
  switch (rd16 (data + 4)) {
    case 1:
      return CT_TOKENS_FIXED_HEADER_SIZE_V1;
    case 2:
      return CT_TOKENS_FIXED_HEADER_SIZE;
    default:
      return 0;
  }
}

static guint32
header_crc (const guint8 *data, gsize header_size)
{
  static const guint8 zero[4];
  guint32 crc = ct_crc32 (0, data, 84);
  crc = ct_crc32 (crc, zero, 4);
  return ct_crc32 (crc, data + 88, header_size - 88);
}

gboolean
ct_tokens_header_parse (const guint8 *data, gsize size, CtTokensHeader *h,
    CtTokensFrameTime *times, guint times_cap, GError **error)
{
  if (!ct_tokens_header_peek (data, size, h, error))
    return FALSE;
  if (size < h->header_size) {
    FERR ("token buffer truncated: %" G_GSIZE_FORMAT " bytes, its header alone is %u",
        size, h->header_size);
    return FALSE;
  }
  guint32 want = rd32 (data + 84), got = header_crc (data, h->header_size);
  if (want != got) {
    FERR ("token header corrupted: header CRC-32 is %08x, stored %08x", got, want);
    return FALSE;
  }
  if (times) {
    guint n = MIN (h->n_frames, times_cap);
    for (guint i = 0; i < n; i++) {
      if (h->flags & CT_TOKENS_FLAG_FRAME_TABLE) {
        const guint8 *e = data + h->fixed_size + CT_TOKENS_FRAME_ENTRY_SIZE * i;
        times[i].pts = rd64 (e);
        times[i].duration = rd64 (e + 8);
      } else {
        times[i].pts = times[i].duration = CT_TOKENS_TIME_NONE;
      }
    }
  }
  return TRUE;
}

guint64
ct_tokens_time_rebase (guint64 base, guint64 from, guint64 t)
{
  if (base > CT_TOKENS_TIME_MAX || from > CT_TOKENS_TIME_MAX || t > CT_TOKENS_TIME_MAX)
    return CT_TOKENS_TIME_NONE;
  /* all three <= 2^63 - 1: no step below wraps */
  if (t >= from)
    return t - from > CT_TOKENS_TIME_MAX - base ? CT_TOKENS_TIME_NONE : base + (t - from);
  return from - t > base ? 0 : base - (from - t);
}

gboolean
ct_tokens_header_finish (CtTokensHeader *h, GError **error)
{
  if (h->tiles_x > G_MAXUINT16 || h->tiles_y > G_MAXUINT16) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "tokens: a grid of %u x %u tiles, a record holds at most %u a side",
        h->tiles_x, h->tiles_y, G_MAXUINT16);
    return FALSE;
  }
  h->version = CT_TOKENS_VERSION;
  h->fixed_size = CT_TOKENS_FIXED_HEADER_SIZE;
  h->flags |= CT_TOKENS_FLAG_FRAME_TABLE;
  /* sizes saturate rather than wrap; header_check refuses them by name */
  h->header_size = h->n_frames <= (1u << 16) ? CT_TOKENS_FIXED_HEADER_SIZE +
      CT_TOKENS_FRAME_ENTRY_SIZE * h->n_frames : G_MAXUINT32;
  gsize n, esz = ct_tokens_dtype_size (h->dtype);
  if (esz == 0) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT, "tokens: unknown element "
        "type %d", (int) h->dtype);
    return FALSE;
  }
  h->payload_size = ct_tokens_count_elems (h, &n) ? (guint64) n * esz : G_MAXUINT64;
  return header_check (h, esz, CT_ERROR_ARGUMENT, error);
}

gboolean
ct_tokens_pack (CtTokensHeader *h, const CtTokensFrameTime *times,
    const float *z, guint8 *out, gsize out_size, GError **error)
{
  if (!ct_tokens_header_finish (h, error))
    return FALSE;
  if (out_size < ct_tokens_record_size (h)) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "tokens: output of %" G_GSIZE_FORMAT " bytes, record needs %" G_GSIZE_FORMAT,
        out_size, ct_tokens_record_size (h));
    return FALSE;
  }
  /* plane by plane: every tile's xy, then yt, then xt */
  guint8 *pl = out + h->header_size;
  gsize esz = ct_tokens_dtype_size (h->dtype), off = 0;
  for (int plane = 0; plane < 3; plane++)
    for (guint t = 0; t < ct_tokens_n_tiles (h); t++) {
      gsize len = ct_tokens_plane_elems (h, plane);
      pack_elems (h->dtype, plane_of_tile (h, z, t, plane), len, pl + off * esz);
      off += len;
    }
  h->payload_crc = ct_crc32 (0, pl, h->payload_size);

  memset (out, 0, h->header_size);
  memcpy (out, CT_TOKENS_MAGIC, 4);
  wr16 (out + 4, h->version);
  wr16 (out + 6, CT_TOKENS_FIXED_HEADER_SIZE);
  wr32 (out + 8, h->header_size);
  wr32 (out + 12, h->flags);
  out[16] = h->dtype;
  out[17] = ct_tokens_dtype_size (h->dtype);
  wr32 (out + 20, h->T);
  wr32 (out + 24, h->n_frames);
  wr32 (out + 28, h->height);
  wr32 (out + 32, h->width);
  wr32 (out + 36, h->rxy);
  wr32 (out + 40, h->rt);
  wr32 (out + 44, h->channels);
  wr32 (out + 48, (guint32) h->fps_n);
  wr32 (out + 52, (guint32) h->fps_d);
  wr64 (out + 56, h->pts);
  wr64 (out + 64, h->duration);
  wr64 (out + 72, h->payload_size);
  wr32 (out + 80, h->payload_crc);
  memcpy (out + 88, h->model_id, strnlen (h->model_id, CT_TOKENS_MODEL_ID_LEN));
  for (guint i = 0; i < h->n_frames; i++) {
    guint8 *e = out + h->fixed_size + CT_TOKENS_FRAME_ENTRY_SIZE * i;
    wr64 (e, times ? times[i].pts : CT_TOKENS_TIME_NONE);
    wr64 (e + 8, times ? times[i].duration : CT_TOKENS_TIME_NONE);
  }
  wr16 (out + 120, h->tiles_x);
  wr16 (out + 122, h->tiles_y);
  wr16 (out + 124, h->tile_width);
  wr16 (out + 126, h->tile_height);
  wr32 (out + 128, (guint32) h->par_n);
  wr32 (out + 132, (guint32) h->par_d);
  wr32 (out + 84, header_crc (out, h->header_size));
  return TRUE;
}

gboolean
ct_tokens_unpack (const guint8 *data, gsize size, CtTokensHeader *h,
    CtTokensFrameTime *times, guint times_cap, float *z, gsize z_cap,
    GError **error)
{
  if (!ct_tokens_header_parse (data, size, h, times, times_cap, error))
    return FALSE;
  gsize rec = ct_tokens_record_size (h);
  if (size < rec) {
    FERR ("token buffer truncated: %" G_GSIZE_FORMAT " bytes, the record needs %"
        G_GSIZE_FORMAT " (header %u + payload %" G_GUINT64_FORMAT ")",
        size, rec, h->header_size, h->payload_size);
    return FALSE;
  }
  if (size > rec) {
    FERR ("token buffer has %" G_GSIZE_FORMAT " bytes after its %" G_GSIZE_FORMAT
        "-byte record", size - rec, rec);
    return FALSE;
  }
  const guint8 *pl = data + h->header_size;
  guint32 crc = ct_crc32 (0, pl, h->payload_size);
  if (crc != h->payload_crc) {
    FERR ("token payload corrupted: CRC-32 is %08x, header says %08x", crc,
        h->payload_crc);
    return FALSE;
  }
  if (!z)
    return TRUE;
  gsize n = ct_tokens_n_elems (h);
  if (z_cap < n) {
    g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH,
        "tokens: %" G_GSIZE_FORMAT " elements do not fit a buffer of %" G_GSIZE_FORMAT,
        n, z_cap);
    return FALSE;
  }
  gsize esz = ct_tokens_dtype_size (h->dtype), off = 0;
  for (int plane = 0; plane < 3; plane++)
    for (guint t = 0; t < ct_tokens_n_tiles (h); t++) {
      gsize len = ct_tokens_plane_elems (h, plane);
      unpack_elems (h->dtype, pl + off * esz, len,
          (float *) plane_of_tile (h, z, t, plane));
      off += len;
    }
  return TRUE;
}

gboolean
ct_tokens_check_model (const CtTokensHeader *h, const CtModel *model,
    GError **error)
{
  const CtConfig *c = ct_model_config (model);
  if (g_strcmp0 (h->model_id, ct_model_id (model)) != 0) {
    g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH,
        "tokens were made by model %s, but this decoder has model %s (%s)",
        h->model_id, ct_model_id (model), ct_model_path (model) ? ct_model_path (model) : "");
    return FALSE;
  }
  if ((int) h->T != c->T || (int) h->tile_height != c->H || (int) h->tile_width != c->W ||
      (int) h->rxy != c->rxy || (int) h->rt != c->rt || (int) h->channels != c->channels) {
    g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH,
        "tokens are T=%u tiles %ux%u planes %u/%u/%u, the model is T=%d %dx%d "
        "planes %d/%d/%d", h->T, h->tile_width, h->tile_height, h->rxy, h->rt,
        h->channels, c->T, c->W, c->H, c->rxy, c->rt, c->channels);
    return FALSE;
  }
  return TRUE;
}
