/* gstcoordtokdecrecord.c - coordtokdec's worker thread: a token record
 * decoded by the library (ct_session_decode_rgb8, chunk by chunk) and its
 * frames timestamped, clipped to the segment and pushed as each chunk is
 * decoded; chunks already late (QoS) are not decoded; output caps
 * negotiated in stream order.  See gstcoordtokdec.c for the element.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gstcoordtokdec-private.h"

GST_DEBUG_CATEGORY_EXTERN (coordtokdec_debug);
#define GST_CAT_DEFAULT coordtokdec_debug

/* Worker thread: output caps for the records now being decoded. */
static gboolean
negotiate (GstCoordTokDec * self)
{
  GstCaps *tmpl, *caps;
  gboolean ok;

  GST_OBJECT_LOCK (self);
  tmpl = gst_coordtok_dec_src_caps (self, &self->cinfo);
  GST_OBJECT_UNLOCK (self);
  caps = gst_pad_peer_query_caps (self->base.srcpad, tmpl);
  gst_caps_unref (tmpl);
  if (gst_caps_is_empty (caps)) {
    gst_caps_unref (caps);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream accepts none of the raw formats coordtokdec outputs "
            "(%dx%d " GST_COORDTOK_RAW_FORMATS "): add videoconvert after it",
            self->cinfo.width, self->cinfo.height), (NULL));
    return FALSE;
  }
  caps = gst_caps_fixate (caps);
  if (!gst_video_info_from_caps (&self->out_info, caps)) {
    gst_caps_unref (caps);
    return FALSE;
  }
  GST_DEBUG_OBJECT (self, "output caps %" GST_PTR_FORMAT, caps);
  ok = gst_pad_set_caps (self->base.srcpad, caps);
  gst_caps_unref (caps);
  self->have_out_info = ok;
  if (!ok)
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream refused the output caps"), (NULL));
  return ok;
}


/* Worker thread: events in stream order. */
gboolean
gst_coordtok_dec_worker_event (GstElement * element, GstEvent * event)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (element);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gst_event_parse_caps (event, &caps);
      /* checked upstream already.  Negotiated now, in stream order (caps
       * before the segment behind them); when a flush drops these caps
       * before they ran, before the next record instead */
      if (gst_coordtok_parse_token_caps (caps, &self->cinfo, NULL)) {
        self->cinfo.model_id = NULL;
        self->have_out_info = FALSE;
        if (!self->base.worker.flushing)
          negotiate (self);
      }
      return FALSE;             /* ours are raw video caps */
    }
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &self->segment);
      return TRUE;
    default:
      return TRUE;
  }
}

void
gst_coordtok_dec_record_free (gpointer data)
{
  Record *r = data;
  g_free (r->times);
  g_free (r->z);
  g_free (r);
}

/* Timestamp of frame f of a window; see the file comment. */
static void
frame_times (const Record * r, guint f, GstClockTime * pts, GstClockTime * dur)
{
  const CtTokensHeader *h = &r->h;
  const CtTokensFrameTime *t = &r->times[f];
  GstClockTime base = r->base;
  gboolean have_fps = h->fps_n > 0;

  *pts = GST_CLOCK_TIME_NONE;
  if (t->pts != CT_TOKENS_TIME_NONE && h->pts != CT_TOKENS_TIME_NONE &&
      GST_CLOCK_TIME_IS_VALID (base)) {
    *pts = ct_tokens_time_rebase (base, h->pts, t->pts);
  } else if (t->pts != CT_TOKENS_TIME_NONE && !GST_CLOCK_TIME_IS_VALID (base)) {
    *pts = ct_tokens_time_rebase (0, 0, t->pts);
  } else if (GST_CLOCK_TIME_IS_VALID (base) && have_fps) {
    *pts = base + gst_util_uint64_scale (f, GST_SECOND * h->fps_d, h->fps_n);
  } else if (GST_CLOCK_TIME_IS_VALID (base) && f == 0) {
    *pts = base;
  }

  if (t->duration != CT_TOKENS_TIME_NONE)
    *dur = ct_tokens_time_rebase (0, 0, t->duration);
  else if (have_fps)
    *dur = gst_util_uint64_scale (f + 1, GST_SECOND * h->fps_d, h->fps_n) -
        gst_util_uint64_scale (f, GST_SECOND * h->fps_d, h->fps_n);
  else
    *dur = GST_CLOCK_TIME_NONE;
}

