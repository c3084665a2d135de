/* gstcoordtokdec.c - coordtokdec: CoordTok token records -> raw video frames.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A plain GstElement.  A token buffer is checked on the upstream thread
 * (damaged records are skipped there, with a warning) and handed to the
 * element's own thread (gstcoordtokworker.c; at most two records queued or
 * in decoding, then upstream waits), which rasterizes the window chunk by
 * chunk (ct_session_rasterize_chunk_frames: the same pixels as decoding it
 * at once) and pushes each chunk's frames as soon as they are decoded.
 * Frames of a tiled stream are reassembled from their tiles and cropped to
 * the source's size.  Frame timestamps come from the token record's frame
 * table (the encoder's input timestamps, shifted by the buffer's PTS if it
 * was retimestamped), else pts0 + i * fps_d / fps_n (computed, never
 * accumulated).  Frames outside the segment are dropped; frames already
 * late (QoS from downstream) are not decoded, with a QoS message.
 */
/**
 * SECTION:element-coordtokdec
 * @title: coordtokdec
 * @see_also: coordtokenc, coordtokparse
 *
 * Decodes CoordTok token records back into raw RGB video by querying the
 * (t, x, y) coordinate of every patch: the frames come out with the
 * source's timestamps, size and pixel aspect ratio, tiles reassembled and
 * cropped.  The window is decoded on the element's own thread and frames
 * are pushed as they are decoded.  A range of frames or a box of each
 * frame can be decoded alone (cheaper previews).  Late frames (QoS) are
 * skipped with a QoS message; damaged records are skipped with a warning.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=cam.ctok ! coordtokparse ! coordtokdec ! \
 *     videoconvert ! autovideosink
 * ]| A token file shown as video.
 * |[
 * gst-launch-1.0 filesrc location=cam.ctok ! coordtokparse ! \
 *     coordtokdec frame-count=8 region-width=128 region-height=128 ! \
 *     videoconvert ! pngenc ! multifilesink location=preview-%03d.png
 * ]| The top-left 128x128 of the first 8 frames of every window, as PNGs.
 *
 * Since: 0.1
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gstcoordtokdec.h"
#include "coordtok-live-deadline.h"
#include "gstcoordtokworker.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (coordtokdec_debug);
#define GST_CAT_DEFAULT coordtokdec_debug

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_CUDA_DEVICE_ID,
  PROP_SLICE,
  PROP_FRAME_OFFSET,
  PROP_FRAME_COUNT,
  PROP_REGION_LEFT,
  PROP_REGION_TOP,
  PROP_REGION_WIDTH,
  PROP_REGION_HEIGHT,
  PROP_MODEL_ID,
  PROP_THREADS,
  PROP_LATENCY_MARGIN,
};

#define DEFAULT_DEVICE GST_COORDTOK_DEVICE_AUTO
#define DEFAULT_LATENCY_MARGIN GST_SECOND
#define DEC_MAX_RECORDS 2           /* queued or decoding, then upstream waits */
#define DEC_LIVE_MAX_RECORDS 64     /* live: the source is not held */

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
  GstElement parent;
  GstPad *sinkpad, *srcpad;

  /* properties (object lock) */
  gchar *model_path;
  GstCoordTokDevice device;
  gint cuda_device_id;
  guint threads;
  gint slice;
  guint frame_offset, frame_count;
  guint region_left, region_top, region_width, region_height;  /* pixels */

  /* READY and up */
  CtModel *model;
  CtSession *session;
  gint threads_applied;          /* engine setting last applied (worker) */

  /* upstream thread */
  gboolean have_caps;
  GstCoordTokCapsInfo sink_info; /* caps of the records arriving */
  gboolean discont;             /* a window was skipped: mark the next frame */
  gchar *refusal;               /* why the stream's model is not ours, or NULL */

  /* the worker thread */
  GstCoordTokWorker worker;
  GstCoordTokCapsInfo cinfo;    /* caps of the records being decoded */
  GstVideoInfo out_info;
  gboolean have_out_info;
  GstSegment segment;
  float *out;                   /* one chunk of frames, model space */
  gsize out_cap;
  guint8 *scratch;
  gsize scratch_cap;
  guint64 qos_processed, qos_dropped;

  /* object lock */
  GstClockTime earliest_time;   /* QoS: frames ending before are late */
  gdouble proportion;
  GstClockTime decode_latency;  /* measured (or estimated) processing */
  GstClockTime reported;        /* what the last LATENCY answer said */
  CtLiveDeadline deadline;      /* live: own deadline (worker reads it) */
};

#define gst_coordtok_dec_parent_class parent_class
G_DEFINE_TYPE (GstCoordTokDec, gst_coordtok_dec, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (coordtokdec, "coordtokdec", GST_RANK_MARGINAL,
    GST_TYPE_COORDTOK_DEC);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_COORDTOK_MEDIA_TYPE ", parsed = (boolean) true"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (GST_COORDTOK_RAW_FORMATS)));

/* Output frame size: the region properties within frames of w x h. */
static void
region_size (GstCoordTokDec * self, int W, int H, int *w, int *h)
{
  guint left = MIN (self->region_left, (guint) W), top = MIN (self->region_top, (guint) H);
  *w = self->region_width ? (int) MIN (self->region_width, W - left) : W - (int) left;
  *h = self->region_height ? (int) MIN (self->region_height, H - top) : H - (int) top;
  if (*w < 1)
    *w = 1;
  if (*h < 1)
    *h = 1;
}

