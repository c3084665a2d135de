/* gstcoordtokelement.c - GstCoordTokElement: the model, its properties,
 * the session, the worker thread, state changes, latency and statistics of
 * both coordtok elements, written once (gstcoordtokelement.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * SECTION:gstcoordtokelement
 * @title: GstCoordTokElement
 * @see_also: coordtokenc, coordtokdec
 *
 * The abstract base of coordtokenc and coordtokdec.  It loads the model
 * when the element goes to READY (a weight file used by several elements
 * is loaded once and shared), runs the network on the element's own
 * thread, answers LATENCY queries with the processing time measured so far
 * and counts what the element did in the read-only `stats` property.
 *
 * Since: 0.1
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gstcoordtokelement.h"

GST_DEBUG_CATEGORY_STATIC (coordtokelement_debug);
#define GST_CAT_DEFAULT coordtokelement_debug

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_CUDA_DEVICE_ID,
  PROP_THREADS,
  PROP_MODEL_ID,
  PROP_STATS,
};

#define DEFAULT_DEVICE GST_COORDTOK_DEVICE_AUTO
#define DEFAULT_CUDA_DEVICE_ID (-1)

#define gst_coordtok_element_parent_class parent_class
G_DEFINE_ABSTRACT_TYPE (GstCoordTokElement, gst_coordtok_element, GST_TYPE_ELEMENT);

void
gst_coordtok_element_add_pads (GstCoordTokElement * self,
    GstStaticPadTemplate * sink_template, GstStaticPadTemplate * src_template,
    GstPadChainFunction chain, guint max_items, GstCoordTokWorkFunc work,
    GDestroyNotify free_item)
{
  self->sinkpad = gst_pad_new_from_static_template (sink_template, "sink");
  self->srcpad = gst_pad_new_from_static_template (src_template, "src");
  gst_pad_set_chain_function (self->sinkpad, chain);
  gst_pad_set_event_function (self->sinkpad, gst_coordtok_element_sink_event);
  gst_pad_set_query_function (self->srcpad, gst_coordtok_element_src_query);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
  gst_coordtok_worker_init (&self->worker, GST_ELEMENT (self), self->srcpad,
      max_items, work, free_item);
}

gboolean
gst_coordtok_element_chain_ready (GstCoordTokElement * self, gboolean have_caps,
    GstBuffer * buf, GstFlowReturn * ret)
{
  if (!have_caps) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before the first buffer"),
        (NULL));
    *ret = GST_FLOW_NOT_NEGOTIATED;
  } else {
    /* what the worker met downstream (an error, EOS, not-linked) */
    *ret = gst_coordtok_worker_flow (&self->worker);
  }
  if (*ret == GST_FLOW_OK)
    return TRUE;
  gst_buffer_unref (buf);
  return FALSE;
}

gboolean
gst_coordtok_element_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstCoordTokElement *self = GST_COORDTOK_ELEMENT (parent);
  GstCoordTokElementClass *klass = GST_COORDTOK_ELEMENT_GET_CLASS (self);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      return gst_coordtok_worker_flush_start (&self->worker, event);
    case GST_EVENT_FLUSH_STOP:
      gst_coordtok_worker_pause (&self->worker);
      if (klass->flush)
        klass->flush (self);
      return gst_coordtok_worker_flush_stop (&self->worker, event);
    default:
      if (GST_EVENT_IS_SERIALIZED (event)) {
        gst_coordtok_worker_push_event (&self->worker, event);
        return TRUE;
      }
      return gst_pad_event_default (pad, parent, event);
  }
}

gboolean
gst_coordtok_element_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstCoordTokElement *self = GST_COORDTOK_ELEMENT (parent);
  gboolean live;
  GstClockTime min, max, lat;

  if (GST_QUERY_TYPE (query) != GST_QUERY_LATENCY)
    return gst_pad_query_default (pad, parent, query);
  if (!gst_pad_peer_query (self->sinkpad, query))
    return FALSE;
  gst_query_parse_latency (query, &live, &min, &max);
  GST_OBJECT_LOCK (self);
  lat = self->fixed_latency + (GST_CLOCK_TIME_IS_VALID (self->processing) ?
      self->processing : 0);
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

static gboolean
upstream_is_live (GstPad * sinkpad)
{
  GstQuery *q = gst_query_new_latency ();
  gboolean live = FALSE;
  if (gst_pad_peer_query (sinkpad, q))
    gst_query_parse_latency (q, &live, NULL, NULL);
  gst_query_unref (q);
  return live;
}

void
gst_coordtok_element_apply_threads (GstCoordTokElement * self)
{
  GST_OBJECT_LOCK (self);
  guint wanted = self->threads;
  GST_OBJECT_UNLOCK (self);
  /* the engine's thread count is per calling thread: set from the worker */
  gint engine = wanted > 0 ? (gint) wanted :
      upstream_is_live (self->sinkpad) ? CT_THREADS_ADAPTIVE : 0;
  if (engine == self->threads_applied)
    return;
  GST_INFO_OBJECT (self, "threads: %s", engine > 0 ? "fixed count" :
      engine == 0 ? "all cores (not live)" : "adaptive (live pipeline)");
  ct_session_set_threads (self->session, engine);
  self->threads_applied = engine;
}

