/* safetensors.c - strict safetensors reader over an mmap'd file.
 *
 * Checks what the reference implementation checks: header length inside the
 * file, valid JSON object, known dtypes, shapes, data_offsets in range with
 * no overlap and no holes, size == dtype x shape, no duplicate names.
 * All arithmetic is overflow-checked.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "safetensors.h"
#include "coordtok.h"
#include "file-kind.h"

#include <json-glib/json-glib.h>
#include <string.h>

struct _CtSafetensors {
  GMappedFile *mapped;        /* NULL for open_memory */
  const guint8 *bytes;
  gsize size;
  CtTensorView *tensors;      /* sorted by data offset */
  int n;
  GHashTable *by_name;        /* name -> CtTensorView* */
  GHashTable *metadata;       /* string -> string */
};

static const struct { const char *name; CtDType d; gsize size; } dtypes[] = {
  { "F32", CT_DTYPE_F32, 4 }, { "F16", CT_DTYPE_F16, 2 },
  { "BF16", CT_DTYPE_BF16, 2 }, { "I64", CT_DTYPE_I64, 8 },
  { "I32", CT_DTYPE_I32, 4 }, { "U8", CT_DTYPE_U8, 1 },
};

const char *ct_dtype_name (CtDType d)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (dtypes[i].d == d)
      return dtypes[i].name;
  return "?";
}

gboolean ct_dtype_from_name (const char *name, CtDType *out)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (g_strcmp0 (dtypes[i].name, name) == 0) {
      *out = dtypes[i].d;
      return TRUE;
    }
  return FALSE;
}

gsize ct_dtype_size (CtDType d)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (dtypes[i].d == d)
      return dtypes[i].size;
  return 0;
}

static void
view_clear (CtTensorView *t)
{
  g_free (t->name);
}

void
ct_safetensors_close (CtSafetensors *st)
{
  if (!st)
    return;
  for (int i = 0; i < st->n; i++)
    view_clear (&st->tensors[i]);
  g_free (st->tensors);
  if (st->by_name)
    g_hash_table_destroy (st->by_name);
  if (st->metadata)
    g_hash_table_destroy (st->metadata);
  if (st->mapped)
    g_mapped_file_unref (st->mapped);
  g_free (st);
}

static int
cmp_offset (const void *a, const void *b)
{
  const CtTensorView *x = a, *y = b;
  if (x->data != y->data)
    return x->data < y->data ? -1 : 1;
  return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

#define FAIL(...) do { g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, __VA_ARGS__); \
    goto fail; } while (0)

/* Bounds on the JSON header, checked by a linear scan before json-glib sees
 * it: json-glib's parser recurses once per nesting level (a deep header
 * overflows the stack) and spends ~100 bytes per token.  A safetensors
 * header nests three deep ({name: {"shape": [dims]}}), its arrays hold at
 * most CT_MAX_DIMS numbers, and a real model (hundreds to a few thousand
 * tensors, ~12 tokens each) is far below the token bound. */
#define MAX_JSON_DEPTH  3
#define MAX_JSON_ARRAY  CT_MAX_DIMS
#define MAX_JSON_TOKENS (1u << 20)

static gboolean
json_prescan (const char *s, gsize n, const char *what, GError **error)
{
  int depth = 0;
  char open[MAX_JSON_DEPTH + 1];
  guint items[MAX_JSON_DEPTH + 1];      /* elements seen in each open array */
  guint64 tokens = 0;
  for (gsize i = 0; i < n; i++) {
    char ch = s[i];
    switch (ch) {
      case '"':
        /* skip the string; an unterminated one is json-glib's to report */
        for (i++; i < n && s[i] != '"'; i++)
          if (s[i] == '\\')
            i++;
        tokens++;
        break;
      case '{':
      case '[':
        if (depth == MAX_JSON_DEPTH) {
          g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
              "%s: header nests deeper than %d levels at byte %" G_GSIZE_FORMAT
              " (a safetensors header needs 3)", what, MAX_JSON_DEPTH, i + 8);
          return FALSE;
        }
        open[++depth] = ch;
        items[depth] = 0;
        tokens++;
        break;
      case '}':
      case ']':
        if (depth > 0 && --depth == 0) {
          /* the root object is closed: only the spaces that pad a header
           * to 8 bytes may follow (json-glib leaks the parsed root when it
           * meets trailing data) */
          for (gsize k = i + 1; k < n; k++)
            if (!g_ascii_isspace (s[k])) {
              g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
                  "%s: header has data after its JSON object (byte %" G_GSIZE_FORMAT ")",
                  what, k + 8);
              return FALSE;
            }
          return TRUE;
        }
        break;
      case ',':
        if (depth > 0 && open[depth] == '[' && ++items[depth] >= MAX_JSON_ARRAY) {
          g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
              "%s: header has an array of more than %d elements at byte %"
              G_GSIZE_FORMAT " (shapes have at most %d dimensions)", what,
              MAX_JSON_ARRAY, i + 8, CT_MAX_DIMS);
          return FALSE;
        }
        break;
      case ' ': case '\t': case '\n': case '\r': case ':':
        break;
      default:
        /* a number or literal: one token up to the next delimiter */
        while (i + 1 < n && !strchr (",]}: \t\n\r\"{[", s[i + 1]))
          i++;
        tokens++;
        break;
    }
    if (tokens > MAX_JSON_TOKENS) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
          "%s: header has more than %u JSON tokens (limit for a weight file)",
          what, MAX_JSON_TOKENS);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