static GstCaps *
src_caps_for (GstCoordTokDec * self, const GstCoordTokCapsInfo * ci)
{
  GstCaps *caps = gst_pad_get_pad_template_caps (self->srcpad);
  if (ci) {
    int w, h;
    region_size (self, ci->width, ci->height, &w, &h);
    caps = gst_caps_make_writable (caps);
    gst_caps_set_simple (caps, "width", G_TYPE_INT, w,
        "height", G_TYPE_INT, h,
        "framerate", GST_TYPE_FRACTION, ci->fps_n, ci->fps_d,
        "pixel-aspect-ratio", GST_TYPE_FRACTION, ci->par_n, ci->par_d, NULL);
  }
  return caps;
}

/* Worker thread: output caps for the records now being decoded. */
static gboolean
negotiate (GstCoordTokDec * self)
{
  GstCaps *tmpl, *caps;
  gboolean ok;

  GST_OBJECT_LOCK (self);
  tmpl = src_caps_for (self, &self->cinfo);
  GST_OBJECT_UNLOCK (self);
  caps = gst_pad_peer_query_caps (self->srcpad, tmpl);
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
  ok = gst_pad_set_caps (self->srcpad, caps);
  gst_caps_unref (caps);
  self->have_out_info = ok;
  if (!ok)
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream refused the output caps"), (NULL));
  return ok;
}

/* Upstream thread: caps are checked against the model at once (an error
 * that says what to do), then travel to the worker in stream order. */
static gboolean
check_caps (GstCoordTokDec * self, GstCaps * caps, GstCoordTokCapsInfo * ci)
{
  const CtConfig *c = ct_model_config (self->model);
  GError *err = NULL;

  if (!gst_coordtok_parse_token_caps (caps, ci, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE, ("%s", err->message), (NULL));
    g_clear_error (&err);
    return FALSE;
  }
  /* another model's stream: refused at its first buffer (self->refusal,
   * see the sink event handler) */
  if (g_strcmp0 (ci->model_id, ct_model_id (self->model)) != 0) {
    self->refusal = g_strdup_printf ("Token stream was encoded with model %s, "
        "but coordtokdec has model %s (%s): set coordtokdec's model property to "
        "the encoder's weight file", ci->model_id, ct_model_id (self->model),
        ct_model_path (self->model) ? ct_model_path (self->model) : "?");
    return FALSE;
  }
  if (ci->T != c->T || ci->tile_width != c->W || ci->tile_height != c->H ||
      ci->rxy != c->rxy || ci->rt != c->rt || ci->channels != c->channels) {
    self->refusal = g_strdup_printf ("Token caps (T=%d tiles %dx%d planes "
        "%d/%d/%d) do not match model %s (T=%d %dx%d planes %d/%d/%d)", ci->T,
        ci->tile_width, ci->tile_height, ci->rxy, ci->rt, ci->channels,
        ct_model_id (self->model), c->T, c->W, c->H, c->rxy, c->rt, c->channels);
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  guint left = self->region_left, top = self->region_top, t0 = self->frame_offset;
  GST_OBJECT_UNLOCK (self);
  if (left >= (guint) ci->width || top >= (guint) ci->height) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("The region starts at (%u, %u), outside the stream's %dx%d frames",
            left, top, ci->width, ci->height), (NULL));
    return FALSE;
  }
  if (t0 >= (guint) c->T) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("frame-offset %u is beyond the model's window of %d frames: no frame "
            "would ever be decoded", t0, c->T), (NULL));
    return FALSE;
  }
  ci->model_id = NULL;          /* points into caps that may go away */
  return TRUE;
}

/* Worker thread: events in stream order. */
static gboolean
worker_event (GstElement * element, GstEvent * event)
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
        if (!self->worker.flushing)
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

static void
record_free (gpointer data)
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
 * cannot be pushed by the element's own deadline any more. */
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

/* Worker thread: one record, chunk by chunk, each chunk's frames pushed as
 * soon as it is decoded. */
