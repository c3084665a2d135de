/* y4m-reader.h - a YUV4MPEG2 (Y4M) reader that trusts nothing in the file
 * (y4m-reader.c).  Debian's GStreamer has no y4mdec, so the CLI reads Y4M
 * itself and feeds the frames to a pipeline.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_Y4M_READER_H
#define CT_Y4M_READER_H

#include <glib.h>
#include <stdio.h>

/* The 8-bit colour spaces accepted; others are refused with a message. */
typedef enum {
  CT_Y4M_420,                   /* C420jpeg, C420 (chroma centred) */
  CT_Y4M_420MPEG2,              /* chroma co-sited left */
  CT_Y4M_420PALDV,              /* chroma top-left */
  CT_Y4M_411,
  CT_Y4M_422,
  CT_Y4M_444,
  CT_Y4M_MONO,
} CtY4mChroma;

typedef struct {
  int width, height;
  int fps_n, fps_d;             /* 0/0 when the header has no F tag */
  int par_n, par_d;             /* 1/1 when unknown (A0:0 or no A tag) */
  CtY4mChroma chroma;
  int full_range;               /* XCOLORRANGE: 1 FULL, 0 LIMITED, -1 not given */
  gsize frame_bytes;            /* planes, packed as in the file */
  int plane_w[3], plane_h[3], n_planes;
} CtY4mHeader;

/* Upper bounds on what a header may claim. */
#define CT_Y4M_MAX_DIM 16384
#define CT_Y4M_MAX_FRAME_BYTES ((gsize) 256 << 20)
#define CT_Y4M_MAX_LINE 4096

typedef struct CtY4mReader CtY4mReader;

/* Reads and checks the stream header.  `name` is used in messages.  Takes
 * ownership of `f` (closed by ct_y4m_reader_free, also on failure). */
CtY4mReader *ct_y4m_reader_new (FILE *f, const char *name, GError **error);
const CtY4mHeader *ct_y4m_reader_header (CtY4mReader *r);
/* Reads the next frame: 1 and *frame (frame_bytes, the reader's buffer,
 * valid until the next call; allocated only once a frame is known to fit in
 * a regular file), 0 at a clean end of the stream, -1 error (a truncated
 * frame, a bad FRAME line). */
int ct_y4m_reader_read (CtY4mReader *r, const guint8 **frame, GError **error);
guint64 ct_y4m_reader_frames_read (CtY4mReader *r);
void ct_y4m_reader_free (CtY4mReader *r);

#endif
