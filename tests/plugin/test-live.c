/* test-live.c - live sources at a camera's size through the elements with
 * no queue: the source's thread is never held up (the longest wall-clock
 * gap between two buffers leaving it), and no frame is lost before it is
 * tokenized, also with a display-like sink (sync=true qos=true) whose QoS
 * events would make upstream elements drop frames.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>
#include <string.h>

#include "coordtok.h"
#include "tokens/tokens.h"

#define MAX_GAP (100 * GST_MSECOND)

typedef struct {
  gint64 last_us, max_gap_us;
  guint max_gap_at;             /* frame that came after the longest gap */
  guint frames;                 /* left the source */
  guint tokenized;              /* frames in the token records' tables */
  guint decoded;
  guint shown;                  /* reached the sink named "display" */
} LiveStats;

static GstPadProbeReturn
source_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  LiveStats *st = user_data;
  gint64 now = g_get_monotonic_time ();
  if (st->frames > 0 && now - st->last_us > st->max_gap_us) {
    st->max_gap_us = now - st->last_us;
    st->max_gap_at = st->frames;
  }
  st->last_us = now;
  st->frames++;
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
tokens_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  LiveStats *st = user_data;
  GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER (info);
  GstMapInfo map;
  CtTokensHeader h;
  gst_buffer_map (b, &map, GST_MAP_READ);
  fail_unless (ct_tokens_unpack (map.data, map.size, &h, NULL, 0, NULL, 0, NULL));
  gst_buffer_unmap (b, &map);
  st->tokenized += h.n_frames;
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
decoded_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  ((LiveStats *) user_data)->decoded++;
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
shown_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  ((LiveStats *) user_data)->shown++;
  return GST_PAD_PROBE_OK;
}

static void
probe (GstElement * pipe, const char *element, const char *pad,
    GstPadProbeCallback cb, LiveStats * st)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipe), element);
  fail_unless (e != NULL, "no element %s", element);
  GstPad *p = gst_element_get_static_pad (e, pad);
  gst_pad_add_probe (p, GST_PAD_PROBE_TYPE_BUFFER, cb, st, NULL);
  gst_object_unref (p);
  gst_object_unref (e);
}

/* Runs `launch` (elements src, enc and optionally dec) to EOS. */
static LiveStats
run_live (const char *launch, gboolean decode)
{
  LiveStats st = { 0 };
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch (launch, &err);
  fail_unless (pipe != NULL, "%s: %s", launch, err ? err->message : "");
  probe (pipe, "src", "src", source_probe, &st);
  probe (pipe, "enc", "src", tokens_probe, &st);
  if (decode)
    probe (pipe, "dec", "src", decoded_probe, &st);
  GstElement *display = gst_bin_get_by_name (GST_BIN (pipe), "display");
  if (display) {
    gst_object_unref (display);
    probe (pipe, "display", "sink", shown_probe, &st);
  }
  GstBus *bus = gst_element_get_bus (pipe);
  fail_if (gst_element_set_state (pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 300 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "timeout: %s", launch);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *e;
    gst_message_parse_error (msg, &e, NULL);
    fail ("%s: %s", launch, e->message);
  }
  gst_message_unref (msg);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipe);
  g_print ("%s\n  %u frames, %u tokenized, %u decoded, %u shown, longest gap %.1f ms "
      "(before frame %u)\n", launch, st.frames, st.tokenized, st.decoded, st.shown,
      st.max_gap_us / 1000.0, st.max_gap_at);
  return st;
}

/* 640x480 at 30 fps into the encoder alone: 20 tiles per window */
GST_START_TEST (test_live_640_encoder_no_holdup)
{
  LiveStats st = run_live ("videotestsrc name=src is-live=true num-buffers=180 "
      "pattern=ball ! video/x-raw,format=RGB,width=640,height=480,framerate=30/1 ! "
      "coordtokenc name=enc ! fakesink sync=true", FALSE);
  fail_unless_equals_int (st.frames, 180);
  fail_unless_equals_int (st.tokenized, 180);
  fail_unless (st.max_gap_us * GST_USECOND < MAX_GAP, "source held %.1f ms",
      st.max_gap_us / 1000.0);
}
GST_END_TEST;

/* 128x128 at 30 fps through encoder and decoder, no queue */
GST_START_TEST (test_live_128_roundtrip_no_holdup)
{
  LiveStats st = run_live ("videotestsrc name=src is-live=true num-buffers=180 "
      "pattern=ball ! video/x-raw,format=RGB,width=128,height=128,framerate=30/1 ! "
      "coordtokenc name=enc ! coordtokdec name=dec ! fakesink sync=true", TRUE);
  fail_unless_equals_int (st.frames, 180);
  fail_unless_equals_int (st.tokenized, 180);
  fail_unless_equals_int (st.decoded, 180);
  fail_unless (st.max_gap_us * GST_USECOND < MAX_GAP, "source held %.1f ms",
      st.max_gap_us / 1000.0);
}
GST_END_TEST;

/* A display-like sink's QoS: the decoder may skip late frames (it cannot
 * decode 20 tiles in real time on two cores), but every frame reaches the
 * tokens: nothing upstream of the encoder drops any. */
GST_START_TEST (test_live_640_qos_no_frame_lost)
{
  LiveStats st = run_live ("videotestsrc name=src is-live=true num-buffers=150 "
      "pattern=ball ! video/x-raw,width=640,height=480,framerate=30/1 ! "
      "videoconvert qos=true ! coordtokenc name=enc ! coordtokdec name=dec ! "
      "fakesink sync=true qos=true", TRUE);
  fail_unless_equals_int (st.frames, 150);
  fail_unless_equals_int (st.tokenized, 150);
}
GST_END_TEST;

/* A display branch beside the encoder, with the recipe of docs/elements.md
 * (the display queue holds the pipeline latency, window included): no
 * hang, every frame shown and tokenized. */
GST_START_TEST (test_live_640_tee_display)
{
  LiveStats st = run_live ("videotestsrc name=src is-live=true num-buffers=150 "
      "pattern=ball ! video/x-raw,format=RGB,width=640,height=480,framerate=30/1 ! "
      "tee name=t ! queue max-size-buffers=0 max-size-bytes=0 "
      "max-size-time=10000000000 ! fakesink name=display sync=true qos=true "
      "t. ! queue ! coordtokenc name=enc ! fakesink sync=true", FALSE);
  fail_unless_equals_int (st.frames, 150);
  fail_unless_equals_int (st.tokenized, 150);
  fail_unless_equals_int (st.shown, 150);
}
GST_END_TEST;

static Suite *
live_suite (void)
{
  Suite *s = suite_create ("coordtok-live");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 600);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_live_640_encoder_no_holdup);
  tcase_add_test (tc, test_live_128_roundtrip_no_holdup);
  tcase_add_test (tc, test_live_640_qos_no_frame_lost);
  tcase_add_test (tc, test_live_640_tee_display);
  return s;
}

GST_CHECK_MAIN (live);
