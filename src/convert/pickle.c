/* pickle.c - strict, non-executing pickle interpreter (torch.save subset).
 *
 * Objects live in an arena owned by the CtPickle: containers hold borrowed
 * pointers, so reference cycles built with the memo (a list appended to
 * itself) cannot leak, and freeing is never recursive.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "convert/pickle.h"

#include "coordtok.h"

#include <math.h>
#include <string.h>

#define MAX_STACK    (1u << 20)   /* values on the stack */
#define MAX_MARKS    (1u << 16)   /* open MARKs */
#define MAX_MEMO     (1u << 22)   /* memo entries */
#define MAX_MEMO_IDX G_MAXUINT32
#define MAX_STRING   ((gsize) 64 << 20)
#define MAX_OBJECTS  (1u << 24)
#define MAX_GLOBAL   256          /* "module\nname\n" line length */
#define MAX_KEY      64           /* storage key length */
#define MAX_DICT_KEY 4096         /* a dict key's text (state dict names) */
/* Memory the objects of one pickle may take: enough for any real checkpoint
 * (CoordTok-L's data.pkl is ~100 KB and takes well under 1 MiB) and for
 * deeply nested but honest data, bounded by the input's size, and never more
 * than MAX_MEMORY, whatever the input repeats (memo references, empty
 * containers: one byte of input each). */
#define BASE_MEMORY  ((gsize) 64 << 20)
#define MEMORY_PER_INPUT_BYTE 64
#define MAX_MEMORY   ((gsize) 256 << 20)
/* Rough heap cost of the pieces (payload plus malloc and GLib overhead). */
#define COST_OBJECT  (sizeof (CtPyObj) + 32)
#define COST_ITEM    16             /* a pointer in a growing array */
#define COST_ARRAY   192            /* a GPtrArray and its first 16 slots */
#define COST_DICT    (3 * COST_ARRAY)  /* two arrays and a hash table */
#define COST_ENTRY   48             /* a hash table entry (+ its key text) */

struct _CtPickle {
  GPtrArray *arena;     /* CtPyObj*, owned */
  const CtPyObj *root;
};

typedef struct {
  CtPickle *p;
  const guint8 *d;
  gsize n, pos, op_pos;
  GPtrArray *stack;     /* CtPyObj*, borrowed */
  GArray *marks;        /* guint stack positions */
  GHashTable *memo;     /* index -> CtPyObj* */
  gsize budget;         /* bytes of heap the objects may still take */
  gsize limit;          /* the whole budget, for messages */
  GError **error;
} Unpickler;

const char *
ct_storage_type_name (CtStorageType t)
{
  static const char *names[] = {
    "FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage",
    "LongStorage", "IntStorage", "ShortStorage", "CharStorage",
    "ByteStorage", "BoolStorage",
  };
  return (guint) t < G_N_ELEMENTS (names) ? names[t] : "?";
}

gsize
ct_storage_type_size (CtStorageType t)
{
  static const gsize sizes[] = { 4, 8, 2, 2, 8, 4, 2, 1, 1, 1 };
  return (guint) t < G_N_ELEMENTS (sizes) ? sizes[t] : 0;
}

const char *
ct_py_type_name (CtPyType t)
{
  static const char *names[] = {
    "None", "bool", "int", "float", "str", "tuple", "list", "dict",
    "global", "storage", "tensor",
  };
  return (guint) t < G_N_ELEMENTS (names) ? names[t] : "?";
}

