/* zip.c - strict, read-only zip archive reader (stored entries, zip64).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "convert/zip.h"

#include "coordtok.h"

#include <string.h>

#define SIG_LOCAL      0x04034b50u
#define SIG_CENTRAL    0x02014b50u
#define SIG_EOCD       0x06054b50u
#define SIG_EOCD64     0x06064b50u
#define SIG_EOCD64_LOC 0x07064b50u

#define EOCD_SIZE 22
#define EOCD64_LOC_SIZE 20
#define EOCD64_MIN_SIZE 56
#define CENTRAL_SIZE 46
#define LOCAL_SIZE 30
#define MAX_COMMENT 65535
/* A torch checkpoint has one entry per storage and a few more; the bound
 * keeps the entry table (~150 bytes an entry) small whatever the directory
 * claims. */
#define MAX_ENTRIES (1u << 20)

struct _CtZip {
  GMappedFile *mapped;      /* NULL for memory archives */
  const guint8 *data;
  guint64 size;
  GPtrArray *entries;       /* CtZipEntry*, owned */
  GHashTable *by_name;      /* name -> CtZipEntry* */
};

static guint16
rd16 (const guint8 *p)
{
  return (guint16) (p[0] | (p[1] << 8));
}

static guint32
rd32 (const guint8 *p)
{
  return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16) |
      ((guint32) p[3] << 24);
}

static guint64
rd64 (const guint8 *p)
{
  return (guint64) rd32 (p) | ((guint64) rd32 (p + 4) << 32);
}

/* TRUE when [off, off + len) lies inside [0, size). */
static gboolean
in_range (guint64 off, guint64 len, guint64 size)
{
  return off <= size && len <= size - off;
}

static void
entry_free (gpointer p)
{
  CtZipEntry *e = p;
  g_free (e->name);
  g_free (e);
}

void
ct_zip_close (CtZip *z)
{
  if (!z)
    return;
  if (z->by_name)
    g_hash_table_destroy (z->by_name);
  if (z->entries)
    g_ptr_array_unref (z->entries);
  if (z->mapped)
    g_mapped_file_unref (z->mapped);
  g_free (z);
}

/* Entry names become parts of lookups only, never paths on disk, but a
 * name that could escape a folder is a sign of a hostile archive. */
static gboolean
name_ok (const char *name, gsize len)
{
  if (len == 0 || name[0] == '/')
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    guchar c = (guchar) name[i];
    if (c < 0x20 || c == 0x7f || c == '\\' || c == ':')
      return FALSE;
  }
  /* ".." as a path component */
  const char *p = name;
  while (*p) {
    const char *slash = strchr (p, '/');
    gsize n = slash ? (gsize) (slash - p) : strlen (p);
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return FALSE;
    if (n == 0 && slash)        /* "a//b" */
      return FALSE;
    if (!slash)
      break;
    p = slash + 1;
  }
  return TRUE;
}

static char *
printable_name (const guint8 *p, gsize len)
{
  GString *s = g_string_new (NULL);
  for (gsize i = 0; i < len && i < 200; i++) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'')
      g_string_append_c (s, (char) p[i]);
    else
      g_string_append_printf (s, "\\x%02x", p[i]);
  }
  if (len > 200)
    g_string_append (s, "...");
  return g_string_free (s, FALSE);
}

/* Zip64 extended information extra field: the 64-bit values are present
 * only for the fields whose 32-bit value is saturated, in this order. */
