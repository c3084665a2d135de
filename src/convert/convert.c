/* convert.c - PyTorch zip checkpoint -> safetensors (streaming, no Python).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "convert/convert.h"

#include "config-private.h"
#include "convert/zip.h"

#include <errno.h>
#include <string.h>

#define MAX_PICKLE_BYTES ((guint64) 1 << 30)
#define CHUNK_BYTES (1u << 20)

typedef struct {
  CtCheckpointTensor pub;     /* pub.name owned */
  const guint8 *base;         /* storage bytes in the mapping */
  gint64 storage_numel;
  gint64 offset;
  gint64 stride[CT_PICKLE_MAX_DIMS];
} Tensor;

struct _CtCheckpoint {
  CtZip *zip;
  GPtrArray *tensors;         /* Tensor*, sorted by name */
  GHashTable *by_name;        /* name -> Tensor* */
};

static void
tensor_free (gpointer p)
{
  Tensor *t = p;
  g_free ((char *) t->pub.name);
  g_free (t);
}

void
ct_checkpoint_free (CtCheckpoint *c)
{
  if (!c)
    return;
  if (c->by_name)
    g_hash_table_destroy (c->by_name);
  if (c->tensors)
    g_ptr_array_unref (c->tensors);
  ct_zip_close (c->zip);
  g_free (c);
}

guint
ct_checkpoint_n_tensors (const CtCheckpoint *c)
{
  return c->tensors->len;
}

const CtCheckpointTensor *
ct_checkpoint_tensor (const CtCheckpoint *c, guint i)
{
  return i < c->tensors->len ?
      &((Tensor *) g_ptr_array_index (c->tensors, i))->pub : NULL;
}

int
ct_checkpoint_find (const CtCheckpoint *c, const char *name)
{
  for (guint i = 0; i < c->tensors->len; i++)
    if (strcmp (((Tensor *) g_ptr_array_index (c->tensors, i))->pub.name,
            name) == 0)
      return (int) i;
  return -1;
}

/* Finds the single "<top>/data.pkl" entry; returns "<top>/" (owned). */
static char *
find_prefix (CtZip *z, GError **error)
{
  char *prefix = NULL;
  for (guint i = 0; i < ct_zip_n_entries (z); i++) {
    const char *n = ct_zip_entry (z, i)->name;
    const char *slash = strchr (n, '/');
    if (!slash || strcmp (slash, "/data.pkl") != 0)
      continue;
    if (prefix) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
          "zip: several data.pkl entries ('%sdata.pkl' and '%s')", prefix, n);
      g_free (prefix);
      return NULL;
    }
    prefix = g_strndup (n, slash - n + 1);
  }
  if (!prefix)
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: no '<name>/data.pkl' entry: not a PyTorch zip checkpoint");
  return prefix;
}

static int
cmp_tensor (gconstpointer a, gconstpointer b)
{
  const Tensor *x = *(Tensor * const *) a, *y = *(Tensor * const *) b;
  return strcmp (x->pub.name, y->pub.name);
}

static gboolean
is_float_storage (CtStorageType t)
{
  return t == CT_STORAGE_F32 || t == CT_STORAGE_F16 ||
      t == CT_STORAGE_BF16 || t == CT_STORAGE_F64;
}

/* Validates one tensor against its storage and records where its bytes
 * are. */
/* What the views of a state dict add up to, against what their storages
 * hold: the converted file is bounded by the checkpoint's own bytes. */
typedef struct {
  GHashTable *storage_types;  /* storage key -> element type + 1 */
  guint64 storage_elems;      /* elements of the distinct storages used */
  guint64 view_elems;         /* elements of all the views (the output) */
} ViewBudget;

/* A state dict may tie a weight to a second name (two views of one
 * storage); beyond that, views that add up to more elements than their
 * storages hold are a broadcast or overlapping construction that no saved
 * weight needs, and would make the output arbitrarily larger than the
 * input. */
#define MAX_VIEW_AMPLIFICATION 2

