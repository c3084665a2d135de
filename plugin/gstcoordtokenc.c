/* gstcoordtokenc.c - coordtokenc: raw video windows -> CoordTok token records.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A GstCoordTokElement (gstcoordtokelement.c: the model, its properties,
 * the worker thread, latency, stats), not a GstVideoEncoder: that class
 * counts every frame finished without output as a QoS drop, i.e. T-1 per
 * window.  This file is the upstream side (pads, caps, collecting frames);
 * gstcoordtokencwindow.c the windows and their encode.  Frames of
 * any size are accepted: each is copied as packed RGB into the window being
 * collected and the input buffer released at once.  A full window (or a
 * partial one at EOS, a DISCONT buffer, a caps/segment/stream-start change)
 * goes to the element's own thread (gstcoordtokworker.c), which cuts it
 * into model-size tiles, encodes them as one batch and pushes one token
 * record; window N is encoded while window N+1 is collected.  At most two
 * windows exist (one collected, one encoded): when the encoder falls
 * behind, upstream waits at the end of the next window.  Serialized events
 * keep their place behind the windows before them.  QoS events from
 * downstream stop here: a frame dropped upstream would be a frame missing
 * from the tokens, and a late window cannot be made on time by dropping.
 */
/**
 * SECTION:element-coordtokenc
 * @title: coordtokenc
 * @see_also: coordtokdec, coordtokparse
 *
 * Encodes raw RGB video into CoordTok tokens: every window of the model's
 * T frames (128 for CoordTok-L and the default model) becomes one
 * self-describing token record (`video/x-coordtok`, docs/token-format.md),
 * three small feature planes per model-size tile.  Frames of any size are
 * taken: larger frames are cut into a grid of tiles, encoded as one batch.
 * The network runs on the element's own thread, so the upstream thread is
 * never held up; at most two windows are in memory.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! coordtokenc ! filesink location=cam.ctok
 * ]| A camera at its own size (640x480: 5 x 4 tiles) into a token file.
 * |[
 * gst-launch-1.0 filesrc location=clip.mp4 ! decodebin ! videoconvert ! videoscale ! \
 *     video/x-raw,width=128,height=128 ! coordtokenc dtype=f16 ! \
 *     coordtokdec ! videoconvert ! autovideosink
 * ]| A clip scaled to one tile, tokenized in half precision and shown decoded.
 *
 * Since: 0.1
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gstcoordtokenc-private.h"
#include "coordtok-enc-memory.h"

#include <string.h>

GST_DEBUG_CATEGORY (coordtokenc_debug);
#define GST_CAT_DEFAULT coordtokenc_debug

enum {
  PROP_0,
  PROP_DTYPE,
  PROP_WINDOW,
  PROP_MAX_MEMORY,
};

#define DEFAULT_DTYPE GST_COORDTOK_DTYPE_F32

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (GST_COORDTOK_RAW_FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_COORDTOK_MEDIA_TYPE ", parsed = (boolean) true, "
        "version = (int) 2, dtype = (string) { f32, f16, bf16 }, "
        "window = (int) [ 1, MAX ], width = (int) [ 1, MAX ], "
        "height = (int) [ 1, MAX ], framerate = (fraction) [ 0/1, MAX ], "
        "pixel-aspect-ratio = (fraction) [ 1/MAX, MAX ], "
        "tile-width = (int) [ 1, MAX ], tile-height = (int) [ 1, MAX ], "
        "tiles-x = (int) [ 1, MAX ], tiles-y = (int) [ 1, MAX ], "
        "rxy = (int) [ 1, MAX ], rt = (int) [ 1, MAX ], "
        "channels = (int) [ 1, MAX ], model-id = (string) ANY"));

#define gst_coordtok_enc_parent_class parent_class
G_DEFINE_TYPE (GstCoordTokEnc, gst_coordtok_enc, GST_TYPE_COORDTOK_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (coordtokenc, "coordtokenc", GST_RANK_NONE,
    GST_TYPE_COORDTOK_ENC);

/* Hands the window being collected to the worker (waits while the worker
 * is busy with the one before), then the events that waited for it. */