static GstFlowReturn
decode_record (GstElement * element, gpointer data)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (element);
  Record *r = data;
  GError *err = NULL;
  GstFlowReturn ret = GST_FLOW_OK;
  gboolean discont = r->discont;
  gint64 tstart = g_get_monotonic_time ();
  GstClockTime need_latency = 0, pts0 = GST_CLOCK_TIME_NONE;

  if (!self->have_out_info || gst_pad_check_reconfigure (self->srcpad)) {
    if (!negotiate (self)) {
      gst_pad_mark_reconfigure (self->srcpad);
      return GST_PAD_IS_FLUSHING (self->srcpad) ? GST_FLOW_FLUSHING :
          GST_FLOW_NOT_NEGOTIATED;
    }
  }

  GST_OBJECT_LOCK (self);
  gint slice = self->slice;
  guint t0 = self->frame_offset, count = self->frame_count;
  CtRegion region = { .top = self->region_top, .left = self->region_left };
  region_size (self, r->h.width, r->h.height, &region.width, &region.height);
  GST_OBJECT_UNLOCK (self);

  if (t0 >= r->h.n_frames) {
    GST_DEBUG_OBJECT (self, "window of %u frames: nothing at frame-offset %u",
        r->h.n_frames, t0);
    return GST_FLOW_OK;
  }
  guint nt = r->h.n_frames - t0;
  if (count && count < nt)
    nt = count;
  if (GST_VIDEO_INFO_WIDTH (&self->out_info) != region.width ||
      GST_VIDEO_INFO_HEIGHT (&self->out_info) != region.height) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Region %dx%d changed after "
            "negotiation (output is %dx%d)", region.width, region.height,
            GST_VIDEO_INFO_WIDTH (&self->out_info),
            GST_VIDEO_INFO_HEIGHT (&self->out_info)), (NULL));
    return GST_FLOW_ERROR;
  }

  CtTileGrid grid;
  ct_tokens_header_grid (&r->h, &grid);
  region.t0 = t0;
  region.nt = nt;
  guint chunk = ct_session_rasterize_chunk_frames (self->session, &grid,
      r->h.n_frames, slice, &region);
  gsize frame = (gsize) region.width * region.height * 3;
  if (chunk * frame > self->out_cap) {
    g_free (self->out);
    self->out = g_try_malloc (chunk * frame * sizeof (float));
    self->out_cap = self->out ? chunk * frame : 0;
    if (!self->out) {
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
          ("Out of memory for %u decoded frames of %dx%d", chunk, region.width,
              region.height), (NULL));
      return GST_FLOW_ERROR;
    }
  }
  if ((gsize) region.width * 3 > self->scratch_cap) {
    g_free (self->scratch);
    self->scratch_cap = (gsize) region.width * 3;
    self->scratch = g_malloc (self->scratch_cap);
  }
  gst_coordtok_apply_threads (element, self->sinkpad, self->session,
      &self->threads, &self->threads_applied);

  for (guint f0 = t0; f0 < t0 + nt && ret == GST_FLOW_OK; f0 += chunk) {
    guint n = MIN (chunk, t0 + nt - f0);
    if (chunk_is_late (self, r, f0, f0 + n)) {
      GST_OBJECT_LOCK (self);
      gboolean hopeless = ct_live_deadline_hopeless (&self->deadline);
      CtLiveDeadline d = self->deadline;
      GST_OBJECT_UNLOCK (self);
      if (hopeless)
        GST_ELEMENT_WARNING (self, CORE, CLOCK, ("Decoding a chunk of %u frames "
                "takes %.2f s, more than the live latency bound of %.2f s (%.2f s "
                "reported + latency-margin %.2f s): every chunk is skipped; raise "
                "latency-margin or decode a smaller region", n, d.chunk_time / 1e9,
                (d.reported + d.margin) / 1e9, d.reported / 1e9, d.margin / 1e9), (NULL));
      post_qos_drop (self, r, f0, n);
      discont = TRUE;
      continue;
    }
    CtRegion part = region;
    part.t0 = f0;
    part.nt = n;
    gint64 chunk_start = g_get_monotonic_time ();
    if (!ct_session_rasterize_tiles (self->session, r->z, &grid, r->h.n_frames,
            slice, &part, self->out, &err)) {
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("CoordTok decoding failed: %s",
              err->message), (NULL));
      g_clear_error (&err);
      return GST_FLOW_ERROR;
    }
    GST_OBJECT_LOCK (self);
    ct_live_deadline_chunk_took (&self->deadline,
        (g_get_monotonic_time () - chunk_start) * GST_USECOND);
    CtLiveDeadline d = self->deadline;
    GST_OBJECT_UNLOCK (self);
    if (d.live && chunk_missed_deadline (self, r, f0, &d)) {
      post_qos_drop (self, r, f0, n);
      discont = TRUE;
      continue;
    }
    for (guint i = 0; i < n && ret == GST_FLOW_OK; i++) {
      guint f = f0 + i;
      GstClockTime pts, dur;
      GstVideoFrame vf;
      GstBuffer *out;

      frame_times (r, f, &pts, &dur);
      if (self->segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (pts)) {
        guint64 cstart, cstop;
        GstClockTime stop = GST_CLOCK_TIME_IS_VALID (dur) ?
            ct_tokens_time_rebase (pts, 0, dur) : GST_CLOCK_TIME_NONE;
        if (!gst_segment_clip (&self->segment, GST_FORMAT_TIME, pts, stop,
                &cstart, &cstop)) {
          GST_LOG_OBJECT (self, "frame %u at %" GST_TIME_FORMAT " outside the segment",
              f, GST_TIME_ARGS (pts));
          discont = TRUE;
          continue;
        }
      }
      out = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&self->out_info), NULL);
      if (!gst_video_frame_map (&vf, &self->out_info, out, GST_MAP_WRITE)) {
        gst_buffer_unref (out);
        GST_ELEMENT_ERROR (self, CORE, FAILED, ("Could not map an output frame"), (NULL));
        return GST_FLOW_ERROR;
      }
      gst_coordtok_model_to_frame (self->out + (gsize) i * frame, &vf, self->scratch);
      gst_video_frame_unmap (&vf);
      GST_BUFFER_PTS (out) = pts;
      GST_BUFFER_DURATION (out) = dur;
      if (r->offset != GST_BUFFER_OFFSET_NONE) {
        GST_BUFFER_OFFSET (out) = r->offset + f;
        GST_BUFFER_OFFSET_END (out) = r->offset + f + 1;
      }
      if (discont) {
        GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_DISCONT);
        discont = FALSE;
      }
      /* how late this frame would be, had the window arrived on time */
      if (GST_CLOCK_TIME_IS_VALID (pts)) {
        if (!GST_CLOCK_TIME_IS_VALID (pts0))
          pts0 = pts;
        /* unsigned: forged frame-table times may be anywhere */
        GstClockTime spent = (g_get_monotonic_time () - tstart) * GST_USECOND,
            ahead = pts > pts0 ? pts - pts0 : 0;
        need_latency = MAX (need_latency, spent > ahead ? spent - ahead : 0);
      }
      self->qos_processed++;
      ret = gst_pad_push (self->srcpad, out);
    }
  }
  GST_INFO_OBJECT (self, "decoded %u of %u frames, %u tiles, in chunks of %u, "
      "in %.1f ms on %s", nt, r->h.n_frames, ct_tokens_n_tiles (&r->h), chunk,
      (g_get_monotonic_time () - tstart) / 1000.0,
      ct_session_device_name (self->session));

  gboolean repost = FALSE;
  GST_OBJECT_LOCK (self);
  /* live: the bound stays what was reported at start (plus the margin);
   * late chunks are skipped instead of raising the pipeline's latency */
  if (need_latency > self->decode_latency && !self->deadline.live) {
    self->decode_latency = need_latency;
    repost = GST_CLOCK_TIME_IS_VALID (self->reported) && need_latency > self->reported;
  }
  GST_OBJECT_UNLOCK (self);
  if (repost)
    gst_element_post_message (element, gst_message_new_latency (GST_OBJECT (self)));
  return ret;
}

