/* wrap-search.h - token headers whose element count wraps 64 bits (issue
 * 25): fields each within the reader's per-field bounds whose true count
 * rxy*C*(rxy+2*rt) * tiles_x*tiles_y exceeds 2^64 and wraps to a small
 * count, and records crafted around them (valid CRCs: CRC stops no forger).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef WRAP_SEARCH_H
#define WRAP_SEARCH_H

#include <glib.h>

typedef struct {
  guint32 rxy, rt, channels;
  guint32 tiles_x, tiles_y;          /* 1x1 tiles: the frame is tiles_x x tiles_y */
  guint64 wrapped;                   /* the count modulo 2^64 */
} WrapFields;

/* Searches (deterministically, from seed) for n field sets whose count
 * wraps to [lo, hi]; returns how many it found (n unless the search gave
 * up after max_trials candidate plane sizes). */
guint wrap_search (guint32 seed, guint64 lo, guint64 hi, WrapFields *out, guint n,
    guint max_trials);
/* The true count (128 bits) is above 2^64: the search's own check. */
gboolean wrap_fields_wrap (const WrapFields *w);
/* A version-2 record of one frame, f32, for these fields: header and frame
 * table with a valid header CRC, wrapped * 4 payload bytes with a valid
 * payload CRC; model_id as given. */
GByteArray *wrap_record (const WrapFields *w, const char *model_id);

#endif
