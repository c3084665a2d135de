/* gstcoordtokworker.c - see gstcoordtokworker.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstcoordtokworker.h"

GST_DEBUG_CATEGORY_STATIC (coordtok_worker_debug);
#define GST_CAT_DEFAULT coordtok_worker_debug

typedef struct {
  gpointer data;           /* a work item, or NULL */
  GstEvent *event;         /* else a serialized event */
} WorkerItem;

static gboolean
worker_activate_mode (GstPad * pad, GstObject * parent, GstPadMode mode,
    gboolean active)
{
  GstCoordTokWorker *w = GST_PAD_CAST (pad)->activatemodedata;
  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  return active ? gst_coordtok_worker_start (w) : gst_coordtok_worker_stop (w);
}

void
gst_coordtok_worker_init (GstCoordTokWorker * w, GstElement * element,
    GstPad * srcpad, guint max_data, GstCoordTokWorkFunc work,
    GDestroyNotify free_data)
{
  static gsize once;
  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (coordtok_worker_debug, "coordtokworker", 0,
        "CoordTok elements' worker threads");
    g_once_init_leave (&once, 1);
  }
  w->element = element;
  w->srcpad = srcpad;
  w->work = work;
  w->free_data = free_data;
  w->max_data = MAX (max_data, 1);
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  g_queue_init (&w->items);
  w->data_items = 0;
  w->flushing = TRUE;
  w->flow = GST_FLOW_FLUSHING;
  /* the task runs while the source pad is active */
  gst_pad_set_activatemode_function_full (srcpad, worker_activate_mode, w, NULL);
}

static void
free_item (GstCoordTokWorker * w, WorkerItem * it)
{
  if (it->data) {
    w->free_data (it->data);
    w->data_items--;
  }
  if (it->event)
    gst_event_unref (it->event);
  g_free (it);
}

/* with the lock.  Sticky events other than segment and EOS survive a
 * flush (as in GstQueue): stored on the source pad (after the element's
 * hook saw them), they go out before the next data. */
static void
drop_queued (GstCoordTokWorker * w)
{
  WorkerItem *it;
  while ((it = g_queue_pop_head (&w->items))) {
    GstEvent *ev = it->event;
    if (ev && GST_EVENT_IS_STICKY (ev) && GST_EVENT_TYPE (ev) != GST_EVENT_SEGMENT &&
        GST_EVENT_TYPE (ev) != GST_EVENT_EOS &&
        (!w->event_func || w->event_func (w->element, ev)))
      gst_pad_store_sticky_event (w->srcpad, ev);
    free_item (w, it);
  }
  g_cond_broadcast (&w->cond);
}

void
gst_coordtok_worker_clear (GstCoordTokWorker * w)
{
  g_mutex_lock (&w->lock);
  drop_queued (w);
  g_mutex_unlock (&w->lock);
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
}

GstFlowReturn
gst_coordtok_worker_push (GstCoordTokWorker * w, gpointer data)
{
  GstFlowReturn ret;
  g_mutex_lock (&w->lock);
  while (!w->flushing && w->flow == GST_FLOW_OK && w->data_items >= w->max_data) {
    GST_LOG_OBJECT (w->element, "%u items in flight: upstream waits", w->data_items);
    g_cond_wait (&w->cond, &w->lock);
  }
  ret = w->flushing ? GST_FLOW_FLUSHING : w->flow;
  if (ret == GST_FLOW_OK) {
    WorkerItem *it = g_new0 (WorkerItem, 1);
    it->data = data;
    w->data_items++;
    g_queue_push_tail (&w->items, it);
    g_cond_broadcast (&w->cond);
  } else {
    w->free_data (data);
  }
  g_mutex_unlock (&w->lock);
  return ret;
}

void
gst_coordtok_worker_set_max_data (GstCoordTokWorker * w, guint max_data)
{
  g_mutex_lock (&w->lock);
  w->max_data = MAX (max_data, 1);
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
}

void
gst_coordtok_worker_push_event (GstCoordTokWorker * w, GstEvent * event)
{
  g_mutex_lock (&w->lock);
  if (w->flushing) {
    g_mutex_unlock (&w->lock);
    GST_DEBUG_OBJECT (w->element, "flushing: dropping %" GST_PTR_FORMAT, event);
    gst_event_unref (event);
    return;
  }
  WorkerItem *it = g_new0 (WorkerItem, 1);
  it->event = event;
  g_queue_push_tail (&w->items, it);
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
}

