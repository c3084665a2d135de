/* cpu/weight-cache.c - see weight-cache.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/weight-cache.h"

typedef struct {
  int out, in;
  const void *tag;
  gpointer entry;
} Slot;

gpointer
ct_weight_cache_find (CtWeightCache *c, const float *w, int out, int in, const void *tag)
{
  if (!c->table)
    return NULL;
  for (GSList *l = g_hash_table_lookup (c->table, w); l; l = l->next) {
    Slot *s = l->data;
    if (s->out == out && s->in == in && s->tag == tag)
      return s->entry;
  }
  return NULL;
}

void
ct_weight_cache_add (CtWeightCache *c, const float *w, int out, int in, const void *tag,
    gpointer entry)
{
  if (!c->table)
    c->table = g_hash_table_new (g_direct_hash, g_direct_equal);
  Slot *s = g_new (Slot, 1);
  *s = (Slot) { out, in, tag, entry };
  GSList *list = g_hash_table_lookup (c->table, w);
  g_hash_table_insert (c->table, (gpointer) w, g_slist_prepend (list, s));
}

typedef struct {
  const guint8 *from, *to;
  GDestroyNotify free_entry;
} Range;

static gboolean
in_range (gpointer key, gpointer value, gpointer user)
{
  const guint8 *k = key;
  const Range *r = user;
  if (k < r->from || k >= r->to)
    return FALSE;
  for (GSList *l = value; l; l = l->next) {
    Slot *s = l->data;
    r->free_entry (s->entry);
    g_free (s);
  }
  g_slist_free (value);
  return TRUE;
}

void
ct_weight_cache_forget (CtWeightCache *c, const void *base, gsize bytes)
{
  if (!base || !c->table)
    return;
  Range r = { base, (const guint8 *) base + bytes, c->free_entry };
  g_hash_table_foreach_remove (c->table, in_range, &r);
}
