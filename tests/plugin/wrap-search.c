/* wrap-search.c - see wrap-search.h.
 *
 * For plane sizes E = rxy*C*(rxy+2*rt) and a tile count N, E*N wraps to
 * E*N - j*2^64.  For each j the smallest N with E*N >= j*2^64 is
 * ceil(j*2^64 / E), which wraps to less than E; candidates whose remainder
 * lies in [lo, hi] and whose N splits into two 16-bit factors (the grid) are
 * kept.  Small E (just above 2^32, the least that can wrap with a 16-bit
 * grid) keeps the j loop short.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "wrap-search.h"
#include "tokens/tokens.h"

#include <string.h>

typedef unsigned __int128 u128;

static gboolean
split_grid (guint64 n, guint32 *tx, guint32 *ty)
{
  for (guint64 a = MAX ((n + 65534) / 65535, 1); a <= 65535; a++)
    if (n % a == 0 && n / a <= 65535) {
      *tx = (guint32) a;
      *ty = (guint32) (n / a);
      return TRUE;
    }
  return FALSE;
}

gboolean
wrap_fields_wrap (const WrapFields *w)
{
  u128 e = (u128) w->rxy * w->channels * (w->rxy + 2ull * w->rt);
  u128 all = e * w->tiles_x * w->tiles_y;
  return (all >> 64) != 0 && (guint64) all == w->wrapped;
}

guint
wrap_search (guint32 seed, guint64 lo, guint64 hi, WrapFields *out, guint n,
    guint max_trials)
{
  GRand *rng = g_rand_new_with_seed (seed);
  guint found = 0;
  for (guint trial = 0; trial < max_trials && found < n; trial++) {
    WrapFields w = { 0 };
    /* rt chosen so that E lies in [2^32, 2^36] */
    w.rxy = g_rand_int_range (rng, 16, 4097);
    w.channels = g_rand_int_range (rng, 16, 4097);
    guint64 k = (guint64) w.rxy * w.channels;
    gint64 s_lo = ((G_GINT64_CONSTANT (1) << 32) + k - 1) / k,
        s_hi = (G_GINT64_CONSTANT (1) << 36) / k;
    gint64 rt_lo = MAX ((s_lo - (gint64) w.rxy + 1) / 2, 1),
        rt_hi = MIN ((s_hi - (gint64) w.rxy) / 2, 65536);
    if (rt_lo > rt_hi)
      continue;
    w.rt = (guint32) (rt_lo + g_rand_int_range (rng, 0, (gint32) (rt_hi - rt_lo + 1)));
    guint64 e = k * (w.rxy + 2ull * w.rt);
    /* N <= 65535^2: j up to 65535^2 * E / 2^64 */
    guint64 jmax = (guint64) (((u128) 65535 * 65535 * e) >> 64);
    for (guint64 j = 1; j <= jmax && found < n; j++) {
      u128 target = (u128) j << 64;
      u128 nt = (target + e - 1) / e;
      guint64 rem = (guint64) (nt * e - target);
      if (rem < lo || rem > hi || !split_grid ((guint64) nt, &w.tiles_x, &w.tiles_y))
        continue;
      w.wrapped = rem;
      out[found++] = w;
    }
  }
  g_rand_free (rng);
  return found;
}

GByteArray *
wrap_record (const WrapFields *w, const char *model_id)
{
  const guint hs = CT_TOKENS_FIXED_HEADER_SIZE + CT_TOKENS_FRAME_ENTRY_SIZE;
  gsize payload = (gsize) w->wrapped * 4;
  GByteArray *b = g_byte_array_sized_new (hs + payload);
  g_byte_array_set_size (b, hs + payload);
  guint8 *h = b->data;
  memset (h, 0, hs + payload);
  for (gsize i = 0; i < payload; i++)
    h[hs + i] = (guint8) (i * 131 + 7);
  memcpy (h, CT_TOKENS_MAGIC, 4);
#define W16(o, v) do { h[o] = (v) & 0xff; h[(o) + 1] = ((v) >> 8) & 0xff; } while (0)
#define W32(o, v) do { W16 (o, (guint32) (v) & 0xffff); W16 ((o) + 2, (guint32) (v) >> 16); } while (0)
#define W64(o, v) do { W32 (o, (guint64) (v) & 0xffffffffu); W32 ((o) + 4, (guint64) (v) >> 32); } while (0)
  W16 (4, 2);                         /* version */
  W16 (6, CT_TOKENS_FIXED_HEADER_SIZE);
  W32 (8, hs);
  W32 (12, CT_TOKENS_FLAG_FRAME_TABLE);
  h[16] = CT_TOKENS_F32;
  h[17] = 4;
  W32 (20, 1);                        /* T */
  W32 (24, 1);                        /* n_frames */
  W32 (28, w->tiles_y);               /* height: 1-pixel tiles */
  W32 (32, w->tiles_x);               /* width */
  W32 (36, w->rxy);
  W32 (40, w->rt);
  W32 (44, w->channels);
  W32 (48, 25);
  W32 (52, 1);                        /* 25 fps */
  W64 (56, 0);                        /* pts */
  W64 (64, 40000000);                 /* duration */
  W64 (72, payload);
  W32 (80, ct_crc32 (0, h + hs, payload));
  strncpy ((char *) h + 88, model_id, CT_TOKENS_MODEL_ID_LEN);
  W16 (120, w->tiles_x);
  W16 (122, w->tiles_y);
  W16 (124, 1);
  W16 (126, 1);
  W32 (128, 1);
  W32 (132, 1);                       /* PAR 1/1 */
  W64 (144, 0);
  W64 (152, 40000000);                /* frame table: one frame */
  /* header CRC: bytes 0..84, the CRC field as zero, then the rest */
  static const guint8 zero[4];
  guint32 crc = ct_crc32 (0, h, 84);
  crc = ct_crc32 (crc, zero, 4);
  crc = ct_crc32 (crc, h + 88, hs - 88);
  W32 (84, crc);
#undef W64
#undef W32
#undef W16
  return b;
}
