/* gstcoordtokenc.c - coordtokenc: raw video windows -> CoordTok token records.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A plain GstElement (not GstVideoEncoder: that class counts every frame
 * finished without output as a QoS drop, i.e. T-1 per window).  Each frame
 * is converted into the window's preallocated float tensor as soon as it
 * arrives and the input buffer released, so live sources with small pools
 * never stall.  When the window holds T frames (or at EOS, a DISCONT buffer,
 * a caps/segment/stream-start change) it is encoded on the streaming thread
 * and one token buffer is pushed; serialized events that arrive while a
 * window is being collected are queued and pushed after it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gstcoordtokenc.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (coordtokenc_debug);
#define GST_CAT_DEFAULT coordtokenc_debug

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_DTYPE,
  PROP_MODEL_ID,
  PROP_THREADS,
  PROP_WINDOW,
};

#define DEFAULT_DEVICE GST_COORDTOK_DEVICE_AUTO
#define DEFAULT_DTYPE GST_COORDTOK_DTYPE_F32

struct _GstCoordTokEnc {
  GstElement parent;
  GstPad *sinkpad, *srcpad;

  /* properties (object lock) */
  gchar *model_path;
  GstCoordTokDevice device;
  guint threads;
  GstCoordTokDType dtype;

  /* READY and up */
  CtModel *model;
  CtSession *session;
  gint threads_applied;          /* engine setting last applied */

  /* streaming */
  GstVideoInfo info;
  gboolean have_info;
  float *video;                 /* (T, H, W, 3) window in model space */
  float *z;                     /* token planes */
  CtTokensFrameTime *times;     /* T entries */
  guint n;                      /* frames in the window */
  guint64 frames_in;            /* frame counter (OFFSET of token buffers) */
  GQueue pending;               /* serialized events waiting for the window */
  gboolean discont;             /* next token buffer gets DISCONT */
  GstClockTime latency;         /* last posted window duration */
};

#define gst_coordtok_enc_parent_class parent_class
G_DEFINE_TYPE (GstCoordTokEnc, gst_coordtok_enc, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (coordtokenc, "coordtokenc", GST_RANK_NONE,
    GST_TYPE_COORDTOK_ENC);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (GST_COORDTOK_RAW_FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_COORDTOK_MEDIA_TYPE ", parsed = (boolean) true, "
        "version = (int) 1, dtype = (string) { f32, f16, bf16 }, "
        "window = (int) [ 1, MAX ], width = (int) [ 1, MAX ], "
        "height = (int) [ 1, MAX ], framerate = (fraction) [ 0/1, MAX ], "
        "rxy = (int) [ 1, MAX ], rt = (int) [ 1, MAX ], "
        "channels = (int) [ 1, MAX ], model-id = (string) ANY"));

static void
reset_window (GstCoordTokEnc * self)
{
  self->n = 0;
  g_queue_clear_full (&self->pending, (GDestroyNotify) gst_event_unref);
}

static GstClockTime
window_latency (GstCoordTokEnc * self)
{
  const CtConfig *c;
  if (!self->model || !self->have_info || GST_VIDEO_INFO_FPS_N (&self->info) <= 0)
    return 0;
  c = ct_model_config (self->model);
  return gst_util_uint64_scale (c->T * GST_SECOND,
      GST_VIDEO_INFO_FPS_D (&self->info), GST_VIDEO_INFO_FPS_N (&self->info));
}

/* Encodes the frames collected so far (padded to T), pushes one token
 * buffer, then the events that waited for it. */
