/* safetensors-write.c - safetensors writer (header via json-glib, data
 * copied or streamed through a fill callback, atomic rename).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "safetensors.h"

#include "coordtok.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  char *name;
  CtDType dtype;
  int ndim;
  gint64 shape[CT_MAX_DIMS];
  const void *data;
  guint64 nbytes;
} WTensor;

struct _CtSafetensorsWriter {
  GPtrArray *meta_keys;   /* char*, insertion order */
  GPtrArray *meta_values; /* char* */
  GArray *tensors;        /* WTensor */
  GHashTable *names;      /* tensor names (borrowed from tensors) */
  char *invalid;          /* first add() error, reported by write() */
};

CtSafetensorsWriter *
ct_safetensors_writer_new (void)
{
  CtSafetensorsWriter *w = g_new0 (CtSafetensorsWriter, 1);
  w->meta_keys = g_ptr_array_new_with_free_func (g_free);
  w->meta_values = g_ptr_array_new_with_free_func (g_free);
  w->tensors = g_array_new (FALSE, TRUE, sizeof (WTensor));
  w->names = g_hash_table_new (g_str_hash, g_str_equal);
  return w;
}

void
ct_safetensors_writer_free (CtSafetensorsWriter *w)
{
  if (!w)
    return;
  for (guint i = 0; i < w->tensors->len; i++)
    g_free (g_array_index (w->tensors, WTensor, i).name);
  g_array_unref (w->tensors);
  g_hash_table_destroy (w->names);
  g_ptr_array_unref (w->meta_keys);
  g_ptr_array_unref (w->meta_values);
  g_free (w->invalid);
  g_free (w);
}

static void
set_invalid (CtSafetensorsWriter *w, const char *fmt, ...)
    G_GNUC_PRINTF (2, 3);

static void
set_invalid (CtSafetensorsWriter *w, const char *fmt, ...)
{
  if (w->invalid)
    return;
  va_list ap;
  va_start (ap, fmt);
  w->invalid = g_strdup_vprintf (fmt, ap);
  va_end (ap);
}

void
ct_safetensors_writer_set_metadata (CtSafetensorsWriter *w, const char *key,
    const char *value)
{
  g_return_if_fail (w != NULL);
  if (!key || !value || !g_utf8_validate (key, -1, NULL) ||
      !g_utf8_validate (value, -1, NULL)) {
    set_invalid (w, "safetensors: metadata key or value is NULL or not UTF-8");
    return;
  }
  for (guint i = 0; i < w->meta_keys->len; i++) {
    if (strcmp (g_ptr_array_index (w->meta_keys, i), key) == 0) {
      g_free (g_ptr_array_index (w->meta_values, i));
      g_ptr_array_index (w->meta_values, i) = g_strdup (value);
      return;
    }
  }
  g_ptr_array_add (w->meta_keys, g_strdup (key));
  g_ptr_array_add (w->meta_values, g_strdup (value));
}

void
ct_safetensors_writer_add (CtSafetensorsWriter *w, const char *name,
    CtDType dtype, int ndim, const gint64 *shape, const void *data)
{
  g_return_if_fail (w != NULL);
  if (!name || !*name || !g_utf8_validate (name, -1, NULL) ||
      strcmp (name, "__metadata__") == 0) {
    set_invalid (w, "safetensors: invalid tensor name '%s'",
        name ? name : "(null)");
    return;
  }
  if (g_hash_table_contains (w->names, name)) {
    set_invalid (w, "safetensors: duplicate tensor name '%s'", name);
    return;
  }
  gsize esize = ct_dtype_size (dtype);
  if (esize == 0) {
    set_invalid (w, "safetensors: tensor '%s' has an invalid dtype", name);
    return;
  }
  if (ndim < 0 || ndim > CT_MAX_DIMS || (ndim > 0 && !shape)) {
    set_invalid (w, "safetensors: tensor '%s' has %d dimensions (max %d)",
        name, ndim, CT_MAX_DIMS);
    return;
  }
  WTensor t = { 0 };
  guint64 nbytes = esize;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) {
      set_invalid (w, "safetensors: tensor '%s' has a negative dimension",
          name);
      return;
    }
    if (shape[i] != 0 && nbytes > G_MAXINT64 / (guint64) shape[i]) {
      set_invalid (w, "safetensors: tensor '%s' is too large", name);
      return;
    }
    nbytes *= (guint64) shape[i];
    t.shape[i] = shape[i];
  }
  t.name = g_strdup (name);
  t.dtype = dtype;
  t.ndim = ndim;
  t.data = data;
  t.nbytes = nbytes;
  g_array_append_val (w->tensors, t);
  g_hash_table_add (w->names, g_array_index (w->tensors, WTensor,
          w->tensors->len - 1).name);
}

