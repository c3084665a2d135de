/* tokens.h - the CoordTok token record: a self-describing, versioned header
 * followed by the three token planes.  Shared by the GStreamer elements, the
 * CLI and (re-implemented with struct/numpy) the Python example.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Byte layout (all integers little-endian), see docs/token-format.md:
 *
 *   offset size  field
 *        0    4  magic "CTOK"
 *        4    2  version (1)
 *        6    2  fixed header size (128)
 *        8    4  header_size: fixed header + frame table (128 + 16*n_frames)
 *       12    4  flags (bit 0: frame table present; always set by version 1)
 *       16    1  dtype (0 f32, 1 f16, 2 bf16)
 *       17    1  element size in bytes (4, 2, 2)
 *       18    2  reserved (0)
 *       20    4  T        window length of the model (frames)
 *       24    4  n_frames real frames in this window (1..T)
 *       28    4  height   of the source frames (= model H)
 *       32    4  width    of the source frames (= model W)
 *       36    4  rxy      xy plane is rxy x rxy x channels
 *       40    4  rt       yt and xt planes are rt x rxy x channels
 *       44    4  channels
 *       48    4  fps_n  (int32; 0/1 = variable or unknown framerate)
 *       52    4  fps_d  (int32)
 *       56    8  pts      of the window's first frame, ns (all ones: none)
 *       64    8  duration of the window (sum of its frames), ns (all ones: none)
 *       72    8  payload_size in bytes (= elements * element size)
 *       80    4  payload CRC-32 (IEEE, zlib's crc32) of the payload
 *       84    4  header CRC-32 of bytes [0, header_size) with this field zeroed
 *       88   32  model id (ASCII, NUL padded; ct_model_id of the encoder's model)
 *       120   8  reserved (0)
 *      128  16n  frame table, n_frames entries of {u64 pts, u64 duration} (ns)
 *   header_size  payload: z_xy (rxy,rxy,C), z_yt (rt,rxy,C), z_xt (rt,rxy,C)
 */
#ifndef COORDTOK_TOKENS_H
#define COORDTOK_TOKENS_H

#include "coordtok.h"

G_BEGIN_DECLS

/* libcoordtok exports exactly what its public headers declare. */
#pragma GCC visibility push(default)

#define CT_TOKENS_MAGIC "CTOK"
#define CT_TOKENS_VERSION 1
#define CT_TOKENS_FIXED_HEADER_SIZE 128
#define CT_TOKENS_FRAME_ENTRY_SIZE 16
#define CT_TOKENS_MODEL_ID_LEN 32
#define CT_TOKENS_FLAG_FRAME_TABLE 1u
#define CT_TOKENS_TIME_NONE G_MAXUINT64
/* Largest payload a reader accepts, in elements: three planes of at most
 * 2^22 floats (the largest model ct_config_validate accepts).  A header may
 * never make a reader wait for or allocate more. */
#define CT_TOKENS_MAX_ELEMS (3u << 22)

typedef enum {
  CT_TOKENS_F32 = 0,
  CT_TOKENS_F16 = 1,
  CT_TOKENS_BF16 = 2,
} CtTokensDType;

typedef struct {
  guint16 version;
  guint32 header_size;
  guint32 flags;
  CtTokensDType dtype;
  guint32 T, n_frames, height, width;
  guint32 rxy, rt, channels;
  gint32 fps_n, fps_d;
  guint64 pts, duration;            /* CT_TOKENS_TIME_NONE: unknown */
  guint64 payload_size;
  guint32 payload_crc;
  char model_id[CT_TOKENS_MODEL_ID_LEN + 1];
} CtTokensHeader;

typedef struct {
  guint64 pts, duration;            /* CT_TOKENS_TIME_NONE: unknown */
} CtTokensFrameTime;

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

/* Fills a header for one window of `model` (sizes from its config, its id);
 * pts/duration NONE, fps 0/1, payload fields computed. */
void ct_tokens_header_init (CtTokensHeader *h, const CtModel *model,
    CtTokensDType dtype, guint n_frames);
/* Elements (floats) in plane 0 (xy), 1 (yt), 2 (xt), and in all three. */
gsize ct_tokens_plane_elems (const CtTokensHeader *h, int plane);
gsize ct_tokens_n_elems (const CtTokensHeader *h);
/* Whole record: header_size + payload_size. */
gsize ct_tokens_record_size (const CtTokensHeader *h);

/* Reads and checks the fixed 128-byte part (magic, version, sizes,
 * consistency of dims, dtype and payload size); no CRC check.  Enough to
 * learn the record's size (parsers). size must be >= 128. */
gboolean ct_tokens_header_peek (const guint8 *data, gsize size,
    CtTokensHeader *h, GError **error);
/* Full header check: peek + header CRC + frame table.  times may be NULL,
 * else it receives min(n_frames, times_cap) entries. */
gboolean ct_tokens_header_parse (const guint8 *data, gsize size,
    CtTokensHeader *h, CtTokensFrameTime *times, guint times_cap,
    GError **error);

/* Writes a whole record (header, frame table, payload converted to h->dtype)
 * into out (out_size >= ct_tokens_record_size (h)).  z holds
 * ct_tokens_n_elems floats (xy, yt, xt).  times: h->n_frames entries or
 * NULL (all NONE).  Fills h->payload_crc. */
gboolean ct_tokens_pack (CtTokensHeader *h, const CtTokensFrameTime *times,
    const float *z, guint8 *out, gsize out_size, GError **error);
/* Parses and validates a whole record (header CRC, payload size and CRC);
 * data may be longer than the record only if allow_trailing.  z (may be
 * NULL) receives ct_tokens_n_elems floats; z_cap is its capacity. */
gboolean ct_tokens_unpack (const guint8 *data, gsize size, CtTokensHeader *h,
    CtTokensFrameTime *times, guint times_cap, float *z, gsize z_cap,
    GError **error);
/* Checks that a header fits a model: dims, plane sizes and model id. */
gboolean ct_tokens_check_model (const CtTokensHeader *h, const CtModel *model,
    GError **error);

#pragma GCC visibility pop

G_END_DECLS

#endif /* COORDTOK_TOKENS_H */