static GstFlowReturn
push_window (GstCoordTokEnc * self)
{
  const CtConfig *c = ct_model_config (self->model);
  GError *err = NULL;
  CtTokensHeader h;
  GstBuffer *buf;
  GstMapInfo map;
  GstFlowReturn ret = GST_FLOW_OK;
  guint n = self->n;
  gint64 t0;

  if (n == 0)
    goto events;

  ct_pad_window (c, self->video, n);
  gst_coordtok_apply_threads (GST_ELEMENT (self), self->sinkpad, self->session,
      &self->threads, &self->threads_applied);
  t0 = g_get_monotonic_time ();
  if (!ct_session_encode (self->session, self->video, n, self->z, NULL, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, ENCODE,
        ("CoordTok encoding failed: %s", err->message), (NULL));
    g_clear_error (&err);
    reset_window (self);
    return GST_FLOW_ERROR;
  }
  GST_INFO_OBJECT (self, "encoded a window of %u/%d frames in %.1f ms on %s",
      n, c->T, (g_get_monotonic_time () - t0) / 1000.0,
      ct_session_device_name (self->session));

  ct_tokens_header_init (&h, self->model, (CtTokensDType) self->dtype, n);
  if (GST_VIDEO_INFO_FPS_N (&self->info) > 0) {
    h.fps_n = GST_VIDEO_INFO_FPS_N (&self->info);
    h.fps_d = GST_VIDEO_INFO_FPS_D (&self->info);
  }
  h.pts = self->times[0].pts;
  /* the sum of the frames' durations; frames without one count as
   * 1/framerate (computed for the whole window, not accumulated) */
  {
    guint64 sum = 0;
    guint missing = 0;
    for (guint i = 0; i < n; i++) {
      if (self->times[i].duration == CT_TOKENS_TIME_NONE)
        missing++;
      else
        sum += self->times[i].duration;
    }
    if (missing && h.fps_n > 0)
      sum += gst_util_uint64_scale (missing, GST_SECOND * h.fps_d, h.fps_n);
    h.duration = (missing && h.fps_n <= 0) ? CT_TOKENS_TIME_NONE : sum;
  }

  buf = gst_buffer_new_allocate (NULL, ct_tokens_record_size (&h), NULL);
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  if (!ct_tokens_pack (&h, self->times, self->z, map.data, map.size, &err)) {
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, STREAM, ENCODE,
        ("Packing CoordTok tokens failed: %s", err->message), (NULL));
    g_clear_error (&err);
    reset_window (self);
    return GST_FLOW_ERROR;
  }
  gst_buffer_unmap (buf, &map);

  GST_BUFFER_PTS (buf) = h.pts;
  GST_BUFFER_DTS (buf) = h.pts;
  GST_BUFFER_DURATION (buf) = h.duration;
  GST_BUFFER_OFFSET (buf) = self->frames_in - n;
  GST_BUFFER_OFFSET_END (buf) = self->frames_in;
  if (self->discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->discont = FALSE;
  }
  self->n = 0;
  GST_DEBUG_OBJECT (self, "pushing %" GST_PTR_FORMAT, buf);
  ret = gst_pad_push (self->srcpad, buf);
  if (ret != GST_FLOW_OK)
    GST_DEBUG_OBJECT (self, "push returned %s", gst_flow_get_name (ret));

events:
  {
    GstEvent *ev;
    while ((ev = g_queue_pop_head (&self->pending)))
      gst_pad_push_event (self->srcpad, ev);
  }
  return ret;
}

static GstFlowReturn
gst_coordtok_enc_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (parent);
  const CtConfig *c = ct_model_config (self->model);
  GstVideoFrame frame;
  GstFlowReturn ret = GST_FLOW_OK;

  if (!self->have_info) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before the first buffer"),
        (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }

  if (GST_BUFFER_IS_DISCONT (buf) && self->n > 0) {
    GST_DEBUG_OBJECT (self, "discontinuity: pushing the partial window of %u frames",
        self->n);
    ret = push_window (self);
    self->discont = TRUE;       /* the window starting here */
    if (ret != GST_FLOW_OK) {
      gst_buffer_unref (buf);
      return ret;
    }
  }

  if (!gst_video_frame_map (&frame, &self->info, buf, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Could not map an input frame "
            "(buffer of %" G_GSIZE_FORMAT " bytes, caps say %" G_GSIZE_FORMAT ")",
            gst_buffer_get_size (buf), GST_VIDEO_INFO_SIZE (&self->info)), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  gst_coordtok_frame_to_model (&frame,
      self->video + (gsize) self->n * c->H * c->W * 3);
  gst_video_frame_unmap (&frame);

  self->times[self->n].pts = GST_BUFFER_PTS (buf);
  /* NONE stays NONE: the decoder then computes it from the framerate */
  self->times[self->n].duration = GST_BUFFER_DURATION (buf);
  self->n++;
  self->frames_in++;
  gst_buffer_unref (buf);

  if (self->n == (guint) c->T)
    ret = push_window (self);
  return ret;
}

