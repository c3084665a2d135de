/* safetensors.h - strict safetensors reader (mmap) and writer.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef CT_SAFETENSORS_H
#define CT_SAFETENSORS_H

#include <glib.h>
#include <stdint.h>
#include <stdio.h>

G_BEGIN_DECLS

typedef enum {
  CT_DTYPE_F32, CT_DTYPE_F16, CT_DTYPE_BF16, CT_DTYPE_I64, CT_DTYPE_I32,
  CT_DTYPE_U8,
} CtDType;

const char *ct_dtype_name (CtDType d);
gboolean ct_dtype_from_name (const char *name, CtDType *out);
gsize ct_dtype_size (CtDType d);

#define CT_MAX_DIMS 8

typedef struct {
  char *name;
  CtDType dtype;
  int ndim;
  gint64 shape[CT_MAX_DIMS];
  gint64 numel;
  const guint8 *data;   /* into the mapping */
  gsize nbytes;
} CtTensorView;

typedef struct _CtSafetensors CtSafetensors;

/* Maps and validates a file: header length, JSON, dtypes, shapes, offsets
 * (in range, no overlap, no holes, size == dtype x shape), duplicates. */
CtSafetensors *ct_safetensors_open (const char *path, GError **error);
/* Same checks over a memory block (not copied: must outlive the object). */
CtSafetensors *ct_safetensors_open_memory (const guint8 *data, gsize size,
    GError **error);
void ct_safetensors_close (CtSafetensors *st);
int ct_safetensors_n_tensors (const CtSafetensors *st);
const CtTensorView *ct_safetensors_tensor (const CtSafetensors *st, int i);
const CtTensorView *ct_safetensors_find (const CtSafetensors *st, const char *name);
/* __metadata__ value or NULL. */
const char *ct_safetensors_metadata (const CtSafetensors *st, const char *key);
GHashTable *ct_safetensors_metadata_table (const CtSafetensors *st);
const guint8 *ct_safetensors_bytes (const CtSafetensors *st, gsize *size);

/* Converts a tensor to float32 (F32/F16/BF16/I64/I32); dst has numel floats. */
gboolean ct_tensor_to_f32 (const CtTensorView *t, float *dst, GError **error);

/* Half-precision helpers (round to nearest even). */
float ct_f16_to_f32 (guint16 h);
guint16 ct_f32_to_f16 (float f);
float ct_bf16_to_f32 (guint16 h);
guint16 ct_f32_to_bf16 (float f);

/* Writer: tensors are appended in order; data is copied or streamed. */
typedef struct _CtSafetensorsWriter CtSafetensorsWriter;
CtSafetensorsWriter *ct_safetensors_writer_new (void);
void ct_safetensors_writer_set_metadata (CtSafetensorsWriter *w,
    const char *key, const char *value);
/* data NULL: the bytes are supplied later through the write callback. */
void ct_safetensors_writer_add (CtSafetensorsWriter *w, const char *name,
    CtDType dtype, int ndim, const gint64 *shape, const void *data);
/* Writes header then, for each tensor, either its data or what fill()
 * produces (fill writes exactly nbytes to fp; returns FALSE on error). */
typedef gboolean (*CtTensorFill) (void *user, int index, FILE *fp,
    gsize nbytes, GError **error);
gboolean ct_safetensors_writer_write (CtSafetensorsWriter *w, const char *path,
    CtTensorFill fill, void *user, GError **error);
void ct_safetensors_writer_free (CtSafetensorsWriter *w);

G_END_DECLS

#endif
