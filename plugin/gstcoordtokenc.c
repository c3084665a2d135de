/* gstcoordtokenc.c - coordtokenc: raw video windows -> CoordTok token records.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A plain GstElement (not GstVideoEncoder: that class counts every frame
 * finished without output as a QoS drop, i.e. T-1 per window).  Frames of
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
#include "gstcoordtokenc.h"
#include "gstcoordtokworker.h"
#include "coordtok-enc-memory.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (coordtokenc_debug);
#define GST_CAT_DEFAULT coordtokenc_debug

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_CUDA_DEVICE_ID,
  PROP_DTYPE,
  PROP_MODEL_ID,
  PROP_THREADS,
  PROP_WINDOW,
  PROP_MAX_MEMORY,
};

#define DEFAULT_DEVICE GST_COORDTOK_DEVICE_AUTO
#define DEFAULT_DTYPE GST_COORDTOK_DTYPE_F32

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
  GstElement parent;
  GstPad *sinkpad, *srcpad;

  /* properties (object lock) */
  gchar *model_path;
  GstCoordTokDevice device;
  gint cuda_device_id;
  guint threads;
  GstCoordTokDType dtype;
  guint64 max_memory;           /* bytes; 0: half of the machine's memory */

  /* READY and up */
  CtModel *model;
  CtSession *session;
  gint threads_applied;          /* engine setting last applied (worker) */

  /* upstream thread */
  GstVideoInfo info;
  gboolean have_info;
  Window *cur;                  /* window being collected, or NULL */
  guint64 frames_in;            /* frame counter (OFFSET of token buffers) */
  GQueue pending;               /* serialized events waiting for cur */
  gboolean discont;             /* next window gets DISCONT */

  /* the worker thread */
  GstCoordTokWorker worker;
  float *z;                     /* token planes of every tile */
  gsize z_cap;
  Window *spare;                /* a finished window for reuse (object lock) */

  /* latency (object lock) */
  GstClockTime window_time;     /* T frames at the input framerate */
  GstClockTime encode_time;     /* processing: measured, or estimated */
  GstClockTime reported;        /* what the last LATENCY answer said */
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
        "version = (int) 2, dtype = (string) { f32, f16, bf16 }, "
        "window = (int) [ 1, MAX ], width = (int) [ 1, MAX ], "
        "height = (int) [ 1, MAX ], framerate = (fraction) [ 0/1, MAX ], "
        "pixel-aspect-ratio = (fraction) [ 1/MAX, MAX ], "
        "tile-width = (int) [ 1, MAX ], tile-height = (int) [ 1, MAX ], "
        "tiles-x = (int) [ 1, MAX ], tiles-y = (int) [ 1, MAX ], "
        "rxy = (int) [ 1, MAX ], rt = (int) [ 1, MAX ], "
        "channels = (int) [ 1, MAX ], model-id = (string) ANY"));

static void
window_free (Window * w)
{
  if (!w)
    return;
  g_free (w->rgb);
  g_free (w->times);
  g_free (w);
}

/* A window for frames of the current caps: the spare one when it is big
 * enough, else a new one (NULL when out of memory). */
static Window *
window_new (GstCoordTokEnc * self)
{
  const CtConfig *c = ct_model_config (self->model);
  gsize frame = (gsize) GST_VIDEO_INFO_WIDTH (&self->info) *
      GST_VIDEO_INFO_HEIGHT (&self->info) * 3;
  Window *w;

  GST_OBJECT_LOCK (self);
  w = self->spare;
  self->spare = NULL;
  GST_OBJECT_UNLOCK (self);
  if (w && w->capacity < frame * c->T) {
    window_free (w);
    w = NULL;
  }
  if (!w) {
    w = g_new0 (Window, 1);
    w->owner = self;
    w->capacity = frame * c->T;
    w->rgb = g_try_malloc (w->capacity);
    w->times = g_new0 (CtTokensFrameTime, c->T);
    if (!w->rgb) {
      window_free (w);
      return NULL;
    }
  }
  w->n = 0;
  w->width = GST_VIDEO_INFO_WIDTH (&self->info);
  w->height = GST_VIDEO_INFO_HEIGHT (&self->info);
  w->fps_n = GST_VIDEO_INFO_FPS_N (&self->info);
  w->fps_d = GST_VIDEO_INFO_FPS_D (&self->info);
  w->par_n = GST_VIDEO_INFO_PAR_N (&self->info);
  w->par_d = GST_VIDEO_INFO_PAR_D (&self->info);
  w->discont = self->discont;
  self->discont = FALSE;
  return w;
}

