/* test-enc-memory.c - coordtokenc refuses at caps frames that its memory
 * budget (max-memory) cannot hold, naming the numbers (issue 25: 4480x4480
 * frames reserved two 7.35 GiB windows with the default model), and takes
 * frames that fit.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <string.h>

/* Sets raw caps of w x h on coordtokenc with the budget; returns the error
 * message posted, or NULL when the caps were taken. */
static gchar *
try_caps (int w, int h, guint64 max_memory)
{
  gchar *launch = g_strdup_printf ("coordtokenc model=%s max-memory=%" G_GUINT64_FORMAT,
      g_getenv ("CT_TEST_TINY"), max_memory);
  GstHarness *hs = gst_harness_new_parse (launch);
  GstBus *bus = gst_bus_new ();
  gchar *caps = g_strdup_printf ("video/x-raw,format=RGB,width=%d,height=%d,"
      "framerate=25/1", w, h);
  GstMessage *msg;
  gchar *text = NULL;
  gst_element_set_bus (hs->element, bus);
  gst_harness_set_src_caps_str (hs, caps);
  /* caps are taken with the first buffer's serialized events */
  gst_harness_push (hs, gst_buffer_new_allocate (NULL, (gsize) w * h * 3, NULL));
  if ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR))) {
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    text = g_strdup (err->message);
    g_error_free (err);
    gst_message_unref (msg);
  }
  gst_element_set_bus (hs->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (hs);
  g_free (caps);
  g_free (launch);
  return text;
}

GST_START_TEST (test_budget_refuses_with_numbers)
{
  /* the tiny model's window is 16 frames of 32x32 tiles: 2048x2048 frames
   * (4096 tiles, the most a window may have) need two RGB windows of
   * 2 x 16 x 12.6 MB = 0.375 GiB */
  gchar *msg = try_caps (2048, 2048, 1u << 28);
  fail_unless (msg != NULL, "2048x2048 frames taken within 256 MiB");
  fail_unless (strstr (msg, "2048x2048") && strstr (msg, "two windows of 16 frames: 0.38 GiB")
      && strstr (msg, "max-memory is 0.25 GiB"), "message without the numbers: %s", msg);
  g_free (msg);
  /* the same frames fit a larger budget, and small frames fit the default */
  msg = try_caps (2048, 2048, G_GUINT64_CONSTANT (2) << 30);
  fail_unless (msg == NULL, "refused within 2 GiB: %s", msg);
  msg = try_caps (64, 48, 0);
  fail_unless (msg == NULL, "small frames refused by the default budget: %s", msg);
}
GST_END_TEST;

static Suite *
enc_memory_suite (void)
{
  Suite *s = suite_create ("enc-memory");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_budget_refuses_with_numbers);
  return s;
}

GST_CHECK_MAIN (enc_memory);
