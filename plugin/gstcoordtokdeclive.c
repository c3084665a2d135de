/* gstcoordtokdeclive.c - coordtokdec in a live pipeline: whether upstream
 * is live and with what latency, which sets the decoder's own deadline
 * (coordtok-live-deadline.h; the worker applies it chunk by chunk in
 * gstcoordtokdecrecord.c) and how many records may queue.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gstcoordtokdec-private.h"

/* Live: the deadline and the record queue as a LATENCY answer says
 * (coordtok-live-deadline.h). */
void
gst_coordtok_dec_set_live (GstCoordTokDec * self, gboolean live, GstClockTime reported)
{
  GST_OBJECT_LOCK (self);
  self->deadline.live = live;
  self->deadline.reported = reported;
  GST_OBJECT_UNLOCK (self);
  /* live: records queue instead of holding the source (late ones are
   * skipped at once by the deadline, so the queue stays short) */
  gst_coordtok_worker_set_max_data (&self->base.worker, live ? DEC_LIVE_MAX_RECORDS :
      DEC_MAX_RECORDS);
}

/* Once per stream, before the pipeline's own LATENCY query (it comes only
 * after a first frame reached the sink): is upstream live, and with what
 * latency? */
void
gst_coordtok_dec_ask_upstream_latency (GstCoordTokDec * self)
{
  GST_OBJECT_LOCK (self);
  gboolean asked = self->deadline.asked, known = self->deadline.live;
  self->deadline.asked = TRUE;
  GstClockTime ours = self->base.fixed_latency +
      (GST_CLOCK_TIME_IS_VALID (self->base.processing) ? self->base.processing : 0);
  GST_OBJECT_UNLOCK (self);
  if (asked || known)
    return;
  GstQuery *q = gst_query_new_latency ();
  if (gst_pad_peer_query (self->base.sinkpad, q)) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency (q, &live, &min, &max);
    if (live)
      gst_coordtok_dec_set_live (self, TRUE, min + ours);
  }
  gst_query_unref (q);
}

