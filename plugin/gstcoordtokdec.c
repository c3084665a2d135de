/* gstcoordtokdec.c - coordtokdec: CoordTok token records -> raw video frames.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A plain GstElement: one token buffer in, up to T frames out, all pushed
 * from the chain function (the engine runs on the streaming thread).  The
 * window is rasterized by querying every (t, x, y) patch coordinate in
 * slices of `slice` queries.  Frame timestamps come from the token record's
 * frame table (the encoder's input timestamps, shifted by the buffer's PTS
 * if it was retimestamped), else pts0 + i * fps_d / fps_n (computed, never
 * accumulated).  Frames outside the segment are dropped.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gstcoordtokdec.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (coordtokdec_debug);
#define GST_CAT_DEFAULT coordtokdec_debug

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_SLICE,
  PROP_FRAME_OFFSET,
  PROP_FRAME_COUNT,
  PROP_REGION_LEFT,
  PROP_REGION_TOP,
  PROP_REGION_WIDTH,
  PROP_REGION_HEIGHT,
  PROP_MODEL_ID,
  PROP_THREADS,
};

#define DEFAULT_DEVICE GST_COORDTOK_DEVICE_AUTO

struct _GstCoordTokDec {
  GstElement parent;
  GstPad *sinkpad, *srcpad;

  /* properties (object lock) */
  gchar *model_path;
  GstCoordTokDevice device;
  guint threads;
  gint slice;
  guint frame_offset, frame_count;
  guint region_left, region_top, region_width, region_height;  /* pixels */

  /* READY and up */
  CtModel *model;
  CtSession *session;
  gint threads_applied;          /* engine setting last applied */
  float *z, *out;
  gsize z_cap;
  CtTokensFrameTime *times;
  guint8 *scratch;

  /* streaming */
  gboolean have_caps;
  GstCoordTokCapsInfo cinfo;
  GstVideoInfo out_info;
  gboolean have_out_info;
  GstSegment segment;
  gboolean discont;             /* a window was skipped: mark the next frame */
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

/* Output frame size: the region properties, or the source size (call with
 * the object lock held or from the streaming thread). */
static void
output_size (GstCoordTokDec * self, int *w, int *h)
{
  int W = self->cinfo.width, H = self->cinfo.height;
  guint left = MIN (self->region_left, (guint) W), top = MIN (self->region_top, (guint) H);
  *w = self->region_width ? (int) MIN (self->region_width, W - left) : W - (int) left;
  *h = self->region_height ? (int) MIN (self->region_height, H - top) : H - (int) top;
  if (*w < 1)
    *w = 1;
  if (*h < 1)
    *h = 1;
}

static GstCaps *
src_caps_for_stream (GstCoordTokDec * self)
{
  GstCaps *caps = gst_pad_get_pad_template_caps (self->srcpad);
  if (self->have_caps) {
    int w, h;
    output_size (self, &w, &h);
    caps = gst_caps_make_writable (caps);
    gst_caps_set_simple (caps, "width", G_TYPE_INT, w,
        "height", G_TYPE_INT, h,
        "framerate", GST_TYPE_FRACTION, self->cinfo.fps_n, self->cinfo.fps_d, NULL);
  }
  return caps;
}

static gboolean
negotiate (GstCoordTokDec * self)
{
  GstCaps *tmpl = src_caps_for_stream (self);
  GstCaps *caps = gst_pad_peer_query_caps (self->srcpad, tmpl);
  gboolean ok;

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

static gboolean
set_caps (GstCoordTokDec * self, GstCaps * caps)
{
  const CtConfig *c = ct_model_config (self->model);
  GstCoordTokCapsInfo ci;
  GError *err = NULL;

  if (!gst_coordtok_parse_token_caps (caps, &ci, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE, ("%s", err->message), (NULL));
    g_clear_error (&err);
    return FALSE;
  }
  if (g_strcmp0 (ci.model_id, ct_model_id (self->model)) != 0) {
    GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE,
        ("Token stream was encoded with model %s, but coordtokdec has model %s "
            "(%s): set coordtokdec's model property to the encoder's weight file",
            ci.model_id, ct_model_id (self->model),
            ct_model_path (self->model) ? ct_model_path (self->model) : "?"),
        (NULL));
    return FALSE;
  }
  if (ci.T != c->T || ci.width != c->W || ci.height != c->H || ci.rxy != c->rxy
      || ci.rt != c->rt || ci.channels != c->channels) {
    GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE,
        ("Token caps (T=%d %dx%d planes %d/%d/%d) do not match model %s "
            "(T=%d %dx%d planes %d/%d/%d)", ci.T, ci.width, ci.height, ci.rxy,
            ci.rt, ci.channels, ct_model_id (self->model), c->T, c->W, c->H,
            c->rxy, c->rt, c->channels), (NULL));
    return FALSE;
  }
  ci.model_id = NULL;           /* points into caps that may go away */
  self->cinfo = ci;
  self->have_caps = TRUE;
  return negotiate (self);
}