get_uint (JsonNode *n, guint64 *out)
{
  if (!n || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return FALSE;
  gint64 v = json_node_get_int (n);
  if (v < 0)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

static gboolean
parse (CtSafetensors *st, const char *what, GError **error)
{
  JsonParser *parser = NULL;
  guint64 hlen;
  gsize data_start, data_size;
  GList *members = NULL;

  if (st->size < 8)
    FAIL ("%s: file is %" G_GSIZE_FORMAT " bytes, too short for a safetensors header",
        what, st->size);
  memcpy (&hlen, st->bytes, 8);
  hlen = GUINT64_FROM_LE (hlen);
  if (hlen > st->size - 8)
    FAIL ("%s: header length %" G_GUINT64_FORMAT " runs past the end of the file (%"
        G_GSIZE_FORMAT " bytes)", what, hlen, st->size);
  if (hlen < 2 || hlen > 100 * 1024 * 1024)
    FAIL ("%s: implausible header length %" G_GUINT64_FORMAT, what, hlen);
  data_start = 8 + hlen;
  data_size = st->size - data_start;
  if (st->bytes[8] != '{')
    FAIL ("%s: header does not start with a JSON object", what);

  if (!json_prescan ((const char *) st->bytes + 8, hlen, what, error))
    goto fail;
  parser = json_parser_new ();
  {
    GError *jerr = NULL;
    if (!json_parser_load_from_data (parser, (const char *) st->bytes + 8, hlen, &jerr)) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: header is not valid JSON: %s",
          what, jerr->message);
      g_error_free (jerr);
      goto fail;
    }
  }
  JsonNode *root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    FAIL ("%s: header is not a JSON object", what);
  JsonObject *obj = json_node_get_object (root);
  members = json_object_get_members (obj);
  guint nmem = g_list_length (members);

  st->tensors = g_new0 (CtTensorView, nmem);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (GList *l = members; l; l = l->next) {
    const char *name = l->data;
    JsonNode *node = json_object_get_member (obj, name);
    if (strcmp (name, "__metadata__") == 0) {
      if (!JSON_NODE_HOLDS_OBJECT (node))
        FAIL ("%s: __metadata__ is not an object", what);
      JsonObject *mo = json_node_get_object (node);
      GList *mk = json_object_get_members (mo);
      for (GList *m = mk; m; m = m->next) {
        JsonNode *mv = json_object_get_member (mo, m->data);
        if (!JSON_NODE_HOLDS_VALUE (mv) || json_node_get_value_type (mv) != G_TYPE_STRING) {
          g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
              "%s: __metadata__ value of '%s' is not a string", what, (char *) m->data);
          g_list_free (mk);   /* after the message: m->data lives in the list */
          goto fail;
        }
        g_hash_table_replace (st->metadata, g_strdup (m->data),
            g_strdup (json_node_get_string (mv)));
      }
      g_list_free (mk);
      continue;
    }
    if (g_hash_table_contains (st->by_name, name))
      FAIL ("%s: duplicate tensor name '%s'", what, name);
    if (!JSON_NODE_HOLDS_OBJECT (node))
      FAIL ("%s: entry '%s' is not an object", what, name);
    JsonObject *to = json_node_get_object (node);
    CtTensorView *t = &st->tensors[st->n];
    t->name = g_strdup (name);
    st->n++;
    JsonNode *dn = json_object_get_member (to, "dtype");
    if (!dn || !JSON_NODE_HOLDS_VALUE (dn) || json_node_get_value_type (dn) != G_TYPE_STRING)
      FAIL ("%s: tensor '%s' has no dtype string", what, name);
    if (!ct_dtype_from_name (json_node_get_string (dn), &t->dtype))
      FAIL ("%s: tensor '%s' has unsupported dtype '%s'", what, name,
          json_node_get_string (dn));
    JsonNode *sn = json_object_get_member (to, "shape");
    if (!sn || !JSON_NODE_HOLDS_ARRAY (sn))
      FAIL ("%s: tensor '%s' has no shape array", what, name);
    JsonArray *sa = json_node_get_array (sn);
    guint nd = json_array_get_length (sa);
    if (nd > CT_MAX_DIMS)
      FAIL ("%s: tensor '%s' has %u dimensions (max %d)", what, name, nd, CT_MAX_DIMS);
    t->ndim = nd;
    guint64 numel = 1;
    for (guint i = 0; i < nd; i++) {
      guint64 d;
      if (!get_uint (json_array_get_element (sa, i), &d) || d > G_MAXINT64)
        FAIL ("%s: tensor '%s' has a bad shape entry %u", what, name, i);
      t->shape[i] = d;
      if (d != 0 && numel > G_MAXUINT64 / d)
        FAIL ("%s: tensor '%s' shape overflows", what, name);
      numel *= d;
    }
    JsonNode *on = json_object_get_member (to, "data_offsets");
    if (!on || !JSON_NODE_HOLDS_ARRAY (on) || json_array_get_length (json_node_get_array (on)) != 2)
      FAIL ("%s: tensor '%s' has no [begin, end] data_offsets", what, name);
    guint64 b, e;
    if (!get_uint (json_array_get_element (json_node_get_array (on), 0), &b) ||
        !get_uint (json_array_get_element (json_node_get_array (on), 1), &e))
      FAIL ("%s: tensor '%s' has non-integer data_offsets", what, name);
    if (b > e || e > data_size)
      FAIL ("%s: tensor '%s' data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
          "] out of range (data section is %" G_GSIZE_FORMAT " bytes)", what, name, b, e,
          data_size);
    gsize es = ct_dtype_size (t->dtype);
    if (numel > G_MAXUINT64 / es || numel * es != e - b)
      FAIL ("%s: tensor '%s' is %" G_GUINT64_FORMAT " bytes but %s x shape needs %"
          G_GUINT64_FORMAT, what, name, e - b, ct_dtype_name (t->dtype),
          numel <= G_MAXUINT64 / es ? numel * es : G_MAXUINT64);
    t->numel = numel;
    t->nbytes = e - b;
    t->data = st->bytes + data_start + b;
  }
  /* offsets must tile the data section exactly: no overlap, no holes */
  if (st->n > 1)   /* qsort's base may not be NULL, even for 0 elements */
    qsort (st->tensors, st->n, sizeof (CtTensorView), cmp_offset);
  {
    const guint8 *pos = st->bytes + data_start;
    for (int i = 0; i < st->n; i++) {
      CtTensorView *t = &st->tensors[i];
      if (t->data < pos)
        FAIL ("%s: tensor '%s' overlaps the previous tensor", what, t->name);
      if (t->data > pos)
        FAIL ("%s: hole of %td bytes before tensor '%s'", what, t->data - pos, t->name);
      pos = t->data + t->nbytes;
    }
    if (pos != st->bytes + st->size)
      FAIL ("%s: %td trailing bytes after the last tensor", what,
          (st->bytes + st->size) - pos);
  }
  for (int i = 0; i < st->n; i++)
    g_hash_table_insert (st->by_name, st->tensors[i].name, &st->tensors[i]);
  g_list_free (members);
  g_object_unref (parser);
  return TRUE;