/* Once per stream, before the pipeline's own LATENCY query (it comes only
 * after a first frame reached the sink): is upstream live, and with what
 * latency?  Sets the live deadline and the record queue as that answer
 * would (gst_coordtok_dec_src_query). */
static void
ask_upstream_latency (GstCoordTokDec * self)
{
  GST_OBJECT_LOCK (self);
  gboolean asked = self->deadline.asked;
  self->deadline.asked = TRUE;
  GST_OBJECT_UNLOCK (self);
  if (asked)
    return;
  GstQuery *q = gst_query_new_latency ();
  if (gst_pad_peer_query (self->sinkpad, q)) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency (q, &live, &min, &max);
    GST_OBJECT_LOCK (self);
    if (live && !self->deadline.live) {
      self->deadline.live = TRUE;
      self->deadline.reported = min + self->decode_latency;
    }
    GST_OBJECT_UNLOCK (self);
    if (live)
      gst_coordtok_worker_set_max_data (&self->worker, DEC_LIVE_MAX_RECORDS);
  }
  gst_query_unref (q);
}

static GstFlowReturn
gst_coordtok_dec_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (parent);
  GError *err = NULL;
  GstMapInfo map;
  GstFlowReturn ret;
  Record *r;

  if (self->refusal) {
    GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE, ("%s", self->refusal), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!self->have_caps) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before the first token buffer"),
        (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  ret = gst_coordtok_worker_flow (&self->worker);
  if (ret != GST_FLOW_OK) {
    gst_buffer_unref (buf);
    return ret;
  }
  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE, ("Could not map a token buffer"), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  r = g_new0 (Record, 1);
  {
    /* smallest record the caps allow: one frame */
    const GstCoordTokCapsInfo *ci = &self->sink_info;
    CtTokensHeader ch = {.rxy = ci->rxy, .rt = ci->rt, .channels = ci->channels,
      .tiles_x = 1, .tiles_y = 1 };
    gsize min = CT_TOKENS_FIXED_HEADER_SIZE_V1 + CT_TOKENS_FRAME_ENTRY_SIZE +
        ct_tokens_n_elems (&ch) * ct_tokens_dtype_size (ci->dtype);
    if (map.size < min)
      g_set_error (&err, CT_ERROR, CT_ERROR_FORMAT,
          "token buffer of %" G_GSIZE_FORMAT " bytes is shorter than its caps "
          "allow (at least %" G_GSIZE_FORMAT " bytes for %s planes %dx%d, "
          "%dx%d, %dx%d of %d channels)", map.size, min,
          ct_tokens_dtype_name (ci->dtype), ci->rxy, ci->rxy, ci->rt, ci->rxy,
          ci->rt, ci->rxy, ci->channels);
  }
  /* sizes are bounded by the header check and must be the model's before
   * anything is allocated or unpacked: a record that did not come through
   * coordtokparse (appsrc, a network source) is checked here first */
  if (!err && ct_tokens_header_parse (map.data, map.size, &r->h, NULL, 0, &err) &&
      !ct_tokens_check_model (&r->h, self->model, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE, ("%s", err->message), (NULL));
    goto error;
  }
  if (!err) {
    r->times = g_new0 (CtTokensFrameTime, r->h.n_frames);
    r->z = g_try_malloc (ct_tokens_n_elems (&r->h) * sizeof (float));
    if (!r->z)
      g_set_error (&err, CT_ERROR, CT_ERROR_IO, "out of memory for %" G_GSIZE_FORMAT
          " token elements", ct_tokens_n_elems (&r->h));
    else
      ct_tokens_unpack (map.data, map.size, &r->h, r->times, r->h.n_frames, r->z,
          ct_tokens_n_elems (&r->h), &err);
  }
  if (err && err->code == CT_ERROR_UNSUPPORTED) {
    /* a format this build cannot read: every record will fail alike */
    GST_ELEMENT_ERROR (self, STREAM, DECODE, ("Unsupported token record: %s",
            err->message), (NULL));
    goto error;
  }
  if (err) {
    /* A damaged record (a CRC that does not match, sizes that do not add
     * up) loses its window, not the stream: skipped with a warning that
     * names it, and a gap downstream (docs/elements.md, "Damaged input") */
    GstClockTime pts = GST_BUFFER_PTS (buf), dur = GST_BUFFER_DURATION (buf);
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("Skipped a damaged token record (window at %" GST_TIME_FORMAT ", %"
            GST_TIME_FORMAT " of video lost): %s", GST_TIME_ARGS (pts),
            GST_TIME_ARGS (dur), err->message), (NULL));
    g_clear_error (&err);
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    record_free (r);
    if (GST_CLOCK_TIME_IS_VALID (pts))
      gst_coordtok_worker_push_event (&self->worker, gst_event_new_gap (pts, dur));
    self->discont = TRUE;
    return GST_FLOW_OK;
  }
  if (r->h.dtype != self->sink_info.dtype || (gint) r->h.width != self->sink_info.width
      || (gint) r->h.height != self->sink_info.height) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("Token buffer holds %s elements of %ux%u frames but the caps say %s, %dx%d",
            ct_tokens_dtype_name (r->h.dtype), r->h.width, r->h.height,
            ct_tokens_dtype_name (self->sink_info.dtype), self->sink_info.width,
            self->sink_info.height), (NULL));
    goto error;
  }
  gst_buffer_unmap (buf, &map);
  r->discont = GST_BUFFER_IS_DISCONT (buf) || self->discont;
  self->discont = FALSE;
  r->base = GST_BUFFER_PTS_IS_VALID (buf) ? GST_BUFFER_PTS (buf) :
      (r->h.pts != CT_TOKENS_TIME_NONE ? r->h.pts : GST_CLOCK_TIME_NONE);
  r->offset = GST_BUFFER_OFFSET (buf);
  gst_buffer_unref (buf);
  ask_upstream_latency (self);
  return gst_coordtok_worker_push (&self->worker, r);