static gboolean
add_tensor (CtCheckpoint *c, const char *prefix, const char *key,
    const CtPyObj *o, ViewBudget *budget, GError **error)
{
  GHashTable *storage_types = budget->storage_types;
  const char *name = key;
  if (g_str_has_prefix (name, "module."))
    name += strlen ("module.");
  if (g_str_has_prefix (name, "decoder.lpips_loss."))
    return TRUE;
  if (!*name) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "checkpoint: empty tensor name '%s'", key);
    return FALSE;
  }
  if (g_hash_table_contains (c->by_name, name)) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "checkpoint: tensor '%s' appears twice (with and without 'module.')",
        name);
    return FALSE;
  }
  const CtPyObj *st = o->v.tensor.storage;
  CtStorageType dt = st->v.storage.dtype;
  if (!is_float_storage (dt)) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "checkpoint: tensor '%s' has a %s; only float tensors can be "
        "converted", key, ct_storage_type_name (dt));
    return FALSE;
  }
  gpointer prev;
  gboolean new_storage = FALSE;
  if (g_hash_table_lookup_extended (storage_types, st->v.storage.key, NULL,
          &prev)) {
    if (GPOINTER_TO_INT (prev) != (int) dt + 1) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
          "checkpoint: storage '%s' is used with two element types",
          st->v.storage.key);
      return FALSE;
    }
  } else {
    g_hash_table_insert (storage_types, st->v.storage.key,
        GINT_TO_POINTER ((int) dt + 1));
    new_storage = TRUE;
  }

  char *entry_name = g_strconcat (prefix, "data/", st->v.storage.key, NULL);
  const CtZipEntry *e = ct_zip_find (c->zip, entry_name);
  if (!e) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: storage entry '%s' of tensor '%s' is missing", entry_name, key);
    g_free (entry_name);
    return FALSE;
  }
  g_free (entry_name);
  const guint8 *data;
  guint64 size;
  if (!ct_zip_entry_data (c->zip, e, &data, &size, error))
    return FALSE;
  gsize es = ct_storage_type_size (dt);
  gint64 snumel = st->v.storage.numel;
  if ((guint64) snumel > G_MAXUINT64 / es || (guint64) snumel * es != size) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "checkpoint: storage '%s' of tensor '%s' holds %" G_GUINT64_FORMAT
        " bytes, expected %" G_GINT64_FORMAT " x %" G_GSIZE_FORMAT,
        e->name, key, size, snumel, es);
    return FALSE;
  }

  /* numel and the last element the view touches, overflow-checked */
  int nd = o->v.tensor.ndim;
  guint64 numel = 1, last = (guint64) o->v.tensor.offset;
  gboolean overflow = FALSE;
  for (int d = 0; d < nd; d++) {
    guint64 sz = (guint64) o->v.tensor.size[d];
    guint64 span;
    overflow |= __builtin_mul_overflow (numel, sz, &numel);
    if (sz > 0) {
      overflow |= __builtin_mul_overflow (sz - 1,
          (guint64) o->v.tensor.stride[d], &span);
      overflow |= __builtin_add_overflow (last, span, &last);
    }
  }
  if (overflow || numel > (guint64) G_MAXINT64 / 8) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "checkpoint: tensor '%s' has an absurd size", key);
    return FALSE;
  }
  if (numel > 0 ? last >= (guint64) snumel :
      (guint64) o->v.tensor.offset > (guint64) snumel) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "checkpoint: tensor '%s' view (offset %" G_GINT64_FORMAT ", %"
        G_GUINT64_FORMAT " elements) reaches past its storage '%s' of %"
        G_GINT64_FORMAT " elements", key, o->v.tensor.offset, numel,
        st->v.storage.key, snumel);
    return FALSE;
  }

  if (numel > (guint64) snumel) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "checkpoint: tensor '%s' has %" G_GUINT64_FORMAT " elements but its "
        "storage '%s' holds only %" G_GINT64_FORMAT " (a broadcast or "
        "overlapping view, which no saved weight is)", key, numel,
        st->v.storage.key, snumel);
    return FALSE;
  }
  if (new_storage)
    budget->storage_elems += (guint64) snumel;
  budget->view_elems += numel;
  if (budget->view_elems > MAX_VIEW_AMPLIFICATION * budget->storage_elems) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "checkpoint: at tensor '%s', the views add up to %" G_GUINT64_FORMAT
        " elements but their storages hold only %" G_GUINT64_FORMAT
        " (more than %dx: storages shared far beyond tied weights)", key,
        budget->view_elems, budget->storage_elems, MAX_VIEW_AMPLIFICATION);
    return FALSE;
  }

  Tensor *t = g_new0 (Tensor, 1);
  t->pub.name = g_strdup (name);
  t->pub.dtype = dt;
  t->pub.ndim = nd;
  t->pub.numel = (gint64) numel;
  for (int d = 0; d < nd; d++) {
    t->pub.shape[d] = o->v.tensor.size[d];
    t->stride[d] = o->v.tensor.stride[d];
  }
  t->base = data;
  t->storage_numel = snumel;
  t->offset = o->v.tensor.offset;
  g_ptr_array_add (c->tensors, t);
  g_hash_table_insert (c->by_name, (char *) t->pub.name, t);
  return TRUE;
}