static GstFlowReturn
submit_window (GstCoordTokEnc * self)
{
  GstFlowReturn ret = GST_FLOW_OK;
  GstEvent *ev;
  Window *w = self->cur;

  self->cur = NULL;
  if (w && w->n > 0) {
    w->offset_end = self->frames_in;
    ret = gst_coordtok_worker_push (&self->base.worker, w);
  } else {
    gst_coordtok_enc_window_free (w);
  }
  while ((ev = g_queue_pop_head (&self->pending)))
    gst_coordtok_worker_push_event (&self->base.worker, ev);
  return ret;
}

static GstFlowReturn
gst_coordtok_enc_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (parent);
  const CtConfig *c = ct_model_config (self->base.model);
  GstVideoFrame frame;
  GstFlowReturn ret;

  if (!gst_coordtok_element_chain_ready (&self->base, self->have_info, buf, &ret))
    return ret;

  if (GST_BUFFER_IS_DISCONT (buf) && self->cur && self->cur->n > 0) {
    GST_DEBUG_OBJECT (self, "discontinuity: pushing the partial window of %u frames",
        self->cur->n);
    ret = submit_window (self);
    self->discont = TRUE;       /* the window starting here */
    if (ret != GST_FLOW_OK) {
      gst_buffer_unref (buf);
      return ret;
    }
  }
  if (!self->cur && !(self->cur = gst_coordtok_enc_window_new (self))) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("Out of memory for a window of %d frames of %dx%d", c->T,
            GST_VIDEO_INFO_WIDTH (&self->info), GST_VIDEO_INFO_HEIGHT (&self->info)),
        (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }

  if (!gst_video_frame_map (&frame, &self->info, buf, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Could not map an input frame "
            "(buffer of %" G_GSIZE_FORMAT " bytes, caps say %" G_GSIZE_FORMAT ")",
            gst_buffer_get_size (buf), GST_VIDEO_INFO_SIZE (&self->info)), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  Window *w = self->cur;
  gst_coordtok_frame_to_rgb8 (&frame,
      w->rgb + (gsize) w->n * w->width * w->height * 3);
  gst_video_frame_unmap (&frame);

  w->times[w->n].pts = GST_BUFFER_PTS (buf);
  /* NONE stays NONE: the decoder then computes it from the framerate */
  w->times[w->n].duration = GST_BUFFER_DURATION (buf);
  w->n++;
  self->frames_in++;
  gst_buffer_unref (buf);

  if (w->n == (guint) c->T)
    return submit_window (self);
  return GST_FLOW_OK;
}

/* Processing time before the first window was measured: the FLOPs of the
 * tiles at a modest 50 GFLOP/s (two cores of a small machine). */
static GstClockTime
estimate_encode_time (GstCoordTokEnc * self, gint width, gint height)
{
  const CtConfig *c = ct_model_config (self->base.model);
  CtTileGrid g;
  if (!ct_tile_grid_init (&g, c, width, height, NULL))
    return 0;
  return (GstClockTime) (ct_config_encode_flops (c) * ct_tile_grid_n_tiles (&g)
      / 50e9 * GST_SECOND);
}

