/* gstcoordtokenc-private.h - coordtokenc's instance, shared by the element
 * (gstcoordtokenc.c) and its windows (gstcoordtokencwindow.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_COORDTOK_ENC_PRIVATE_H
#define GST_COORDTOK_ENC_PRIVATE_H

#include "gstcoordtokenc.h"

G_BEGIN_DECLS

/* One window of frames, as packed RGB, and what its record needs. */
typedef struct {
  guint8 *rgb;                  /* T frames of width*height*3 bytes */
  gsize capacity;
  CtTokensFrameTime *times;     /* T entries */
  guint n;                      /* frames collected */
  gint width, height, fps_n, fps_d, par_n, par_d;
  guint64 offset_end;           /* frames before this window's end */
  gboolean discont;
  struct _GstCoordTokEnc *owner;
} Window;

struct _GstCoordTokEnc {
  GstCoordTokElement base;      /* model, session, worker, latency, stats */

  /* properties (object lock) */
  GstCoordTokDType dtype;
  guint64 max_memory;           /* bytes; 0: half of the machine's memory */

  /* upstream thread */
  GstVideoInfo info;
  gboolean have_info;
  Window *cur;                  /* window being collected, or NULL */
  guint64 frames_in;            /* frame counter (OFFSET of token buffers) */
  GQueue pending;               /* serialized events waiting for cur */
  gboolean discont;             /* next window gets DISCONT */

  /* the worker thread */
  float *z;                     /* token planes of every tile */
  gsize z_cap;
  Window *spare;                /* a finished window for reuse (object lock) */
};

/* A window for frames of the negotiated size (the spare one when it fits),
 * or NULL when out of memory. */
Window *gst_coordtok_enc_window_new (GstCoordTokEnc * self);
void gst_coordtok_enc_window_free (Window * w);
/* Keeps a finished window as the spare (worker's free function). */
void gst_coordtok_enc_window_recycle (gpointer data);
/* Drops the window being collected and the events waiting for it. */
void gst_coordtok_enc_reset_window (GstCoordTokEnc * self);
/* The token header of a window (size, grid, rates, timestamps); FALSE with
 * the reason when the model cannot take frames of that size. */
gboolean gst_coordtok_enc_fill_header (GstCoordTokEnc * self, const Window * w,
    CtTokensHeader * h, GError ** error);
/* Worker thread: encodes a window and pushes its record. */
GstFlowReturn gst_coordtok_enc_encode_window (GstElement * element, gpointer data);

G_END_DECLS

#endif