static gboolean
load_state_dict (CtCheckpoint *c, const char *prefix, const CtPyObj *root,
    GError **error)
{
  if (root->type != CT_PY_DICT) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "checkpoint: top-level object is a %s, not a dict",
        ct_py_type_name (root->type));
    return FALSE;
  }
  const CtPyObj *sd = ct_py_dict_get (root, "model");
  if (sd) {
    if (sd->type != CT_PY_DICT) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
          "checkpoint: 'model' entry is a %s, not a state dict",
          ct_py_type_name (sd->type));
      return FALSE;
    }
  } else {
    sd = root;
    for (guint i = 0; i < ct_py_dict_len (sd); i++) {
      if (ct_py_dict_value (sd, i)->type != CT_PY_TENSOR) {
        g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
            "checkpoint: no 'model' entry and the top-level dict is not a "
            "state dict");
        return FALSE;
      }
    }
  }
  ViewBudget budget = { g_hash_table_new (g_str_hash, g_str_equal), 0, 0 };
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < ct_py_dict_len (sd); i++) {
    const CtPyObj *k = ct_py_dict_key (sd, i), *v = ct_py_dict_value (sd, i);
    if (k->type != CT_PY_STR) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
          "checkpoint: state dict key is a %s, not a string",
          ct_py_type_name (k->type));
      ok = FALSE;
    } else if (v->type != CT_PY_TENSOR) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
          "checkpoint: state dict entry '%s' is a %s, not a tensor",
          k->v.str.s, ct_py_type_name (v->type));
      ok = FALSE;
    } else {
      ok = add_tensor (c, prefix, k->v.str.s, v, &budget, error);
    }
  }
  g_hash_table_destroy (budget.storage_types);
  if (ok && c->tensors->len == 0) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "checkpoint: the state dict holds no tensors");
    ok = FALSE;
  }
  if (ok)
    g_ptr_array_sort (c->tensors, cmp_tensor);
  return ok;
}

static CtCheckpoint *checkpoint_read (CtCheckpoint *c, const char *what,
    GError **error);

CtCheckpoint *
ct_checkpoint_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  CtCheckpoint *c = g_new0 (CtCheckpoint, 1);
  c->tensors = g_ptr_array_new_with_free_func (tensor_free);
  c->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  c->zip = ct_zip_open (path, error);
  if (!c->zip) {
    ct_checkpoint_free (c);
    return NULL;
  }
  return checkpoint_read (c, path, error);
}