static gboolean
set_caps (GstCoordTokEnc * self, GstCaps * caps)
{
  const CtConfig *c = ct_model_config (self->base.model);
  GstVideoInfo info;
  GstCaps *src_caps;
  GError *err = NULL;

  if (!gst_video_info_from_caps (&info, caps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Invalid raw video caps %" GST_PTR_FORMAT, caps), (NULL));
    return FALSE;
  }
  if (GST_VIDEO_INFO_IS_INTERLACED (&info)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Interlaced input is not supported: put deinterlace before coordtokenc"),
        (NULL));
    return FALSE;
  }
  /* the header of a window of these frames: checks the size and the grid */
  Window probe = { .n = 1, .width = GST_VIDEO_INFO_WIDTH (&info),
    .height = GST_VIDEO_INFO_HEIGHT (&info), .fps_n = GST_VIDEO_INFO_FPS_N (&info),
    .fps_d = GST_VIDEO_INFO_FPS_D (&info), .par_n = GST_VIDEO_INFO_PAR_N (&info),
    .par_d = GST_VIDEO_INFO_PAR_D (&info) };
  CtTokensFrameTime t = { CT_TOKENS_TIME_NONE, CT_TOKENS_TIME_NONE };
  CtTokensHeader h;
  probe.times = &t;
  if (!gst_coordtok_enc_fill_header (self, &probe, &h, &err)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("coordtokenc cannot take %dx%d frames: %s (scale them down with "
            "videoscale first)", probe.width, probe.height, err->message), (NULL));
    g_clear_error (&err);
    return FALSE;
  }
  {
    CtEncMemory mem;
    GST_OBJECT_LOCK (self);
    guint64 budget = self->max_memory ? self->max_memory :
        ct_enc_memory_default_budget ();
    GST_OBJECT_UNLOCK (self);
    ct_enc_memory_estimate (c, &h, &mem);
    if (mem.total > budget) {
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
          ("coordtokenc cannot hold %dx%d frames in its memory budget: %.2f GiB "
              "needed (two windows of %d frames: %.2f GiB, tokens %.2f GiB, "
              "encoder workspace %.2f GiB), max-memory is %.2f GiB%s (scale the "
              "frames down with videoscale, or raise max-memory)", probe.width,
              probe.height, mem.total / 1073741824.0, c->T,
              mem.windows / 1073741824.0, mem.tokens / 1073741824.0,
              mem.workspace / 1073741824.0, budget / 1073741824.0,
              self->max_memory ? "" : " (half of this machine's memory)"), (NULL));
      return FALSE;
    }
  }
  self->info = info;
  self->have_info = TRUE;
  /* Both windows now: allocated at a window's end instead, while the
   * encoder starts and faults in its workspace, the allocation waited
   * behind those page faults and held the source's thread (80 ms at
   * 640x480). A failure is reported at the first frame. */
  if (!self->cur) {
    self->cur = gst_coordtok_enc_window_new (self);
    Window *second = gst_coordtok_enc_window_new (self);
    if (second)
      gst_coordtok_enc_window_recycle (second);
  }
  GST_INFO_OBJECT (self, "%dx%d frames: %u x %u tiles of %dx%d (%u tokens per window)",
      probe.width, probe.height, h.tiles_x, h.tiles_y, c->W, c->H,
      ct_tokens_n_tiles (&h) * (c->rxy * c->rxy + 2 * c->rt * c->rxy));

  src_caps = gst_coordtok_token_caps_from_header (&h);
  GST_DEBUG_OBJECT (self, "src caps %" GST_PTR_FORMAT, src_caps);
  gst_coordtok_worker_push_event (&self->base.worker, gst_event_new_caps (src_caps));
  gst_caps_unref (src_caps);

  GstClockTime window = 0;
  if (GST_VIDEO_INFO_FPS_N (&info) > 0)
    window = gst_util_uint64_scale (c->T * GST_SECOND, GST_VIDEO_INFO_FPS_D (&info),
        GST_VIDEO_INFO_FPS_N (&info));
  if (gst_coordtok_element_set_latency (&self->base, window,
          estimate_encode_time (self, probe.width, probe.height))) {
    GST_INFO_OBJECT (self, "window is now %" GST_TIME_FORMAT " (%d frames)",
        GST_TIME_ARGS (window), c->T);
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
  }
  return TRUE;
}