static gboolean
parse_zip64_extra (const guint8 *extra, gsize len, guint32 size32,
    guint32 comp32, guint32 off32, guint16 disk16, CtZipEntry *e,
    const char *name, GError **error)
{
  gboolean need_size = size32 == 0xffffffffu;
  gboolean need_comp = comp32 == 0xffffffffu;
  gboolean need_off = off32 == 0xffffffffu;
  gboolean found = FALSE;
  gsize pos = 0;

  while (pos + 4 <= len) {
    guint16 id = rd16 (extra + pos);
    guint16 n = rd16 (extra + pos + 2);
    pos += 4;
    if (n > len - pos) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
          "zip: extra field of entry '%s' overruns its record", name);
      return FALSE;
    }
    if (id == 0x0001 && !found) {
      const guint8 *q = extra + pos;
      gsize left = n;
      found = TRUE;
#define TAKE64(dst) do {                                                   \
        if (left < 8) {                                                    \
          g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,                   \
              "zip: zip64 extra field of entry '%s' is too short", name);  \
          return FALSE;                                                    \
        }                                                                  \
        dst = rd64 (q); q += 8; left -= 8;                                 \
      } while (0)
      if (need_size)
        TAKE64 (e->size);
      if (need_comp)
        TAKE64 (e->comp_size);
      if (need_off)
        TAKE64 (e->local_offset);
#undef TAKE64
      (void) disk16;
    }
    pos += n;
  }
  if ((need_size || need_comp || need_off) && !found) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: entry '%s' needs a zip64 extra field but has none", name);
    return FALSE;
  }
  return TRUE;
}

/* The end of central directory record: the last signature whose comment
 * ends exactly at the end of the file; G_MAXUINT64 if there is none. */
static guint64
find_eocd (const guint8 *d, guint64 size)
{
  guint64 lowest = size - EOCD_SIZE > MAX_COMMENT ?
      size - EOCD_SIZE - MAX_COMMENT : 0;
  for (guint64 p = size - EOCD_SIZE + 1; p-- > lowest;)
    if (rd32 (d + p) == SIG_EOCD &&
        p + EOCD_SIZE + rd16 (d + p + 20) == size)
      return p;
  return G_MAXUINT64;
}

/* Where the central directory is and how many entries it has, from the
 * end records (the zip64 ones where present), checked against the file. */
typedef struct {
  guint64 cd_off, cd_size, n_total;
} Directory;

static gboolean
read_end_records (const guint8 *d, guint64 eocd, Directory *dir, GError **error)
{
  const guint8 *r = d + eocd;
  guint16 disk = rd16 (r + 4), cd_disk = rd16 (r + 6);
  guint64 n_disk = rd16 (r + 8), n_total = rd16 (r + 10);
  guint64 cd_size = rd32 (r + 12), cd_off = rd32 (r + 16);
  guint64 dir_end = eocd;       /* where the central directory must end */

  /* Zip64 locator right before the EOCD. */
  if (eocd >= EOCD64_LOC_SIZE &&
      rd32 (d + eocd - EOCD64_LOC_SIZE) == SIG_EOCD64_LOC) {
    const guint8 *loc = d + eocd - EOCD64_LOC_SIZE;
    guint64 rec = rd64 (loc + 8);
    if (rd32 (loc + 4) != 0 || rd32 (loc + 16) > 1) {
      g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
          "zip: multi-disk archives are not supported");
      return FALSE;
    }
    if (!in_range (rec, EOCD64_MIN_SIZE, eocd - EOCD64_LOC_SIZE)) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
          "zip: zip64 end of central directory offset %" G_GUINT64_FORMAT
          " is outside the file", rec);
      return FALSE;
    }
    const guint8 *r64 = d + rec;
    if (rd32 (r64) != SIG_EOCD64) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
          "zip: bad zip64 end of central directory signature");
      return FALSE;
    }
    guint64 rsize = rd64 (r64 + 4);
    if (rsize < EOCD64_MIN_SIZE - 12 || rsize > G_MAXUINT64 - 12 ||
        !in_range (rec, rsize + 12, eocd - EOCD64_LOC_SIZE)) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
          "zip: zip64 end of central directory record has a bad size");
      return FALSE;
    }
    disk = rd32 (r64 + 16) ? 1 : 0;
    cd_disk = rd32 (r64 + 20) ? 1 : 0;
    n_disk = rd64 (r64 + 24);
    n_total = rd64 (r64 + 32);
    cd_size = rd64 (r64 + 40);
    cd_off = rd64 (r64 + 48);
    dir_end = rec;
  } else if (n_total == 0xffff || cd_size == 0xffffffffu ||
      cd_off == 0xffffffffu) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: end of central directory needs a zip64 record but none found");
    return FALSE;
  }

  if (disk != 0 || cd_disk != 0 || n_disk != n_total) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "zip: multi-disk archives are not supported");
    return FALSE;
  }
  if (!in_range (cd_off, cd_size, dir_end)) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: central directory (offset %" G_GUINT64_FORMAT ", %"
        G_GUINT64_FORMAT " bytes) extends past its end record",
        cd_off, cd_size);
    return FALSE;
  }
  if (n_total > MAX_ENTRIES) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "zip: %" G_GUINT64_FORMAT " entries, more than the %u a checkpoint "
        "may have", n_total, MAX_ENTRIES);
    return FALSE;
  }
  if (n_total > cd_size / CENTRAL_SIZE) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: %" G_GUINT64_FORMAT " entries cannot fit in a %"
        G_GUINT64_FORMAT "-byte central directory", n_total, cd_size);
    return FALSE;
  }
  dir->cd_off = cd_off;
  dir->cd_size = cd_size;
  dir->n_total = n_total;
  return TRUE;
}