CtCheckpoint *
ct_checkpoint_open_memory (const guint8 *data, gsize size, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  CtCheckpoint *c = g_new0 (CtCheckpoint, 1);
  c->tensors = g_ptr_array_new_with_free_func (tensor_free);
  c->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  c->zip = ct_zip_open_memory (data, size, error);
  if (!c->zip) {
    ct_checkpoint_free (c);
    return NULL;
  }
  return checkpoint_read (c, "checkpoint buffer", error);
}

/* Reads the state dict of an open archive; frees c on failure. */
static CtCheckpoint *
checkpoint_read (CtCheckpoint *c, const char *path, GError **error)
{
  char *prefix = find_prefix (c->zip, error);
  CtPickle *pk = NULL;
  gboolean ok = prefix != NULL;
  if (ok) {
    /* byteorder (newer torch): storages must be little-endian */
    char *bo_name = g_strconcat (prefix, "byteorder", NULL);
    const CtZipEntry *bo = ct_zip_find (c->zip, bo_name);
    g_free (bo_name);
    const guint8 *bd;
    guint64 bn;
    if (bo) {
      if (!ct_zip_entry_data (c->zip, bo, &bd, &bn, error))
        ok = FALSE;
      else if (!(bn == 6 && memcmp (bd, "little", 6) == 0)) {
        g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
            "checkpoint: storages are not little-endian");
        ok = FALSE;
      }
    }
  }
  if (ok) {
    char *pkl_name = g_strconcat (prefix, "data.pkl", NULL);
    const CtZipEntry *e = ct_zip_find (c->zip, pkl_name);
    g_free (pkl_name);
    const guint8 *d;
    guint64 n;
    ok = ct_zip_entry_data (c->zip, e, &d, &n, error);
    if (ok && n > MAX_PICKLE_BYTES) {
      g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
          "checkpoint: data.pkl is too large (%" G_GUINT64_FORMAT " bytes)",
          n);
      ok = FALSE;
    }
    if (ok) {
      pk = ct_pickle_load (d, (gsize) n, error);
      ok = pk != NULL;
    }
  }
  if (ok)
    ok = load_state_dict (c, prefix, ct_pickle_root (pk), error);
  ct_pickle_free (pk);
  g_free (prefix);
  if (!ok) {
    g_prefix_error (error, "%s: ", path);
    ct_checkpoint_free (c);
    return NULL;
  }
  return c;
}

/* ---- gathering and casting ------------------------------------------- */

typedef gboolean (*Sink) (void *user, const guint8 *data, gsize n,
    GError **error);

static inline float
load_f32 (const guint8 *p, CtStorageType t)
{
  switch (t) {
    case CT_STORAGE_F32: {
      float f;
      memcpy (&f, p, 4);
      return f;
    }
    case CT_STORAGE_F64: {
      double f;
      memcpy (&f, p, 8);
      return (float) f;
    }
    case CT_STORAGE_F16: {
      guint16 h;
      memcpy (&h, p, 2);
      return ct_f16_to_f32 (h);
    }
    case CT_STORAGE_BF16: {
      guint16 h;
      memcpy (&h, p, 2);
      return ct_bf16_to_f32 (h);
    }
    default:
      return 0.0f;
  }
}

static gboolean
same_type (CtStorageType in, CtDType out)
{
  return (in == CT_STORAGE_F32 && out == CT_DTYPE_F32) ||
      (in == CT_STORAGE_F16 && out == CT_DTYPE_F16) ||
      (in == CT_STORAGE_BF16 && out == CT_DTYPE_BF16);
}

static inline void
store (guint8 *dst, const guint8 *src, CtStorageType in, CtDType out,
    gsize es)
{
  if (same_type (in, out)) {
    memcpy (dst, src, es);
    return;
  }
  float f = load_f32 (src, in);
  guint16 h;
  switch (out) {
    case CT_DTYPE_F32:
      memcpy (dst, &f, 4);
      break;
    case CT_DTYPE_F16:
      h = ct_f32_to_f16 (f);
      memcpy (dst, &h, 2);
      break;
    case CT_DTYPE_BF16:
      h = ct_f32_to_bf16 (f);
      memcpy (dst, &h, 2);
      break;
    default:
      break;
  }
}