error:
  g_clear_error (&err);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
  record_free (r);
  return GST_FLOW_ERROR;
}

static gboolean
gst_coordtok_dec_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (parent);

  GST_LOG_OBJECT (self, "event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      GstCoordTokCapsInfo ci;
      gst_event_parse_caps (event, &caps);
      g_clear_pointer (&self->refusal, g_free);
      self->have_caps = FALSE;
      if (!check_caps (self, caps, &ci)) {
        gst_event_unref (event);
        /* Another model's stream is accepted here and refused, with its
         * reason, at the first buffer: decodebin hides the errors of an
         * element it is still plugging and would report "missing plug-in"
         * instead (it sends the caps while plugging). */
        return self->refusal != NULL;
      }
      self->sink_info = ci;
      self->have_caps = TRUE;
      gst_coordtok_worker_push_event (&self->worker, event);
      return TRUE;
    }
    case GST_EVENT_FLUSH_START:
      return gst_coordtok_worker_flush_start (&self->worker, event);
    case GST_EVENT_FLUSH_STOP:
      gst_coordtok_worker_pause (&self->worker);   /* the segment is its */
      gst_segment_init (&self->segment, GST_FORMAT_UNDEFINED);
      GST_OBJECT_LOCK (self);
      self->earliest_time = GST_CLOCK_TIME_NONE;
      GST_OBJECT_UNLOCK (self);
      return gst_coordtok_worker_flush_stop (&self->worker, event);
    default:
      if (GST_EVENT_IS_SERIALIZED (event)) {
        gst_coordtok_worker_push_event (&self->worker, event);
        return TRUE;
      }
      return gst_pad_event_default (pad, parent, event);
  }
}

static gboolean
gst_coordtok_dec_src_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (parent);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_QOS:{
      /* kept here: late frames are not decoded (decode_record); upstream,
       * dropping would lose whole windows */
      GstQOSType type;
      gdouble proportion;
      GstClockTimeDiff diff;
      GstClockTime timestamp;
      gst_event_parse_qos (event, &type, &proportion, &diff, &timestamp);
      GST_OBJECT_LOCK (self);
      self->proportion = proportion;
      if (GST_CLOCK_TIME_IS_VALID (timestamp))
        self->earliest_time = diff > 0 ? timestamp + diff : timestamp;
      GST_OBJECT_UNLOCK (self);
      gst_event_unref (event);
      return TRUE;
    }
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

