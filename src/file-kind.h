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

#endif
