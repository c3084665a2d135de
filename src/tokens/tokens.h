/* tokens.h - the CoordTok token record: a self-describing, versioned header
 * followed by the three token planes.  Shared by the GStreamer elements, the
 * CLI and (re-implemented with struct/numpy) the Python example.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Byte layout: docs/token-format.md.  Version 2 (written since tiles)
 * extends version 1's 128-byte fixed header to 144 bytes: the frame grid
 * of tiles at offset 120 (v1: reserved), the pixel aspect ratio at 128;
 * the payload holds every tile's planes, plane by plane.  Version 1
 * records (one tile, frames of the model's size) are still read.
 */
#ifndef COORDTOK_TOKENS_H
#define COORDTOK_TOKENS_H

#include "coordtok.h"

G_BEGIN_DECLS

/* libcoordtok exports exactly what its public headers declare. */
#pragma GCC visibility push(default)

#define CT_TOKENS_MAGIC "CTOK"
#define CT_TOKENS_VERSION 2          /* written */
#define CT_TOKENS_VERSION_MIN 1      /* oldest read */
#define CT_TOKENS_FIXED_HEADER_SIZE 144   /* version 2 */
#define CT_TOKENS_FIXED_HEADER_SIZE_V1 128
#define CT_TOKENS_FRAME_ENTRY_SIZE 16
#define CT_TOKENS_MODEL_ID_LEN 32
#define CT_TOKENS_FLAG_FRAME_TABLE 1u
#define CT_TOKENS_TIME_NONE G_MAXUINT64
/* Largest payload a reader accepts, in elements, over all tiles: three
 * planes of at most 2^22 floats (the largest model ct_config_validate
 * accepts, as one tile).  A header may never make a reader wait for or
 * allocate more (48 MiB of f32). */
#define CT_TOKENS_MAX_ELEMS (3u << 22)

typedef enum {
  CT_TOKENS_F32 = 0,
  CT_TOKENS_F16 = 1,
  CT_TOKENS_BF16 = 2,
} CtTokensDType;

typedef struct {
  guint16 version;
  guint16 fixed_size;               /* 128 (v1) or 144 (v2) */
  guint32 header_size;
  guint32 flags;
  CtTokensDType dtype;
  guint32 T, n_frames, height, width;   /* height, width: the source frames */
  guint32 rxy, rt, channels;
  gint32 fps_n, fps_d;
  guint64 pts, duration;            /* CT_TOKENS_TIME_NONE: unknown */
  guint64 payload_size;
  guint32 payload_crc;
  char model_id[CT_TOKENS_MODEL_ID_LEN + 1];
  /* v2: the frame grid (v1: 1 x 1 tiles of width x height) */
  guint32 tiles_x, tiles_y;         /* columns, rows */
  guint32 tile_width, tile_height;  /* the model's W, H */
  gint32 par_n, par_d;              /* source pixel aspect ratio (v1: 1/1) */
} CtTokensHeader;

typedef struct {
  guint64 pts, duration;            /* CT_TOKENS_TIME_NONE: unknown */
} CtTokensFrameTime;

/* Largest time a reader turns into a timestamp (GStreamer's signed
 * differences must hold it). */
#define CT_TOKENS_TIME_MAX ((guint64) G_MAXINT64)
/* base + (t - from), in ns, for times from a record's frame table: clamped
 * at 0 below; CT_TOKENS_TIME_NONE when any input or the result is above
 * CT_TOKENS_TIME_MAX (forged tables), never a wrapped value. */
guint64 ct_tokens_time_rebase (guint64 base, guint64 from, guint64 t);

gsize ct_tokens_dtype_size (CtTokensDType dtype);
const char *ct_tokens_dtype_name (CtTokensDType dtype);          /* "f32", "f16", "bf16" */
gboolean ct_tokens_dtype_from_name (const char *name, CtTokensDType *dtype);

/* CRC-32 (IEEE 802.3, as zlib's crc32): start with crc = 0. */
guint32 ct_crc32 (guint32 crc, const void *data, gsize size);

/* Element conversions (round to nearest even; NaN kept). */
void ct_tokens_f32_to_f16 (const float *src, guint16 *dst, gsize n);
void ct_tokens_f16_to_f32 (const guint16 *src, float *dst, gsize n);
void ct_tokens_f32_to_bf16 (const float *src, guint16 *dst, gsize n);
void ct_tokens_bf16_to_f32 (const guint16 *src, float *dst, gsize n);