/* Timestamp of frame f of a window; see the file comment. */
static void
frame_times (GstCoordTokDec * self, const CtTokensHeader * h, GstClockTime base,
    guint f, GstClockTime * pts, GstClockTime * dur)
{
  const CtTokensFrameTime *t = &self->times[f];
  gboolean have_fps = h->fps_n > 0;

  *pts = GST_CLOCK_TIME_NONE;
  if (t->pts != CT_TOKENS_TIME_NONE && h->pts != CT_TOKENS_TIME_NONE &&
      GST_CLOCK_TIME_IS_VALID (base)) {
    gint64 v = (gint64) base + ((gint64) t->pts - (gint64) h->pts);
    *pts = v >= 0 ? (GstClockTime) v : 0;
  } else if (t->pts != CT_TOKENS_TIME_NONE && !GST_CLOCK_TIME_IS_VALID (base)) {
    *pts = t->pts;
  } else if (GST_CLOCK_TIME_IS_VALID (base) && have_fps) {
    *pts = base + gst_util_uint64_scale (f, GST_SECOND * h->fps_d, h->fps_n);
  } else if (GST_CLOCK_TIME_IS_VALID (base) && f == 0) {
    *pts = base;
  }

  if (t->duration != CT_TOKENS_TIME_NONE)
    *dur = t->duration;
  else if (have_fps)
    *dur = gst_util_uint64_scale (f + 1, GST_SECOND * h->fps_d, h->fps_n) -
        gst_util_uint64_scale (f, GST_SECOND * h->fps_d, h->fps_n);
  else
    *dur = GST_CLOCK_TIME_NONE;
}