static gboolean
is_contiguous (const Tensor *t)
{
  gint64 expect = 1;
  for (int d = t->pub.ndim - 1; d >= 0; d--) {
    if (t->pub.shape[d] != 1 && t->stride[d] != expect)
      return FALSE;
    expect *= t->pub.shape[d];
  }
  return TRUE;
}

static gboolean
gather (const Tensor *t, CtDType out, Sink sink, void *user, GError **error)
{
  if (out != CT_DTYPE_F32 && out != CT_DTYPE_F16 && out != CT_DTYPE_BF16) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "convert: output dtype must be F32, F16 or BF16");
    return FALSE;
  }
  if (t->pub.numel == 0)
    return TRUE;
  gsize in_es = ct_storage_type_size (t->pub.dtype);
  gsize out_es = ct_dtype_size (out);
  if (same_type (t->pub.dtype, out) && is_contiguous (t)) {
    /* straight from the mapping, in bounded chunks */
    const guint8 *p = t->base + (gsize) t->offset * in_es;
    guint64 left = (guint64) t->pub.numel * in_es;
    while (left) {
      gsize n = left > CHUNK_BYTES ? CHUNK_BYTES : (gsize) left;
      if (!sink (user, p, n, error))
        return FALSE;
      p += n;
      left -= n;
    }
    return TRUE;
  }

  int nd = t->pub.ndim;
  gint64 idx[CT_PICKLE_MAX_DIMS] = { 0 };
  gint64 inner = nd ? t->pub.shape[nd - 1] : 1;
  gint64 inner_stride = nd ? t->stride[nd - 1] : 0;
  gsize cap = CHUNK_BYTES / out_es;
  guint8 *buf = g_malloc (CHUNK_BYTES);
  gsize fill = 0;
  gint64 done = 0;
  gboolean ok = TRUE;
  while (ok && done < t->pub.numel) {
    gint64 off = t->offset;
    for (int d = 0; d < nd - 1; d++)
      off += idx[d] * t->stride[d];
    for (gint64 j = 0; j < inner; j++) {
      store (buf + fill * out_es, t->base + (gsize) (off + j * inner_stride) *
          in_es, t->pub.dtype, out, out_es);
      if (++fill == cap) {
        ok = sink (user, buf, fill * out_es, error);
        fill = 0;
        if (!ok)
          break;
      }
    }
    done += inner;
    for (int d = nd - 2; d >= 0; d--) {
      if (++idx[d] < t->pub.shape[d])
        break;
      idx[d] = 0;
    }
  }
  if (ok && fill)
    ok = sink (user, buf, fill * out_es, error);
  g_free (buf);
  return ok;
}

typedef struct {
  guint8 *dst;
  gsize left;
} MemSink;

static gboolean
mem_sink (void *user, const guint8 *data, gsize n, GError **error)
{
  MemSink *m = user;
  if (n > m->left) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "convert: destination buffer too small");
    return FALSE;
  }
  memcpy (m->dst, data, n);
  m->dst += n;
  m->left -= n;
  return TRUE;
}

static gboolean
file_sink (void *user, const guint8 *data, gsize n, GError **error)
{
  if (fwrite (data, 1, n, (FILE *) user) != n) {
    int e = errno;
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "convert: write failed: %s",
        g_strerror (e));
    return FALSE;
  }
  return TRUE;
}

gboolean
ct_checkpoint_read (const CtCheckpoint *c, guint i, CtDType out, void *dst,
    gsize dst_size, GError **error)
{
  if (i >= c->tensors->len) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "convert: no tensor %u", i);
    return FALSE;
  }
  const Tensor *t = g_ptr_array_index (c->tensors, i);
  gsize es = ct_dtype_size (out);
  if (es == 0 || dst_size != (gsize) t->pub.numel * es) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "convert: tensor '%s' needs %" G_GSIZE_FORMAT " bytes, buffer has %"
        G_GSIZE_FORMAT, t->pub.name, (gsize) t->pub.numel * es, dst_size);
    return FALSE;
  }
  MemSink m = { dst, dst_size };
  return gather (t, out, mem_sink, &m, error);
}