/* Fills a header for one window of `model` (sizes from its config, its id)
 * of frames of the model's size (one tile); pts/duration NONE, fps 0/1,
 * PAR 1/1, payload fields computed. */
void ct_tokens_header_init (CtTokensHeader *h, const CtModel *model,
    CtTokensDType dtype, guint n_frames);
/* The same for frames of width x height: the grid of ct_tile_grid_init. */
gboolean ct_tokens_header_init_tiled (CtTokensHeader *h, const CtModel *model,
    CtTokensDType dtype, guint n_frames, int width, int height, GError **error);
/* The header's grid as the engine takes it. */
void ct_tokens_header_grid (const CtTokensHeader *h, CtTileGrid *g);
/* Elements of all tiles, every factor and partial product bounded before
 * it is multiplied: FALSE when the record would hold more than
 * CT_TOKENS_MAX_ELEMS (never a wrapped count). */
gboolean ct_tokens_count_elems (const CtTokensHeader *h, gsize *n_elems);
/* Elements (floats) in plane 0 (xy), 1 (yt), 2 (xt) of ONE tile, in all
 * three planes of one tile, the tile count, and elements of all tiles;
 * saturated at G_MAXSIZE (G_MAXUINT for tiles) rather than wrapped. */
gsize ct_tokens_plane_elems (const CtTokensHeader *h, int plane);
gsize ct_tokens_tile_elems (const CtTokensHeader *h);
guint ct_tokens_n_tiles (const CtTokensHeader *h);
gsize ct_tokens_n_elems (const CtTokensHeader *h);
/* Whole record: header_size + payload_size. */
gsize ct_tokens_record_size (const CtTokensHeader *h);

/* Reads and checks the fixed part (magic, version, sizes, consistency of
 * dims, grid, dtype and payload size); no CRC check.  Enough to learn the
 * record's size (parsers).  size must be >= the fixed part of its version
 * (128 bytes always suffice to read version 1 and to know that a longer
 * fixed part follows: see ct_tokens_fixed_size). */
gboolean ct_tokens_header_peek (const guint8 *data, gsize size,
    CtTokensHeader *h, GError **error);
/* Size of the fixed part of the record at data (8 bytes suffice): 128 for
 * version 1, 144 for 2; 0 if data is not a record of a known version. */
gsize ct_tokens_fixed_size (const guint8 *data, gsize size);
/* Full header check: peek + header CRC + frame table.  times may be NULL,
 * else it receives min(n_frames, times_cap) entries. */
gboolean ct_tokens_header_parse (const guint8 *data, gsize size,
    CtTokensHeader *h, CtTokensFrameTime *times, guint times_cap,
    GError **error);

/* Sets the fields a writer derives (version, fixed and header size, frame
 * table flag, payload size) and checks the header as a reader would: a
 * header that passes is one every reader accepts.  ct_tokens_pack calls it;
 * callers that size a buffer first call it themselves. */
gboolean ct_tokens_header_finish (CtTokensHeader *h, GError **error);

/* Writes a whole record (header, frame table, payload converted to h->dtype)
 * into out (out_size >= ct_tokens_record_size (h)), always as the current
 * version.  z holds ct_tokens_n_elems floats in the engine's layout: tile
 * after tile, each xy | yt | xt (the payload is plane by plane: all tiles'
 * xy, then yt, then xt).  times: h->n_frames entries or NULL (all NONE).
 * Fills h->payload_crc. */
gboolean ct_tokens_pack (CtTokensHeader *h, const CtTokensFrameTime *times,
    const float *z, guint8 *out, gsize out_size, GError **error);
/* Parses and validates a whole record (header CRC, payload size and CRC);
 * the buffer must hold exactly one record.  z (may be NULL) receives
 * ct_tokens_n_elems floats in the engine's layout (tile after tile, each
 * xy | yt | xt); z_cap is its capacity. */
gboolean ct_tokens_unpack (const guint8 *data, gsize size, CtTokensHeader *h,
    CtTokensFrameTime *times, guint times_cap, float *z, gsize z_cap,
    GError **error);
/* Checks that a header fits a model: window, tile size, plane sizes and
 * model id. */
gboolean ct_tokens_check_model (const CtTokensHeader *h, const CtModel *model,
    GError **error);

#pragma GCC visibility pop

G_END_DECLS

#endif /* COORDTOK_TOKENS_H */