/* The worker's free function: keep one window for reuse. */
static void
window_recycle (gpointer data)
{
  Window *w = data;
  GstCoordTokEnc *self = w->owner;
  GST_OBJECT_LOCK (self);
  if (!self->spare) {
    self->spare = w;
    w = NULL;
  }
  GST_OBJECT_UNLOCK (self);
  window_free (w);
}

static void
reset_window (GstCoordTokEnc * self)
{
  window_free (self->cur);
  self->cur = NULL;
  g_queue_clear_full (&self->pending, (GDestroyNotify) gst_event_unref);
}

/* Record duration: the sum of the frames' durations; frames without one
 * count as 1/framerate (computed for the whole window, not accumulated). */
static guint64
window_duration (const Window * w)
{
  guint64 sum = 0;
  guint missing = 0;
  for (guint i = 0; i < w->n; i++) {
    if (w->times[i].duration == CT_TOKENS_TIME_NONE)
      missing++;
    else
      sum += w->times[i].duration;
  }
  if (missing && w->fps_n <= 0)
    return CT_TOKENS_TIME_NONE;
  if (missing)
    sum += gst_util_uint64_scale (missing, GST_SECOND * w->fps_d, w->fps_n);
  return sum;
}

static gboolean fill_header (GstCoordTokEnc * self, const Window * w,
    CtTokensHeader * h, GError ** error);

/* Worker thread: encodes one window (every tile in one batch) and pushes
 * its token record. */
static GstFlowReturn
encode_window (GstElement * element, gpointer data)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (element);
  const CtConfig *c = ct_model_config (self->model);
  Window *w = data;
  GError *err = NULL;
  CtTokensHeader h;
  GstBuffer *buf;
  GstMapInfo map;
  gint64 t0;

  if (!fill_header (self, w, &h, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, ENCODE, ("%s", err->message), (NULL));
    g_clear_error (&err);
    return GST_FLOW_ERROR;
  }
  gsize need = ct_tokens_n_elems (&h);
  if (need > self->z_cap) {
    g_free (self->z);
    self->z = g_try_malloc (need * sizeof (float));
    self->z_cap = self->z ? need : 0;
    if (!self->z) {
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
          ("Out of memory for the tokens of %u tiles", ct_tokens_n_tiles (&h)), (NULL));
      return GST_FLOW_ERROR;
    }
  }
  gst_coordtok_apply_threads (element, self->sinkpad, self->session,
      &self->threads, &self->threads_applied);
  t0 = g_get_monotonic_time ();
  if (!ct_session_encode_rgb8 (self->session, w->rgb, w->width, w->height,
          (gsize) w->width * 3, (gsize) w->width * w->height * 3, w->n, self->z,
          &err)) {
    GST_ELEMENT_ERROR (self, STREAM, ENCODE,
        ("CoordTok encoding failed: %s", err->message), (NULL));
    g_clear_error (&err);
    return GST_FLOW_ERROR;
  }
  GstClockTime took = (g_get_monotonic_time () - t0) * GST_USECOND;
  GST_INFO_OBJECT (self, "encoded a window of %u/%d frames, %u tiles, in %.1f ms on %s",
      w->n, c->T, ct_tokens_n_tiles (&h), took / 1e6,
      ct_session_device_name (self->session));

  /* processing latency: the slowest window so far, reported again when a
   * window takes longer than what the pipeline was told */
  gboolean repost = FALSE;
  GST_OBJECT_LOCK (self);
  if (took > self->encode_time || self->encode_time == GST_CLOCK_TIME_NONE) {
    self->encode_time = took;
    repost = self->reported != GST_CLOCK_TIME_NONE &&
        self->window_time + took > self->reported;
  }
  GST_OBJECT_UNLOCK (self);
  if (repost) {
    GST_INFO_OBJECT (self, "a window took %" GST_TIME_FORMAT ": latency grows",
        GST_TIME_ARGS (took));
    gst_element_post_message (element, gst_message_new_latency (GST_OBJECT (self)));
  }

  buf = gst_buffer_new_allocate (NULL, ct_tokens_record_size (&h), NULL);
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  if (!ct_tokens_pack (&h, w->times, self->z, map.data, map.size, &err)) {
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, STREAM, ENCODE,
        ("Packing CoordTok tokens failed: %s", err->message), (NULL));
    g_clear_error (&err);
    return GST_FLOW_ERROR;
  }
  gst_buffer_unmap (buf, &map);

  GST_BUFFER_PTS (buf) = h.pts;
  GST_BUFFER_DTS (buf) = h.pts;
  GST_BUFFER_DURATION (buf) = h.duration;
  GST_BUFFER_OFFSET (buf) = w->offset_end - w->n;
  GST_BUFFER_OFFSET_END (buf) = w->offset_end;
  if (w->discont)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  GST_DEBUG_OBJECT (self, "pushing %" GST_PTR_FORMAT, buf);
  return gst_pad_push (self->srcpad, buf);
}

