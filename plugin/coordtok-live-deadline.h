/* coordtok-live-deadline.h - a live decoder keeps up with the clock on its
 * own (issue 25): a sink that sends no QoS (appsink, filesink, network
 * sinks, fakesink's default) left coordtokdec decoding every chunk however
 * late, and back-pressure held the live source back (354 s of video in a
 * 600 s run).  In a live pipeline each chunk must be pushed by
 *
 *     running time of its first frame + bound,
 *     bound = latency reported up to the decoder (upstream + its own, as the
 *             last LATENCY answer said) + latency-margin,
 *
 * (the pipeline asks for the latency only once a first frame reaches the
 * sink; the decoder asks upstream itself at its first record, so that the
 * first windows are not decoded blind and the source not held meanwhile)
 *
 * and a chunk that would miss it (now + the time a chunk takes) is skipped
 * with a QoS message, before any work, whatever the sink does; a chunk that
 * took longer than expected and missed it is dropped, not pushed late.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef COORDTOK_LIVE_DEADLINE_H
#define COORDTOK_LIVE_DEADLINE_H

#include <gst/gst.h>

typedef struct {
  gboolean live;              /* the last LATENCY answer said live */
  GstClockTime reported;      /* min latency up to and including the decoder */
  GstClockTime margin;        /* the latency-margin property */
  GstClockTime chunk_time;    /* recent time to decode one chunk (slow decay) */
  gboolean warned;            /* told that no chunk can make the bound */
  gboolean asked;             /* upstream was asked (first record) */
} CtLiveDeadline;

static inline void
ct_live_deadline_reset (CtLiveDeadline *d)
{
  d->live = FALSE;
  d->reported = GST_CLOCK_TIME_NONE;
  d->chunk_time = 0;
  d->warned = d->asked = FALSE;
}

/* The element's clock as running time, or NONE (no clock, not playing). */
static inline GstClockTime
ct_live_deadline_now (GstElement *element)
{
  GstClock *clock = gst_element_get_clock (element);
  if (!clock)
    return GST_CLOCK_TIME_NONE;
  GstClockTime now = gst_clock_get_time (clock), base = gst_element_get_base_time (element);
  gst_object_unref (clock);
  if (GST_STATE (element) != GST_STATE_PLAYING || !GST_CLOCK_TIME_IS_VALID (now) ||
      !GST_CLOCK_TIME_IS_VALID (base) || now < base)
    return GST_CLOCK_TIME_NONE;
  return now - base;
}

/* TRUE when a chunk whose first frame has running time rt cannot be pushed
 * by its deadline any more. */
static inline gboolean
ct_live_deadline_missed (const CtLiveDeadline *d, GstClockTime now, GstClockTime rt)
{
  if (!d->live || !GST_CLOCK_TIME_IS_VALID (d->reported) ||
      !GST_CLOCK_TIME_IS_VALID (now) || !GST_CLOCK_TIME_IS_VALID (rt))
    return FALSE;
  return now + d->chunk_time > rt + d->reported + d->margin;
}

/* TRUE once, when one chunk takes longer than the whole bound: every chunk
 * will be skipped until the margin is raised (worth a warning). */
static inline gboolean
ct_live_deadline_hopeless (CtLiveDeadline *d)
{
  if (d->warned || !d->live || !GST_CLOCK_TIME_IS_VALID (d->reported) ||
      d->chunk_time <= d->reported + d->margin)
    return FALSE;
  d->warned = TRUE;
  return TRUE;
}

/* TRUE when a decoded chunk whose first frame has running time rt is past
 * its deadline already (a chunk slower than expected): its frames are
 * dropped, not pushed late. */
static inline gboolean
ct_live_deadline_passed (const CtLiveDeadline *d, GstClockTime now, GstClockTime rt)
{
  CtLiveDeadline none = *d;
  none.chunk_time = 0;
  return ct_live_deadline_missed (&none, now, rt);
}

/* A chunk was skipped for the deadline: the estimate decays, so that after
 * a slow spell (a busy machine) the decoder tries again; a try that turns
 * out too slow is dropped by ct_live_deadline_passed. */
static inline void
ct_live_deadline_skipped (CtLiveDeadline *d)
{
  d->chunk_time -= d->chunk_time / 16;
}

/* A chunk took `took`: the estimate follows increases at once and decays
 * slowly (a busy machine makes the next chunk slow too). */
static inline void
ct_live_deadline_chunk_took (CtLiveDeadline *d, GstClockTime took)
{
  d->chunk_time = took > d->chunk_time ? took : (d->chunk_time * 7 + took) / 8;
}

#endif