static gboolean
gst_coordtok_enc_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (parent);
  guint n = self->cur ? self->cur->n : 0;

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
      if (n > 0) {
        GST_DEBUG_OBJECT (self, "caps change mid-window: pushing %u frames", n);
        submit_window (self);
      }
      ok = set_caps (self, caps);
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_SEGMENT:
    case GST_EVENT_STREAM_START:
    case GST_EVENT_EOS:
      if (n > 0) {
        GST_DEBUG_OBJECT (self, "%s: pushing the partial window of %u frames",
            GST_EVENT_TYPE_NAME (event), n);
        submit_window (self);
      }
      gst_coordtok_worker_push_event (&self->base.worker, event);
      return TRUE;
    default:
      /* serialized events wait for the window collected before them */
      if (GST_EVENT_IS_SERIALIZED (event) && n > 0 &&
          GST_EVENT_TYPE (event) != GST_EVENT_FLUSH_STOP) {
        GST_DEBUG_OBJECT (self, "queueing %s until the window is pushed",
            GST_EVENT_TYPE_NAME (event));
        g_queue_push_tail (&self->pending, event);
        return TRUE;
      }
      return gst_coordtok_element_sink_event (pad, parent, event);
  }
}

/* FLUSH_STOP: the window being collected is discarded. */
static void
flush (GstCoordTokElement * base)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (base);
  guint n = self->cur ? self->cur->n : 0;
  GST_DEBUG_OBJECT (self, "flush: discarding %u frames", n);
  gst_coordtok_element_count (base, 0, 0, 0, n, 0);
  gst_coordtok_enc_reset_window (self);
  self->discont = TRUE;
}

static gboolean
gst_coordtok_enc_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS:
      /* any size: frames larger than the model's are tiled */
      gst_coordtok_answer_caps_query (query, gst_pad_get_pad_template_caps (pad));
      return TRUE;
    case GST_QUERY_ACCEPT_CAPS:{
      /* Only the template is checked here, so that a size the encoder
       * cannot take reaches set_caps and gets a clear error instead of a
       * bare not-negotiated. */
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
    case GST_QUERY_DRAIN:
      /* upstream wants its buffers back: they are all copied already; the
       * windows queued before are encoded first */
      if (!self->cur || self->cur->n == 0)
        gst_coordtok_worker_drain (&self->base.worker);
      return TRUE;
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
gst_coordtok_enc_src_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_QOS:
      /* not upstream: elements there would drop frames of a window (see
       * the file comment) */
      GST_LOG_OBJECT (parent, "QoS event stops here: %" GST_PTR_FORMAT, event);
      gst_event_unref (event);
      return TRUE;
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

static gboolean
start (GstCoordTokElement * base)
{
  GST_INFO_OBJECT (base, "tokens %s",
      ct_tokens_dtype_name ((CtTokensDType) GST_COORDTOK_ENC (base)->dtype));
  return TRUE;
}

/* READY -> NULL and finalize: the windows and planes. */
static void
stop (GstCoordTokElement * base)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (base);
  gst_coordtok_enc_reset_window (self);
  g_clear_pointer (&self->z, g_free);
  self->z_cap = 0;
  gst_coordtok_enc_window_free (self->spare);
  self->spare = NULL;
}

/* A fresh stream's state (READY <-> PAUSED): frames of a window still
 * being collected are discarded. */
static void
reset (GstCoordTokElement * base)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (base);
  if (self->cur && self->cur->n) {
    GST_DEBUG_OBJECT (self, "discarding %u frames on stop", self->cur->n);
    gst_coordtok_element_count (base, 0, 0, 0, self->cur->n, 0);
  }
  gst_coordtok_enc_reset_window (self);
  self->have_info = FALSE;
  self->frames_in = 0;
  self->discont = TRUE;
  gst_coordtok_element_set_latency (base, 0, GST_CLOCK_TIME_NONE);
}

/* dtype, the one writable property of its own: only before the model is
 * loaded, since the caps already say it */
static void
gst_coordtok_enc_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (object);
  gboolean started;

  if (prop_id == PROP_MAX_MEMORY) {       /* read at the next caps */
    GST_OBJECT_LOCK (self);
    self->max_memory = g_value_get_uint64 (value);
    GST_OBJECT_UNLOCK (self);
    return;
  }
  if (prop_id != PROP_DTYPE) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    return;
  }
  GST_OBJECT_LOCK (self);
  started = GST_COORDTOK_ELEMENT_STARTED (self);
  if (!started)
    self->dtype = g_value_get_enum (value);
  GST_OBJECT_UNLOCK (self);
  if (started)
    GST_WARNING_OBJECT (self, "property '%s' can only be changed in the NULL state",
        pspec->name);
}

