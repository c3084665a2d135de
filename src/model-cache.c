/* model-cache.c - loading the same weight file twice in a process returns
 * the same model (several elements share one copy of the weights).
 * Key: canonical path + head overrides.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model-cache.h"
#include "config.h"

#include <string.h>

static GMutex cache_lock;
static GHashTable *cache;   /* key string -> CtModel* (borrowed) */

static char *
cache_key (const char *canon, const CtLoadOptions *o)
{
  return g_strdup_printf ("%s|%d|%d", canon, o ? o->enc_heads : 0, o ? o->dec_heads : 0);
}

CtModel *
ct_model_load_full (const char *path, const CtLoadOptions *opts, GError **error)
{
  if (!path || !*path)
    return ct_model_load_default (error);
  char *canon = g_canonicalize_filename (path, NULL);
  char *key = cache_key (canon, opts);
  CtModel *m;

  /* Loading happens under the lock so two elements starting together load
   * a file once; loads are rare. */
  g_mutex_lock (&cache_lock);
  if (!cache)
    cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  m = g_hash_table_lookup (cache, key);
  if (m) {
    g_atomic_int_inc (ct_model_refcount_ptr (m));
    g_free (key);
  } else {
    m = ct_model_load_uncached (canon, opts, error);
    if (m)
      g_hash_table_insert (cache, key, m);
    else
      g_free (key);
  }
  g_mutex_unlock (&cache_lock);
  g_free (canon);
  return m;
}

CtModel *
ct_model_load (const char *path, GError **error)
{
  return ct_model_load_full (path, NULL, error);
}

gboolean
ct_model_cache_release (CtModel *m)
{
  gboolean last = FALSE;
  g_mutex_lock (&cache_lock);
  if (g_atomic_int_dec_and_test (ct_model_refcount_ptr (m))) {
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init (&it, cache);
    while (g_hash_table_iter_next (&it, &k, &v))
      if (v == m) {
        g_hash_table_iter_remove (&it);
        break;
      }
    last = TRUE;
  }
  g_mutex_unlock (&cache_lock);
  return last;
}

#define DEFAULT_MODEL_FILE "coordtok-default.safetensors"

char *
ct_default_model_path (void)
{
  const char *env = g_getenv ("COORDTOK_MODEL_DIR");
  const char *dirs[] = { env, CT_MODEL_DIR };
  for (guint i = 0; i < G_N_ELEMENTS (dirs); i++) {
    if (!dirs[i] || !*dirs[i])
      continue;
    char *p = g_build_filename (dirs[i], DEFAULT_MODEL_FILE, NULL);
    if (g_file_test (p, G_FILE_TEST_IS_REGULAR))
      return p;
    g_free (p);
  }
  return NULL;
}

CtModel *
ct_model_load_default (GError **error)
{
  char *p = ct_default_model_path ();
  if (!p) {
    g_set_error (error, CT_ERROR, CT_ERROR_IO,
        "default model '%s' not found (looked in $COORDTOK_MODEL_DIR, %s)",
        DEFAULT_MODEL_FILE, CT_MODEL_DIR);
    return NULL;
  }
  CtModel *m = ct_model_load_full (p, NULL, error);
  g_free (p);
  return m;
}