static gboolean
set_caps (GstCoordTokEnc * self, GstCaps * caps)
{
  const CtConfig *c = ct_model_config (self->model);
  GstVideoInfo info;
  GstCaps *src_caps;
  gboolean ok;

  if (!gst_video_info_from_caps (&info, caps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Invalid raw video caps %" GST_PTR_FORMAT, caps), (NULL));
    return FALSE;
  }
  if (GST_VIDEO_INFO_WIDTH (&info) != c->W || GST_VIDEO_INFO_HEIGHT (&info) != c->H) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Input is %dx%d but model %s needs %dx%d frames: put videoscale "
            "(and videoconvert) before coordtokenc",
            GST_VIDEO_INFO_WIDTH (&info), GST_VIDEO_INFO_HEIGHT (&info),
            ct_model_id (self->model), c->W, c->H), (NULL));
    return FALSE;
  }
  if (GST_VIDEO_INFO_IS_INTERLACED (&info)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Interlaced input is not supported: put deinterlace before coordtokenc"),
        (NULL));
    return FALSE;
  }
  self->info = info;
  self->have_info = TRUE;

  src_caps = gst_coordtok_token_caps (self->model, (CtTokensDType) self->dtype,
      GST_VIDEO_INFO_FPS_N (&info), GST_VIDEO_INFO_FPS_D (&info));
  GST_DEBUG_OBJECT (self, "src caps %" GST_PTR_FORMAT, src_caps);
  ok = gst_pad_set_caps (self->srcpad, src_caps);
  gst_caps_unref (src_caps);

  if (window_latency (self) != self->latency) {
    self->latency = window_latency (self);
    GST_INFO_OBJECT (self, "latency is now %" GST_TIME_FORMAT " (%d frames)",
        GST_TIME_ARGS (self->latency), c->T);
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
  }
  return ok;
}

static gboolean
gst_coordtok_enc_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (parent);

  GST_LOG_OBJECT (self, "event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gboolean ok;
      gst_event_parse_caps (event, &caps);
      if (self->have_info) {
        GstCaps *cur = gst_video_info_to_caps (&self->info);
        gboolean same = gst_caps_is_equal (cur, caps);
        gst_caps_unref (cur);
        if (same) {
          gst_event_unref (event);
          return TRUE;
        }
      }
      if (self->n > 0) {
        GST_DEBUG_OBJECT (self, "caps change mid-window: pushing %u frames", self->n);
        push_window (self);
      }
      ok = set_caps (self, caps);
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_SEGMENT:
    case GST_EVENT_STREAM_START:
    case GST_EVENT_EOS:
      if (self->n > 0) {
        GST_DEBUG_OBJECT (self, "%s: pushing the partial window of %u frames",
            GST_EVENT_TYPE_NAME (event), self->n);
        push_window (self);
      }
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_FLUSH_STOP:
      GST_DEBUG_OBJECT (self, "flush: discarding %u frames", self->n);
      reset_window (self);
      self->discont = TRUE;
      return gst_pad_push_event (self->srcpad, event);
    default:
      if (GST_EVENT_IS_SERIALIZED (event) && self->n > 0) {
        GST_DEBUG_OBJECT (self, "queueing %s until the window is pushed",
            GST_EVENT_TYPE_NAME (event));
        g_queue_push_tail (&self->pending, event);
        return TRUE;
      }
      return gst_pad_event_default (pad, parent, event);
  }
}

static gboolean
gst_coordtok_enc_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS:{
      GstCaps *filter, *caps = gst_pad_get_pad_template_caps (pad);
      gst_query_parse_caps (query, &filter);
      GST_OBJECT_LOCK (self);
      if (self->model) {
        const CtConfig *c = ct_model_config (self->model);
        caps = gst_caps_make_writable (caps);
        gst_caps_set_simple (caps, "width", G_TYPE_INT, c->W, "height",
            G_TYPE_INT, c->H, NULL);
      }
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
    case GST_QUERY_ACCEPT_CAPS:{
      /* Only the template is checked here, so that a wrong size reaches
       * set_caps and gets a clear error instead of a bare not-negotiated. */
      GstCaps *caps, *templ = gst_pad_get_pad_template_caps (pad);
      gst_query_parse_accept_caps (query, &caps);
      gst_query_set_accept_caps_result (query, gst_caps_can_intersect (caps, templ));
      gst_caps_unref (templ);
      return TRUE;
    }
    case GST_QUERY_ALLOCATION:
      /* frames are copied at once: any pool, no metas needed beyond
       * GstVideoMeta which gst_video_frame_map honours */
      gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
      return TRUE;
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
gst_coordtok_enc_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:{
      gboolean live;
      GstClockTime min, max, lat;
      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      gst_query_parse_latency (query, &live, &min, &max);
      GST_OBJECT_LOCK (self);
      lat = window_latency (self);
      GST_OBJECT_UNLOCK (self);
      if (live) {
        min += lat;
        if (GST_CLOCK_TIME_IS_VALID (max))
          max += lat;
      }
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

static gboolean
start (GstCoordTokEnc * self)
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
  GST_INFO_OBJECT (self, "model %s (id %s, T=%d, %dx%d, planes %dx%d/%dx%d x%d, "
      "%" G_GINT64_FORMAT " parameters) on device %s, tokens %s",
      ct_model_path (model), ct_model_id (model), c->T, c->W, c->H, c->rxy,
      c->rxy, c->rt, c->rxy, c->channels, ct_model_n_params (model),
      ct_session_device_name (session), ct_tokens_dtype_name ((CtTokensDType) self->dtype));

  self->video = g_try_malloc ((gsize) c->T * c->H * c->W * 3 * sizeof (float));
  self->z = g_try_malloc (ct_config_token_floats (c) * sizeof (float));
  self->times = g_new0 (CtTokensFrameTime, c->T);
  if (!self->video || !self->z) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("Out of memory for a window of %d frames", c->T), (NULL));
    g_clear_pointer (&self->video, g_free);
    g_clear_pointer (&self->z, g_free);
    g_clear_pointer (&self->times, g_free);
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
stop (GstCoordTokEnc * self)
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
  g_clear_pointer (&self->video, g_free);
  g_clear_pointer (&self->z, g_free);
  g_clear_pointer (&self->times, g_free);
}

