/* gstcoordtokdec.c - coordtokdec: CoordTok token records -> raw video frames.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A GstCoordTokElement (gstcoordtokelement.c: the model, its properties,
 * the worker thread, latency, stats); this file is the element's upstream
 * side: pads, caps, properties, records checked and queued.  A token
 * buffer is checked on the upstream thread (damaged records are skipped
 * there, with a warning) and handed to the element's own thread
 * (gstcoordtokdecrecord.c; at most two records queued or in decoding, then
 * upstream waits), which decodes the window chunk by chunk through
 * ct_session_decode_rgb8 (the same pixels as decoding it at once) and
 * pushes each chunk's frames as soon as they are decoded.
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
#include "gstcoordtokdec-private.h"

#include <string.h>

GST_DEBUG_CATEGORY (coordtokdec_debug);
#define GST_CAT_DEFAULT coordtokdec_debug

enum {
  PROP_0,
  PROP_SLICE,
  PROP_FRAME_OFFSET,
  PROP_FRAME_COUNT,
  PROP_REGION_LEFT,
  PROP_REGION_TOP,
  PROP_REGION_WIDTH,
  PROP_REGION_HEIGHT,
  PROP_LATENCY_MARGIN,
};

#define gst_coordtok_dec_parent_class parent_class
G_DEFINE_TYPE (GstCoordTokDec, gst_coordtok_dec, GST_TYPE_COORDTOK_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (coordtokdec, "coordtokdec", GST_RANK_MARGINAL,
    GST_TYPE_COORDTOK_DEC);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_COORDTOK_MEDIA_TYPE ", parsed = (boolean) true"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (GST_COORDTOK_RAW_FORMATS)));

/* Output frame size: the region properties within frames of w x h. */
void
gst_coordtok_dec_region_size (GstCoordTokDec * self, int W, int H, int *w, int *h)
{
  guint left = MIN (self->region_left, (guint) W), top = MIN (self->region_top, (guint) H);
  *w = self->region_width ? (int) MIN (self->region_width, W - left) : W - (int) left;
  *h = self->region_height ? (int) MIN (self->region_height, H - top) : H - (int) top;
  if (*w < 1)
    *w = 1;
  if (*h < 1)
    *h = 1;
}

GstCaps *
gst_coordtok_dec_src_caps (GstCoordTokDec * self, const GstCoordTokCapsInfo * ci)
{
  GstCaps *caps = gst_pad_get_pad_template_caps (self->base.srcpad);
  if (ci) {
    int w, h;
    gst_coordtok_dec_region_size (self, ci->width, ci->height, &w, &h);
    caps = gst_caps_make_writable (caps);
    gst_caps_set_simple (caps, "width", G_TYPE_INT, w,
        "height", G_TYPE_INT, h,
        "framerate", GST_TYPE_FRACTION, ci->fps_n, ci->fps_d,
        "pixel-aspect-ratio", GST_TYPE_FRACTION, ci->par_n, ci->par_d, NULL);
  }
  return caps;
}

/* Properties that must fit the model: checked when it is loaded and, as
 * they may change in PLAYING, before each record. */
gboolean
gst_coordtok_dec_check_properties (GstCoordTokDec * self)
{
  const CtConfig *c = ct_model_config (self->base.model);
  GST_OBJECT_LOCK (self);
  struct { const char *name; guint value; int align; } p[] = {
    { "frame-offset", self->frame_offset, c->dec_pt },
    { "region-left", self->region_left, c->dec_pxy },
    { "region-top", self->region_top, c->dec_pxy },
    { "region-width", self->region_width, c->dec_pxy },
    { "region-height", self->region_height, c->dec_pxy },
  };
  GST_OBJECT_UNLOCK (self);
  for (guint i = 0; i < G_N_ELEMENTS (p); i++)
    if (p[i].value % p[i].align) {
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
          ("%s %u is not a multiple of %d, the decoder's patch %s of model %s",
              p[i].name, p[i].value, p[i].align, i == 0 ? "length" : "size",
              ct_model_id (self->base.model)), (NULL));
      return FALSE;
    }
  return TRUE;
}

