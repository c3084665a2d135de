/* y4m-reader.c - YUV4MPEG2 stream header and frames, every field checked:
 * a header line and FRAME lines of bounded length, dimensions and frame
 * size bounded (and a first frame that fits in the file, before anything is
 * allocated), unknown tags and unsupported colour spaces refused by name.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "y4m-reader.h"
#include "coordtok.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

struct CtY4mReader {
  FILE *f;
  char *name;
  CtY4mHeader h;
  guint64 frames;
  guint8 *buf;                  /* one frame */
  gint64 left;                  /* bytes after the header of a regular file, else -1 */
};

/* Reads one '\n'-terminated line of at most max bytes (without the '\n')
 * into buf (max + 1 bytes).  Returns its length, -1 at a clean end of file
 * (nothing read), -2 if the line is cut short by the end of the file, -3 if
 * it is longer than max. */
static gssize
read_line (FILE *f, char *buf, gsize max)
{
  gsize n = 0;
  int c;
  while ((c = getc (f)) != EOF) {
    if (c == '\n') {
      buf[n] = 0;
      return (gssize) n;
    }
    if (n == max) {
      buf[n] = 0;
      return -3;
    }
    buf[n++] = (char) c;
  }
  buf[n] = 0;
  return n == 0 ? -1 : -2;
}

static gboolean
parse_uint (const char *s, guint64 max, guint64 *v)
{
  if (!*s)
    return FALSE;
  guint64 x = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return FALSE;
    x = x * 10 + (guint64) (*s - '0');
    if (x > max)
      return FALSE;
  }
  *v = x;
  return TRUE;
}

/* "N:D" with both in [0, G_MAXINT] */
static gboolean
parse_ratio (const char *s, int *n, int *d)
{
  const char *colon = strchr (s, ':');
  guint64 a, b;
  if (!colon)
    return FALSE;
  char *num = g_strndup (s, colon - s);
  gboolean ok = parse_uint (num, G_MAXINT, &a) && parse_uint (colon + 1, G_MAXINT, &b);
  g_free (num);
  if (ok) {
    *n = (int) a;
    *d = (int) b;
  }
  return ok;
}

static gboolean
parse_chroma (const char *s, CtY4mChroma *c)
{
  static const struct { const char *tag; CtY4mChroma c; } names[] = {
    { "420jpeg", CT_Y4M_420 }, { "420", CT_Y4M_420 }, { "420mpeg2", CT_Y4M_420MPEG2 },
    { "420paldv", CT_Y4M_420PALDV }, { "411", CT_Y4M_411 }, { "422", CT_Y4M_422 },
    { "444", CT_Y4M_444 }, { "mono", CT_Y4M_MONO },
  };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (!strcmp (s, names[i].tag)) {
      *c = names[i].c;
      return TRUE;
    }
  return FALSE;
}

static gboolean
parse_header (CtY4mReader *r, char *line, GError **error)
{
  CtY4mHeader *h = &r->h;
  guint64 v;
  h->par_n = h->par_d = 1;
  h->full_range = -1;
  h->chroma = CT_Y4M_420;
  char **tok = g_strsplit (line, " ", -1);
  gboolean ok = FALSE;
  /* tok[0] is "YUV4MPEG2" (checked by the caller) */
  for (int i = 1; tok[i]; i++) {
    const char *t = tok[i], *val = t + 1;
    if (!*t)
      continue;                 /* doubled spaces */
    switch (t[0]) {
      case 'W':
      case 'H':
        if (!parse_uint (val, CT_Y4M_MAX_DIM, &v) || v == 0) {
          g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: bad Y4M %s tag '%s' (1 to %d pixels)",
              r->name, t[0] == 'W' ? "width" : "height", t, CT_Y4M_MAX_DIM);
          goto out;
        }
        *(t[0] == 'W' ? &h->width : &h->height) = (int) v;
        break;
      case 'F':
        if (!parse_ratio (val, &h->fps_n, &h->fps_d) || (h->fps_n == 0) != (h->fps_d == 0)) {
          g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: bad Y4M frame rate '%s' (want F<num>:<den>)",
              r->name, t);
          goto out;
        }
        break;
      case 'A':{
        int n, d;
        if (!parse_ratio (val, &n, &d) || (n == 0) != (d == 0)) {
          g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: bad Y4M pixel aspect ratio '%s'",
              r->name, t);
          goto out;
        }
        if (n) {
          h->par_n = n;
          h->par_d = d;
        }
        break;
      }
      case 'I':
        if (strcmp (val, "p") && strcmp (val, "?")) {
          g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED, "%s: interlaced Y4M ('%s') is not "
              "supported: deinterlace it first (progressive frames only)", r->name, t);
          goto out;
        }
        break;
      case 'C':
        if (!parse_chroma (val, &h->chroma)) {
          g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED, "%s: Y4M colour space '%s' is not "
              "supported (8-bit 420jpeg, 420, 420mpeg2, 420paldv, 411, 422, 444 and mono are)",
              r->name, val);
          goto out;
        }
        break;
      case 'X':
        if (!strcmp (val, "COLORRANGE=FULL"))
          h->full_range = 1;
        else if (!strcmp (val, "COLORRANGE=LIMITED"))
          h->full_range = 0;
        break;                  /* other extensions carry nothing we need */
      default:
        g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: unknown Y4M header tag '%.16s'",
            r->name, t);
        goto out;
    }
  }
  if (!h->width || !h->height) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: the Y4M header has no %s (W/H tags)",
        r->name, !h->width ? "width" : "height");
    goto out;
  }
  int W = h->width, H = h->height;
  int cw = W, ch = H;
  switch (h->chroma) {
    case CT_Y4M_420: case CT_Y4M_420MPEG2: case CT_Y4M_420PALDV:
      cw = (W + 1) / 2; ch = (H + 1) / 2; break;
    case CT_Y4M_411: cw = (W + 3) / 4; break;
    case CT_Y4M_422: cw = (W + 1) / 2; break;
    default: break;
  }
  h->n_planes = h->chroma == CT_Y4M_MONO ? 1 : 3;
  h->plane_w[0] = W; h->plane_h[0] = H;
  h->plane_w[1] = h->plane_w[2] = cw;
  h->plane_h[1] = h->plane_h[2] = ch;
  h->frame_bytes = (gsize) W * H + (h->n_planes == 3 ? 2 * (gsize) cw * ch : 0);
  if (h->frame_bytes > CT_Y4M_MAX_FRAME_BYTES) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED, "%s: Y4M frames of %dx%d need %"
        G_GSIZE_FORMAT " bytes each, more than the %" G_GSIZE_FORMAT " MiB accepted", r->name,
        W, H, h->frame_bytes, CT_Y4M_MAX_FRAME_BYTES >> 20);
    goto out;
  }
  ok = TRUE;
