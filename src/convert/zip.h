/* zip.h - strict, read-only zip archive reader for PyTorch checkpoints.
 *
 * The file is mapped (never copied); entries are listed from the central
 * directory (zip64 aware).  Only STORED entries can be read: PyTorch writes
 * every entry uncompressed, so anything else is refused with an error.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef CT_ZIP_H
#define CT_ZIP_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *name;              /* UTF-8 / CP437 bytes as stored, NUL-free */
  guint16 flags;           /* general purpose bit flags */
  guint16 method;          /* 0 = stored */
  guint64 comp_size;
  guint64 size;
  guint64 local_offset;    /* offset of the local file header */
} CtZipEntry;

typedef struct _CtZip CtZip;

/* Maps `path` and reads its central directory.  Fails on bad signatures,
 * records or entries outside the file, bad names (empty, absolute, "..",
 * backslashes, control characters) and duplicate names. */
CtZip *ct_zip_open (const char *path, GError **error);
/* Same over a memory block (not copied: must outlive the archive). */
CtZip *ct_zip_open_memory (const guint8 *data, gsize size, GError **error);
void ct_zip_close (CtZip *z);

guint ct_zip_n_entries (const CtZip *z);
const CtZipEntry *ct_zip_entry (const CtZip *z, guint i);
const CtZipEntry *ct_zip_find (const CtZip *z, const char *name);

/* Validates the entry's local header and returns a pointer to its bytes
 * inside the mapping.  Refuses compressed and encrypted entries. */
gboolean ct_zip_entry_data (const CtZip *z, const CtZipEntry *e,
    const guint8 **data, guint64 *size, GError **error);

G_END_DECLS

#endif