/* The region must start inside frames of width x height. */
gboolean
gst_coordtok_dec_check_region_origin (GstCoordTokDec * self, gint width, gint height)
{
  GST_OBJECT_LOCK (self);
  guint left = self->region_left, top = self->region_top;
  GST_OBJECT_UNLOCK (self);
  if (left >= (guint) width || top >= (guint) height) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("The region starts at (%u, %u), outside the stream's %dx%d frames",
            left, top, width, height), (NULL));
    return FALSE;
  }
  return TRUE;
}

/* Upstream thread: caps are checked against the model at once (an error
 * that says what to do), then travel to the worker in stream order. */
static gboolean
check_caps (GstCoordTokDec * self, GstCaps * caps, GstCoordTokCapsInfo * ci)
{
  const CtConfig *c = ct_model_config (self->base.model);
  GError *err = NULL;

  if (!gst_coordtok_parse_token_caps (caps, ci, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE, ("%s", err->message), (NULL));
    g_clear_error (&err);
    return FALSE;
  }
  /* another model's stream: refused at its first buffer (self->refusal,
   * see the sink event handler) */
  if (g_strcmp0 (ci->model_id, ct_model_id (self->base.model)) != 0) {
    self->refusal = g_strdup_printf ("Token stream was encoded with model %s, "
        "but coordtokdec has model %s (%s): set coordtokdec's model property to "
        "the encoder's weight file", ci->model_id, ct_model_id (self->base.model),
        ct_model_path (self->base.model) ? ct_model_path (self->base.model) : "?");
    return FALSE;
  }
  if (ci->T != c->T || ci->tile_width != c->W || ci->tile_height != c->H ||
      ci->rxy != c->rxy || ci->rt != c->rt || ci->channels != c->channels) {
    self->refusal = g_strdup_printf ("Token caps (T=%d tiles %dx%d planes "
        "%d/%d/%d) do not match model %s (T=%d %dx%d planes %d/%d/%d)", ci->T,
        ci->tile_width, ci->tile_height, ci->rxy, ci->rt, ci->channels,
        ct_model_id (self->base.model), c->T, c->W, c->H, c->rxy, c->rt, c->channels);
    return FALSE;
  }
  if (!gst_coordtok_dec_check_region_origin (self, ci->width, ci->height))
    return FALSE;
  GST_OBJECT_LOCK (self);
  guint t0 = self->frame_offset;
  GST_OBJECT_UNLOCK (self);
  if (t0 >= (guint) c->T) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("frame-offset %u is beyond the model's window of %d frames: no frame "
            "would ever be decoded", t0, c->T), (NULL));
    return FALSE;
  }
  ci->model_id = NULL;          /* points into caps that may go away */
  return TRUE;
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
  if (!gst_coordtok_element_chain_ready (&self->base, self->have_caps, buf, &ret))
    return ret;
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
      !ct_tokens_check_model (&r->h, self->base.model, &err)) {
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
    gst_coordtok_dec_record_free (r);
    gst_coordtok_element_count (&self->base, 0, 0, 0, 0, 1);
    if (GST_CLOCK_TIME_IS_VALID (pts))
      gst_coordtok_worker_push_event (&self->base.worker, gst_event_new_gap (pts, dur));
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
  gst_coordtok_dec_ask_upstream_latency (self);
  return gst_coordtok_worker_push (&self->base.worker, r);

error:
  g_clear_error (&err);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
  gst_coordtok_dec_record_free (r);
  return GST_FLOW_ERROR;
}

/* Token caps from upstream: checked now, sent on in stream order. */
static gboolean
sink_caps (GstCoordTokDec * self, GstEvent * event)
{
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
  gst_coordtok_worker_push_event (&self->base.worker, event);
  return TRUE;
}

static gboolean
gst_coordtok_dec_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (parent);

  GST_LOG_OBJECT (self, "event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:
      return sink_caps (self, event);
    default:
      return gst_coordtok_element_sink_event (pad, parent, event);
  }
}