static const char *
opcode_name (guint8 op)
{
  static const struct { guint8 op; const char *name; } ops[] = {
    {0x49, "INT"}, {0x4a, "BININT"}, {0x4b, "BININT1"}, {0x4d, "BININT2"},
    {0x4c, "LONG"}, {0x8a, "LONG1"}, {0x8b, "LONG4"}, {0x53, "STRING"},
    {0x54, "BINSTRING"}, {0x55, "SHORT_BINSTRING"}, {0x42, "BINBYTES"},
    {0x43, "SHORT_BINBYTES"}, {0x8e, "BINBYTES8"}, {0x96, "BYTEARRAY8"},
    {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"}, {0x4e, "NONE"},
    {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"}, {0x56, "UNICODE"},
    {0x8c, "SHORT_BINUNICODE"}, {0x58, "BINUNICODE"}, {0x8d, "BINUNICODE8"},
    {0x46, "FLOAT"}, {0x47, "BINFLOAT"}, {0x5d, "EMPTY_LIST"},
    {0x61, "APPEND"}, {0x65, "APPENDS"}, {0x6c, "LIST"},
    {0x29, "EMPTY_TUPLE"}, {0x74, "TUPLE"}, {0x85, "TUPLE1"},
    {0x86, "TUPLE2"}, {0x87, "TUPLE3"}, {0x7d, "EMPTY_DICT"}, {0x64, "DICT"},
    {0x73, "SETITEM"}, {0x75, "SETITEMS"}, {0x8f, "EMPTY_SET"},
    {0x90, "ADDITEMS"}, {0x91, "FROZENSET"}, {0x30, "POP"}, {0x32, "DUP"},
    {0x28, "MARK"}, {0x31, "POP_MARK"}, {0x67, "GET"}, {0x68, "BINGET"},
    {0x6a, "LONG_BINGET"}, {0x70, "PUT"}, {0x71, "BINPUT"},
    {0x72, "LONG_BINPUT"}, {0x94, "MEMOIZE"}, {0x82, "EXT1"}, {0x83, "EXT2"},
    {0x84, "EXT4"}, {0x63, "GLOBAL"}, {0x93, "STACK_GLOBAL"},
    {0x52, "REDUCE"}, {0x62, "BUILD"}, {0x69, "INST"}, {0x6f, "OBJ"},
    {0x81, "NEWOBJ"}, {0x92, "NEWOBJ_EX"}, {0x80, "PROTO"}, {0x2e, "STOP"},
    {0x95, "FRAME"}, {0x50, "PERSID"}, {0x51, "BINPERSID"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    if (ops[i].op == op)
      return ops[i].name;
  return NULL;
}

/* ---- objects ----------------------------------------------------------- */

static void
obj_free (gpointer data)
{
  CtPyObj *o = data;
  switch (o->type) {
    case CT_PY_STR:
      g_free (o->v.str.s);
      break;
    case CT_PY_TUPLE:
    case CT_PY_LIST:
      g_ptr_array_unref (o->v.items);
      break;
    case CT_PY_DICT:    /* empty dicts never allocated their parts */
      if (o->v.dict.index) {
        g_ptr_array_unref (o->v.dict.keys);
        g_ptr_array_unref (o->v.dict.values);
        g_hash_table_destroy (o->v.dict.index);
      }
      break;
    case CT_PY_GLOBAL:
      g_free (o->v.global.name);
      break;
    case CT_PY_STORAGE:
      g_free (o->v.storage.key);
      g_free (o->v.storage.location);
      break;
    default:
      break;
  }
  g_free (o);
}

static gboolean fail (Unpickler *u, CtErrorCode code, const char *fmt, ...)
    G_GNUC_PRINTF (3, 4);

static gboolean
fail (Unpickler *u, CtErrorCode code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (u->error, CT_ERROR, code, "pickle: %s (opcode at offset %"
      G_GSIZE_FORMAT ")", msg, u->op_pos);
  g_free (msg);
  return FALSE;
}

/* Takes `bytes` from the memory budget; FALSE (with the error set) when the
 * pickle would need more than its input can justify. */
static gboolean
charge (Unpickler *u, gsize bytes)
{
  if (bytes <= u->budget) {
    u->budget -= bytes;
    return TRUE;
  }
  return fail (u, CT_ERROR_FORMAT, "the objects need more than %" G_GSIZE_FORMAT
      " MiB of memory, the limit for a data.pkl of %" G_GSIZE_FORMAT " bytes",
      u->limit >> 20, u->n);
}

static CtPyObj *
obj_new (Unpickler *u, CtPyType type)
{
  if (u->p->arena->len >= MAX_OBJECTS) {
    fail (u, CT_ERROR_FORMAT, "too many objects (limit %u)", MAX_OBJECTS);
    return NULL;
  }
  if (!charge (u, COST_OBJECT + COST_ITEM +
          (type == CT_PY_TUPLE || type == CT_PY_LIST ? COST_ARRAY : 0)))
    return NULL;
  CtPyObj *o = g_new0 (CtPyObj, 1);
  o->type = type;
  switch (type) {
    case CT_PY_TUPLE:
    case CT_PY_LIST:
      o->v.items = g_ptr_array_new ();
      break;
    default:      /* a dict allocates its parts at its first item */
      break;
  }
  g_ptr_array_add (u->p->arena, o);
  return o;
}

/* Appends to a list or tuple, within the budget. */
static gboolean
items_add (Unpickler *u, CtPyObj *container, CtPyObj *item)
{
  if (!charge (u, COST_ITEM))
    return FALSE;
  g_ptr_array_add (container->v.items, item);
  return TRUE;
}

/* Canonical text of a hashable key (Python equality: True == 1 == 1.0). */
static char *
key_text (const CtPyObj *k)
{
  switch (k->type) {
    case CT_PY_STR:
      return g_strconcat ("s", k->v.str.s, NULL);
    case CT_PY_INT:
      return g_strdup_printf ("i%" G_GINT64_FORMAT, k->v.i);
    case CT_PY_BOOL:
      return g_strdup_printf ("i%d", k->v.b ? 1 : 0);
    case CT_PY_NONE:
      return g_strdup ("n");
    case CT_PY_FLOAT:
      if (k->v.f == floor (k->v.f) && fabs (k->v.f) < 9.0e18)
        return g_strdup_printf ("i%" G_GINT64_FORMAT, (gint64) k->v.f);
      return g_strdup_printf ("f%a", isnan (k->v.f) ? NAN : k->v.f);
    default:
      return NULL;
  }
}

static gboolean
dict_set (Unpickler *u, CtPyObj *d, CtPyObj *k, CtPyObj *v)
{
  if (k->type == CT_PY_STR && k->v.str.len > MAX_DICT_KEY)
    return fail (u, CT_ERROR_FORMAT, "dict key of %" G_GSIZE_FORMAT
        " bytes (limit %d)", k->v.str.len, MAX_DICT_KEY);
  char *t = key_text (k);
  if (!t)
    return fail (u, CT_ERROR_UNSUPPORTED, "unsupported dict key type '%s'",
        ct_py_type_name (k->type));
  if (!d->v.dict.index) {
    if (!charge (u, COST_DICT)) {
      g_free (t);
      return FALSE;
    }
    d->v.dict.keys = g_ptr_array_new ();
    d->v.dict.values = g_ptr_array_new ();
    d->v.dict.index = g_hash_table_new_full (g_str_hash, g_str_equal,
        g_free, NULL);
  }
  gpointer pos;
  if (g_hash_table_lookup_extended (d->v.dict.index, t, NULL, &pos)) {
    g_ptr_array_index (d->v.dict.values, GPOINTER_TO_UINT (pos) - 1) = v;
    g_free (t);
    return TRUE;
  }
  if (!charge (u, 2 * COST_ITEM + COST_ENTRY + strlen (t))) {
    g_free (t);
    return FALSE;
  }
  g_ptr_array_add (d->v.dict.keys, k);
  g_ptr_array_add (d->v.dict.values, v);
  g_hash_table_insert (d->v.dict.index, t,
      GUINT_TO_POINTER (d->v.dict.keys->len));
  return TRUE;
}

guint
ct_py_dict_len (const CtPyObj *d)
{
  return d && d->type == CT_PY_DICT && d->v.dict.keys ? d->v.dict.keys->len : 0;
}

const CtPyObj *
ct_py_dict_key (const CtPyObj *d, guint i)
{
  return i < ct_py_dict_len (d) ? g_ptr_array_index (d->v.dict.keys, i) : NULL;
}

const CtPyObj *
ct_py_dict_value (const CtPyObj *d, guint i)
{
  return i < ct_py_dict_len (d) ? g_ptr_array_index (d->v.dict.values, i) :
      NULL;
}

const CtPyObj *
ct_py_dict_get (const CtPyObj *d, const char *key)
{
  if (!d || d->type != CT_PY_DICT || !d->v.dict.index)
    return NULL;
  char *t = g_strconcat ("s", key, NULL);
  gpointer pos = g_hash_table_lookup (d->v.dict.index, t);
  g_free (t);
  return pos ? g_ptr_array_index (d->v.dict.values,
      GPOINTER_TO_UINT (pos) - 1) : NULL;
}

/* ---- reading ------------------------------------------------------------- */

static gboolean
need (Unpickler *u, gsize k)
{
  if (k > u->n - u->pos)
    return fail (u, CT_ERROR_FORMAT, "truncated data (needs %" G_GSIZE_FORMAT
        " bytes, %" G_GSIZE_FORMAT " left)", k, u->n - u->pos);
  return TRUE;
}

static guint64
rd_le (const guint8 *p, int n)
{
  guint64 v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static guint
floor_pos (Unpickler *u)
{
  return u->marks->len ? g_array_index (u->marks, guint, u->marks->len - 1) :
      0;
}

static gboolean
push (Unpickler *u, CtPyObj *o)
{
  if (!o)
    return FALSE;
  if (u->stack->len >= MAX_STACK)
    return fail (u, CT_ERROR_FORMAT, "stack too deep (limit %u)", MAX_STACK);
  g_ptr_array_add (u->stack, o);
  return TRUE;
}

static CtPyObj *
pop (Unpickler *u)
{
  if (u->stack->len <= floor_pos (u)) {
    fail (u, CT_ERROR_FORMAT, "stack underflow");
    return NULL;
  }
  return g_ptr_array_steal_index (u->stack, u->stack->len - 1);
}

static CtPyObj *
top (Unpickler *u)
{
  if (u->stack->len <= floor_pos (u)) {
    fail (u, CT_ERROR_FORMAT, "stack underflow");
    return NULL;
  }
  return g_ptr_array_index (u->stack, u->stack->len - 1);
}

/* Pops the topmost MARK; returns its stack position or -1. */
static gint64
pop_mark (Unpickler *u)
{
  if (u->marks->len == 0) {
    fail (u, CT_ERROR_FORMAT, "MARK expected but none is open");
    return -1;
  }
  guint m = g_array_index (u->marks, guint, u->marks->len - 1);
  g_array_set_size (u->marks, u->marks->len - 1);
  return m;
}

/* The value just below position m (the container a MARK belongs to). */
static CtPyObj *
below (Unpickler *u, guint m)
{
  if (m == 0 || m - 1 < floor_pos (u)) {
    fail (u, CT_ERROR_FORMAT, "stack underflow");
    return NULL;
  }
  return g_ptr_array_index (u->stack, m - 1);
}

static gboolean
op_string (Unpickler *u, int len_bytes)
{
  if (!need (u, len_bytes))
    return FALSE;
  guint64 len = rd_le (u->d + u->pos, len_bytes);
  u->pos += len_bytes;
  if (len > MAX_STRING)
    return fail (u, CT_ERROR_FORMAT, "string of %" G_GUINT64_FORMAT
        " bytes exceeds the limit", len);
  if (!need (u, len))
    return FALSE;
  const char *s = (const char *) u->d + u->pos;
  if (!g_utf8_validate_len (s, len, NULL))
    return fail (u, CT_ERROR_FORMAT, "string is not valid UTF-8");
  if (!charge (u, len + 1))
    return FALSE;
  CtPyObj *o = obj_new (u, CT_PY_STR);
  if (!o)
    return FALSE;
  o->v.str.s = g_strndup (s, len);
  o->v.str.len = len;
  u->pos += len;
  return push (u, o);
}

static gboolean
push_int (Unpickler *u, gint64 v)
{
  CtPyObj *o = obj_new (u, CT_PY_INT);
  if (!o)
    return FALSE;
  o->v.i = v;
  return push (u, o);
}

static gboolean
make_tuple (Unpickler *u, guint n_items)
{
  if (u->stack->len - floor_pos (u) < n_items)
    return fail (u, CT_ERROR_FORMAT, "stack underflow");
  CtPyObj *t = obj_new (u, CT_PY_TUPLE);
  if (!t)
    return FALSE;
  guint start = u->stack->len - n_items;
  for (guint i = start; i < u->stack->len; i++)
    if (!items_add (u, t, g_ptr_array_index (u->stack, i)))
      return FALSE;
  g_ptr_array_set_size (u->stack, start);
  return push (u, t);
}

static char *
printable (const guint8 *p, gsize len)
{
  GString *s = g_string_new (NULL);
  for (gsize i = 0; i < len; i++) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'')
      g_string_append_c (s, (char) p[i]);
    else if (p[i] == '\n')
      g_string_append_c (s, ' ');
    else
      g_string_append_printf (s, "\\x%02x", p[i]);
  }
  return g_string_free (s, FALSE);
}

static gboolean
op_global (Unpickler *u)
{
  /* two lines: module\n name\n */
  gsize start = u->pos, end = start, lines = 0;
  while (lines < 2) {
    if (end >= u->n)
      return fail (u, CT_ERROR_FORMAT, "truncated GLOBAL");
    if (end - start > MAX_GLOBAL)
      return fail (u, CT_ERROR_FORMAT, "GLOBAL name too long");
    if (u->d[end] == '\n')
      lines++;
    end++;
  }
  const char *mod = (const char *) u->d + start;
  const char *nl = memchr (mod, '\n', end - start);
  gsize mod_len = nl - mod;
  const char *name = nl + 1;
  gsize name_len = end - 1 - (start + mod_len + 1);
  u->pos = end;

  static const struct {
    const char *mod, *name;
    CtGlobalKind kind;
    CtStorageType st;
  } allowed[] = {
    {"collections", "OrderedDict", CT_GLOBAL_ORDERED_DICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", CT_GLOBAL_REBUILD_TENSOR_V2, 0},
    {"torch._utils", "_rebuild_parameter", CT_GLOBAL_REBUILD_PARAMETER, 0},
    {"torch", "FloatStorage", CT_GLOBAL_STORAGE_CLASS, CT_STORAGE_F32},
    {"torch", "DoubleStorage", CT_GLOBAL_STORAGE_CLASS, CT_STORAGE_F64},
    {"torch", "HalfStorage", CT_GLOBAL_STORAGE_CLASS, CT_STORAGE_F16},
    {"torch", "BFloat16Storage", CT_GLOBAL_STORAGE_CLASS, CT_STORAGE_BF16},
    {"torch", "LongStorage", CT_GLOBAL_STORAGE_CLASS, CT_STORAGE_I64},
    {"torch", "IntStorage", CT_GLOBAL_STORAGE_CLASS, CT_STORAGE_I32},
    {"torch", "ShortStorage", CT_GLOBAL_STORAGE_CLASS, CT_STORAGE_I16},
    {"torch", "CharStorage", CT_GLOBAL_STORAGE_CLASS, CT_STORAGE_I8},
    {"torch", "ByteStorage", CT_GLOBAL_STORAGE_CLASS, CT_STORAGE_U8},
    {"torch", "BoolStorage", CT_GLOBAL_STORAGE_CLASS, CT_STORAGE_BOOL},
  };
  for (guint i = 0; i < G_N_ELEMENTS (allowed); i++) {
    if (strlen (allowed[i].mod) == mod_len &&
        memcmp (allowed[i].mod, mod, mod_len) == 0 &&
        strlen (allowed[i].name) == name_len &&
        memcmp (allowed[i].name, name, name_len) == 0) {
      CtPyObj *o = obj_new (u, CT_PY_GLOBAL);
      if (!o)
        return FALSE;
      o->v.global.kind = allowed[i].kind;
      o->v.global.storage = allowed[i].st;
      o->v.global.name = g_strdup_printf ("%s %s", allowed[i].mod,
          allowed[i].name);
      return push (u, o);
    }
  }
  char *m = printable ((const guint8 *) mod, mod_len);
  char *n = printable ((const guint8 *) name, name_len);
  gboolean r = fail (u, CT_ERROR_FORMAT, "forbidden global '%s %s'", m, n);
  g_free (m);
  g_free (n);
  return r;
}

static gboolean
int_of (const CtPyObj *o, gint64 *v)
{
  if (o->type == CT_PY_INT) {
    *v = o->v.i;
    return TRUE;
  }
  return FALSE;
}

static gboolean
int_tuple (Unpickler *u, const CtPyObj *t, const char *what, int *n,
    gint64 *out)
{
  if (t->type != CT_PY_TUPLE)
    return fail (u, CT_ERROR_FORMAT, "tensor %s is a %s, not a tuple", what,
        ct_py_type_name (t->type));
  if (t->v.items->len > CT_PICKLE_MAX_DIMS)
    return fail (u, CT_ERROR_UNSUPPORTED, "tensor has %u dimensions (max %d)",
        t->v.items->len, CT_PICKLE_MAX_DIMS);
  *n = t->v.items->len;
  for (int i = 0; i < *n; i++) {
    if (!int_of (g_ptr_array_index (t->v.items, i), &out[i]) || out[i] < 0)
      return fail (u, CT_ERROR_FORMAT, "tensor %s holds a non-integer or "
          "negative value", what);
  }
  return TRUE;
}

static gboolean
op_reduce (Unpickler *u)
{
  CtPyObj *args = pop (u);
  if (!args)
    return FALSE;
  CtPyObj *fn = pop (u);
  if (!fn)
    return FALSE;
  if (fn->type != CT_PY_GLOBAL)
    return fail (u, CT_ERROR_FORMAT, "REDUCE on a %s",
        ct_py_type_name (fn->type));
  if (args->type != CT_PY_TUPLE)
    return fail (u, CT_ERROR_FORMAT, "REDUCE arguments are a %s, not a tuple",
        ct_py_type_name (args->type));
  GPtrArray *a = args->v.items;

  switch (fn->v.global.kind) {
    case CT_GLOBAL_ORDERED_DICT:
      if (a->len != 0)
        return fail (u, CT_ERROR_UNSUPPORTED,
            "OrderedDict called with arguments");
      return push (u, obj_new (u, CT_PY_DICT));

    case CT_GLOBAL_REBUILD_TENSOR_V2: {
      if (a->len != 6 && a->len != 7)
        return fail (u, CT_ERROR_FORMAT,
            "_rebuild_tensor_v2 takes 6 or 7 arguments, got %u", a->len);
      const CtPyObj *st = g_ptr_array_index (a, 0);
      const CtPyObj *off = g_ptr_array_index (a, 1);
      const CtPyObj *rg = g_ptr_array_index (a, 4);
      const CtPyObj *hooks = g_ptr_array_index (a, 5);
      if (st->type != CT_PY_STORAGE)
        return fail (u, CT_ERROR_FORMAT, "tensor storage is a %s",
            ct_py_type_name (st->type));
      CtPyObj *t = obj_new (u, CT_PY_TENSOR);
      if (!t)
        return FALSE;
      t->v.tensor.storage = st;
      if (!int_of (off, &t->v.tensor.offset) || t->v.tensor.offset < 0)
        return fail (u, CT_ERROR_FORMAT, "bad tensor storage offset");
      int ns, nt;
      if (!int_tuple (u, g_ptr_array_index (a, 2), "size", &ns,
              t->v.tensor.size) ||
          !int_tuple (u, g_ptr_array_index (a, 3), "stride", &nt,
              t->v.tensor.stride))
        return FALSE;
      if (ns != nt)
        return fail (u, CT_ERROR_FORMAT, "tensor size has %d dimensions but "
            "stride %d", ns, nt);
      t->v.tensor.ndim = ns;
      if (rg->type != CT_PY_BOOL)
        return fail (u, CT_ERROR_FORMAT, "tensor requires_grad is a %s",
            ct_py_type_name (rg->type));
      if (hooks->type != CT_PY_DICT)
        return fail (u, CT_ERROR_FORMAT, "tensor backward_hooks is a %s",
            ct_py_type_name (hooks->type));
      if (a->len == 7) {
        const CtPyObj *md = g_ptr_array_index (a, 6);
        if (md->type != CT_PY_DICT && md->type != CT_PY_NONE)
          return fail (u, CT_ERROR_FORMAT, "tensor metadata is a %s",
              ct_py_type_name (md->type));
      }
      return push (u, t);
    }

    case CT_GLOBAL_REBUILD_PARAMETER: {
      if (a->len != 3)
        return fail (u, CT_ERROR_FORMAT,
            "_rebuild_parameter takes 3 arguments, got %u", a->len);
      CtPyObj *t = g_ptr_array_index (a, 0);
      const CtPyObj *rg = g_ptr_array_index (a, 1);
      const CtPyObj *hooks = g_ptr_array_index (a, 2);
      if (t->type != CT_PY_TENSOR || rg->type != CT_PY_BOOL ||
          hooks->type != CT_PY_DICT)
        return fail (u, CT_ERROR_FORMAT, "bad _rebuild_parameter arguments");
      return push (u, t);
    }

    case CT_GLOBAL_STORAGE_CLASS:
    default:
      return fail (u, CT_ERROR_FORMAT, "global '%s' is not callable here",
          fn->v.global.name);
  }
}

static gboolean
key_ok (const char *k, gsize len)
{
  if (len == 0 || len > MAX_KEY)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (k[i]) && k[i] != '_')
      return FALSE;
  return TRUE;
}

static gboolean
op_binpersid (Unpickler *u)
{
  CtPyObj *pid = pop (u);
  if (!pid)
    return FALSE;
  if (pid->type != CT_PY_TUPLE || pid->v.items->len != 5)
    return fail (u, CT_ERROR_FORMAT,
        "persistent id is not a 5-tuple ('storage', type, key, location, "
        "numel)");
  CtPyObj **it = (CtPyObj **) pid->v.items->pdata;
  if (it[0]->type != CT_PY_STR || strcmp (it[0]->v.str.s, "storage") != 0)
    return fail (u, CT_ERROR_UNSUPPORTED,
        "persistent id is not a 'storage' reference");
  if (it[1]->type != CT_PY_GLOBAL ||
      it[1]->v.global.kind != CT_GLOBAL_STORAGE_CLASS)
    return fail (u, CT_ERROR_FORMAT, "persistent id storage type is not a "
        "storage class");
  if (it[2]->type != CT_PY_STR)
    return fail (u, CT_ERROR_FORMAT, "storage key is a %s, not a string",
        ct_py_type_name (it[2]->type));
  if (!key_ok (it[2]->v.str.s, it[2]->v.str.len)) {
    char *k = printable ((const guint8 *) it[2]->v.str.s,
        MIN (it[2]->v.str.len, 80));
    gboolean r = fail (u, CT_ERROR_FORMAT, "bad storage key '%s'", k);
    g_free (k);
    return r;
  }
  if (it[3]->type != CT_PY_STR)
    return fail (u, CT_ERROR_FORMAT, "storage location is not a string");
  gint64 numel;
  if (!int_of (it[4], &numel) || numel < 0)
    return fail (u, CT_ERROR_FORMAT, "bad storage size");
  CtPyObj *s = obj_new (u, CT_PY_STORAGE);
  if (!s)
    return FALSE;
  s->v.storage.dtype = it[1]->v.global.storage;
  if (!charge (u, it[2]->v.str.len + it[3]->v.str.len + 2))
    return FALSE;
  s->v.storage.key = g_strdup (it[2]->v.str.s);
  s->v.storage.location = g_strdup (it[3]->v.str.s);
  s->v.storage.numel = numel;
  return push (u, s);
}

static gboolean
memo_put (Unpickler *u, guint64 idx)
{
  CtPyObj *o = top (u);
  if (!o)
    return FALSE;
  if (idx > MAX_MEMO_IDX)
    return fail (u, CT_ERROR_FORMAT, "memo index too large");
  if (!g_hash_table_contains (u->memo, GUINT_TO_POINTER ((guint) idx))) {
    if (g_hash_table_size (u->memo) >= MAX_MEMO)
      return fail (u, CT_ERROR_FORMAT, "memo too large (limit %u)", MAX_MEMO);
    if (!charge (u, COST_ENTRY))
      return FALSE;
  }
  g_hash_table_insert (u->memo, GUINT_TO_POINTER ((guint) idx), o);
  return TRUE;
}

static gboolean
memo_get (Unpickler *u, guint64 idx)
{
  if (idx > MAX_MEMO_IDX)
    return fail (u, CT_ERROR_FORMAT, "memo index too large");
  CtPyObj *o = g_hash_table_lookup (u->memo, GUINT_TO_POINTER ((guint) idx));
  if (!o)
    return fail (u, CT_ERROR_FORMAT, "memo index %" G_GUINT64_FORMAT
        " is not set", idx);
  return push (u, o);
}

/* Runs until STOP; returns the result or NULL. */
/* The opcodes by family.  Each returns 1 when it ran `op`, 0 when that
 * failed (the error set), -1 when `op` is not one of its family. */

/* Protocol and framing */
static int
op_stream (Unpickler *u, guint8 op)
{
  gboolean ok = TRUE;
  switch (op) {
    case 0x80: /* PROTO */
      if (!need (u, 1))
        return 0;
      if (u->d[u->pos] < 2 || u->d[u->pos] > 5) {
        fail (u, CT_ERROR_UNSUPPORTED, "protocol %u is not supported",
            u->d[u->pos]);
        return 0;
      }
      u->pos++;
      break;
    case 0x95: { /* FRAME: framing is only a hint for buffered readers */
      if (!need (u, 8))
        return 0;
      guint64 len = rd_le (u->d + u->pos, 8);
      u->pos += 8;
      if (len > u->n - u->pos) {
        fail (u, CT_ERROR_FORMAT, "frame extends past the end of the data");
        return 0;
      }
      break;
    }
    default:
      return -1;
  }
  return ok;
}

/* Scalars: strings, integers, floats, None, booleans */
static int
op_scalar (Unpickler *u, guint8 op)
{
  gboolean ok = TRUE;
  switch (op) {
    case 0x58: /* BINUNICODE */
      ok = op_string (u, 4);
      break;
    case 0x8c: /* SHORT_BINUNICODE */
      ok = op_string (u, 1);
      break;
    case 0x8d: /* BINUNICODE8 */
      ok = op_string (u, 8);
      break;
    case 0x4a: /* BININT */
      if (!need (u, 4))
        return 0;
      ok = push_int (u, (gint32) (guint32) rd_le (u->d + u->pos, 4));
      u->pos += 4;
      break;
    case 0x4b: /* BININT1 */
      if (!need (u, 1))
        return 0;
      ok = push_int (u, u->d[u->pos]);
      u->pos += 1;
      break;
    case 0x4d: /* BININT2 */
      if (!need (u, 2))
        return 0;
      ok = push_int (u, (gint64) rd_le (u->d + u->pos, 2));
      u->pos += 2;
      break;
    case 0x8a: { /* LONG1 */
      if (!need (u, 1))
        return 0;
      guint n = u->d[u->pos++];
      if (n > 8) {
        fail (u, CT_ERROR_UNSUPPORTED, "integer of %u bytes is too large", n);
        return 0;
      }
      if (!need (u, n))
        return 0;
      guint64 v = n ? rd_le (u->d + u->pos, n) : 0;
      if (n > 0 && n < 8 && (u->d[u->pos + n - 1] & 0x80))
        v |= ~(guint64) 0 << (8 * n);     /* sign-extend */
      u->pos += n;
      ok = push_int (u, (gint64) v);
      break;
    }
    case 0x47: { /* BINFLOAT: big-endian double */
      if (!need (u, 8))
        return 0;
      guint64 bits = 0;
      for (int i = 0; i < 8; i++)
        bits = (bits << 8) | u->d[u->pos + i];
      u->pos += 8;
      double f;
      memcpy (&f, &bits, 8);
      CtPyObj *o = obj_new (u, CT_PY_FLOAT);
      if (o)
        o->v.f = f;
      ok = push (u, o);
      break;
    }
    case 0x4e: /* NONE */
      ok = push (u, obj_new (u, CT_PY_NONE));
      break;
    case 0x88: /* NEWTRUE */
    case 0x89: { /* NEWFALSE */
      CtPyObj *o = obj_new (u, CT_PY_BOOL);
      if (o)
        o->v.b = op == 0x88;
      ok = push (u, o);
      break;
    }
    default:
      return -1;
  }
  return ok;
}

/* Containers: empty ones, MARK, tuples, dict and list items, BUILD */
static int
op_container (Unpickler *u, guint8 op)
{
  gboolean ok = TRUE;
  switch (op) {
    case 0x7d: /* EMPTY_DICT */
      ok = push (u, obj_new (u, CT_PY_DICT));
      break;
    case 0x29: /* EMPTY_TUPLE */
      ok = push (u, obj_new (u, CT_PY_TUPLE));
      break;
    case 0x5d: /* EMPTY_LIST */
      ok = push (u, obj_new (u, CT_PY_LIST));
      break;
    case 0x28: /* MARK */
      if (u->marks->len >= MAX_MARKS) {
        fail (u, CT_ERROR_FORMAT, "too many nested MARKs");
        return 0;
      }
      {
        guint m = u->stack->len;
        g_array_append_val (u->marks, m);
      }
      break;
    case 0x74: { /* TUPLE */
      gint64 m = pop_mark (u);
      if (m < 0)
        return 0;
      ok = make_tuple (u, u->stack->len - (guint) m);
      break;
    }
    case 0x85: /* TUPLE1 */
      ok = make_tuple (u, 1);
      break;
    case 0x86: /* TUPLE2 */
      ok = make_tuple (u, 2);
      break;
    case 0x87: /* TUPLE3 */
      ok = make_tuple (u, 3);
      break;
    case 0x73: { /* SETITEM */
      CtPyObj *v = pop (u), *k = v ? pop (u) : NULL, *d = k ? top (u) : NULL;
      if (!d)
        return 0;
      if (d->type != CT_PY_DICT) {
        fail (u, CT_ERROR_FORMAT, "SETITEM on a %s",
            ct_py_type_name (d->type));
        return 0;
      }
      ok = dict_set (u, d, k, v);
      break;
    }
    case 0x75: { /* SETITEMS */
      gint64 m = pop_mark (u);
      if (m < 0)
        return 0;
      CtPyObj *d = below (u, (guint) m);
      if (!d)
        return 0;
      if (d->type != CT_PY_DICT) {
        fail (u, CT_ERROR_FORMAT, "SETITEMS on a %s",
            ct_py_type_name (d->type));
        return 0;
      }
      if ((u->stack->len - (guint) m) % 2 != 0) {
        fail (u, CT_ERROR_FORMAT, "SETITEMS with an odd number of items");
        return 0;
      }
      for (guint i = (guint) m; ok && i < u->stack->len; i += 2)
        ok = dict_set (u, d, g_ptr_array_index (u->stack, i),
            g_ptr_array_index (u->stack, i + 1));
      g_ptr_array_set_size (u->stack, (guint) m);
      break;
    }
    case 0x61: { /* APPEND */
      CtPyObj *v = pop (u), *l = v ? top (u) : NULL;
      if (!l)
        return 0;
      if (l->type != CT_PY_LIST) {
        fail (u, CT_ERROR_FORMAT, "APPEND on a %s",
            ct_py_type_name (l->type));
        return 0;
      }
      ok = items_add (u, l, v);
      break;
    }
    case 0x65: { /* APPENDS */
      gint64 m = pop_mark (u);
      if (m < 0)
        return 0;
      CtPyObj *l = below (u, (guint) m);
      if (!l)
        return 0;
      if (l->type != CT_PY_LIST) {
        fail (u, CT_ERROR_FORMAT, "APPENDS on a %s",
            ct_py_type_name (l->type));
        return 0;
      }
      for (guint i = (guint) m; ok && i < u->stack->len; i++)
        ok = items_add (u, l, g_ptr_array_index (u->stack, i));
      g_ptr_array_set_size (u->stack, (guint) m);
      break;
    }
    case 0x62: { /* BUILD */
      CtPyObj *state = pop (u), *o = state ? top (u) : NULL;
      if (!o)
        return 0;
      /* OrderedDict state dicts carry `_metadata` (module versions):
       * attributes that a weight file does not need. */
      if (o->type != CT_PY_DICT ||
          (state->type != CT_PY_DICT && state->type != CT_PY_NONE)) {
        fail (u, CT_ERROR_UNSUPPORTED, "BUILD of a %s with a %s state",
            ct_py_type_name (o->type), ct_py_type_name (state->type));
        return 0;
      }
      break;
    }
    default:
      return -1;
  }
  return ok;
}

/* The memo, and objects by name (GLOBAL, REDUCE, BINPERSID) */
static int
op_memo (Unpickler *u, guint8 op)
{
  gboolean ok = TRUE;
  switch (op) {
    case 0x71: /* BINPUT */
      if (!need (u, 1))
        return 0;
      ok = memo_put (u, u->d[u->pos++]);
      break;
    case 0x72: /* LONG_BINPUT */
      if (!need (u, 4))
        return 0;
      ok = memo_put (u, rd_le (u->d + u->pos, 4));
      u->pos += 4;
      break;
    case 0x94: /* MEMOIZE */
      ok = memo_put (u, g_hash_table_size (u->memo));
      break;
    case 0x68: /* BINGET */
      if (!need (u, 1))
        return 0;
      ok = memo_get (u, u->d[u->pos++]);
      break;
    case 0x6a: /* LONG_BINGET */
      if (!need (u, 4))
        return 0;
      ok = memo_get (u, rd_le (u->d + u->pos, 4));
      u->pos += 4;
      break;
    case 0x63: /* GLOBAL */
      ok = op_global (u);
      break;
    case 0x52: /* REDUCE */
      ok = op_reduce (u);
      break;
    case 0x51: /* BINPERSID */
      ok = op_binpersid (u);
      break;
    default:
      return -1;
  }
  return ok;
}

static CtPyObj *
run (Unpickler *u)
{
  for (;;) {
    u->op_pos = u->pos;
    if (u->pos >= u->n) {
      fail (u, CT_ERROR_FORMAT, "truncated data: no STOP opcode");
      return NULL;
    }
    guint8 op = u->d[u->pos++];
    int done = op_stream (u, op);
    if (done < 0)
      done = op_scalar (u, op);
    if (done < 0)
      done = op_container (u, op);
    if (done < 0)
      done = op_memo (u, op);
    if (done > 0)
      continue;
    if (done == 0)
      return NULL;
    switch (op) {
      case 0x2e: { /* STOP */
        CtPyObj *r = pop (u);
        if (!r)
          return NULL;
        if (u->stack->len != 0 || u->marks->len != 0) {
          fail (u, CT_ERROR_FORMAT, "values left on the stack at STOP");
          return NULL;
        }
        if (u->pos != u->n) {
          fail (u, CT_ERROR_FORMAT, "%" G_GSIZE_FORMAT
              " bytes of data after STOP", u->n - u->pos);
          return NULL;
        }
        return r;
      }
      default: {
        const char *name = opcode_name (op);
        if (name)
          fail (u, CT_ERROR_UNSUPPORTED, "opcode %s (0x%02x) is not allowed",
              name, op);
        else
          fail (u, CT_ERROR_FORMAT, "unknown opcode 0x%02x", op);
        return NULL;
      }
    }
  }
}

CtPickle *
ct_pickle_load (const guint8 *data, gsize size, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  CtPickle *p = g_new0 (CtPickle, 1);
  p->arena = g_ptr_array_new_with_free_func (obj_free);
  Unpickler u = {
    .p = p, .d = data, .n = data ? size : 0, .pos = 0,
    .stack = g_ptr_array_new (),
    .marks = g_array_new (FALSE, FALSE, sizeof (guint)),
    .memo = g_hash_table_new (g_direct_hash, g_direct_equal),
    .error = error,
  };
  u.limit = MIN (MAX_MEMORY, BASE_MEMORY + MEMORY_PER_INPUT_BYTE * MIN (u.n, MAX_MEMORY));
  u.budget = u.limit;
  p->root = run (&u);
  g_ptr_array_unref (u.stack);
  g_array_unref (u.marks);
  g_hash_table_destroy (u.memo);
  if (!p->root) {
    ct_pickle_free (p);
    return NULL;
  }
  return p;
}

const CtPyObj *
ct_pickle_root (const CtPickle *p)
{
  return p->root;
}

void
ct_pickle_free (CtPickle *p)
{
  if (!p)
    return;
  g_ptr_array_unref (p->arena);
  g_free (p);
}
