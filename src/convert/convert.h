/* convert.h - PyTorch zip checkpoint -> safetensors weight file.
 *
 * Pure C: the checkpoint is mapped, its data.pkl interpreted by a strict
 * non-executing pickle reader (convert/pickle.h) and the tensors streamed
 * from the mapping into the output.  Nothing is ever executed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef CT_CONVERT_H
#define CT_CONVERT_H

#include <glib.h>
#include <stdio.h>

#include "coordtok.h"
#include "safetensors.h"
#include "convert/pickle.h"

G_BEGIN_DECLS

typedef struct {
  int enc_heads, dec_heads;   /* 0 = 16 */
  CtDType out_dtype;          /* CT_DTYPE_F32 (default), F16 or BF16 */
  int default_slice;          /* 0 = 16 frames (ct_config_infer's choice) */
  const char *name;           /* coordtok.name, or NULL */
} CtConvertOptions;

/* Converts an official checkpoint (`{'model': state_dict, ...}` or a bare
 * state dict) to a safetensors file with coordtok.* metadata: strips
 * `module.`, drops `decoder.lpips_loss.*`, gathers views, casts dtypes,
 * sorts tensors by name.  `opts` may be NULL.  The output is written
 * atomically (OUT.tmp, then renamed). */
gboolean ct_convert_checkpoint (const char *in_path, const char *out_path,
    const CtConvertOptions *opts, GError **error);

/* ---- lower level: the state dict of a checkpoint ----------------------- */

typedef struct {
  const char *name;           /* after stripping `module.` */
  CtStorageType dtype;        /* storage element type */
  int ndim;
  gint64 shape[CT_PICKLE_MAX_DIMS];
  gint64 numel;
} CtCheckpointTensor;

typedef struct _CtCheckpoint CtCheckpoint;

/* Opens a checkpoint and validates every tensor of its state dict (storage
 * present, stored, large enough for the view, float type). */
CtCheckpoint *ct_checkpoint_open (const char *path, GError **error);
/* Same over a memory block (not copied: must outlive the checkpoint). */
CtCheckpoint *ct_checkpoint_open_memory (const guint8 *data, gsize size,
    GError **error);
/* The model configuration the tensor shapes imply (ct_config_infer; head
 * counts as given, 0 for CoordTok-L's 16). */
gboolean ct_checkpoint_infer_config (CtCheckpoint *c, int enc_heads,
    int dec_heads, CtConfig *config, GError **error);
void ct_checkpoint_free (CtCheckpoint *c);
/* Tensors sorted by name. */
guint ct_checkpoint_n_tensors (const CtCheckpoint *c);
const CtCheckpointTensor *ct_checkpoint_tensor (const CtCheckpoint *c,
    guint i);
/* Index of a tensor by name, or -1. */
int ct_checkpoint_find (const CtCheckpoint *c, const char *name);
/* Gathers tensor i into contiguous row-major `out` values (numel values of
 * ct_dtype_size (out) bytes; dst_size must be exactly that). */
gboolean ct_checkpoint_read (const CtCheckpoint *c, guint i, CtDType out,
    void *dst, gsize dst_size, GError **error);
/* Same, written to a stream. */
gboolean ct_checkpoint_write (const CtCheckpoint *c, guint i, CtDType out,
    FILE *fp, GError **error);

G_END_DECLS

#endif
