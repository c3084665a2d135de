/* model-cache.h - process-wide cache: one copy of each weight file.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_MODEL_CACHE_H
#define CT_MODEL_CACHE_H
#include "coordtok.h"
G_BEGIN_DECLS
CtModel *ct_model_load_uncached (const char *path, const CtLoadOptions *opts,
    GError **error);
/* Drops one reference of a cached model; TRUE when it was the last one and
 * the model was removed from the cache (the caller frees it). */
gboolean ct_model_cache_release (CtModel *m);
/* Loads weights from a memory block (not cached, no path; the fuzz harness
 * and tests): every check of ct_model_load, without a file. */
CtModel *ct_model_load_memory (const guint8 *data, gsize size,
    const CtLoadOptions *opts, GError **error);
/* The same, naming the model `name` (its ct_model_path and messages). */
CtModel *ct_model_load_memory_named (const guint8 *data, gsize size,
    const char *name, const CtLoadOptions *opts, GError **error);
/* The default model linked into the library (embedded-model.c). */
const guint8 *ct_embedded_model (gsize *size);
/* What ct_model_path says of the embedded default model. */
#define CT_EMBEDDED_MODEL_NAME "(embedded default model)"
gint *ct_model_refcount_ptr (CtModel *m);
/* Called by the cache to hand out backend-specific shared data (CUDA
 * weights uploaded once per model and device). */
G_END_DECLS
#endif
