/* gstcoordtokworker.h - the elements' own streaming thread: a bounded FIFO
 * of work items (windows to encode, records to decode) and serialized
 * events, run in order by a task on the source pad, so that the network
 * never runs on (and never holds up) the upstream thread.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_COORDTOK_WORKER_H
#define GST_COORDTOK_WORKER_H

#include <gst/gst.h>

G_BEGIN_DECLS

/* Runs one work item on the worker thread; returns the downstream flow. */
typedef GstFlowReturn (*GstCoordTokWorkFunc) (GstElement * element, gpointer data);

/* Optional: sees each serialized event on the worker thread, in stream
 * order, before it is pushed; returns FALSE to have it dropped. */
typedef gboolean (*GstCoordTokEventFunc) (GstElement * element, GstEvent * event);

typedef struct {
  GstElement *element;
  GstPad *srcpad;
  GstCoordTokWorkFunc work;
  GstCoordTokEventFunc event_func;
  GDestroyNotify free_data;
  guint max_data;          /* work items queued or running at most */

  GMutex lock;
  GCond cond;
  GQueue items;            /* WorkerItem */
  guint data_items;        /* queued + running */
  gboolean flushing;
  GstFlowReturn flow;      /* first non-OK result since the last flush */
} GstCoordTokWorker;

void gst_coordtok_worker_init (GstCoordTokWorker * w, GstElement * element,
    GstPad * srcpad, guint max_data, GstCoordTokWorkFunc work,
    GDestroyNotify free_data);
void gst_coordtok_worker_clear (GstCoordTokWorker * w);

/* Queues a work item; blocks while max_data items are queued or running
 * (back-pressure).  Takes `data` in every case.  Returns the flow the
 * upstream thread should return: FLUSHING while flushing, the worker's
 * first error or EOS/NOT_LINKED from downstream, else OK. */
GstFlowReturn gst_coordtok_worker_push (GstCoordTokWorker * w, gpointer data);
/* Changes how many work items may be queued or running before a push
 * waits (live pipelines: more, so that the source is not held). */
void gst_coordtok_worker_set_max_data (GstCoordTokWorker * w, guint max_data);
/* Queues a serialized event behind the items queued so far. */
void gst_coordtok_worker_push_event (GstCoordTokWorker * w, GstEvent * event);
/* Waits until everything queued so far has run (drain); FALSE if flushing. */
gboolean gst_coordtok_worker_drain (GstCoordTokWorker * w);
GstFlowReturn gst_coordtok_worker_flow (GstCoordTokWorker * w);

/* Flushing: TRUE drops what is queued and wakes every waiter; FALSE
 * (flush-stop) resets the flow.  start/stop: the task; init installs the
 * source pad's activate-mode function that calls them. */
void gst_coordtok_worker_set_flushing (GstCoordTokWorker * w, gboolean flushing);
gboolean gst_coordtok_worker_start (GstCoordTokWorker * w);
gboolean gst_coordtok_worker_stop (GstCoordTokWorker * w);
/* Stops the task until the next start (flushing), so that the element may
 * reset what the worker thread owns. */
void gst_coordtok_worker_pause (GstCoordTokWorker * w);
/* FLUSH_START / FLUSH_STOP on the sink pad, forwarded downstream. */
gboolean gst_coordtok_worker_flush_start (GstCoordTokWorker * w, GstEvent * event);
gboolean gst_coordtok_worker_flush_stop (GstCoordTokWorker * w, GstEvent * event);

G_END_DECLS

#endif
