/* gstcoordtokdec-private.h - coordtokdec's instance, shared by the
 * element (gstcoordtokdec.c) and its worker (gstcoordtokdecrecord.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_COORDTOK_DEC_PRIVATE_H
#define GST_COORDTOK_DEC_PRIVATE_H

#include "gstcoordtokdec.h"
#include "coordtok-live-deadline.h"

G_BEGIN_DECLS

/* A checked token record on its way to the worker. */
typedef struct {
  CtTokensHeader h;
  CtTokensFrameTime *times;     /* h.n_frames */
  float *z;                     /* every tile's planes, engine layout */
  GstClockTime base;            /* PTS of its first frame */
  guint64 offset;               /* OFFSET of its first frame, or NONE */
  gboolean discont;
} Record;

struct _GstCoordTokDec {
  GstCoordTokElement base;      /* model, session, worker, latency, stats */

  /* properties (object lock) */
  gint slice;
  guint frame_offset, frame_count;
  guint region_left, region_top, region_width, region_height;  /* pixels */

  /* upstream thread */
  gboolean have_caps;
  GstCoordTokCapsInfo sink_info; /* caps of the records arriving */
  gboolean discont;             /* a window was skipped: mark the next frame */
  gchar *refusal;               /* why the stream's model is not ours, or NULL */

  /* the worker thread */
  GstCoordTokCapsInfo cinfo;    /* caps of the records being decoded */
  GstVideoInfo out_info;
  gboolean have_out_info;
  GstSegment segment;
  guint64 qos_processed, qos_dropped;

  /* QoS from downstream (object lock) */
  GstClockTime earliest_time;   /* frames ending before are late */
  gdouble proportion;
  CtLiveDeadline deadline;      /* live: own deadline (object lock) */
};

#define DEC_MAX_RECORDS 2           /* queued or decoding, then upstream waits */
#define DEC_LIVE_MAX_RECORDS 64     /* live: the source is not held */


/* gstcoordtokdec.c: the properties as they apply to frames of w x h. */
void gst_coordtok_dec_region_size (GstCoordTokDec * self, int W, int H, int *w,
    int *h);
GstCaps *gst_coordtok_dec_src_caps (GstCoordTokDec * self,
    const GstCoordTokCapsInfo * ci);
gboolean gst_coordtok_dec_check_properties (GstCoordTokDec * self);
gboolean gst_coordtok_dec_check_region_origin (GstCoordTokDec * self,
    gint width, gint height);

/* gstcoordtokdeclive.c: live pipelines. */
void gst_coordtok_dec_set_live (GstCoordTokDec * self, gboolean live,
    GstClockTime reported);
void gst_coordtok_dec_ask_upstream_latency (GstCoordTokDec * self);

/* gstcoordtokdecrecord.c: the worker's side. */
void gst_coordtok_dec_record_free (gpointer data);
gboolean gst_coordtok_dec_worker_event (GstElement * element, GstEvent * event);
GstFlowReturn gst_coordtok_dec_decode_record (GstElement * element, gpointer data);

G_END_DECLS

#endif