/* TRUE when frames [f0, f1) all end before the QoS deadline, or (live)
 * cannot be pushed by the element's own deadline any more
 * (coordtok-live-deadline.h). */
static gboolean
chunk_is_late (GstCoordTokDec * self, const Record * r, guint f0, guint f1)
{
  GstClockTime pts, dur, earliest;
  CtLiveDeadline d;
  GST_OBJECT_LOCK (self);
  earliest = self->earliest_time;
  d = self->deadline;
  GST_OBJECT_UNLOCK (self);
  if (d.live && self->segment.format == GST_FORMAT_TIME) {
    frame_times (r, f0, &pts, &dur);
    GstClockTime rt = GST_CLOCK_TIME_IS_VALID (pts) ?
        gst_segment_to_running_time (&self->segment, GST_FORMAT_TIME, pts) :
        GST_CLOCK_TIME_NONE;
    if (ct_live_deadline_missed (&d, ct_live_deadline_now (GST_ELEMENT (self)), rt)) {
      GST_OBJECT_LOCK (self);
      ct_live_deadline_skipped (&self->deadline);
      GST_OBJECT_UNLOCK (self);
      return TRUE;
    }
  }
  if (!GST_CLOCK_TIME_IS_VALID (earliest) || self->segment.format != GST_FORMAT_TIME)
    return FALSE;
  frame_times (r, f1 - 1, &pts, &dur);
  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return FALSE;
  GstClockTime end = pts + (GST_CLOCK_TIME_IS_VALID (dur) ? dur : 0);
  guint64 rt = gst_segment_to_running_time (&self->segment, GST_FORMAT_TIME, end);
  return GST_CLOCK_TIME_IS_VALID (rt) && rt < earliest;
}

/* Live: the chunk from frame f0, decoded, is past its deadline already. */
static gboolean
chunk_missed_deadline (GstCoordTokDec * self, const Record * r, guint f0,
    const CtLiveDeadline * d)
{
  GstClockTime pts, dur;
  if (self->segment.format != GST_FORMAT_TIME)
    return FALSE;
  frame_times (r, f0, &pts, &dur);
  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return FALSE;
  return ct_live_deadline_passed (d, ct_live_deadline_now (GST_ELEMENT (self)),
      gst_segment_to_running_time (&self->segment, GST_FORMAT_TIME, pts));
}

static void
post_qos_drop (GstCoordTokDec * self, const Record * r, guint f0, guint n)
{
  GstClockTime pts, dur;
  frame_times (r, f0, &pts, &dur);
  self->qos_dropped += n;
  GST_INFO_OBJECT (self, "skipping %u late frames from %" GST_TIME_FORMAT, n,
      GST_TIME_ARGS (pts));
  GstMessage *m = gst_message_new_qos (GST_OBJECT (self), TRUE,
      gst_segment_to_running_time (&self->segment, GST_FORMAT_TIME, pts),
      gst_segment_to_stream_time (&self->segment, GST_FORMAT_TIME, pts), pts, dur);
  GST_OBJECT_LOCK (self);
  gdouble proportion = self->proportion;
  GST_OBJECT_UNLOCK (self);
  gst_message_set_qos_values (m, 0, proportion, 1000000);
  gst_message_set_qos_stats (m, GST_FORMAT_BUFFERS, self->qos_processed,
      self->qos_dropped);
  gst_element_post_message (GST_ELEMENT (self), m);
}

/* A record being decoded: what the frame sink's callbacks share. */
typedef struct {
  GstCoordTokDec *self;
  const Record *r;
  gboolean discont;             /* mark the next pushed frame */
  gint64 tstart;                /* when decoding began (monotonic, us) */
  GstClockTime pts0;            /* first pushed frame's PTS */
  GstClockTime need_latency;    /* the latest a frame would have been */
  GstFlowReturn ret;
  guint64 pushed, dropped;      /* frames pushed, and not decoded (late) */
  gint64 pushing_us;            /* time spent pushing, not in the engine */
  gint64 chunk_start;           /* when the chunk being decoded began */
} Push;