static gboolean
fill_header (GstCoordTokEnc * self, const Window * w, CtTokensHeader * h,
    GError ** error)
{
  if (!ct_tokens_header_init_tiled (h, self->model, (CtTokensDType) self->dtype,
          MAX (w->n, 1), w->width, w->height, error))
    return FALSE;
  if (w->fps_n > 0) {
    h->fps_n = w->fps_n;
    h->fps_d = w->fps_d;
  }
  if (w->par_n > 0 && w->par_d > 0) {
    h->par_n = w->par_n;
    h->par_d = w->par_d;
  }
  h->pts = w->n ? w->times[0].pts : CT_TOKENS_TIME_NONE;
  h->duration = window_duration (w);
  return TRUE;
}

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
    ret = gst_coordtok_worker_push (&self->worker, w);
  } else {
    window_free (w);
  }
  while ((ev = g_queue_pop_head (&self->pending)))
    gst_coordtok_worker_push_event (&self->worker, ev);
  return ret;
}

static GstFlowReturn
gst_coordtok_enc_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (parent);
  const CtConfig *c = ct_model_config (self->model);
  GstVideoFrame frame;
  GstFlowReturn ret;

  if (!self->have_info) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before the first buffer"),
        (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  /* what the worker met downstream (an error, EOS, not-linked) */
  ret = gst_coordtok_worker_flow (&self->worker);
  if (ret != GST_FLOW_OK) {
    gst_buffer_unref (buf);
    return ret;
  }

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
  if (!self->cur && !(self->cur = window_new (self))) {
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
  const CtConfig *c = ct_model_config (self->model);
  CtTileGrid g;
  if (!ct_tile_grid_init (&g, c, width, height, NULL))
    return 0;
  return (GstClockTime) (ct_config_encode_flops (c) * ct_tile_grid_n_tiles (&g)
      / 50e9 * GST_SECOND);
}

static gboolean
set_caps (GstCoordTokEnc * self, GstCaps * caps)
{
  const CtConfig *c = ct_model_config (self->model);
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
  if (!fill_header (self, &probe, &h, &err)) {
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
    self->cur = window_new (self);
    Window *second = window_new (self);
    if (second)
      window_recycle (second);
  }
  GST_INFO_OBJECT (self, "%dx%d frames: %u x %u tiles of %dx%d (%u tokens per window)",
      probe.width, probe.height, h.tiles_x, h.tiles_y, c->W, c->H,
      ct_tokens_n_tiles (&h) * (c->rxy * c->rxy + 2 * c->rt * c->rxy));

  src_caps = gst_coordtok_token_caps_from_header (&h);
  GST_DEBUG_OBJECT (self, "src caps %" GST_PTR_FORMAT, src_caps);
  gst_coordtok_worker_push_event (&self->worker, gst_event_new_caps (src_caps));
  gst_caps_unref (src_caps);

  GstClockTime window = 0;
  if (GST_VIDEO_INFO_FPS_N (&info) > 0)
    window = gst_util_uint64_scale (c->T * GST_SECOND, GST_VIDEO_INFO_FPS_D (&info),
        GST_VIDEO_INFO_FPS_N (&info));
  GST_OBJECT_LOCK (self);
  gboolean changed = window != self->window_time;
  self->window_time = window;
  self->encode_time = estimate_encode_time (self, probe.width, probe.height);
  GST_OBJECT_UNLOCK (self);
  if (changed) {
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
      gst_coordtok_worker_push_event (&self->worker, event);
      return TRUE;
    case GST_EVENT_FLUSH_START:
      return gst_coordtok_worker_flush_start (&self->worker, event);
    case GST_EVENT_FLUSH_STOP:
      GST_DEBUG_OBJECT (self, "flush: discarding %u frames", n);
      reset_window (self);
      self->discont = TRUE;
      return gst_coordtok_worker_flush_stop (&self->worker, event);
    default:
      if (GST_EVENT_IS_SERIALIZED (event)) {
        if (n > 0) {
          GST_DEBUG_OBJECT (self, "queueing %s until the window is pushed",
              GST_EVENT_TYPE_NAME (event));
          g_queue_push_tail (&self->pending, event);
        } else {
          gst_coordtok_worker_push_event (&self->worker, event);
        }
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
      /* any size: frames larger than the model's are tiled */
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
        gst_coordtok_worker_drain (&self->worker);
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
      /* a frame leaves as tokens one window and one encode after it came */
      GST_OBJECT_LOCK (self);
      lat = self->window_time + (GST_CLOCK_TIME_IS_VALID (self->encode_time) ?
          self->encode_time : 0);
      self->reported = lat;
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
start (GstCoordTokEnc * self)
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
  GST_INFO_OBJECT (self, "model %s (id %s, T=%d, %dx%d, planes %dx%d/%dx%d x%d, "
      "%" G_GINT64_FORMAT " parameters) on device %s, tokens %s",
      ct_model_path (model), ct_model_id (model), c->T, c->W, c->H, c->rxy,
      c->rxy, c->rt, c->rxy, c->channels, ct_model_n_params (model),
      ct_session_device_name (session), ct_tokens_dtype_name ((CtTokensDType) self->dtype));
  gchar *cpu = gst_coordtok_cpu_description (session);
  if (cpu)
    GST_INFO_OBJECT (self, "%s", cpu);
  g_free (cpu);

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
  g_clear_pointer (&self->z, g_free);
  self->z_cap = 0;
  window_free (self->spare);
  self->spare = NULL;
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
      self->window_time = 0;
      self->encode_time = GST_CLOCK_TIME_NONE;
      self->reported = GST_CLOCK_TIME_NONE;
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE)
    return ret;

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      if (self->cur && self->cur->n)
        GST_DEBUG_OBJECT (self, "discarding %u frames on stop", self->cur->n);
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
          prop_id == PROP_CUDA_DEVICE_ID ||
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
    case PROP_CUDA_DEVICE_ID:
      self->cuda_device_id = g_value_get_int (value);
      break;
    case PROP_DTYPE:
      self->dtype = g_value_get_enum (value);
      break;
    case PROP_MAX_MEMORY:
      self->max_memory = g_value_get_uint64 (value);
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
    case PROP_CUDA_DEVICE_ID:
      g_value_set_int (value, self->cuda_device_id);
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
    case PROP_MAX_MEMORY:
      g_value_set_uint64 (value, self->max_memory);
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
  gst_coordtok_worker_clear (&self->worker);
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

  /**
   * coordtokenc:model:
   *
   * The weight file (safetensors); NULL or empty: the default model.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "CoordTok weight file (safetensors). NULL or empty: the default model "
          "(src/models/coordtok-default.safetensors in the build tree, "
          "$datadir/coordtok after install, $COORDTOK_MODEL_DIR first). "
          "A file used by several elements is loaded once and shared. "
          "Changeable only in the NULL state",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * coordtokenc:device:
   *
   * Where the model runs: auto (CUDA when usable, else the CPU), cpu, cuda.
   */
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_enum ("device", "Device",
          "Where the model runs. Changeable only in the NULL state",
          GST_TYPE_COORDTOK_DEVICE, DEFAULT_DEVICE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
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
   * coordtokenc:threads:
   *
   * CPU threads for the model; 0: all cores (adaptive in live pipelines).
   */
  gst_coordtok_install_threads_property (gobject_class, PROP_THREADS);
  /**
   * coordtokenc:cuda-device-id:
   *
   * CUDA device to run on, as nvcodec's elements pick theirs; -1: the
   * default ($COORDTOK_CUDA_DEVICE, else 0).
   */
  gst_coordtok_install_cuda_device_property (gobject_class, PROP_CUDA_DEVICE_ID);
  /**
   * coordtokenc:model-id:
   *
   * Identifier of the loaded model, written into caps and records.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL_ID,
      g_param_spec_string ("model-id", "Model id",
          "Identifier of the loaded model (ct_model_id: first 16 hex digits of "
          "the SHA-256 of the weight file), written into caps and token headers; "
          "NULL until the element is READY",
          NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
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
          "0: half of the machine's physical memory",
          0, G_MAXUINT64, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

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
  gst_pad_set_event_function (self->srcpad, gst_coordtok_enc_src_event);
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
  gst_coordtok_worker_init (&self->worker, GST_ELEMENT (self), self->srcpad, 1,
      encode_window, window_recycle);

  self->device = DEFAULT_DEVICE;
  self->cuda_device_id = GST_COORDTOK_DEFAULT_CUDA_DEVICE_ID;
  self->dtype = DEFAULT_DTYPE;
  g_queue_init (&self->pending);
}