static GstStateChangeReturn
gst_coordtok_enc_change_state (GstElement * element, GstStateChange transition)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      if (!start (self))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      reset_window (self);
      self->have_info = FALSE;
      self->frames_in = 0;
      self->discont = TRUE;
      self->latency = 0;
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE)
    return ret;

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      if (self->n)
        GST_DEBUG_OBJECT (self, "discarding %u frames on stop", self->n);
      reset_window (self);
      self->have_info = FALSE;
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
gst_coordtok_enc_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (object);

  GST_OBJECT_LOCK (self);
  if (self->model && (prop_id == PROP_MODEL || prop_id == PROP_DEVICE ||
          prop_id == PROP_DTYPE)) {
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
    case PROP_DTYPE:
      self->dtype = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_coordtok_enc_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (object);

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
    case PROP_DTYPE:
      g_value_set_enum (value, self->dtype);
      break;
    case PROP_MODEL_ID:
      g_value_set_string (value, self->model ? ct_model_id (self->model) : NULL);
      break;
    case PROP_WINDOW:
      g_value_set_int (value, self->model ? ct_model_config (self->model)->T : 0);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_coordtok_enc_finalize (GObject * object)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (object);
  stop (self);
  reset_window (self);
  g_free (self->model_path);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_coordtok_enc_class_init (GstCoordTokEncClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->set_property = gst_coordtok_enc_set_property;
  gobject_class->get_property = gst_coordtok_enc_get_property;
  gobject_class->finalize = gst_coordtok_enc_finalize;
  element_class->change_state = gst_coordtok_enc_change_state;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "CoordTok weight file (safetensors). NULL or empty: the default model "
          "(src/models/coordtok-default.safetensors in the build tree, "
          "$datadir/coordtok after install, $COORDTOK_MODEL_DIR first). "
          "A file used by several elements is loaded once and shared. "
          "Changeable only in the NULL state",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_enum ("device", "Device",
          "Where the model runs. Changeable only in the NULL state",
          GST_TYPE_COORDTOK_DEVICE, DEFAULT_DEVICE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_DTYPE,
      g_param_spec_enum ("dtype", "Token element type",
          "Element type of the token planes in the output buffers (the engine "
          "computes in f32; f16/bf16 halve the size). Changeable only in the "
          "NULL state",
          GST_TYPE_COORDTOK_DTYPE, DEFAULT_DTYPE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  gst_coordtok_install_threads_property (gobject_class, PROP_THREADS);
  g_object_class_install_property (gobject_class, PROP_MODEL_ID,
      g_param_spec_string ("model-id", "Model id",
          "Identifier of the loaded model (ct_model_id: first 16 hex digits of "
          "the SHA-256 of the weight file), written into caps and token headers; "
          "NULL until the element is READY",
          NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_WINDOW,
      g_param_spec_int ("window", "Window",
          "Frames per token window (the model's T); 0 until the element is READY",
          0, G_MAXINT, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "CoordTok video tokenizer encoder", "Codec/Encoder/Video",
      "Encodes windows of T raw video frames into CoordTok triplane tokens "
      "(one self-describing token buffer per window)",
      "gst-coordtok developers");

  gst_type_mark_as_plugin_api (GST_TYPE_COORDTOK_DEVICE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_COORDTOK_DTYPE, 0);
  GST_DEBUG_CATEGORY_INIT (coordtokenc_debug, "coordtokenc", 0,
      "CoordTok encoder");
}

static void
gst_coordtok_enc_init (GstCoordTokEnc * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, gst_coordtok_enc_chain);
  gst_pad_set_event_function (self->sinkpad, gst_coordtok_enc_sink_event);
  gst_pad_set_query_function (self->sinkpad, gst_coordtok_enc_sink_query);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, gst_coordtok_enc_src_query);
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->device = DEFAULT_DEVICE;
  self->dtype = DEFAULT_DTYPE;
  g_queue_init (&self->pending);
}