fail:
  g_list_free (members);
  if (parser)
    g_object_unref (parser);
  return FALSE;
}

/* parse(), and when it refuses a file that is recognisably something else
 * (a video, a .pth), a message that says what it is and what to do; such a
 * file could in principle start like a safetensors length, so this is only
 * asked after the file was refused. */
static gboolean
parse_or_advise (CtSafetensors *st, const char *what, GError **error)
{
  GError *e = NULL;
  if (parse (st, what, &e))
    return TRUE;
  const char *advice = ct_file_kind_advice (st->bytes, st->size);
  if (advice) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "%s: not a safetensors weight file: %s", what, advice);
    g_error_free (e);
  } else
    g_propagate_error (error, e);
  return FALSE;
}

CtSafetensors *
ct_safetensors_open (const char *path, GError **error)
{
  GError *e = NULL;
  GMappedFile *mf = g_mapped_file_new (path, FALSE, &e);
  if (!mf) {
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "cannot open '%s': %s", path, e->message);
    g_error_free (e);
    return NULL;
  }
  CtSafetensors *st = g_new0 (CtSafetensors, 1);
  st->mapped = mf;
  st->bytes = (const guint8 *) g_mapped_file_get_contents (mf);
  st->size = g_mapped_file_get_length (mf);
  if (!st->bytes)
    st->size = 0;
  if (!parse_or_advise (st, path, error)) {
    ct_safetensors_close (st);
    return NULL;
  }
  return st;
}

