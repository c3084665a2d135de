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

/* The cached model under `key`, or what load() gives, cached.  Loading
 * happens under the lock so two elements starting together load a model
 * once; loads are rare.  Takes `key`. */
static CtModel *
cache_get_or_load (char *key, CtModel *(*load) (const void *what,
        const CtLoadOptions *opts, GError **error), const void *what,
    const CtLoadOptions *opts, GError **error)
{
  g_mutex_lock (&cache_lock);
  if (!cache)
    cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  CtModel *m = g_hash_table_lookup (cache, key);
  if (m) {
    g_atomic_int_inc (ct_model_refcount_ptr (m));
    g_free (key);
  } else {
    m = load (what, opts, error);
    if (m)
      g_hash_table_insert (cache, key, m);
    else
      g_free (key);
  }
  g_mutex_unlock (&cache_lock);
  return m;
}

static CtModel *
load_file (const void *canon, const CtLoadOptions *opts, GError **error)
{
  return ct_model_load_uncached (canon, opts, error);
}

static CtModel *
load_embedded (const void *unused, const CtLoadOptions *opts, GError **error)
{
  gsize size;
  const guint8 *data = ct_embedded_model (&size);
  return ct_model_load_memory_named (data, size, CT_EMBEDDED_MODEL_NAME, opts, error);
}

CtModel *
ct_model_load_full (const char *path, const CtLoadOptions *opts, GError **error)
{
  if (!path || !*path)
    return ct_model_load_default (error);
  char *canon = g_canonicalize_filename (path, NULL);
  CtModel *m = cache_get_or_load (cache_key (canon, opts), load_file, canon, opts, error);
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

/* A default model file in $COORDTOK_MODEL_DIR or the install's data dir
 * wins (a user may replace it); otherwise the copy linked into the library,
 * which every build has, installed or not. */
CtModel *
ct_model_load_default (GError **error)
{
  char *p = ct_default_model_path ();
  if (p) {
    CtModel *m = ct_model_load_full (p, NULL, error);
    g_free (p);
    return m;
  }
  return cache_get_or_load (cache_key (CT_EMBEDDED_MODEL_NAME, NULL), load_embedded, NULL,
      NULL, error);
}
