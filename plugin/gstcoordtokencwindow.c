/* gstcoordtokencwindow.c - coordtokenc's windows: collected frames as
 * packed RGB (two at most, one reused), the token record's header, and
 * the worker thread's job: every tile of a window encoded as one batch
 * (ct_session_encode_rgb8) and pushed as one record.  See gstcoordtokenc.c
 * for the element.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gstcoordtokenc-private.h"

GST_DEBUG_CATEGORY_EXTERN (coordtokenc_debug);
#define GST_CAT_DEFAULT coordtokenc_debug

void
gst_coordtok_enc_window_free (Window * w)
{
  if (!w)
    return;
  g_free (w->rgb);
  g_free (w->times);
  g_free (w);
}

/* A window for frames of the current caps: the spare one when it is big
 * enough, else a new one (NULL when out of memory). */
Window *
gst_coordtok_enc_window_new (GstCoordTokEnc * self)
{
  const CtConfig *c = ct_model_config (self->base.model);
  gsize frame = (gsize) GST_VIDEO_INFO_WIDTH (&self->info) *
      GST_VIDEO_INFO_HEIGHT (&self->info) * 3;
  Window *w;

  GST_OBJECT_LOCK (self);
  w = self->spare;
  self->spare = NULL;
  GST_OBJECT_UNLOCK (self);
  if (w && w->capacity < frame * c->T) {
    gst_coordtok_enc_window_free (w);
    w = NULL;
  }
  if (!w) {
    w = g_new0 (Window, 1);
    w->owner = self;
    w->capacity = frame * c->T;
    w->rgb = g_try_malloc (w->capacity);
    w->times = g_new0 (CtTokensFrameTime, c->T);
    if (!w->rgb) {
      gst_coordtok_enc_window_free (w);
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
void
gst_coordtok_enc_window_recycle (gpointer data)
{
  Window *w = data;
  GstCoordTokEnc *self = w->owner;
  GST_OBJECT_LOCK (self);
  if (!self->spare) {
    self->spare = w;
    w = NULL;
  }
  GST_OBJECT_UNLOCK (self);
  gst_coordtok_enc_window_free (w);
}

void
gst_coordtok_enc_reset_window (GstCoordTokEnc * self)
{
  gst_coordtok_enc_window_free (self->cur);
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

/* Worker thread: encodes one window (every tile in one batch) and pushes
 * its token record. */
GstFlowReturn
gst_coordtok_enc_encode_window (GstElement * element, gpointer data)
{
  GstCoordTokEnc *self = GST_COORDTOK_ENC (element);
  const CtConfig *c = ct_model_config (self->base.model);
  Window *w = data;
  GError *err = NULL;
  CtTokensHeader h;
  GstBuffer *buf;
  GstMapInfo map;
  gint64 t0;

  if (!gst_coordtok_enc_fill_header (self, w, &h, &err)) {
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
  gst_coordtok_element_apply_threads (&self->base);
  t0 = g_get_monotonic_time ();
  if (!ct_session_encode_rgb8 (self->base.session, w->rgb, w->width, w->height,
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
      ct_session_device_name (self->base.session));

  /* processing latency: the slowest window so far, reported again when a
   * window takes longer than what the pipeline was told */
  gst_coordtok_element_processed (&self->base, took);
  gst_coordtok_element_count (&self->base, 1, w->n, took / 1e9, 0, 0);

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
  return gst_pad_push (self->base.srcpad, buf);
}

gboolean
gst_coordtok_enc_fill_header (GstCoordTokEnc * self, const Window * w, CtTokensHeader * h,
    GError ** error)
{
  if (!ct_tokens_header_init_tiled (h, self->base.model, (CtTokensDType) self->dtype,
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
