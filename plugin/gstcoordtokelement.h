/* gstcoordtokelement.h - GstCoordTokElement, the abstract base of
 * coordtokenc and coordtokdec: what both own, as GstVideoDecoder and
 * GstVideoEncoder own it for jpegdec and jpegenc.  The model and its
 * properties (model, device, cuda-device-id, threads, model-id), the
 * session, the worker thread, the state changes, the latency bookkeeping
 * and the `stats` property.  A subclass adds its pads and its own job.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_COORDTOK_ELEMENT_H
#define GST_COORDTOK_ELEMENT_H

#include "gstcoordtokcommon.h"
#include "gstcoordtokworker.h"

G_BEGIN_DECLS

#define GST_TYPE_COORDTOK_ELEMENT (gst_coordtok_element_get_type ())
#define GST_COORDTOK_ELEMENT(obj) \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), GST_TYPE_COORDTOK_ELEMENT, GstCoordTokElement))
#define GST_COORDTOK_ELEMENT_CLASS(klass) \
  (G_TYPE_CHECK_CLASS_CAST ((klass), GST_TYPE_COORDTOK_ELEMENT, GstCoordTokElementClass))
#define GST_COORDTOK_ELEMENT_GET_CLASS(obj) \
  (G_TYPE_INSTANCE_GET_CLASS ((obj), GST_TYPE_COORDTOK_ELEMENT, GstCoordTokElementClass))

typedef struct _GstCoordTokElement GstCoordTokElement;
typedef struct _GstCoordTokElementClass GstCoordTokElementClass;

struct _GstCoordTokElement {
  GstElement parent;
  GstPad *sinkpad, *srcpad;

  /* properties (object lock) */
  gchar *model_path;
  GstCoordTokDevice device;
  gint cuda_device_id;
  guint threads;

  /* READY and up (set under the object lock, read freely by the threads
   * that only run in READY and up) */
  CtModel *model;
  CtSession *session;
  gint threads_applied;         /* engine setting last applied (worker),
                                 * GST_COORDTOK_THREADS_UNSET at start */

  GstCoordTokWorker worker;

  /* latency and statistics (object lock) */
  GstClockTime fixed_latency;   /* the encoder's window; 0 for the decoder */
  GstClockTime processing;      /* the slowest so far: measured, or estimated */
  GstClockTime reported;        /* what the last LATENCY answer said */
  guint64 windows, frames, dropped, skipped;
  gdouble engine_seconds;
};

struct _GstCoordTokElementClass {
  GstElementClass parent_class;

  /* NULL -> READY, after the model and session exist: the subclass's own
   * checks and log; FALSE (with the element error posted) fails it. */
  gboolean (*start) (GstCoordTokElement * self);
  /* READY -> NULL (and finalize), before the session goes: what the
   * subclass allocated for it. */
  void (*stop) (GstCoordTokElement * self);
  /* READY -> PAUSED, before the pads activate, and PAUSED -> READY, after
   * the worker stopped: the streaming state back to a fresh stream's. */
  void (*reset) (GstCoordTokElement * self);
  /* FLUSH_STOP, with the worker stopped: what the flush discards. */
  void (*flush) (GstCoordTokElement * self);
};

#define GST_COORDTOK_THREADS_UNSET G_MININT

GType gst_coordtok_element_get_type (void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GstCoordTokElement, gst_object_unref)

/* From the subclass's instance init: the pads from the templates (the sink
 * pad's events go to gst_coordtok_element_sink_event, the source pad's
 * queries to gst_coordtok_element_src_query, until the subclass sets its
 * own functions that chain to them) and the worker thread. */
void gst_coordtok_element_add_pads (GstCoordTokElement * self,
    GstStaticPadTemplate * sink_template, GstStaticPadTemplate * src_template,
    GstPadChainFunction chain, guint max_items, GstCoordTokWorkFunc work,
    GDestroyNotify free_item);

/* Upstream thread, first thing in a chain function: FALSE when the buffer
 * cannot be taken (no caps yet: an element error; or the worker met an
 * error, EOS or not-linked downstream), with the buffer dropped and *ret
 * the flow to return. */
gboolean gst_coordtok_element_chain_ready (GstCoordTokElement * self,
    gboolean have_caps, GstBuffer * buf, GstFlowReturn * ret);

/* The sink pad's events: flushes through the worker (the subclass's flush
 * runs between them, with the worker stopped), other serialized events
 * queued behind the work before them, the rest by default. */
gboolean gst_coordtok_element_sink_event (GstPad * pad, GstObject * parent,
    GstEvent * event);

/* The source pad's queries: LATENCY answered from the bookkeeping below,
 * the rest by default.  Subclasses chain to it. */
gboolean gst_coordtok_element_src_query (GstPad * pad, GstObject * parent,
    GstQuery * query);

/* TRUE from READY on (the model is loaded): properties that shape the
 * stream stay as they are.  Call with the object lock held. */
#define GST_COORDTOK_ELEMENT_STARTED(self) (GST_COORDTOK_ELEMENT (self)->model != NULL)

/* Worker thread, before each window: applies the `threads` property (N > 0
 * is N threads; 0 is all cores, adaptive when the pipeline upstream is
 * live, fixed and bit-reproducible when it is not). */
void gst_coordtok_element_apply_threads (GstCoordTokElement * self);

/* Latency = fixed + processing.  set_latency: both at once (processing
 * NONE: not known yet); TRUE when `fixed` changed.  processed: a window
 * took `took`; when that is the slowest so far it becomes the processing
 * time, and a LATENCY message is posted if it exceeds what the pipeline
 * was told. */
gboolean gst_coordtok_element_set_latency (GstCoordTokElement * self,
    GstClockTime fixed, GstClockTime processing);
void gst_coordtok_element_processed (GstCoordTokElement * self, GstClockTime took);

/* Adds to the `stats` property's counters (reset at READY -> PAUSED). */
void gst_coordtok_element_count (GstCoordTokElement * self, guint64 windows,
    guint64 frames, gdouble engine_seconds, guint64 dropped, guint64 skipped);

G_END_DECLS

#endif