gboolean
gst_coordtok_worker_drain (GstCoordTokWorker * w)
{
  gboolean ok;
  g_mutex_lock (&w->lock);
  while (!w->flushing && (w->data_items > 0 || !g_queue_is_empty (&w->items)))
    g_cond_wait (&w->cond, &w->lock);
  ok = !w->flushing;
  g_mutex_unlock (&w->lock);
  return ok;
}

GstFlowReturn
gst_coordtok_worker_flow (GstCoordTokWorker * w)
{
  GstFlowReturn ret;
  g_mutex_lock (&w->lock);
  ret = w->flushing ? GST_FLOW_FLUSHING : w->flow;
  g_mutex_unlock (&w->lock);
  return ret;
}

void
gst_coordtok_worker_set_flushing (GstCoordTokWorker * w, gboolean flushing)
{
  g_mutex_lock (&w->lock);
  w->flushing = flushing;
  if (flushing)
    drop_queued (w);
  else
    w->flow = GST_FLOW_OK;
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
}

static void
worker_loop (gpointer user_data)
{
  GstCoordTokWorker *w = user_data;
  WorkerItem *it;

  g_mutex_lock (&w->lock);
  while (!w->flushing && g_queue_is_empty (&w->items))
    g_cond_wait (&w->cond, &w->lock);
  if (w->flushing) {
    g_mutex_unlock (&w->lock);
    gst_pad_pause_task (w->srcpad);
    return;
  }
  it = g_queue_pop_head (&w->items);
  GstFlowReturn flow = w->flow;
  g_mutex_unlock (&w->lock);

  if (it->event) {
    GST_DEBUG_OBJECT (w->element, "pushing %" GST_PTR_FORMAT, it->event);
    if (!w->event_func || w->event_func (w->element, it->event))
      gst_pad_push_event (w->srcpad, it->event);
    else
      gst_event_unref (it->event);
    g_free (it);
    g_mutex_lock (&w->lock);
    g_cond_broadcast (&w->cond);      /* a drain may wait for this */
    g_mutex_unlock (&w->lock);
    return;
  }

  /* after an error or EOS downstream the rest of the stream is dropped */
  GstFlowReturn ret = flow == GST_FLOW_OK ? w->work (w->element, it->data) : flow;
  g_mutex_lock (&w->lock);
  free_item (w, it);
  if (ret != GST_FLOW_OK && w->flow == GST_FLOW_OK && !w->flushing) {
    w->flow = ret;
    GST_DEBUG_OBJECT (w->element, "worker: downstream returned %s",
        gst_flow_get_name (ret));
    if (ret == GST_FLOW_NOT_LINKED || ret < GST_FLOW_EOS) {
      g_mutex_unlock (&w->lock);
      /* as GstBaseSrc does: an error the application must see */
      GST_ELEMENT_FLOW_ERROR (w->element, ret);
      gst_pad_push_event (w->srcpad, gst_event_new_eos ());
      g_mutex_lock (&w->lock);
    }
  }
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
}

gboolean
gst_coordtok_worker_start (GstCoordTokWorker * w)
{
  gst_coordtok_worker_set_flushing (w, FALSE);
  return gst_pad_start_task (w->srcpad, worker_loop, w, NULL);
}

gboolean
gst_coordtok_worker_stop (GstCoordTokWorker * w)
{
  gst_coordtok_worker_set_flushing (w, TRUE);
  /* joins the task: waits for a running encode or decode to end */
  return gst_pad_stop_task (w->srcpad);
}

gboolean
gst_coordtok_worker_flush_start (GstCoordTokWorker * w, GstEvent * event)
{
  gst_coordtok_worker_set_flushing (w, TRUE);
  /* unblocks a worker pushing downstream */
  return gst_pad_push_event (w->srcpad, event);
}

void
gst_coordtok_worker_pause (GstCoordTokWorker * w)
{
  /* the loop pauses itself when it sees the flush (also when no
   * FLUSH_START came first); wait for that */
  gst_coordtok_worker_set_flushing (w, TRUE);
  gst_pad_pause_task (w->srcpad);
}

gboolean
gst_coordtok_worker_flush_stop (GstCoordTokWorker * w, GstEvent * event)
{
  gst_coordtok_worker_pause (w);
  gboolean ok = gst_pad_push_event (w->srcpad, event);
  gst_coordtok_worker_start (w);
  return ok;
}