/* Central directory entry i at cd + *pos (*pos advanced past it): its
 * name, sizes and offset checked, then added to the archive. */
static gboolean
read_entry (CtZip *z, const Directory *dir, guint64 i, guint64 *pos,
    GError **error)
{
  const guint8 *cd = z->data + dir->cd_off;
  guint64 cd_size = dir->cd_size;
  if (cd_size - *pos < CENTRAL_SIZE || rd32 (cd + *pos) != SIG_CENTRAL) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: bad central directory header for entry %" G_GUINT64_FORMAT,
        i);
    return FALSE;
  }
  const guint8 *h = cd + *pos;
  guint16 nlen = rd16 (h + 28), xlen = rd16 (h + 30), clen = rd16 (h + 32);
  guint64 rec_len = (guint64) CENTRAL_SIZE + nlen + xlen + clen;
  if (rec_len > cd_size - *pos) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: central directory entry %" G_GUINT64_FORMAT
        " overruns the directory", i);
    return FALSE;
  }
  const guint8 *nm = h + CENTRAL_SIZE;
  if (memchr (nm, 0, nlen)) {
    char *pn = printable_name (nm, nlen);
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: bad entry name '%s'", pn);
    g_free (pn);
    return FALSE;
  }
  CtZipEntry *e = g_new0 (CtZipEntry, 1);
  e->name = g_strndup ((const char *) nm, nlen);
  g_ptr_array_add (z->entries, e);
  if (!name_ok (e->name, nlen)) {
    char *pn = printable_name (nm, nlen);
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: bad entry name '%s'", pn);
    g_free (pn);
    return FALSE;
  }
  e->flags = rd16 (h + 8);
  e->method = rd16 (h + 10);
  guint32 comp32 = rd32 (h + 20), size32 = rd32 (h + 24);
  guint32 off32 = rd32 (h + 42);
  guint16 disk16 = rd16 (h + 34);
  e->comp_size = comp32;
  e->size = size32;
  e->local_offset = off32;
  if (!parse_zip64_extra (h + CENTRAL_SIZE + nlen, xlen, size32, comp32,
          off32, disk16, e, e->name, error))
    return FALSE;
  if (disk16 != 0 && disk16 != 0xffff) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "zip: entry '%s' is on another disk", e->name);
    return FALSE;
  }
  if (!in_range (e->local_offset, LOCAL_SIZE, dir->cd_off)) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: entry '%s' local header offset %" G_GUINT64_FORMAT
        " is past the end of the file data", e->name, e->local_offset);
    return FALSE;
  }
  if (g_hash_table_contains (z->by_name, e->name)) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: duplicate entry name '%s'", e->name);
    return FALSE;
  }
  g_hash_table_insert (z->by_name, e->name, e);
  *pos += rec_len;
  return TRUE;
}

