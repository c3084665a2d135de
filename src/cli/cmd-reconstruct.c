/* cmd-reconstruct.c - `coordtok reconstruct VIDEO OUT.rgb`: frames read as
 * `coordtok encode` reads them (video-input.c: a video file scaled to the
 * model's size, Y4M, or raw RGB24 with --width/--height), encoded and
 * decoded window by window by the engine (the last window partial, padded
 * as the spec says); writes the reconstruction as raw RGB24 and prints the
 * RGB PSNR per window and over all frames.  Raw and Y4M frames must have
 * the model's size: they are never reinterpreted or scaled.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"
#include "cli-gst.h"
#include "video-input.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

/* The RGB PSNR: 8-bit RGB, peak 255, the mean squared error over every
 * pixel, channel and frame (src/train/evaluate.py computes the same). */
static double
rgb_psnr (double sse, double n)
{
  return 10 * log10 (255.0 * 255.0 / MAX (sse / n, 1e-10));
}

typedef struct {
  CtSession *s;
  const CtConfig *c;
  int slice;
  FILE *out;
  gsize fbytes;
  guint8 *frames, *rec;
  float *z, *dec;
  double sse_all;
  gint64 total;
  int window;
} Recon;

static gboolean
run_window (Recon *r, int n, GError **err)
{
  const CtConfig *c = r->c;
  gsize fbytes = r->fbytes;
  gint64 t0 = g_get_monotonic_time ();
  /* as the elements and the Python module encode (a short tail included) */
  if (!ct_session_encode_rgb8 (r->s, r->frames, c->W, c->H, (gsize) c->W * 3, fbytes, n,
          r->z, err))
    return FALSE;
  gint64 t1 = g_get_monotonic_time ();
  if (!ct_session_rasterize (r->s, r->z, n, r->slice, r->dec, err))
    return FALSE;
  gint64 t2 = g_get_monotonic_time ();
  double sse = 0;
  for (int f = 0; f < n; f++) {
    ct_model_to_rgb8 (r->dec + f * fbytes, c->W, c->H, r->rec + f * fbytes, c->W * 3);
    for (gsize i = 0; i < fbytes; i++) {
      double d = (double) r->rec[f * fbytes + i] - r->frames[f * fbytes + i];
      sse += d * d;
    }
  }
  if (fwrite (r->rec, 1, fbytes * n, r->out) != fbytes * n) {
    g_set_error (err, CT_ERROR, CT_ERROR_IO, "cannot write the output: %s", g_strerror (errno));
    return FALSE;
  }
  printf ("window %d: %d frames, RGB PSNR %.2f dB, encode %.0f ms, decode %.0f ms\n", r->window++,
      n, rgb_psnr (sse, (double) fbytes * n), (t1 - t0) / 1e3, (t2 - t1) / 1e3);
  r->sse_all += sse;
  r->total += n;
  return TRUE;
}

/* Copies one RGB sample into frame slot `slot` (rows packed). */
static void
copy_sample (Recon *r, GstSample *sample, int slot)
{
  GstVideoInfo info;
  GstVideoFrame vf;
  gst_video_info_from_caps (&info, gst_sample_get_caps (sample));
  gst_video_frame_map (&vf, &info, gst_sample_get_buffer (sample), GST_MAP_READ);
  gsize row = (gsize) r->c->W * 3;
  for (int y = 0; y < r->c->H; y++)
    memcpy (r->frames + slot * r->fbytes + y * row,
        (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&vf, 0) + (gsize) y *
        GST_VIDEO_FRAME_PLANE_STRIDE (&vf, 0), row);
  gst_video_frame_unmap (&vf);
}

/* Pulls frames until EOS, running each full window; 0, or 1 after printing why. */
static int
pull_frames (Recon *r, GstElement *pipeline, GstElement *appsink, int max_frames)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  int n = 0, status = -1;
  GError *err = NULL;
  while (status < 0) {
    GstMessage *m;
    while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR | GST_MESSAGE_WARNING))) {
      ct_cli_print_message ("reconstruct", m);
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR)
        status = 1;
      gst_message_unref (m);
    }
    if (status >= 0)
      break;
    if (max_frames && r->total + n >= max_frames)
      break;
    GstSample *sample = gst_app_sink_try_pull_sample (GST_APP_SINK (appsink), GST_SECOND / 10);
    if (!sample) {
      if (gst_app_sink_is_eos (GST_APP_SINK (appsink)))
        break;
      continue;
    }
    copy_sample (r, sample, n++);
    gst_sample_unref (sample);
    if (n == r->c->T) {
      if (!run_window (r, n, &err))
        status = 1;
      n = 0;
    }
  }
  if (status < 0 && n > 0 && !run_window (r, n, &err))
    status = 1;
  if (err)
    fprintf (stderr, "coordtok reconstruct: %s\n", err->message);
  g_clear_error (&err);
  gst_object_unref (bus);
  return status < 0 ? 0 : status;
}

