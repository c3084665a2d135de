/* tokens-mutator.c - structure-aware mutation for fuzz-tokens (issue 25):
 * byte-level mutation rarely sets a 32-bit header field to a large value,
 * and never to a combination whose element count wraps 64 bits with the
 * CRC fixed up, so the 30-minute run of 2026-12-01 missed the heap
 * overflow.  Half of the mutations here rewrite header fields of a record
 * as a forger would: one field to a boundary value (0, 1, 2^16 - 1, 2^16,
 * 2^31, 2^32 - 1, random), or plane sizes and a tile grid whose count wraps
 * (tests/plugin/wrap-search.c, seeded from the input), with the payload size
 * that the wrapped count calls for and a valid header CRC.  The rest are
 * libFuzzer's own.  Linked into the libFuzzer build only.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-common.h"
#include "tokens/tokens.h"
#include "../plugin/wrap-search.h"

#include <string.h>

size_t LLVMFuzzerMutate (uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator (uint8_t *data, size_t size, size_t max_size,
    unsigned int seed);

static void
wr32 (uint8_t *p, guint32 v)
{
  p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

static void
wr64 (uint8_t *p, guint64 v)
{
  wr32 (p, (guint32) v);
  wr32 (p + 4, v >> 32);
}

static void
fix_header_crc (uint8_t *data, size_t size)
{
  CtTokensHeader h;
  guint32 hs = data[8] | (data[9] << 8) | (data[10] << 16) | ((guint32) data[11] << 24);
  if (hs < 88 || hs > size)
    return;
  static const guint8 zero[4];
  guint32 crc = ct_crc32 (0, data, 84);
  crc = ct_crc32 (crc, zero, 4);
  wr32 (data + 84, ct_crc32 (crc, data + 88, hs - 88));
  (void) h;
}

size_t
LLVMFuzzerCustomMutator (uint8_t *data, size_t size, size_t max_size,
    unsigned int seed)
{
  /* 32-bit fields of the fixed header: T, n_frames, height, width, rxy,
   * rt, C, header size; 16-bit: the v2 grid */
  static const int f32_off[] = { 20, 24, 28, 32, 36, 40, 44, 8 };
  static const int f16_off[] = { 120, 122, 124, 126 };
  static const guint32 edges[] = { 0, 1, 2, 65535, 65536, 65537, 1u << 31,
    G_MAXUINT32 };
  GRand *rng = g_rand_new_with_seed (seed);
  size_t out = size;
  if (size < CT_TOKENS_FIXED_HEADER_SIZE || memcmp (data, CT_TOKENS_MAGIC, 4) != 0 ||
      g_rand_boolean (rng)) {
    out = LLVMFuzzerMutate (data, size, max_size);
  } else if (g_rand_int_range (rng, 0, 4) == 0) {
    /* a wrapping count: 1x1 tiles, a 1-frame window, f32 */
    /* a pool searched once (the search takes ~0.1 s; per mutation it
     * held the run to 180 exec/s) */
    static WrapFields pool[32];
    static guint n_pool;
    if (!n_pool)
      n_pool = wrap_search (9, 1, 1u << 16, pool, G_N_ELEMENTS (pool), 50000000);
    if (n_pool) {
      WrapFields w = pool[g_rand_int_range (rng, 0, n_pool)];
      wr32 (data + 20, 1);
      wr32 (data + 24, 1);
      wr32 (data + 28, w.tiles_y);
      wr32 (data + 32, w.tiles_x);
      wr32 (data + 36, w.rxy);
      wr32 (data + 40, w.rt);
      wr32 (data + 44, w.channels);
      data[16] = CT_TOKENS_F32;
      data[17] = 4;
      wr64 (data + 72, w.wrapped * 4);
      data[120] = w.tiles_x; data[121] = w.tiles_x >> 8;
      data[122] = w.tiles_y; data[123] = w.tiles_y >> 8;
      data[124] = 1; data[125] = 0; data[126] = 1; data[127] = 0;
    }
  } else {
    guint32 v = g_rand_boolean (rng) ? edges[g_rand_int_range (rng, 0, G_N_ELEMENTS (edges))]
        : g_rand_int (rng) >> g_rand_int_range (rng, 0, 32);
    if (g_rand_int_range (rng, 0, 3) == 0) {
      int o = f16_off[g_rand_int_range (rng, 0, G_N_ELEMENTS (f16_off))];
      data[o] = v;
      data[o + 1] = v >> 8;
    } else {
      wr32 (data + f32_off[g_rand_int_range (rng, 0, G_N_ELEMENTS (f32_off))], v);
    }
  }
  if (out >= CT_TOKENS_FIXED_HEADER_SIZE && g_rand_int_range (rng, 0, 8))
    fix_header_crc (data, out);
  g_rand_free (rng);
  return out;
}