gboolean
gst_coordtok_element_set_latency (GstCoordTokElement * self, GstClockTime fixed,
    GstClockTime processing)
{
  GST_OBJECT_LOCK (self);
  gboolean changed = fixed != self->fixed_latency;
  self->fixed_latency = fixed;
  self->processing = processing;
  GST_OBJECT_UNLOCK (self);
  return changed;
}

void
gst_coordtok_element_processed (GstCoordTokElement * self, GstClockTime took)
{
  gboolean repost = FALSE;
  GST_OBJECT_LOCK (self);
  if (!GST_CLOCK_TIME_IS_VALID (self->processing) || took > self->processing) {
    self->processing = took;
    repost = GST_CLOCK_TIME_IS_VALID (self->reported) &&
        self->fixed_latency + took > self->reported;
  }
  GST_OBJECT_UNLOCK (self);
  if (repost) {
    GST_INFO_OBJECT (self, "a window took %" GST_TIME_FORMAT ": latency grows",
        GST_TIME_ARGS (took));
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
  }
}

void
gst_coordtok_element_count (GstCoordTokElement * self, guint64 windows,
    guint64 frames, gdouble engine_seconds, guint64 dropped, guint64 skipped)
{
  GST_OBJECT_LOCK (self);
  self->windows += windows;
  self->frames += frames;
  self->engine_seconds += engine_seconds;
  self->dropped += dropped;
  self->skipped += skipped;
  GST_OBJECT_UNLOCK (self);
}

/* Loads the model and starts the session (NULL -> READY). */
static gboolean
start (GstCoordTokElement * self)
{
  GstCoordTokElementClass *klass = GST_COORDTOK_ELEMENT_GET_CLASS (self);
  CtModel *model;
  CtSession *session;

  GST_OBJECT_LOCK (self);
  gchar *path = g_strdup (self->model_path);
  GstCoordTokDevice device = self->device;
  gint cuda_device_id = self->cuda_device_id;
  GST_OBJECT_UNLOCK (self);

  gboolean ok = gst_coordtok_open (GST_ELEMENT (self), path, device,
      cuda_device_id, &model, &session);
  g_free (path);
  if (!ok)
    return FALSE;
  const CtConfig *c = ct_model_config (model);
  GST_INFO_OBJECT (self, "model %s (id %s, T=%d, %dx%d, planes %dx%d/%dx%d x%d, "
      "default slice %d, %" G_GINT64_FORMAT " parameters) on device %s",
      ct_model_path (model), ct_model_id (model), c->T, c->W, c->H, c->rxy,
      c->rxy, c->rt, c->rxy, c->channels, c->default_slice,
      ct_model_n_params (model), ct_session_device_name (session));
  gchar *cpu = gst_coordtok_cpu_description (session);
  if (cpu)
    GST_INFO_OBJECT (self, "%s", cpu);
  g_free (cpu);

  GST_OBJECT_LOCK (self);
  self->model = model;
  self->session = session;
  self->threads_applied = GST_COORDTOK_THREADS_UNSET;
  GST_OBJECT_UNLOCK (self);
  return !klass->start || klass->start (self);
}

static void
stop (GstCoordTokElement * self)
{
  GstCoordTokElementClass *klass = GST_COORDTOK_ELEMENT_GET_CLASS (self);
  if (klass->stop)
    klass->stop (self);
  GST_OBJECT_LOCK (self);
  CtModel *model = self->model;
  CtSession *session = self->session;
  self->model = NULL;
  self->session = NULL;
  GST_OBJECT_UNLOCK (self);
  if (session)
    ct_session_free (session);
  if (model)
    ct_model_unref (model);
}

static void
reset (GstCoordTokElement * self)
{
  GstCoordTokElementClass *klass = GST_COORDTOK_ELEMENT_GET_CLASS (self);
  if (klass->reset)
    klass->reset (self);
}

static GstStateChangeReturn
gst_coordtok_element_change_state (GstElement * element, GstStateChange transition)
{
  GstCoordTokElement *self = GST_COORDTOK_ELEMENT (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      if (!start (self)) {
        stop (self);
        return GST_STATE_CHANGE_FAILURE;
      }
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      GST_OBJECT_LOCK (self);
      self->reported = GST_CLOCK_TIME_NONE;
      self->windows = self->frames = self->dropped = self->skipped = 0;
      self->engine_seconds = 0;
      GST_OBJECT_UNLOCK (self);
      reset (self);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE)
    return ret;

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      reset (self);
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      stop (self);
      break;
    default:
      break;
  }
  return ret;
}

static GstStructure *
stats_structure (GstCoordTokElement * self)
{
  return gst_structure_new ("coordtok-stats",
      "windows", G_TYPE_UINT64, self->windows,
      "frames", G_TYPE_UINT64, self->frames,
      "engine-seconds", G_TYPE_DOUBLE, self->engine_seconds,
      "dropped", G_TYPE_UINT64, self->dropped,
      "skipped", G_TYPE_UINT64, self->skipped, NULL);
}