/* Builds the padded header; fails on total size overflow. */
static char *
build_header (CtSafetensorsWriter *w, gsize *len, GError **error)
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  if (w->meta_keys->len) {
    json_builder_set_member_name (b, "__metadata__");
    json_builder_begin_object (b);
    for (guint i = 0; i < w->meta_keys->len; i++) {
      json_builder_set_member_name (b, g_ptr_array_index (w->meta_keys, i));
      json_builder_add_string_value (b, g_ptr_array_index (w->meta_values, i));
    }
    json_builder_end_object (b);
  }
  guint64 offset = 0;
  for (guint i = 0; i < w->tensors->len; i++) {
    const WTensor *t = &g_array_index (w->tensors, WTensor, i);
    if (t->nbytes > (guint64) G_MAXINT64 - offset) {
      g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
          "safetensors: total data size overflows");
      g_object_unref (b);
      return NULL;
    }
    json_builder_set_member_name (b, t->name);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "dtype");
    json_builder_add_string_value (b, ct_dtype_name (t->dtype));
    json_builder_set_member_name (b, "shape");
    json_builder_begin_array (b);
    for (int d = 0; d < t->ndim; d++)
      json_builder_add_int_value (b, t->shape[d]);
    json_builder_end_array (b);
    json_builder_set_member_name (b, "data_offsets");
    json_builder_begin_array (b);
    json_builder_add_int_value (b, (gint64) offset);
    json_builder_add_int_value (b, (gint64) (offset + t->nbytes));
    json_builder_end_array (b);
    json_builder_end_object (b);
    offset += t->nbytes;
  }
  json_builder_end_object (b);

  JsonNode *root = json_builder_get_root (b);
  JsonGenerator *gen = json_generator_new ();
  json_generator_set_root (gen, root);
  gsize n = 0;
  char *json = json_generator_to_data (gen, &n);
  g_object_unref (gen);
  json_node_unref (root);
  g_object_unref (b);

  gsize padded = (n + 7) & ~(gsize) 7;
  char *h = g_malloc (padded + 1);
  memcpy (h, json, n);
  memset (h + n, ' ', padded - n);
  h[padded] = '\0';
  g_free (json);
  *len = padded;
  return h;
}

static gboolean
write_all (FILE *fp, const void *data, gsize n, const char *tmp,
    GError **error)
{
  if (n && fwrite (data, 1, n, fp) != n) {
    int e = errno;
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "cannot write '%s': %s", tmp,
        g_strerror (e));
    return FALSE;
  }
  return TRUE;
}

gboolean
ct_safetensors_writer_write (CtSafetensorsWriter *w, const char *path,
    CtTensorFill fill, void *user, GError **error)
{
  g_return_val_if_fail (w != NULL && path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (w->invalid) {
    g_set_error_literal (error, CT_ERROR, CT_ERROR_ARGUMENT, w->invalid);
    return FALSE;
  }
  for (guint i = 0; i < w->tensors->len; i++) {
    const WTensor *t = &g_array_index (w->tensors, WTensor, i);
    if (!t->data && t->nbytes && !fill) {
      g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
          "safetensors: tensor '%s' has no data and no fill callback",
          t->name);
      return FALSE;
    }
  }

  gsize hlen;
  char *header = build_header (w, &hlen, error);
  if (!header)
    return FALSE;

  char *tmp = g_strconcat (path, ".tmp", NULL);
  gboolean ok = FALSE;
  FILE *fp = g_fopen (tmp, "wb");
  if (!fp) {
    int e = errno;
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "cannot create '%s': %s", tmp,
        g_strerror (e));
    g_free (tmp);
    g_free (header);
    return FALSE;
  }

  guint8 len8[8];
  for (int i = 0; i < 8; i++)
    len8[i] = (guint8) (((guint64) hlen >> (8 * i)) & 0xff);
  if (!write_all (fp, len8, 8, tmp, error) ||
      !write_all (fp, header, hlen, tmp, error))
    goto out;

  guint64 pos = 8 + (guint64) hlen;
  for (guint i = 0; i < w->tensors->len; i++) {
    const WTensor *t = &g_array_index (w->tensors, WTensor, i);
    if (t->data) {
      if (!write_all (fp, t->data, t->nbytes, tmp, error))
        goto out;
    } else if (t->nbytes || fill) {
      if (!fill (user, (int) i, fp, t->nbytes, error)) {
        if (error && !*error)
          g_set_error (error, CT_ERROR, CT_ERROR_IO,
              "safetensors: writing tensor '%s' failed", t->name);
        goto out;
      }
      if (ferror (fp)) {
        g_set_error (error, CT_ERROR, CT_ERROR_IO, "cannot write '%s'", tmp);
        goto out;
      }
      off_t now = ftello (fp);
      if (now < 0 || (guint64) now != pos + t->nbytes) {
        g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
            "safetensors: fill for tensor '%s' wrote %" G_GINT64_FORMAT
            " bytes, expected %" G_GUINT64_FORMAT, t->name,
            (gint64) now - (gint64) pos, t->nbytes);
        goto out;
      }
    }
    pos += t->nbytes;
  }
  if (fflush (fp) != 0 || fsync (fileno (fp)) != 0) {
    int e = errno;
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "cannot write '%s': %s", tmp,
        g_strerror (e));
    goto out;
  }
  ok = TRUE;

out:
  if (fclose (fp) != 0 && ok) {
    int e = errno;
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "cannot write '%s': %s", tmp,
        g_strerror (e));
    ok = FALSE;
  }
  if (ok && g_rename (tmp, path) != 0) {
    int e = errno;
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "cannot rename '%s' to '%s': %s",
        tmp, path, g_strerror (e));
    ok = FALSE;
  }
  if (!ok)
    g_unlink (tmp);
  g_free (tmp);
  g_free (header);
  return ok;
}
