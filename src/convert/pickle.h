/* pickle.h - strict, non-executing pickle interpreter for torch.save
 * checkpoints (protocol 2).
 *
 * Only the opcodes torch.save emits for a checkpoint dict are accepted, and
 * only a whitelist of globals (collections.OrderedDict, the torch storage
 * classes, torch._utils._rebuild_tensor_v2 / _rebuild_parameter).  Nothing
 * is ever imported or executed: REDUCE on a whitelisted callable builds a
 * plain value (an empty dict, a tensor description).  Any other opcode or
 * global is refused with an error naming it.  Sizes (memo, stack, strings,
 * total objects) are bounded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef CT_PICKLE_H
#define CT_PICKLE_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  CT_PY_NONE,
  CT_PY_BOOL,
  CT_PY_INT,
  CT_PY_FLOAT,
  CT_PY_STR,
  CT_PY_TUPLE,
  CT_PY_LIST,
  CT_PY_DICT,     /* dict and collections.OrderedDict */
  CT_PY_GLOBAL,   /* a whitelisted class/function reference */
  CT_PY_STORAGE,  /* a persistent id ('storage', cls, key, location, numel) */
  CT_PY_TENSOR,   /* result of _rebuild_tensor_v2 / _rebuild_parameter */
} CtPyType;

/* Element types of torch storages. */
typedef enum {
  CT_STORAGE_F32, CT_STORAGE_F64, CT_STORAGE_F16, CT_STORAGE_BF16,
  CT_STORAGE_I64, CT_STORAGE_I32, CT_STORAGE_I16, CT_STORAGE_I8,
  CT_STORAGE_U8, CT_STORAGE_BOOL,
} CtStorageType;

const char *ct_storage_type_name (CtStorageType t);
gsize ct_storage_type_size (CtStorageType t);

#define CT_PICKLE_MAX_DIMS 8

typedef struct _CtPyObj CtPyObj;

typedef enum {
  CT_GLOBAL_ORDERED_DICT,
  CT_GLOBAL_REBUILD_TENSOR_V2,
  CT_GLOBAL_REBUILD_PARAMETER,
  CT_GLOBAL_STORAGE_CLASS,
} CtGlobalKind;

struct _CtPyObj {
  CtPyType type;
  union {
    gboolean b;
    gint64 i;
    double f;
    struct { char *s; gsize len; } str;      /* NUL-terminated UTF-8 */
    GPtrArray *items;                        /* TUPLE, LIST (not owned) */
    struct { GPtrArray *keys, *values; GHashTable *index; } dict;
    struct { CtGlobalKind kind; CtStorageType storage; char *name; } global;
    struct {
      CtStorageType dtype;
      char *key;                             /* storage key ("0", "1", ...) */
      char *location;
      gint64 numel;
    } storage;
    struct {
      const CtPyObj *storage;                /* a CT_PY_STORAGE */
      gint64 offset;
      int ndim;
      gint64 size[CT_PICKLE_MAX_DIMS];
      gint64 stride[CT_PICKLE_MAX_DIMS];
    } tensor;
  } v;
};

typedef struct _CtPickle CtPickle;

/* Interprets `size` bytes (not kept).  All objects belong to the result. */
CtPickle *ct_pickle_load (const guint8 *data, gsize size, GError **error);
const CtPyObj *ct_pickle_root (const CtPickle *p);
void ct_pickle_free (CtPickle *p);

/* Dict helpers: number of items, i-th key/value (insertion order), and
 * lookup by string key (NULL when absent). */
guint ct_py_dict_len (const CtPyObj *d);
const CtPyObj *ct_py_dict_key (const CtPyObj *d, guint i);
const CtPyObj *ct_py_dict_value (const CtPyObj *d, guint i);
const CtPyObj *ct_py_dict_get (const CtPyObj *d, const char *key);
const char *ct_py_type_name (CtPyType t);

G_END_DECLS

#endif