static GstFlowReturn
gst_coordtok_dec_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (parent);
  const CtConfig *c = ct_model_config (self->model);
  GError *err = NULL;
  CtTokensHeader h;
  GstMapInfo map;
  GstFlowReturn ret = GST_FLOW_OK;
  GstClockTime base;
  gboolean discont = GST_BUFFER_IS_DISCONT (buf) || self->discont;
  gint slice;
  guint t0, nt, count;
  gint64 tstart;

  if (!self->have_caps) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before the first token buffer"),
        (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (gst_pad_check_reconfigure (self->srcpad) || !self->have_out_info) {
    if (!negotiate (self)) {
      gst_pad_mark_reconfigure (self->srcpad);
      gst_buffer_unref (buf);
      return GST_PAD_IS_FLUSHING (self->srcpad) ? GST_FLOW_FLUSHING :
          GST_FLOW_NOT_NEGOTIATED;
    }
  }

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE, ("Could not map a token buffer"), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  {
    /* smallest record the caps allow: one frame */
    CtTokensHeader ch = {.rxy = self->cinfo.rxy, .rt = self->cinfo.rt,
      .channels = self->cinfo.channels };
    gsize min = CT_TOKENS_FIXED_HEADER_SIZE + CT_TOKENS_FRAME_ENTRY_SIZE +
        ct_tokens_n_elems (&ch) * ct_tokens_dtype_size (self->cinfo.dtype);
    if (map.size < min)
      g_set_error (&err, CT_ERROR, CT_ERROR_FORMAT,
          "token buffer of %" G_GSIZE_FORMAT " bytes is shorter than its caps "
          "allow (at least %" G_GSIZE_FORMAT " bytes for %s planes %dx%d, "
          "%dx%d, %dx%d of %d channels)", map.size, min,
          ct_tokens_dtype_name (self->cinfo.dtype), self->cinfo.rxy, self->cinfo.rxy,
          self->cinfo.rt, self->cinfo.rxy, self->cinfo.rt, self->cinfo.rxy,
          self->cinfo.channels);
  }
  if (!err && !ct_tokens_unpack (map.data, map.size, &h, self->times, c->T, self->z,
          self->z_cap, &err) && err->code == CT_ERROR_UNSUPPORTED) {
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
    if (GST_CLOCK_TIME_IS_VALID (pts))
      gst_pad_push_event (self->srcpad, gst_event_new_gap (pts, dur));
    self->discont = TRUE;
    return GST_FLOW_OK;
  }
  if (!ct_tokens_check_model (&h, self->model, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE, ("%s", err->message), (NULL));
    goto error;
  }
  if (h.dtype != self->cinfo.dtype) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("Token buffer holds %s elements but the caps say %s",
            ct_tokens_dtype_name (h.dtype), ct_tokens_dtype_name (self->cinfo.dtype)), (NULL));
    goto error;
  }
  gst_buffer_unmap (buf, &map);
  self->discont = FALSE;      /* carried in the local flag from here */

  GST_OBJECT_LOCK (self);
  slice = self->slice;
  t0 = self->frame_offset;
  count = self->frame_count;
  CtRegion region = { .top = self->region_top, .left = self->region_left };
  output_size (self, &region.width, &region.height);
  GST_OBJECT_UNLOCK (self);

  base = GST_BUFFER_PTS_IS_VALID (buf) ? GST_BUFFER_PTS (buf) :
      (h.pts != CT_TOKENS_TIME_NONE ? h.pts : GST_CLOCK_TIME_NONE);
  gst_buffer_unref (buf);

  if (t0 >= h.n_frames) {
    GST_DEBUG_OBJECT (self, "window of %u frames: nothing at frame-offset %u",
        h.n_frames, t0);
    return GST_FLOW_OK;
  }
  if (t0 % c->dec_pt) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("frame-offset %u is not a multiple of the model's decoder patch "
            "length %d", t0, c->dec_pt), (NULL));
    return GST_FLOW_ERROR;
  }
  nt = h.n_frames - t0;
  if (count && count < nt)
    nt = count;

  tstart = g_get_monotonic_time ();
  region.t0 = t0;
  region.nt = nt;
  if (GST_VIDEO_INFO_WIDTH (&self->out_info) != region.width ||
      GST_VIDEO_INFO_HEIGHT (&self->out_info) != region.height) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Region %dx%d changed after "
            "negotiation (output is %dx%d)", region.width, region.height,
            GST_VIDEO_INFO_WIDTH (&self->out_info),
            GST_VIDEO_INFO_HEIGHT (&self->out_info)), (NULL));
    return GST_FLOW_ERROR;
  }
  gst_coordtok_apply_threads (GST_ELEMENT (self), self->sinkpad, self->session,
      &self->threads, &self->threads_applied);
  if (!ct_session_rasterize_region (self->session, self->z, h.n_frames, slice,
          &region, self->out, &err)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("CoordTok decoding failed: %s",
            err->message), (NULL));
    g_clear_error (&err);
    return GST_FLOW_ERROR;
  }
  GST_INFO_OBJECT (self, "decoded %u of %u frames (slice %d) in %.1f ms on %s",
      nt, h.n_frames, slice > 0 ? slice : c->default_slice,
      (g_get_monotonic_time () - tstart) / 1000.0,
      ct_session_device_name (self->session));

  for (guint i = 0; i < nt && ret == GST_FLOW_OK; i++) {
    guint f = t0 + i;
    GstClockTime pts, dur;
    GstVideoFrame vf;
    GstBuffer *out;

    frame_times (self, &h, base, f, &pts, &dur);
    if (self->segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (pts)) {
      guint64 cstart, cstop;
      GstClockTime stop = GST_CLOCK_TIME_IS_VALID (dur) ? pts + dur : GST_CLOCK_TIME_NONE;
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
    gst_coordtok_model_to_frame (self->out + (gsize) i * region.height * region.width * 3,
        &vf, self->scratch);
    gst_video_frame_unmap (&vf);
    GST_BUFFER_PTS (out) = pts;
    GST_BUFFER_DURATION (out) = dur;
    if (discont) {
      GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_DISCONT);
      discont = FALSE;
    }
    ret = gst_pad_push (self->srcpad, out);
  }
  return ret;