static gboolean
gst_coordtok_dec_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS:{
      GstCaps *filter, *caps;
      gst_query_parse_caps (query, &filter);
      GST_OBJECT_LOCK (self);
      caps = src_caps_for (self, self->have_caps ? &self->sink_info : NULL);
      GST_OBJECT_UNLOCK (self);
      if (filter) {
        GstCaps *tmp = gst_caps_intersect_full (filter, caps,
            GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref (caps);
        caps = tmp;
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    case GST_QUERY_LATENCY:{
      gboolean live;
      GstClockTime min, max, lat;
      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      gst_query_parse_latency (query, &live, &min, &max);
      GST_OBJECT_LOCK (self);
      lat = self->decode_latency;
      self->reported = lat;
      GST_OBJECT_UNLOCK (self);
      if (live) {
        min += lat;
        if (GST_CLOCK_TIME_IS_VALID (max))
          max += lat;
      }
      GST_OBJECT_LOCK (self);
      self->deadline.live = live;
      self->deadline.reported = min;
      GST_OBJECT_UNLOCK (self);
      /* live: records queue instead of holding the source (late ones are
       * skipped at once by the deadline, so the queue stays short) */
      gst_coordtok_worker_set_max_data (&self->worker, live ? DEC_LIVE_MAX_RECORDS :
          DEC_MAX_RECORDS);
      GST_DEBUG_OBJECT (self, "latency: live %d, ours %" GST_TIME_FORMAT
          ", total min %" GST_TIME_FORMAT, live, GST_TIME_ARGS (lat),
          GST_TIME_ARGS (min));
      gst_query_set_latency (query, live, min, max);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

/* Properties that must fit the model: checked when it is loaded. */
static gboolean
check_properties (GstCoordTokDec * self)
{
  const CtConfig *c = ct_model_config (self->model);
  struct { const char *name; guint value; int align; } p[] = {
    { "frame-offset", self->frame_offset, c->dec_pt },
    { "region-left", self->region_left, c->dec_pxy },
    { "region-top", self->region_top, c->dec_pxy },
    { "region-width", self->region_width, c->dec_pxy },
    { "region-height", self->region_height, c->dec_pxy },
  };
  for (guint i = 0; i < G_N_ELEMENTS (p); i++)
    if (p[i].value % p[i].align) {
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
          ("%s %u is not a multiple of %d, the decoder's patch %s of model %s",
              p[i].name, p[i].value, p[i].align, i == 0 ? "length" : "size",
              ct_model_id (self->model)), (NULL));
      return FALSE;
    }
  return TRUE;
}

static gboolean
start (GstCoordTokDec * self)
{
  CtModel *model;
  CtSession *session;
  gchar *path;
  GstCoordTokDevice device;
  gint cuda_device_id;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->model_path);
  device = self->device;
  cuda_device_id = self->cuda_device_id;
  GST_OBJECT_UNLOCK (self);

  if (!gst_coordtok_open (GST_ELEMENT (self), path, device, cuda_device_id,
          &model, &session)) {
    g_free (path);
    return FALSE;
  }
  g_free (path);
  const CtConfig *c = ct_model_config (model);
  GST_INFO_OBJECT (self, "model %s (id %s, T=%d, %dx%d, default slice %d, "
      "%" G_GINT64_FORMAT " parameters) on device %s", ct_model_path (model),
      ct_model_id (model), c->T, c->W, c->H, c->default_slice,
      ct_model_n_params (model), ct_session_device_name (session));
  gchar *cpu = gst_coordtok_cpu_description (session);
  if (cpu)
    GST_INFO_OBJECT (self, "%s", cpu);
  g_free (cpu);

  GST_OBJECT_LOCK (self);
  self->model = model;
  self->session = session;
  self->threads_applied = GST_COORDTOK_THREADS_UNSET;
  /* before the first measurement: one window of one tile at 50 GFLOP/s */
  self->decode_latency = (GstClockTime) (ct_config_decode_flops (c,
          (gint64) ct_config_nt (c) * ct_config_nx (c) * ct_config_ny (c),
          c->default_slice) / 50e9 * GST_SECOND);
  GST_OBJECT_UNLOCK (self);
  return check_properties (self);
}

static void
stop (GstCoordTokDec * self)
{
  CtModel *model;
  CtSession *session;

  GST_OBJECT_LOCK (self);
  model = self->model;
  session = self->session;
  self->model = NULL;
  self->session = NULL;
  GST_OBJECT_UNLOCK (self);
  if (session)
    ct_session_free (session);
  if (model)
    ct_model_unref (model);
  g_clear_pointer (&self->out, g_free);
  g_clear_pointer (&self->scratch, g_free);
  self->out_cap = self->scratch_cap = 0;
}

static GstStateChangeReturn
gst_coordtok_dec_change_state (GstElement * element, GstStateChange transition)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      if (!start (self))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      self->have_caps = FALSE;
      self->have_out_info = FALSE;
      self->discont = FALSE;
      g_clear_pointer (&self->refusal, g_free);
      self->qos_processed = self->qos_dropped = 0;
      self->earliest_time = GST_CLOCK_TIME_NONE;
      self->reported = GST_CLOCK_TIME_NONE;
      GST_OBJECT_LOCK (self);
      ct_live_deadline_reset (&self->deadline);
      GST_OBJECT_UNLOCK (self);
      gst_segment_init (&self->segment, GST_FORMAT_UNDEFINED);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE)
    return ret;

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      self->have_caps = FALSE;
      self->have_out_info = FALSE;
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      stop (self);
      break;
    default:
      break;
  }
  return ret;
}

