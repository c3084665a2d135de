/* test-soak.c - soak test (suite 'slow'): N windows (default 1000) through
 * videotestsrc ! coordtokenc ! coordtokdec ! fakesink, with the process's
 * RSS sampled every 100 windows.  After warm-up (the first 200 windows:
 * pools, caches, the model) RSS must not grow: a leak of even one small
 * allocation per window shows up as a steady climb.
 *
 *   meson test -C build --suite slow --print-errorlogs
 *   COORDTOK_SOAK_WINDOWS=1000 COORDTOK_SOAK_MODEL=default build/tests/plugin/test-soak
 *
 * COORDTOK_SOAK_MODEL: a weight file, or "default" for the shipped model
 * (default: the tiny golden model in CT_TEST_TINY, which keeps the run short).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/gst.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordtok.h"

#define SAMPLE_EVERY 100
#define WARMUP 200
/* growth allowed after warm-up: allocator noise, not a per-window leak
 * (a 1 KiB leak per window would be ~0.8 MiB over 800 windows; GLib and
 * glibc arenas move by a few pages) */
#define SLACK_KIB 2048

typedef struct {
  guint windows;
  guint n_samples;
  glong rss_kib[64];
  guint at[64];
} Soak;

static glong
rss_kib (void)
{
  char *status = NULL;
  glong kib = -1;
  if (g_file_get_contents ("/proc/self/status", &status, NULL, NULL)) {
    const char *p = strstr (status, "VmRSS:");
    if (p)
      kib = strtol (p + 6, NULL, 10);
  }
  g_free (status);
  return kib;
}

static GstPadProbeReturn
on_tokens (GstPad * pad, GstPadProbeInfo * info, gpointer user)
{
  Soak *s = user;
  s->windows++;
  if (s->windows % SAMPLE_EVERY == 0 && s->n_samples < G_N_ELEMENTS (s->rss_kib)) {
    s->at[s->n_samples] = s->windows;
    s->rss_kib[s->n_samples++] = rss_kib ();
    printf ("window %5u  RSS %7ld KiB\n", s->windows, s->rss_kib[s->n_samples - 1]);
    fflush (stdout);
  }
  return GST_PAD_PROBE_OK;
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  const char *env_model = g_getenv ("COORDTOK_SOAK_MODEL");
  const char *path = env_model ? env_model : g_getenv ("CT_TEST_TINY");
  guint n = g_getenv ("COORDTOK_SOAK_WINDOWS") ? atoi (g_getenv ("COORDTOK_SOAK_WINDOWS")) : 1000;
  if (!path) {
    fprintf (stderr, "soak: set CT_TEST_TINY or COORDTOK_SOAK_MODEL\n");
    return 1;
  }
  if (strcmp (path, "default") == 0)
    path = "";
  GError *err = NULL;
  CtModel *m = ct_model_load (path[0] ? path : NULL, &err);
  if (!m) {
    fprintf (stderr, "soak: %s\n", err->message);
    return 1;
  }
  const CtConfig *c = ct_model_config (m);
  char *launch = g_strdup_printf ("videotestsrc num-buffers=%u pattern=ball ! "
      "video/x-raw,format=RGB,width=%d,height=%d,framerate=30/1 ! "
      "coordtokenc name=enc model=\"%s\" ! coordtokdec name=dec model=\"%s\" ! "
      "fakesink sync=false", n * c->T, c->W, c->H, path, path);
  printf ("soak: %u windows of %d frames %dx%d, model %s\n", n, c->T, c->W, c->H,
      path[0] ? path : "(default)");
  ct_model_unref (m);
  GstElement *pipe = gst_parse_launch (launch, &err);
  g_free (launch);
  if (!pipe) {
    fprintf (stderr, "soak: %s\n", err->message);
    return 1;
  }
  Soak s = { 0 };
  GstElement *dec = gst_bin_get_by_name (GST_BIN (pipe), "dec");
  GstPad *pad = gst_element_get_static_pad (dec, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_tokens, &s, NULL);
  gst_object_unref (pad);
  gst_object_unref (dec);

  gst_element_set_state (pipe, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  int rc = 0;
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *e;
    gst_message_parse_error (msg, &e, NULL);
    fprintf (stderr, "soak: pipeline error: %s\n", e->message);
    g_error_free (e);
    rc = 1;
  }
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);

  if (rc == 0 && s.windows != n) {
    fprintf (stderr, "soak: %u windows came out, %u went in\n", s.windows, n);
    rc = 1;
  }
  /* RSS after warm-up must stay flat */
  glong base = -1, top = 0;
  for (guint i = 0; i < s.n_samples; i++) {
    if (s.at[i] == WARMUP)
      base = s.rss_kib[i];
    if (s.at[i] > WARMUP)
      top = MAX (top, s.rss_kib[i]);
  }
  if (rc == 0 && n > WARMUP) {
    if (base < 0) {
      fprintf (stderr, "soak: no RSS sample at window %d\n", WARMUP);
      rc = 1;
    } else {
      printf ("soak: RSS at window %d: %ld KiB, highest after: %ld KiB (growth %+ld KiB, allowed %d)\n",
          WARMUP, base, top, top - base, SLACK_KIB);
      if (top - base > SLACK_KIB) {
        fprintf (stderr, "soak: RSS grew by %ld KiB after warm-up\n", top - base);
        rc = 1;
      }
    }
  }
  return rc;
}
