/* cpu/scratch.c - see scratch.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/scratch.h"

typedef struct {
  void *p[CT_SCRATCH_N_SLOTS];
  gsize n[CT_SCRATCH_N_SLOTS];
} Scratch;

static void
scratch_free (gpointer data)
{
  Scratch *s = data;
  for (int i = 0; i < CT_SCRATCH_N_SLOTS; i++)
    g_free (s->p[i]);
  g_free (s);
}

void *
ct_cpu_scratch (CtScratchSlot slot, gsize bytes)
{
  static GPrivate key = G_PRIVATE_INIT (scratch_free);
  Scratch *s = g_private_get (&key);
  if (!s) {
    s = g_new0 (Scratch, 1);
    g_private_set (&key, s);
  }
  if (s->n[slot] < bytes) {
    g_free (s->p[slot]);
    s->p[slot] = g_malloc (MAX (bytes, 64));
    s->n[slot] = bytes;
  }
  return s->p[slot];
}