static void
gst_coordtok_dec_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (object);

  GST_OBJECT_LOCK (self);
  if (self->model && (prop_id == PROP_MODEL || prop_id == PROP_DEVICE ||
          prop_id == PROP_CUDA_DEVICE_ID ||
          prop_id == PROP_REGION_LEFT || prop_id == PROP_REGION_TOP ||
          prop_id == PROP_REGION_WIDTH || prop_id == PROP_REGION_HEIGHT)) {
    GST_OBJECT_UNLOCK (self);
    GST_WARNING_OBJECT (self, "property '%s' can only be changed in the NULL state",
        pspec->name);
    return;
  }
  switch (prop_id) {
    case PROP_THREADS:
      self->threads = g_value_get_uint (value);
      break;
    case PROP_LATENCY_MARGIN:
      self->deadline.margin = g_value_get_uint64 (value);
      break;
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_DEVICE:
      self->device = g_value_get_enum (value);
      break;
    case PROP_CUDA_DEVICE_ID:
      self->cuda_device_id = g_value_get_int (value);
      break;
    case PROP_SLICE:
      self->slice = g_value_get_int (value);
      break;
    case PROP_FRAME_OFFSET:
      self->frame_offset = g_value_get_uint (value);
      break;
    case PROP_FRAME_COUNT:
      self->frame_count = g_value_get_uint (value);
      break;
    case PROP_REGION_LEFT:
      self->region_left = g_value_get_uint (value);
      break;
    case PROP_REGION_TOP:
      self->region_top = g_value_get_uint (value);
      break;
    case PROP_REGION_WIDTH:
      self->region_width = g_value_get_uint (value);
      break;
    case PROP_REGION_HEIGHT:
      self->region_height = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_coordtok_dec_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_THREADS:
      g_value_set_uint (value, self->threads);
      break;
    case PROP_LATENCY_MARGIN:
      g_value_set_uint64 (value, self->deadline.margin);
      break;
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_DEVICE:
      g_value_set_enum (value, self->device);
      break;
    case PROP_CUDA_DEVICE_ID:
      g_value_set_int (value, self->cuda_device_id);
      break;
    case PROP_SLICE:
      /* 0 reads back as the model's default once it is loaded */
      g_value_set_int (value, (self->slice <= 0 && self->model) ?
          ct_model_config (self->model)->default_slice : self->slice);
      break;
    case PROP_FRAME_OFFSET:
      g_value_set_uint (value, self->frame_offset);
      break;
    case PROP_FRAME_COUNT:
      g_value_set_uint (value, self->frame_count);
      break;
    case PROP_REGION_LEFT:
      g_value_set_uint (value, self->region_left);
      break;
    case PROP_REGION_TOP:
      g_value_set_uint (value, self->region_top);
      break;
    case PROP_REGION_WIDTH:
      g_value_set_uint (value, self->region_width);
      break;
    case PROP_REGION_HEIGHT:
      g_value_set_uint (value, self->region_height);
      break;
    case PROP_MODEL_ID:
      g_value_set_string (value, self->model ? ct_model_id (self->model) : NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_coordtok_dec_finalize (GObject * object)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (object);
  stop (self);
  gst_coordtok_worker_clear (&self->worker);
  g_free (self->refusal);
  g_free (self->model_path);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_coordtok_dec_class_init (GstCoordTokDecClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->set_property = gst_coordtok_dec_set_property;
  gobject_class->get_property = gst_coordtok_dec_get_property;
  gobject_class->finalize = gst_coordtok_dec_finalize;
  element_class->change_state = gst_coordtok_dec_change_state;

  /**
   * coordtokdec:model:
   *
   * The encoder's weight file (the stream's model id is checked); NULL: the default model.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "CoordTok weight file (safetensors); must be the encoder's model (the "
          "stream's model-id is checked). NULL or empty: the default model. "
          "A file used by several elements is loaded once and shared. "
          "Changeable only in the NULL state",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * coordtokdec:device:
   *
   * Where the model runs: auto, cpu, cuda.
   */
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_enum ("device", "Device",
          "Where the model runs. Changeable only in the NULL state",
          GST_TYPE_COORDTOK_DEVICE, DEFAULT_DEVICE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * coordtokdec:slice:
   *
   * Patch queries per attention sequence; 0: the trained length.
   */
  g_object_class_install_property (gobject_class, PROP_SLICE,
      g_param_spec_int ("slice", "Slice",
          "Patch queries decoded together as one attention sequence. 0: the "
          "sequence length the model was trained with (CtConfig.default_slice "
          "from the weight file's metadata; reads back as that value once the "
          "model is loaded). Larger is faster but needs more memory; results "
          "depend slightly on it, as in the official code",
          0, G_MAXINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  /**
   * coordtokdec:frame-offset:
   *
   * Preview: decode frames from this index of each window on.
   */
  g_object_class_install_property (gobject_class, PROP_FRAME_OFFSET,
      g_param_spec_uint ("frame-offset", "Frame offset",
          "Preview: decode only frames from this index of each window (a "
          "multiple of the decoder's patch length); windows with fewer frames "
          "produce no output",
          0, G_MAXUINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  /**
   * coordtokdec:frame-count:
   *
   * Preview: decode at most this many frames of each window; 0: all.
   */
  g_object_class_install_property (gobject_class, PROP_FRAME_COUNT,
      g_param_spec_uint ("frame-count", "Frame count",
          "Preview: decode at most this many frames of each window, from "
          "frame-offset (only their patch coordinates are queried, so it is "
          "proportionally cheaper). 0: all",
          0, G_MAXUINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  /* spatial preview: output frames are the region, only its patches are
   * queried */
  /**
   * coordtokdec:region-left:
   *
   * Preview: first column of the decoded box (frame pixels).
   */
  g_object_class_install_property (gobject_class, PROP_REGION_LEFT,
      g_param_spec_uint ("region-left", "Region left",
          "Preview: first column (pixels) of the decoded region, a multiple of "
          "the model's decoded patch size (8 for CoordTok-L). Changeable only "
          "in the NULL state",
          0, G_MAXUINT, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * coordtokdec:region-top:
   *
   * Preview: first row of the decoded box (frame pixels).
   */
  g_object_class_install_property (gobject_class, PROP_REGION_TOP,
      g_param_spec_uint ("region-top", "Region top",
          "Preview: first row (pixels) of the decoded region, a multiple of the "
          "patch size. Changeable only in the NULL state",
          0, G_MAXUINT, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * coordtokdec:region-width:
   *
   * Preview: width of the box; 0: to the right edge.
   */
  g_object_class_install_property (gobject_class, PROP_REGION_WIDTH,
      g_param_spec_uint ("region-width", "Region width",
          "Preview: width (pixels) of the decoded region, a multiple of the "
          "patch size; the output frames have this width. 0: to the right "
          "edge. Only the region's patch coordinates are queried, so it is "
          "proportionally cheaper. Changeable only in the NULL state",
          0, G_MAXUINT, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * coordtokdec:region-height:
   *
   * Preview: height of the box; 0: to the bottom edge.
   */
  g_object_class_install_property (gobject_class, PROP_REGION_HEIGHT,
      g_param_spec_uint ("region-height", "Region height",
          "Preview: height (pixels) of the decoded region, a multiple of the "
          "patch size; the output frames have this height. 0: to the bottom "
          "edge. Changeable only in the NULL state",
          0, G_MAXUINT, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * coordtokdec:threads:
   *
   * CPU threads for the model; 0: all cores (adaptive in live pipelines).
   */
  gst_coordtok_install_threads_property (gobject_class, PROP_THREADS);
  /**
   * coordtokdec:latency-margin:
   *
   * In a live pipeline, how much later than the latency it reported (its
   * own and upstream's) the decoder may push a frame; chunks that cannot
   * make it are skipped with a QoS message, whether or not the sink sends
   * QoS, and records queue instead of holding the live source.
   */
  g_object_class_install_property (gobject_class, PROP_LATENCY_MARGIN,
      g_param_spec_uint64 ("latency-margin", "Latency margin",
          "Live pipelines: nanoseconds a frame may be pushed after the latency "
          "the decoder reported (upstream + its own); later chunks are skipped "
          "with a QoS message, whatever the sink does",
          0, G_MAXUINT64, DEFAULT_LATENCY_MARGIN,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * coordtokdec:cuda-device-id:
   *
   * CUDA device to run on, as nvcodec's elements pick theirs; -1: the
   * default ($COORDTOK_CUDA_DEVICE, else 0).
   */
  gst_coordtok_install_cuda_device_property (gobject_class, PROP_CUDA_DEVICE_ID);
  /**
   * coordtokdec:model-id:
   *
   * Identifier of the loaded model.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL_ID,
      g_param_spec_string ("model-id", "Model id",
          "Identifier of the loaded model (ct_model_id); NULL until READY",
          NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "CoordTok video tokenizer decoder", "Codec/Decoder/Video",
      "Decodes CoordTok token buffers into raw video frames by querying every "
      "(t, x, y) patch coordinate", "gst-coordtok developers");

  gst_type_mark_as_plugin_api (GST_TYPE_COORDTOK_DEVICE, 0);
  GST_DEBUG_CATEGORY_INIT (coordtokdec_debug, "coordtokdec", 0,
      "CoordTok decoder");
}

static void
gst_coordtok_dec_init (GstCoordTokDec * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, gst_coordtok_dec_chain);
  gst_pad_set_event_function (self->sinkpad, gst_coordtok_dec_sink_event);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, gst_coordtok_dec_src_query);
  gst_pad_set_event_function (self->srcpad, gst_coordtok_dec_src_event);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
  gst_coordtok_worker_init (&self->worker, GST_ELEMENT (self), self->srcpad, DEC_MAX_RECORDS,
      decode_record, record_free);
  self->worker.event_func = worker_event;

  self->device = DEFAULT_DEVICE;
  self->deadline.margin = DEFAULT_LATENCY_MARGIN;
  ct_live_deadline_reset (&self->deadline);
  self->cuda_device_id = GST_COORDTOK_DEFAULT_CUDA_DEVICE_ID;
  gst_segment_init (&self->segment, GST_FORMAT_UNDEFINED);
}