CtSafetensors *
ct_safetensors_open_memory (const guint8 *data, gsize size, GError **error)
{
  CtSafetensors *st = g_new0 (CtSafetensors, 1);
  st->bytes = data;
  st->size = size;
  if (!parse_or_advise (st, "safetensors buffer", error)) {
    ct_safetensors_close (st);
    return NULL;
  }
  return st;
}

int ct_safetensors_n_tensors (const CtSafetensors *st) { return st->n; }

const CtTensorView *
ct_safetensors_tensor (const CtSafetensors *st, int i)
{
  return (i >= 0 && i < st->n) ? &st->tensors[i] : NULL;
}

const CtTensorView *
ct_safetensors_find (const CtSafetensors *st, const char *name)
{
  return g_hash_table_lookup (st->by_name, name);
}

const char *
ct_safetensors_metadata (const CtSafetensors *st, const char *key)
{
  return g_hash_table_lookup (st->metadata, key);
}

GHashTable *ct_safetensors_metadata_table (const CtSafetensors *st) { return st->metadata; }

const guint8 *
ct_safetensors_bytes (const CtSafetensors *st, gsize *size)
{
  if (size)
    *size = st->size;
  return st->bytes;
}

/* ---- dtype conversion -------------------------------------------------- */

float
ct_f16_to_f32 (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  guint32 bits;
  if (exp == 0) {
    if (man == 0)
      bits = sign;
    else {   /* subnormal: normalise */
      int e = -1;
      do { e++; man <<= 1; } while (!(man & 0x400));
      bits = sign | ((guint32) (127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 0x1f)
    bits = sign | 0x7f800000u | (man << 13);
  else
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  float f;
  memcpy (&f, &bits, 4);
  return f;
}

guint16
ct_f32_to_f16 (float f)
{
  guint32 x;
  memcpy (&x, &f, 4);
  guint32 sign = (x >> 16) & 0x8000;
  guint32 absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u)   /* inf, or nan (quiet, payload kept) */
    return sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 | ((absx >> 13) & 0x3ff) : 0);
  if (absx >= 0x477ff000u)   /* rounds to >= 65520: inf */
    return sign | 0x7c00;
  if (absx < 0x38800000u) {  /* subnormal or zero in half */
    if (absx < 0x33000000u)
      return sign;
    guint32 e = absx >> 23, m = (absx & 0x7fffff) | 0x800000;
    int shift = 126 - (int) e;   /* half subnormal unit is 2^-24 */
    guint32 r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1)))
      r++;
    return sign | r;
  }
  guint32 r = ((absx - 0x38000000u) >> 13);
  guint32 rem = absx & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
    r++;
  return sign | r;
}

float
ct_bf16_to_f32 (guint16 h)
{
  guint32 bits = (guint32) h << 16;
  float f;
  memcpy (&f, &bits, 4);
  return f;
}

guint16
ct_f32_to_bf16 (float f)
{
  guint32 x;
  memcpy (&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return (x >> 16) | 0x40;   /* quiet nan */
  x += 0x7fff + ((x >> 16) & 1);
  return x >> 16;
}

gboolean
ct_tensor_to_f32 (const CtTensorView *t, float *dst, GError **error)
{
  const guint8 *p = t->data;
  switch (t->dtype) {
    case CT_DTYPE_F32:
      memcpy (dst, p, t->numel * 4);
      return TRUE;
    case CT_DTYPE_F16:
      for (gint64 i = 0; i < t->numel; i++) {
        guint16 h;
        memcpy (&h, p + 2 * i, 2);
        dst[i] = ct_f16_to_f32 (GUINT16_FROM_LE (h));
      }
      return TRUE;
    case CT_DTYPE_BF16:
      for (gint64 i = 0; i < t->numel; i++) {
        guint16 h;
        memcpy (&h, p + 2 * i, 2);
        dst[i] = ct_bf16_to_f32 (GUINT16_FROM_LE (h));
      }
      return TRUE;
    case CT_DTYPE_I64:
      for (gint64 i = 0; i < t->numel; i++) {
        gint64 v;
        memcpy (&v, p + 8 * i, 8);
        dst[i] = (float) GINT64_FROM_LE (v);
      }
      return TRUE;
    case CT_DTYPE_I32:
      for (gint64 i = 0; i < t->numel; i++) {
        gint32 v;
        memcpy (&v, p + 4 * i, 4);
        dst[i] = (float) GINT32_FROM_LE (v);
      }
      return TRUE;
    default:
      g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
          "tensor '%s': cannot convert %s to F32", t->name, ct_dtype_name (t->dtype));
      return FALSE;
  }
}