error:
  g_clear_error (&err);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
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
      gboolean ok;
      gst_event_parse_caps (event, &caps);
      ok = set_caps (self, caps);
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &self->segment);
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_FLUSH_STOP:
      gst_segment_init (&self->segment, GST_FORMAT_UNDEFINED);
      return gst_pad_push_event (self->srcpad, event);
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
      caps = src_caps_for_stream (self);
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
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
start (GstCoordTokDec * self)
{
  CtModel *model;
  CtSession *session;
  gchar *path;
  GstCoordTokDevice device;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->model_path);
  device = self->device;
  GST_OBJECT_UNLOCK (self);

  if (!gst_coordtok_open (GST_ELEMENT (self), path, device, &model, &session)) {
    g_free (path);
    return FALSE;
  }
  g_free (path);
  const CtConfig *c = ct_model_config (model);
  GST_INFO_OBJECT (self, "model %s (id %s, T=%d, %dx%d, default slice %d, "
      "%" G_GINT64_FORMAT " parameters) on device %s", ct_model_path (model),
      ct_model_id (model), c->T, c->W, c->H, c->default_slice,
      ct_model_n_params (model), ct_session_device_name (session));

  self->z_cap = ct_config_token_floats (c);
  self->z = g_try_malloc (self->z_cap * sizeof (float));
  self->out = g_try_malloc ((gsize) c->T * c->H * c->W * 3 * sizeof (float));
  self->times = g_new0 (CtTokensFrameTime, c->T);
  self->scratch = g_malloc ((gsize) c->W * 3);
  if (!self->z || !self->out) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("Out of memory for a window of %d frames", c->T), (NULL));
    g_clear_pointer (&self->z, g_free);
    g_clear_pointer (&self->out, g_free);
    g_clear_pointer (&self->times, g_free);
    g_clear_pointer (&self->scratch, g_free);
    ct_session_free (session);
    ct_model_unref (model);
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  self->model = model;
  self->session = session;
  self->threads_applied = GST_COORDTOK_THREADS_UNSET;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
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
  g_clear_pointer (&self->z, g_free);
  g_clear_pointer (&self->out, g_free);
  g_clear_pointer (&self->times, g_free);
  g_clear_pointer (&self->scratch, g_free);
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
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_DEVICE:
      self->device = g_value_get_enum (value);
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
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_DEVICE:
      g_value_set_enum (value, self->device);
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

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "CoordTok weight file (safetensors); must be the encoder's model (the "
          "stream's model-id is checked). NULL or empty: the default model. "
          "A file used by several elements is loaded once and shared. "
          "Changeable only in the NULL state",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_enum ("device", "Device",
          "Where the model runs. Changeable only in the NULL state",
          GST_TYPE_COORDTOK_DEVICE, DEFAULT_DEVICE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_SLICE,
      g_param_spec_int ("slice", "Slice",
          "Patch queries decoded together as one attention sequence. 0: the "
          "sequence length the model was trained with (CtConfig.default_slice "
          "from the weight file's metadata; reads back as that value once the "
          "model is loaded). Larger is faster but needs more memory; results "
          "depend slightly on it, as in the official code",
          0, G_MAXINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_FRAME_OFFSET,
      g_param_spec_uint ("frame-offset", "Frame offset",
          "Preview: decode only frames from this index of each window (a "
          "multiple of the decoder's patch length); windows with fewer frames "
          "produce no output",
          0, G_MAXUINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_FRAME_COUNT,
      g_param_spec_uint ("frame-count", "Frame count",
          "Preview: decode at most this many frames of each window, from "
          "frame-offset (only their patch coordinates are queried, so it is "
          "proportionally cheaper). 0: all",
          0, G_MAXUINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  /* spatial preview: output frames are the region, only its patches are
   * queried */
  g_object_class_install_property (gobject_class, PROP_REGION_LEFT,
      g_param_spec_uint ("region-left", "Region left",
          "Preview: first column (pixels) of the decoded region, a multiple of "
          "the model's decoded patch size (8 for CoordTok-L). Changeable only "
          "in the NULL state",
          0, G_MAXUINT, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_REGION_TOP,
      g_param_spec_uint ("region-top", "Region top",
          "Preview: first row (pixels) of the decoded region, a multiple of the "
          "patch size. Changeable only in the NULL state",
          0, G_MAXUINT, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_REGION_WIDTH,
      g_param_spec_uint ("region-width", "Region width",
          "Preview: width (pixels) of the decoded region, a multiple of the "
          "patch size; the output frames have this width. 0: to the right "
          "edge. Only the region's patch coordinates are queried, so it is "
          "proportionally cheaper. Changeable only in the NULL state",
          0, G_MAXUINT, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_REGION_HEIGHT,
      g_param_spec_uint ("region-height", "Region height",
          "Preview: height (pixels) of the decoded region, a multiple of the "
          "patch size; the output frames have this height. 0: to the bottom "
          "edge. Changeable only in the NULL state",
          0, G_MAXUINT, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  gst_coordtok_install_threads_property (gobject_class, PROP_THREADS);
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
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->device = DEFAULT_DEVICE;
  gst_segment_init (&self->segment, GST_FORMAT_UNDEFINED);
}