int
ct_cmd_reconstruct (int argc, char **argv)
{
  CtCliElementOptions eo = { 0 };
  CtInputOptions io = { 0 };
  int slice = 0, max_frames = 0;
  GOptionEntry entries[] = {
    CT_CLI_ELEMENT_OPTION_ENTRIES (&eo),
    { "slice", 's', 0, G_OPTION_ARG_INT, &slice, "Queries per decoded sequence", "N" },
    { "frames", 'n', 0, G_OPTION_ARG_INT, &max_frames, "Stop after N frames", "N" },
    CT_INPUT_OPTION_ENTRIES (&io),
    { NULL }
  };
  Recon r = { 0 };
  CtModel *m = NULL;
  CtInput *in = NULL;
  GstElement *pipeline = NULL;
  GError *err = NULL;
  char *tmp = NULL;
  int status = ct_cli_parse_args ("reconstruct", "VIDEO OUT.rgb - encode and decode a video "
      "with the engine; writes raw RGB24 and prints the RGB PSNR (VIDEO: a video file, scaled "
      "to the model's size; a .y4m; or raw RGB24 with --width and --height)", entries, &argc,
      &argv, 2, 2, "need VIDEO and OUT.rgb");
  if (status >= 0)
    goto done;
  status = 2;
  if (!ct_cli_element_options_check ("reconstruct", &eo))
    goto done;
  if (slice < 0 || max_frames < 0) {
    fprintf (stderr, "coordtok reconstruct: --slice and --frames must be >= 0\n");
    goto done;
  }
  CtDevice dev = CT_DEVICE_AUTO;
  int dev_index = -1;
  if (eo.device)
    ct_device_parse (eo.device, &dev, &dev_index);
  status = 1;
  /* GStreamer reads the input; the engine itself does the rest */
  if (!ct_cli_gst_init ("reconstruct", FALSE))
    goto done;
  if (!(in = ct_input_open (argv[1], &io, FALSE, &status, &err)))
    goto fail;
  status = 1;
  if (!(m = ct_model_load (eo.model, &err)) ||
      !(r.s = ct_session_new_full (m, dev, dev_index, CT_PRECISION_FP32, &err)))
    goto fail;
  ct_session_set_threads (r.s, eo.threads);
  r.c = ct_model_config (m);
  r.slice = slice;
  int w, h;
  if (ct_input_fixed_size (in, &w, &h) && (w != r.c->W || h != r.c->H)) {
    fprintf (stderr, "coordtok reconstruct: %s has %dx%d frames; the model takes %dx%d: scale "
        "them first (video files are scaled; raw and Y4M frames never are)\n", argv[1], w, h,
        r.c->W, r.c->H);
    goto done;
  }
  tmp = ct_cli_tmp_path (argv[2]);
  if (!(r.out = fopen (tmp, "wb"))) {
    fprintf (stderr, "coordtok reconstruct: cannot write %s: %s\n", tmp, g_strerror (errno));
    goto done;
  }

  pipeline = gst_pipeline_new ("reconstruct");
  GstElement *conv = gst_element_factory_make ("videoconvert", NULL);
  GstElement *scale = gst_element_factory_make ("videoscale", NULL);
  GstElement *sink = gst_element_factory_make ("appsink", NULL);
  if (!conv || !scale || !sink) {
    fprintf (stderr, "coordtok reconstruct: GStreamer elements missing (videoconvert, "
        "videoscale, appsink: gstreamer1.0-plugins-base)\n");
    goto done;
  }
  GstCaps *caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "RGB",
      "width", G_TYPE_INT, r.c->W, "height", G_TYPE_INT, r.c->H, NULL);
  g_object_set (sink, "caps", caps, "sync", FALSE, "max-buffers", 4, NULL);
  gst_caps_unref (caps);
  gst_bin_add_many (GST_BIN (pipeline), conv, scale, sink, NULL);
  if (!gst_element_link_many (conv, scale, sink, NULL) ||
      !ct_input_add (in, GST_BIN (pipeline), conv, &err)) {
    if (!err)
      g_set_error (&err, CT_ERROR, CT_ERROR_UNSUPPORTED, "cannot link the pipeline");
    goto fail;
  }
  printf ("input: %s\n", ct_input_describe (in));
  r.fbytes = (gsize) r.c->H * r.c->W * 3;
  r.frames = g_malloc (r.fbytes * r.c->T);
  r.rec = g_malloc (r.fbytes * r.c->T);
  r.dec = g_new (float, r.fbytes * r.c->T);
  r.z = g_new (float, ct_config_token_floats (r.c));
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    GstBus *bus = gst_element_get_bus (pipeline);
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (msg) {
      ct_cli_print_message ("reconstruct", msg);
      gst_message_unref (msg);
    } else
      fprintf (stderr, "coordtok reconstruct: the pipeline could not start\n");
    gst_object_unref (bus);
    status = 1;
  } else
    status = pull_frames (&r, pipeline, sink, max_frames);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  if (status == 0 && r.total == 0) {
    fprintf (stderr, "coordtok reconstruct: %s has no frames\n", argv[1]);
    status = 1;
  }
  if (fclose (r.out) != 0 && status == 0) {
    fprintf (stderr, "coordtok reconstruct: cannot write %s: %s\n", tmp, g_strerror (errno));
    status = 1;
  }
  r.out = NULL;
  status = ct_cli_finish_output ("reconstruct", tmp, argv[2], status);
  if (status == 0)
    printf ("all %" G_GINT64_FORMAT " frames: RGB PSNR %.2f dB\n", r.total,
        rgb_psnr (r.sse_all, (double) r.fbytes * r.total));
  goto done;
fail:
  fprintf (stderr, "coordtok reconstruct: %s\n", err->message);
done:
  if (r.out) {
    fclose (r.out);
    ct_cli_finish_output ("reconstruct", tmp, argv[2], 1);
  }
  if (pipeline)
    gst_object_unref (pipeline);
  ct_input_free (in);
  g_clear_error (&err);
  g_free (r.frames); g_free (r.rec); g_free (r.z); g_free (r.dec);
  ct_session_free (r.s);
  ct_model_unref (m);
  g_free (tmp);
  g_free (io.framerate);
  ct_cli_element_options_clear (&eo);
  return status;
}