static gboolean
read_directory (CtZip *z, GError **error)
{
  Directory dir;
  if (z->size < EOCD_SIZE) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: file too short (%" G_GUINT64_FORMAT " bytes) to be an archive",
        (guint64) z->size);
    return FALSE;
  }
  guint64 eocd = find_eocd (z->data, z->size);
  if (eocd == G_MAXUINT64) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: end of central directory record not found "
        "(truncated or not a zip file)");
    return FALSE;
  }
  if (!read_end_records (z->data, eocd, &dir, error))
    return FALSE;
  guint64 pos = 0;
  for (guint64 i = 0; i < dir.n_total; i++)
    if (!read_entry (z, &dir, i, &pos, error))
      return FALSE;
  return TRUE;
}

static CtZip *
zip_new (void)
{
  CtZip *z = g_new0 (CtZip, 1);
  z->entries = g_ptr_array_new_with_free_func (entry_free);
  z->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  return z;
}

CtZip *
ct_zip_open_memory (const guint8 *data, gsize size, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  CtZip *z = zip_new ();
  z->data = data;
  z->size = data ? size : 0;
  if (!read_directory (z, error)) {
    ct_zip_close (z);
    return NULL;
  }
  return z;
}

CtZip *
ct_zip_open (const char *path, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  GError *err = NULL;
  GMappedFile *mf = g_mapped_file_new (path, FALSE, &err);
  if (!mf) {
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "cannot open '%s': %s", path,
        err->message);
    g_error_free (err);
    return NULL;
  }
  CtZip *z = zip_new ();
  z->mapped = mf;
  z->data = (const guint8 *) g_mapped_file_get_contents (mf);
  z->size = z->data ? g_mapped_file_get_length (mf) : 0;
  if (!read_directory (z, error)) {
    g_prefix_error (error, "%s: ", path);
    ct_zip_close (z);
    return NULL;
  }
  return z;
}

guint
ct_zip_n_entries (const CtZip *z)
{
  return z->entries->len;
}

const CtZipEntry *
ct_zip_entry (const CtZip *z, guint i)
{
  return i < z->entries->len ? g_ptr_array_index (z->entries, i) : NULL;
}

const CtZipEntry *
ct_zip_find (const CtZip *z, const char *name)
{
  return g_hash_table_lookup (z->by_name, name);
}

gboolean
ct_zip_entry_data (const CtZip *z, const CtZipEntry *e, const guint8 **data,
    guint64 *size, GError **error)
{
  if (e->flags & 0x0001) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "zip: entry '%s' is encrypted", e->name);
    return FALSE;
  }
  if (e->method != 0) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "zip: entry '%s' is compressed (method %u); only stored entries "
        "are supported", e->name, e->method);
    return FALSE;
  }
  if (e->comp_size != e->size) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: stored entry '%s' has compressed size %" G_GUINT64_FORMAT
        " != size %" G_GUINT64_FORMAT, e->name, e->comp_size, e->size);
    return FALSE;
  }
  if (!in_range (e->local_offset, LOCAL_SIZE, z->size)) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: entry '%s' local header is past end of file", e->name);
    return FALSE;
  }
  const guint8 *h = z->data + e->local_offset;
  if (rd32 (h) != SIG_LOCAL) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: entry '%s' has a bad local header signature", e->name);
    return FALSE;
  }
  guint16 lflags = rd16 (h + 6), lmethod = rd16 (h + 8);
  guint16 nlen = rd16 (h + 26), xlen = rd16 (h + 28);
  if ((lflags & 0x0001) || lmethod != e->method) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: entry '%s' local header disagrees with the central directory",
        e->name);
    return FALSE;
  }
  guint64 data_off = e->local_offset + LOCAL_SIZE + nlen + xlen;
  if (!in_range (e->local_offset + LOCAL_SIZE, nlen, z->size) ||
      strlen (e->name) != nlen ||
      memcmp (h + LOCAL_SIZE, e->name, nlen) != 0) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: entry '%s' local header name does not match", e->name);
    return FALSE;
  }
  if (!in_range (data_off, e->size, z->size)) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "zip: entry '%s' extends past end of file", e->name);
    return FALSE;
  }
  *data = z->data + data_off;
  *size = e->size;
  return TRUE;
}