/* FLUSH_STOP, the worker stopped: the segment and QoS state are its. */
static void
flush (GstCoordTokElement * base)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (base);
  gst_segment_init (&self->segment, GST_FORMAT_UNDEFINED);
  GST_OBJECT_LOCK (self);
  self->earliest_time = GST_CLOCK_TIME_NONE;
  GST_OBJECT_UNLOCK (self);
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
      GST_OBJECT_LOCK (self);
      GstCaps *caps = gst_coordtok_dec_src_caps (self,
          self->have_caps ? &self->sink_info : NULL);
      GST_OBJECT_UNLOCK (self);
      gst_coordtok_answer_caps_query (query, caps);
      return TRUE;
    }
    case GST_QUERY_LATENCY:{
      if (!gst_coordtok_element_src_query (pad, parent, query))
        return FALSE;
      gboolean live;
      GstClockTime min, max;
      gst_query_parse_latency (query, &live, &min, &max);
      gst_coordtok_dec_set_live (self, live, min);
      return TRUE;
    }
    default:
      return gst_coordtok_element_src_query (pad, parent, query);
  }
}

/* The model is loaded: the properties fit it; the processing time before
 * the first measurement is one window of one tile at 50 GFLOP/s. */
static gboolean
start (GstCoordTokElement * base)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (base);
  const CtConfig *c = ct_model_config (base->model);
  gst_coordtok_element_set_latency (base, 0, (GstClockTime) (ct_config_decode_flops (c,
              (gint64) ct_config_nt (c) * ct_config_nx (c) * ct_config_ny (c),
              c->default_slice) / 50e9 * GST_SECOND));
  return gst_coordtok_dec_check_properties (self);
}

/* A fresh stream's state (READY <-> PAUSED). */
static void
reset (GstCoordTokElement * base)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (base);
  self->have_caps = FALSE;
  self->have_out_info = FALSE;
  self->discont = FALSE;
  g_clear_pointer (&self->refusal, g_free);   /* none is left at finalize */
  self->qos_processed = self->qos_dropped = 0;
  GST_OBJECT_LOCK (self);
  self->earliest_time = GST_CLOCK_TIME_NONE;
  ct_live_deadline_reset (&self->deadline);
  GST_OBJECT_UNLOCK (self);
  gst_segment_init (&self->segment, GST_FORMAT_UNDEFINED);
}

/* The unsigned preview properties' fields, by id; NULL for the others. */
static guint *
preview_field (GstCoordTokDec * self, guint prop_id)
{
  switch (prop_id) {
    case PROP_FRAME_OFFSET: return &self->frame_offset;
    case PROP_FRAME_COUNT: return &self->frame_count;
    case PROP_REGION_LEFT: return &self->region_left;
    case PROP_REGION_TOP: return &self->region_top;
    case PROP_REGION_WIDTH: return &self->region_width;
    case PROP_REGION_HEIGHT: return &self->region_height;
    default: return NULL;
  }
}

/* Every property of the decoder's own may change at any time: the worker
 * reads them before each record. */
static void
gst_coordtok_dec_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (object);
  guint *field = preview_field (self, prop_id);

  GST_OBJECT_LOCK (self);
  if (field)
    *field = g_value_get_uint (value);
  else if (prop_id == PROP_SLICE)
    self->slice = g_value_get_int (value);
  else if (prop_id == PROP_LATENCY_MARGIN)
    self->deadline.margin = g_value_get_uint64 (value);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  GST_OBJECT_UNLOCK (self);
}

static void
gst_coordtok_dec_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstCoordTokDec *self = GST_COORDTOK_DEC (object);
  guint *field = preview_field (self, prop_id);

  GST_OBJECT_LOCK (self);
  if (field)
    g_value_set_uint (value, *field);
  else if (prop_id == PROP_SLICE)       /* 0 reads back as the model's default */
    g_value_set_int (value, (self->slice <= 0 && self->base.model) ?
        ct_model_config (self->base.model)->default_slice : self->slice);
  else if (prop_id == PROP_LATENCY_MARGIN)
    g_value_set_uint64 (value, self->deadline.margin);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  GST_OBJECT_UNLOCK (self);
}

/* frame-offset, frame-count and the region: unsigned, 0 by default, read at
 * each record, so changeable while PLAYING */