/* Frame sink: chunks whose frames are all late are not decoded. */
static gboolean
push_skip (gpointer user, int f0, int n)
{
  Push *p = user;
  GstCoordTokDec *self = p->self;
  if (!chunk_is_late (self, p->r, f0, f0 + n)) {
    p->chunk_start = g_get_monotonic_time ();
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  gboolean hopeless = ct_live_deadline_hopeless (&self->deadline);
  CtLiveDeadline d = self->deadline;
  GST_OBJECT_UNLOCK (self);
  if (hopeless)
    GST_ELEMENT_WARNING (self, CORE, CLOCK, ("Decoding a chunk of %d frames "
            "takes %.2f s, more than the live latency bound of %.2f s (%.2f s "
            "reported + latency-margin %.2f s): every chunk is skipped; raise "
            "latency-margin or decode a smaller region", n, d.chunk_time / 1e9,
            (d.reported + d.margin) / 1e9, d.reported / 1e9, d.margin / 1e9), (NULL));
  post_qos_drop (self, p->r, f0, n);
  p->discont = TRUE;
  p->dropped += n;
  return TRUE;
}

/* One decoded frame, clipped to the segment, timestamped and pushed. */
static void
push_frame (Push * p, const guint8 * rgb, guint f)
{
  GstCoordTokDec *self = p->self;
  GstClockTime pts, dur;
  GstVideoFrame vf;
  GstBuffer *out;

  frame_times (p->r, f, &pts, &dur);
  if (self->segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (pts)) {
    guint64 cstart, cstop;
    GstClockTime stop = GST_CLOCK_TIME_IS_VALID (dur) ?
        ct_tokens_time_rebase (pts, 0, dur) : GST_CLOCK_TIME_NONE;
    if (!gst_segment_clip (&self->segment, GST_FORMAT_TIME, pts, stop,
            &cstart, &cstop)) {
      GST_LOG_OBJECT (self, "frame %u at %" GST_TIME_FORMAT " outside the segment",
          f, GST_TIME_ARGS (pts));
      p->discont = TRUE;
      return;
    }
  }
  out = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&self->out_info), NULL);
  if (!gst_video_frame_map (&vf, &self->out_info, out, GST_MAP_WRITE)) {
    gst_buffer_unref (out);
    GST_ELEMENT_ERROR (self, CORE, FAILED, ("Could not map an output frame"), (NULL));
    p->ret = GST_FLOW_ERROR;
    return;
  }
  gst_coordtok_rgb8_to_frame (rgb, &vf);
  gst_video_frame_unmap (&vf);
  GST_BUFFER_PTS (out) = pts;
  GST_BUFFER_DURATION (out) = dur;
  if (p->r->offset != GST_BUFFER_OFFSET_NONE) {
    GST_BUFFER_OFFSET (out) = p->r->offset + f;
    GST_BUFFER_OFFSET_END (out) = p->r->offset + f + 1;
  }
  if (p->discont) {
    GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_DISCONT);
    p->discont = FALSE;
  }
  /* how late this frame would be, had the window arrived on time */
  if (GST_CLOCK_TIME_IS_VALID (pts)) {
    if (!GST_CLOCK_TIME_IS_VALID (p->pts0))
      p->pts0 = pts;
    /* unsigned: forged frame-table times may be anywhere */
    GstClockTime spent = (g_get_monotonic_time () - p->tstart) * GST_USECOND,
        ahead = pts > p->pts0 ? pts - p->pts0 : 0;
    p->need_latency = MAX (p->need_latency, spent > ahead ? spent - ahead : 0);
  }
  self->qos_processed++;
  p->pushed++;
  p->ret = gst_pad_push (self->base.srcpad, out);
}

/* Frame sink: a decoded chunk, pushed frame by frame; FALSE stops. */
static gboolean
push_frames (gpointer user, const guint8 * rgb, int f0, int n)
{
  Push *p = user;
  GstCoordTokDec *self = p->self;
  gint64 t = g_get_monotonic_time ();
  GST_OBJECT_LOCK (self);
  ct_live_deadline_chunk_took (&self->deadline, (t - p->chunk_start) * GST_USECOND);
  CtLiveDeadline d = self->deadline;
  GST_OBJECT_UNLOCK (self);
  if (d.live && chunk_missed_deadline (self, p->r, f0, &d)) {
    /* decoded, but too late to show: dropped, not pushed late */
    post_qos_drop (self, p->r, f0, n);
    p->discont = TRUE;
    p->dropped += n;
    return TRUE;
  }
  gsize frame = GST_VIDEO_INFO_WIDTH (&p->self->out_info) *
      (gsize) GST_VIDEO_INFO_HEIGHT (&p->self->out_info) * 3;
  for (int i = 0; i < n && p->ret == GST_FLOW_OK; i++)
    push_frame (p, rgb + i * frame, f0 + i);
  p->pushing_us += g_get_monotonic_time () - t;
  return p->ret == GST_FLOW_OK;
}