static void
gst_coordtok_enc_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (object);
  GST_OBJECT_LOCK (self);
  if (prop_id == PROP_DTYPE)
    g_value_set_enum (value, self->dtype);
  else if (prop_id == PROP_WINDOW)      /* the model's T, once it is loaded */
    g_value_set_int (value, self->base.model ? ct_model_config (self->base.model)->T : 0);
  else if (prop_id == PROP_MAX_MEMORY)
    g_value_set_uint64 (value, self->max_memory);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  GST_OBJECT_UNLOCK (self);
}

/* The encoder's own properties; the model's are the base class's. */
static void
install_properties (GObjectClass * gobject_class)
{
  /**
   * coordtokenc:dtype:
   *
   * Element type of the stored planes: f32, f16 or bf16.
   */
  g_object_class_install_property (gobject_class, PROP_DTYPE,
      g_param_spec_enum ("dtype", "Token element type",
          "Element type of the token planes in the output buffers (the engine "
          "computes in f32; f16/bf16 halve the size). Changeable only in the "
          "NULL state",
          GST_TYPE_COORDTOK_DTYPE, DEFAULT_DTYPE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * coordtokenc:window:
   *
   * Frames per token window (the model's T).
   */
  g_object_class_install_property (gobject_class, PROP_WINDOW,
      g_param_spec_int ("window", "Window",
          "Frames per token window (the model's T); 0 until the element is READY",
          0, G_MAXINT, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * coordtokenc:max-memory:
   *
   * Memory budget in bytes for what the element holds for a frame size (two
   * RGB windows, the token planes and record, the encoder's workspace
   * bound); caps of frames that need more are refused with the numbers.
   * 0: half of the machine's physical memory.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_MEMORY,
      g_param_spec_uint64 ("max-memory", "Memory budget",
          "Bytes the element may hold for a frame size (two windows of frames, "
          "tokens, encoder workspace); larger frames are refused at caps. "
          "0: half of the machine's physical memory. Changeable at any time, "
          "applies from the next caps",
          0, G_MAXUINT64, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
}

static void
gst_coordtok_enc_class_init (GstCoordTokEncClass * klass)
{
  GstCoordTokElementClass *base_class = GST_COORDTOK_ELEMENT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  base_class->start = start;
  base_class->stop = stop;
  base_class->reset = reset;
  base_class->flush = flush;
  G_OBJECT_CLASS (klass)->set_property = gst_coordtok_enc_set_property;
  G_OBJECT_CLASS (klass)->get_property = gst_coordtok_enc_get_property;
  install_properties (G_OBJECT_CLASS (klass));
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "CoordTok video tokenizer encoder", "Codec/Encoder/Video",
      "Encodes windows of T raw video frames into CoordTok triplane tokens "
      "(one self-describing token buffer per window)",
      "gst-coordtok developers");
  gst_type_mark_as_plugin_api (GST_TYPE_COORDTOK_DTYPE, 0);
  GST_DEBUG_CATEGORY_INIT (coordtokenc_debug, "coordtokenc", 0,
      "CoordTok encoder");
}

static void
gst_coordtok_enc_init (GstCoordTokEnc * self)
{
  gst_coordtok_element_add_pads (&self->base, &sink_template, &src_template,
      gst_coordtok_enc_chain, 1, gst_coordtok_enc_encode_window, gst_coordtok_enc_window_recycle);
  gst_pad_set_event_function (self->base.sinkpad, gst_coordtok_enc_sink_event);
  gst_pad_set_query_function (self->base.sinkpad, gst_coordtok_enc_sink_query);
  gst_pad_set_event_function (self->base.srcpad, gst_coordtok_enc_src_event);
  gst_pad_use_fixed_caps (self->base.srcpad);
  self->dtype = DEFAULT_DTYPE;
  g_queue_init (&self->pending);
}