#define PREVIEW_MUTABLE "Changeable at any time; applies from the next token record"
static void
install_preview_property (GObjectClass * klass, guint id, const char *name,
    const char *nick, const char *blurb)
{
  g_object_class_install_property (klass, id, g_param_spec_uint (name, nick,
          blurb, 0, G_MAXUINT, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
}

static void
gst_coordtok_dec_class_init (GstCoordTokDecClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstCoordTokElementClass *base_class = GST_COORDTOK_ELEMENT_CLASS (klass);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "CoordTok video tokenizer decoder", "Codec/Decoder/Video",
      "Decodes CoordTok token buffers into raw video frames by querying every "
      "(t, x, y) patch coordinate", "gst-coordtok developers");
  GST_DEBUG_CATEGORY_INIT (coordtokdec_debug, "coordtokdec", 0,
      "CoordTok decoder");
  gobject_class->set_property = gst_coordtok_dec_set_property;
  gobject_class->get_property = gst_coordtok_dec_get_property;
  base_class->start = start;
  base_class->reset = reset;
  base_class->flush = flush;
  /* the model's properties are the base class's */

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
  install_preview_property (gobject_class, PROP_FRAME_OFFSET,
      "frame-offset", "Frame offset",
      "Preview: decode only frames from this index of each window (a "
      "multiple of the decoder's patch length); windows with fewer frames "
      "produce no output. " PREVIEW_MUTABLE);
  /**
   * coordtokdec:frame-count:
   *
   * Preview: decode at most this many frames of each window; 0: all.
   */
  install_preview_property (gobject_class, PROP_FRAME_COUNT,
      "frame-count", "Frame count",
      "Preview: decode at most this many frames of each window, from "
      "frame-offset (only their patch coordinates are queried, so it is "
      "proportionally cheaper). 0: all. " PREVIEW_MUTABLE);
  /* spatial preview: output frames are the region, only its patches are
   * queried; like frame-offset, changeable while PLAYING */
#define REGION_MUTABLE PREVIEW_MUTABLE " (the output caps follow the " \
    "region's size)"
  /**
   * coordtokdec:region-left:
   *
   * Preview: first column of the decoded box (frame pixels).
   */
  install_preview_property (gobject_class, PROP_REGION_LEFT,
      "region-left", "Region left",
      "Preview: first column (pixels) of the decoded region, a multiple of "
      "the model's decoded patch size (8 for CoordTok-L). " REGION_MUTABLE);
  /**
   * coordtokdec:region-top:
   *
   * Preview: first row of the decoded box (frame pixels).
   */
  install_preview_property (gobject_class, PROP_REGION_TOP,
      "region-top", "Region top",
      "Preview: first row (pixels) of the decoded region, a multiple of the "
      "patch size. " REGION_MUTABLE);
  /**
   * coordtokdec:region-width:
   *
   * Preview: width of the box; 0: to the right edge.
   */
  install_preview_property (gobject_class, PROP_REGION_WIDTH,
      "region-width", "Region width",
      "Preview: width (pixels) of the decoded region, a multiple of the "
      "patch size; the output frames have this width. 0: to the right "
      "edge. Only the region's patch coordinates are queried, so it is "
      "proportionally cheaper. " REGION_MUTABLE);
  /**
   * coordtokdec:region-height:
   *
   * Preview: height of the box; 0: to the bottom edge.
   */
  install_preview_property (gobject_class, PROP_REGION_HEIGHT,
      "region-height", "Region height",
      "Preview: height (pixels) of the decoded region, a multiple of the "
      "patch size; the output frames have this height. 0: to the bottom "
      "edge. " REGION_MUTABLE);
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
          "with a QoS message, whatever the sink does. Changeable at any time",
          0, G_MAXUINT64, GST_SECOND, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
}

static void
gst_coordtok_dec_init (GstCoordTokDec * self)
{
  gst_coordtok_element_add_pads (&self->base, &sink_template, &src_template,
      gst_coordtok_dec_chain, DEC_MAX_RECORDS, gst_coordtok_dec_decode_record,
      gst_coordtok_dec_record_free);
  gst_pad_set_event_function (self->base.sinkpad, gst_coordtok_dec_sink_event);
  gst_pad_set_query_function (self->base.srcpad, gst_coordtok_dec_src_query);
  gst_pad_set_event_function (self->base.srcpad, gst_coordtok_dec_src_event);
  self->base.worker.event_func = gst_coordtok_dec_worker_event;
  ct_live_deadline_reset (&self->deadline);
  self->deadline.margin = GST_SECOND;
  gst_segment_init (&self->segment, GST_FORMAT_UNDEFINED);
}