out:
  g_strfreev (tok);
  return ok;
}

CtY4mReader *
ct_y4m_reader_new (FILE *f, const char *name, GError **error)
{
  CtY4mReader *r = g_new0 (CtY4mReader, 1);
  char *line = g_malloc (CT_Y4M_MAX_LINE + 1);
  r->f = f;
  r->name = g_strdup (name);
  r->left = -1;
  gssize n = read_line (f, line, CT_Y4M_MAX_LINE);
  if (n < 0 || strncmp (line, "YUV4MPEG2", 9) || (line[9] != ' ' && line[9] != 0)) {
    if (n == -3)
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: Y4M header line longer than %d bytes",
          name, CT_Y4M_MAX_LINE);
    else if (n == -2 && !strncmp (line, "YUV4MPEG2", 9))
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: truncated Y4M header (no end of line)",
          name);
    else
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: not a Y4M file (no YUV4MPEG2 header)",
          name);
    goto fail;
  }
  if (!parse_header (r, line, error))
    goto fail;
  struct stat st;
  long pos = ftell (f);
  if (fstat (fileno (f), &st) == 0 && S_ISREG (st.st_mode) && pos >= 0)
    r->left = (gint64) st.st_size - pos;
  g_free (line);
  return r;
fail:
  g_free (line);
  ct_y4m_reader_free (r);
  return NULL;
}

const CtY4mHeader *
ct_y4m_reader_header (CtY4mReader *r)
{
  return &r->h;
}

guint64
ct_y4m_reader_frames_read (CtY4mReader *r)
{
  return r->frames;
}

int
ct_y4m_reader_read (CtY4mReader *r, const guint8 **frame, GError **error)
{
  char line[257];
  gssize n = read_line (r->f, line, sizeof line - 1);
  if (n == -1)
    return 0;
  if (n < 0 || strncmp (line, "FRAME", 5) || (line[5] != ' ' && line[5] != 0)) {
    if (n == -2 && !strncmp (line, "FRAME", MIN (5, strlen (line))))
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: truncated Y4M file: frame %"
          G_GUINT64_FORMAT " is cut off in its FRAME line", r->name, r->frames);
    else {
      char *esc = g_strescape (line, NULL);
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: frame %" G_GUINT64_FORMAT
          ": expected a FRAME line, found '%.16s'%s", r->name, r->frames, esc,
          n == -3 ? " (line too long)" : "");
      g_free (esc);
    }
    return -1;
  }
  /* a regular file that cannot hold the frame fails before any read */
  if (r->left >= 0) {
    long pos = ftell (r->f);
    struct stat st;
    if (pos >= 0 && fstat (fileno (r->f), &st) == 0 &&
        (gint64) st.st_size - pos < (gint64) r->h.frame_bytes) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "%s: truncated Y4M file: frame %"
          G_GUINT64_FORMAT " needs %" G_GSIZE_FORMAT " bytes (%dx%d), %" G_GINT64_FORMAT
          " are left", r->name, r->frames, r->h.frame_bytes, r->h.width, r->h.height,
          (gint64) st.st_size - pos);
      return -1;
    }
  }
  if (!r->buf)
    r->buf = g_malloc (r->h.frame_bytes);
  gsize got = fread (r->buf, 1, r->h.frame_bytes, r->f);
  if (got != r->h.frame_bytes) {
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "%s: truncated Y4M file: frame %" G_GUINT64_FORMAT
        " has %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes%s%s", r->name, r->frames, got,
        r->h.frame_bytes, ferror (r->f) ? ": " : "", ferror (r->f) ? g_strerror (errno) : "");
    return -1;
  }
  r->frames++;
  *frame = r->buf;
  return 1;
}

void
ct_y4m_reader_free (CtY4mReader *r)
{
  if (!r)
    return;
  if (r->f)
    fclose (r->f);
  g_free (r->name);
  g_free (r->buf);
  g_free (r);
}
