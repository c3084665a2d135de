/* file-kind.h - recognises common files by their first bytes, for error
 * messages (file-kind.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_FILE_KIND_H
#define CT_FILE_KIND_H

#include <glib.h>

/* A sentence ("it is a zip archive, as PyTorch .pth checkpoints are:
 * convert it with ...") for a file that is recognisably something else, or
 * NULL. */
const char *ct_file_kind_advice (const guint8 *data, gsize size);

typedef enum {
  CT_FILE_KIND_UNKNOWN,         /* nothing recognised (raw data, or a rare format) */
  CT_FILE_KIND_EMPTY,
  CT_FILE_KIND_VIDEO,           /* a container GStreamer's decodebin may read */
  CT_FILE_KIND_IMAGE,
  CT_FILE_KIND_Y4M,
  CT_FILE_KIND_TOKENS,          /* a CoordTok token file */
  CT_FILE_KIND_WEIGHTS,         /* safetensors */
  CT_FILE_KIND_CHECKPOINT,      /* PyTorch .pth (zip) or pickle */
  CT_FILE_KIND_OTHER,
} CtFileKind;

/* What the file is, from its first bytes (16 are enough); *name (may be
 * NULL) gets a noun phrase ("an MP4/QuickTime video") or NULL if unknown. */
CtFileKind ct_file_kind (const guint8 *data, gsize size, const char **name);

#endif