gboolean
ct_checkpoint_write (const CtCheckpoint *c, guint i, CtDType out, FILE *fp,
    GError **error)
{
  if (i >= c->tensors->len) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "convert: no tensor %u", i);
    return FALSE;
  }
  return gather (g_ptr_array_index (c->tensors, i), out, file_sink, fp,
      error);
}

/* ---- conversion ------------------------------------------------------- */

static gboolean
lookup_shape (void *user, const char *name, int *ndim, gint64 *shape)
{
  CtCheckpoint *c = user;
  const Tensor *t = g_hash_table_lookup (c->by_name, name);
  if (!t)
    return FALSE;
  *ndim = t->pub.ndim;
  for (int d = 0; d < t->pub.ndim; d++)
    shape[d] = t->pub.shape[d];
  return TRUE;
}

gboolean
ct_checkpoint_infer_config (CtCheckpoint *c, int enc_heads, int dec_heads,
    CtConfig *config, GError **error)
{
  return ct_config_infer (config, lookup_shape, c, enc_heads, dec_heads, error);
}

static void
set_meta (void *user, const char *key, const char *value)
{
  ct_safetensors_writer_set_metadata (user, key, value);
}

typedef struct {
  const CtCheckpoint *c;
  CtDType out;
} FillCtx;

static gboolean
fill_tensor (void *user, int index, FILE *fp, gsize nbytes, GError **error)
{
  FillCtx *f = user;
  return ct_checkpoint_write (f->c, (guint) index, f->out, fp, error);
}

gboolean
ct_convert_checkpoint (const char *in_path, const char *out_path,
    const CtConvertOptions *opts, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  CtConvertOptions o = { 0 };
  if (opts)
    o = *opts;
  if (!in_path || !out_path) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "convert: input and output paths are required");
    return FALSE;
  }
  if (o.out_dtype != CT_DTYPE_F32 && o.out_dtype != CT_DTYPE_F16 &&
      o.out_dtype != CT_DTYPE_BF16) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "convert: output dtype must be F32, F16 or BF16");
    return FALSE;
  }
  if (o.enc_heads < 0 || o.dec_heads < 0 || o.default_slice < 0) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "convert: head counts and default slice must be positive");
    return FALSE;
  }

  CtCheckpoint *c = ct_checkpoint_open (in_path, error);
  if (!c)
    return FALSE;

  CtConfig cfg;
  if (!ct_checkpoint_infer_config (c, o.enc_heads, o.dec_heads, &cfg, error)) {
    g_prefix_error (error, "%s: ", in_path);
    ct_checkpoint_free (c);
    return FALSE;
  }
  if (o.default_slice > 0) {
    cfg.default_slice = o.default_slice;
    if (!ct_config_validate (&cfg, error)) {
      ct_checkpoint_free (c);
      return FALSE;
    }
  }

  CtSafetensorsWriter *w = ct_safetensors_writer_new ();
  ct_safetensors_writer_set_metadata (w, "coordtok.format",
      "coordtok-weights-1");
  ct_config_to_metadata (&cfg, set_meta, w);
  if (o.name)
    ct_safetensors_writer_set_metadata (w, "coordtok.name", o.name);
  for (guint i = 0; i < c->tensors->len; i++) {
    const Tensor *t = g_ptr_array_index (c->tensors, i);
    ct_safetensors_writer_add (w, t->pub.name, o.out_dtype, t->pub.ndim,
        t->pub.shape, NULL);
  }
  FillCtx f = { c, o.out_dtype };
  gboolean ok = ct_safetensors_writer_write (w, out_path, fill_tensor, &f,
      error);
  ct_safetensors_writer_free (w);
  ct_checkpoint_free (c);
  return ok;
}