static void
gst_coordtok_element_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstCoordTokElement *self = GST_COORDTOK_ELEMENT (object);

  GST_OBJECT_LOCK (self);
  if (self->model && prop_id != PROP_THREADS) {
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
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_coordtok_element_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstCoordTokElement *self = GST_COORDTOK_ELEMENT (object);

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
    case PROP_MODEL_ID:
      g_value_set_string (value, self->model ? ct_model_id (self->model) : NULL);
      break;
    case PROP_STATS:
      g_value_take_boxed (value, stats_structure (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_coordtok_element_finalize (GObject * object)
{
  GstCoordTokElement *self = GST_COORDTOK_ELEMENT (object);
  gst_coordtok_worker_clear (&self->worker);
  stop (self);
  g_free (self->model_path);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
install_properties (GObjectClass * gobject_class)
{
  /**
   * GstCoordTokElement:model:
   *
   * The weight file (safetensors); NULL or empty: the default model.  A
   * decoder's must be its encoder's (the stream's model id is checked).
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "CoordTok weight file (safetensors); a decoder's must be the "
          "encoder's model (the stream's model-id is checked). NULL or empty: "
          "the default model (linked into libcoordtok; a "
          "coordtok-default.safetensors in $COORDTOK_MODEL_DIR or "
          "$datadir/coordtok replaces it). "
          "A file used by several elements is loaded once and shared. "
          "Changeable only in the NULL state",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * GstCoordTokElement:device:
   *
   * Where the model runs: auto (CUDA when usable, else the CPU), cpu, cuda.
   */
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_enum ("device", "Device",
          "Where the model runs. Changeable only in the NULL state",
          GST_TYPE_COORDTOK_DEVICE, DEFAULT_DEVICE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * GstCoordTokElement:cuda-device-id:
   *
   * CUDA device to run on, as nvcodec's elements pick theirs; -1: the
   * default ($COORDTOK_CUDA_DEVICE, else 0).
   */
  g_object_class_install_property (gobject_class, PROP_CUDA_DEVICE_ID,
      g_param_spec_int ("cuda-device-id", "CUDA device id",
          "CUDA device to run on (device=cuda or auto), numbered as "
          "cudaSetDevice counts them (after CUDA_VISIBLE_DEVICES). -1: "
          "$COORDTOK_CUDA_DEVICE, else device 0. With device=auto a missing "
          "device falls back to the CPU. Changeable only in the NULL state",
          -1, 1023, DEFAULT_CUDA_DEVICE_ID,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * GstCoordTokElement:threads:
   *
   * CPU threads for the model; 0: the cores other processes leave free
   * (adaptive in live pipelines).
   * Read by the worker before each window, so it may change while PLAYING.
   */
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_uint ("threads", "Threads",
          "CPU threads for the model. 0 = automatic: the cores other "
          "processes leave free at each call (same outputs as any fixed "
          "count, except with the avx2 kernels' oneDNN path, where it stays "
          "all cores); in a live pipeline, adaptive: one fewer while other "
          "busy processes make that faster. "
          "Changeable at any time; applies from the next window",
          0, 256, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstCoordTokElement:model-id:
   *
   * Identifier of the loaded model, written into caps and records.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL_ID,
      g_param_spec_string ("model-id", "Model id",
          "Identifier of the loaded model (ct_model_id: first 16 hex digits of "
          "the SHA-256 of the weight file), written into caps and token "
          "headers; NULL until the element is READY",
          NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstCoordTokElement:stats:
   *
   * What the element did since it last went to PAUSED: a `coordtok-stats`
   * structure with windows, frames, engine-seconds, dropped and skipped.
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "What the element did since it last went to PAUSED (coordtok-stats): "
          "windows (token records encoded or decoded), frames (frames encoded, "
          "or decoded and pushed), engine-seconds (time in the network), "
          "dropped (frames not encoded because a flush discarded them, or not "
          "decoded because QoS said they were late), skipped (damaged token "
          "records passed over by the decoder)",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
}

static void
gst_coordtok_element_class_init (GstCoordTokElementClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->set_property = gst_coordtok_element_set_property;
  gobject_class->get_property = gst_coordtok_element_get_property;
  gobject_class->finalize = gst_coordtok_element_finalize;
  element_class->change_state = gst_coordtok_element_change_state;
  install_properties (gobject_class);

  gst_type_mark_as_plugin_api (GST_TYPE_COORDTOK_ELEMENT, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_COORDTOK_DEVICE, 0);
  GST_DEBUG_CATEGORY_INIT (coordtokelement_debug, "coordtokelement", 0,
      "CoordTok elements' shared base");
}

static void
gst_coordtok_element_init (GstCoordTokElement * self)
{
  self->device = DEFAULT_DEVICE;
  self->cuda_device_id = DEFAULT_CUDA_DEVICE_ID;
  self->threads_applied = GST_COORDTOK_THREADS_UNSET;
  self->processing = GST_CLOCK_TIME_NONE;
  self->reported = GST_CLOCK_TIME_NONE;
}