/* Worker thread: output caps negotiated when due, and again when the
 * region properties changed the frame size since (they may change in
 * PLAYING and apply from the next record). */
static GstFlowReturn
ensure_output (GstCoordTokDec * self, const CtRegion * region)
{
  if (self->have_out_info && (GST_VIDEO_INFO_WIDTH (&self->out_info) != region->width
          || GST_VIDEO_INFO_HEIGHT (&self->out_info) != region->height)) {
    GST_INFO_OBJECT (self, "region is now %dx%d: renegotiating", region->width,
        region->height);
    self->have_out_info = FALSE;
  }
  if (!self->have_out_info || gst_pad_check_reconfigure (self->base.srcpad)) {
    if (!negotiate (self)) {
      gst_pad_mark_reconfigure (self->base.srcpad);
      return GST_PAD_IS_FLUSHING (self->base.srcpad) ? GST_FLOW_FLUSHING :
          GST_FLOW_NOT_NEGOTIATED;
    }
  }
  return GST_FLOW_OK;
}

/* Worker thread: one record, decoded by the library chunk by chunk, each
 * chunk's frames pushed as soon as it is decoded. */
GstFlowReturn
gst_coordtok_dec_decode_record (GstElement * element, gpointer data)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (element);
  Record *r = data;
  GError *err = NULL;
  Push push = { self, r, r->discont, g_get_monotonic_time (),
    GST_CLOCK_TIME_NONE, 0, GST_FLOW_OK, 0, 0, 0 };

  GST_OBJECT_LOCK (self);
  gint slice = self->slice;
  guint t0 = self->frame_offset, count = self->frame_count;
  CtRegion region = { .top = self->region_top, .left = self->region_left };
  gst_coordtok_dec_region_size (self, r->h.width, r->h.height, &region.width, &region.height);
  GST_OBJECT_UNLOCK (self);

  GstFlowReturn ret = ensure_output (self, &region);
  if (ret != GST_FLOW_OK)
    return ret;
  if (t0 >= r->h.n_frames) {
    GST_DEBUG_OBJECT (self, "window of %u frames: nothing at frame-offset %u",
        r->h.n_frames, t0);
    return GST_FLOW_OK;
  }
  if (!gst_coordtok_dec_check_properties (self) || !gst_coordtok_dec_check_region_origin (self, r->h.width,
          r->h.height))
    return GST_FLOW_ERROR;
  region.t0 = t0;
  region.nt = r->h.n_frames - t0;
  if (count && count < (guint) region.nt)
    region.nt = count;
  gst_coordtok_element_apply_threads (&self->base);

  CtFrameSink sink = { push_skip, push_frames, &push };
  if (!ct_session_decode_rgb8 (self->base.session, r->z, r->h.width, r->h.height,
          r->h.n_frames, slice, &region, &sink, &err)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("CoordTok decoding failed: %s",
            err->message), (NULL));
    g_clear_error (&err);
    return GST_FLOW_ERROR;
  }
  gint64 took = g_get_monotonic_time () - push.tstart;
  GST_INFO_OBJECT (self, "decoded %d of %u frames, %u tiles, in %.1f ms on %s",
      region.nt, r->h.n_frames, ct_tokens_n_tiles (&r->h), took / 1000.0,
      ct_session_device_name (self->base.session));
  gst_coordtok_element_count (&self->base, 1, push.pushed,
      (took - push.pushing_us) / 1e6, push.dropped, 0);
  /* live: the bound stays what was reported at start (plus the margin);
   * late chunks are skipped instead of raising the pipeline's latency */
  GST_OBJECT_LOCK (self);
  gboolean live = self->deadline.live;
  GST_OBJECT_UNLOCK (self);
  if (!live)
    gst_coordtok_element_processed (&self->base, push.need_latency);
  return push.ret;
}
