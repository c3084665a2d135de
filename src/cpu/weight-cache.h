/* cpu/weight-cache.h - the packed copies of weight matrices that a
 * linear-layer path keeps (the engine's GEMM, oneDNN), found by the
 * weights' address and shape, and dropped when a model's weights go.
 * Not locked: each path calls it under its own lock.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_WEIGHT_CACHE_H
#define CT_CPU_WEIGHT_CACHE_H

#include <glib.h>

typedef struct {
  GHashTable *table;            /* weight address -> GSList of slots */
  GDestroyNotify free_entry;    /* frees what the path stored */
} CtWeightCache;

#define CT_WEIGHT_CACHE_INIT(free_entry) { NULL, (free_entry) }

/* The entry stored for W (out, in) at w with `tag` (what else its layout
 * depends on, e.g. the kernel set; NULL for nothing), or NULL. */
gpointer ct_weight_cache_find (CtWeightCache *c, const float *w, int out, int in,
    const void *tag);
void ct_weight_cache_add (CtWeightCache *c, const float *w, int out, int in,
    const void *tag, gpointer entry);
/* Frees the entries of weights inside [base, base + bytes). */
void ct_weight_cache_forget (CtWeightCache *c, const void *base, gsize bytes);

#endif
