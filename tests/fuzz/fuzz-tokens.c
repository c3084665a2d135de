/* fuzz-tokens.c - libFuzzer harness: the token record (header peek and
 * parse, frame table, payload checks, element conversion).  A record that
 * unpacks is packed again and must unpack to the same elements.  The
 * libFuzzer build adds a structure-aware mutator (tokens-mutator.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-common.h"
#include "tokens/tokens.h"

#include <math.h>
#include <string.h>

static gboolean
same_value (float a, float b)
{
  return (isnan (a) && isnan (b)) || memcmp (&a, &b, 4) == 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *err = NULL;
  CtTokensHeader h;
  CtTokensFrameTime times[64];
  if (!ct_tokens_header_peek (data, size, &h, &err)) {
    fuzz_check_error (&err);
    return 0;
  }
  /* peek's bounds are what parsers rely on; the count is the checked one
   * (a wrapped count passed this check: issue 25) */
  FUZZ_CHECK (ct_tokens_count_elems (&h, NULL));
  FUZZ_CHECK ((guint64) ct_tokens_plane_elems (&h, 0) * ct_tokens_n_tiles (&h) <=
      CT_TOKENS_MAX_ELEMS);
  FUZZ_CHECK (ct_tokens_n_elems (&h) <= CT_TOKENS_MAX_ELEMS);
  FUZZ_CHECK (ct_tokens_record_size (&h) <= CT_TOKENS_FIXED_HEADER_SIZE + 16 * 65536 +
      4ull * CT_TOKENS_MAX_ELEMS);
  if (ct_tokens_record_size (&h) > size) {
    FUZZ_CHECK (!ct_tokens_unpack (data, size, &h, NULL, 0, NULL, 0, &err));
    fuzz_check_error (&err);
    return 0;
  }
  gsize n = ct_tokens_n_elems (&h);
  float *z = g_new (float, n), *z2 = g_new (float, n);
  if (ct_tokens_unpack (data, size, &h, times, G_N_ELEMENTS (times), z, n, &err)) {
    /* packed again as the current version (a v1 record grows its header) */
    gsize rec = CT_TOKENS_FIXED_HEADER_SIZE + CT_TOKENS_FRAME_ENTRY_SIZE * h.n_frames +
        h.payload_size;
    guint8 *out = g_malloc (rec);
    CtTokensHeader h2 = h;
    CtTokensFrameTime *all = g_new0 (CtTokensFrameTime, h.n_frames);
    FUZZ_CHECK (ct_tokens_header_parse (data, size, &h2, all, h.n_frames, NULL));
    FUZZ_CHECK (ct_tokens_pack (&h2, all, z, out, rec, NULL));
    FUZZ_CHECK (ct_tokens_unpack (out, rec, &h2, NULL, 0, z2, n, NULL));
    FUZZ_CHECK (h2.version == CT_TOKENS_VERSION && h2.tiles_x == h.tiles_x &&
        h2.tiles_y == h.tiles_y && h2.width == h.width && h2.par_n == h.par_n);
    for (gsize i = 0; i < n; i++)
      FUZZ_CHECK (same_value (z[i], z2[i]));
    g_free (all);
    g_free (out);
  } else {
    fuzz_check_error (&err);
  }
  g_free (z);
  g_free (z2);
  return 0;
}
