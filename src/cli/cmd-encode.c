/* cmd-encode.c - `coordtok encode VIDEO OUT.ctok`: the plugin's coordtokenc
 * in the pipeline
 *   INPUT ! videoconvert ! videoscale ! video/x-raw,format=RGB ! coordtokenc ! filesink
 * (INPUT: video-input.c), so the file is byte for byte what gst-launch-1.0
 * writes with the same elements.  A video file is scaled to whatever size
 * the encoder accepts (its caps say); raw and Y4M frames of a size it does
 * not accept are refused, never scaled behind the user's back.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"
#include "cli-gst.h"
#include "video-input.h"

#include <stdio.h>

typedef struct {
  GstElement *enc;
  CtInput *in;
  const char *path;
  guint64 frames, windows, bytes;
} Encode;

static GstPadProbeReturn
count_frames (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  ((Encode *) data)->frames++;
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
count_records (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Encode *e = data;
  e->windows++;
  e->bytes += gst_buffer_get_size (GST_PAD_PROBE_INFO_BUFFER (info));
  return GST_PAD_PROBE_OK;
}

/* With the model loaded, does the encoder take frames of the input's size? */
static int
check_size (GstElement *pipeline, gpointer data)
{
  Encode *e = data;
  int w, h;
  if (!ct_input_fixed_size (e->in, &w, &h))
    return -1;
  GstPad *sink = gst_element_get_static_pad (e->enc, "sink");
  GstCaps *accepted = gst_pad_query_caps (sink, NULL);
  GstCaps *ours = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "RGB",
      "width", G_TYPE_INT, w, "height", G_TYPE_INT, h, NULL);
  int ret = -1;
  if (!gst_caps_can_intersect (accepted, ours)) {
    const GstStructure *s = gst_caps_get_size (accepted) ? gst_caps_get_structure (accepted, 0) : NULL;
    int mw = 0, mh = 0;
    if (s && gst_structure_get_int (s, "width", &mw) && gst_structure_get_int (s, "height", &mh))
      fprintf (stderr, "coordtok encode: %s has %dx%d frames; the model takes %dx%d: scale "
          "them first (video files are scaled; raw and Y4M frames never are)\n", e->path, w, h,
          mw, mh);
    else
      fprintf (stderr, "coordtok encode: the encoder does not accept the %dx%d frames of %s\n",
          w, h, e->path);
    ret = 1;
  }
  gst_caps_unref (ours);
  gst_caps_unref (accepted);
  gst_object_unref (sink);
  return ret;
}

int
ct_cmd_encode (int argc, char **argv)
{
  CtCliElementOptions eo = { 0 };
  CtInputOptions io = { 0 };
  char *dtype = NULL, *tmp = NULL;
  GOptionEntry entries[] = {
    CT_CLI_ELEMENT_OPTION_ENTRIES (&eo),
    { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype, "Token element type: f32 (default), f16, bf16", "T" },
    CT_INPUT_OPTION_ENTRIES (&io),
    { NULL }
  };
  Encode e = { 0 };
  GstElement *pipeline = NULL;
  GError *err = NULL;
  int status = ct_cli_parse_args ("encode", "VIDEO OUT.ctok - encode a video into CoordTok "
      "tokens (VIDEO: a video file GStreamer reads, a .y4m, or raw RGB24 with --width, "
      "--height and --framerate)", entries, &argc, &argv, 2, 2, "need VIDEO and OUT.ctok");
  if (status >= 0)
    goto done;
  status = 2;
  if (dtype && g_strcmp0 (dtype, "f32") && g_strcmp0 (dtype, "f16") && g_strcmp0 (dtype, "bf16")) {
    fprintf (stderr, "coordtok encode: unknown dtype '%s' (f32, f16 or bf16)\n", dtype);
    goto done;
  }
  if (!ct_cli_element_options_check ("encode", &eo))
    goto done;
  status = 1;
  if (!ct_cli_gst_init ("encode", TRUE))
    goto done;
  if (!(e.in = ct_input_open (argv[1], &io, TRUE, &status, &err))) {
    fprintf (stderr, "coordtok encode: %s\n", err->message);
    goto done;
  }
  status = 1;
  e.path = argv[1];
  pipeline = gst_pipeline_new ("encode");
  GstElement *conv = gst_element_factory_make ("videoconvert", NULL);
  GstElement *scale = gst_element_factory_make ("videoscale", NULL);
  GstElement *filter = gst_element_factory_make ("capsfilter", NULL);
  GstElement *sink = gst_element_factory_make ("filesink", NULL);
  e.enc = gst_element_factory_make ("coordtokenc", NULL);
  if (!conv || !scale || !filter || !sink || !e.enc) {
    fprintf (stderr, "coordtok encode: GStreamer elements missing (videoconvert, videoscale: "
        "gstreamer1.0-plugins-base)\n");
    goto done;
  }
  GstCaps *rgb = gst_caps_from_string ("video/x-raw,format=RGB");
  g_object_set (filter, "caps", rgb, NULL);
  gst_caps_unref (rgb);
  tmp = ct_cli_tmp_path (argv[2]);
  g_object_set (sink, "location", tmp, NULL);
  ct_cli_element_options_apply (&eo, e.enc);
  if (dtype)
    gst_util_set_object_arg (G_OBJECT (e.enc), "dtype", dtype);
  gst_bin_add_many (GST_BIN (pipeline), conv, scale, filter, e.enc, sink, NULL);
  if (!gst_element_link_many (conv, scale, filter, e.enc, sink, NULL) ||
      !ct_input_add (e.in, GST_BIN (pipeline), conv, &err)) {
    fprintf (stderr, "coordtok encode: %s\n", err ? err->message : "cannot link the pipeline");
    goto done;
  }
  GstPad *p = gst_element_get_static_pad (e.enc, "sink");
  gst_pad_add_probe (p, GST_PAD_PROBE_TYPE_BUFFER, count_frames, &e, NULL);
  gst_object_unref (p);
  p = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (p, GST_PAD_PROBE_TYPE_BUFFER, count_records, &e, NULL);
  gst_object_unref (p);

  status = ct_cli_gst_run ("encode", pipeline, check_size, &e);
  if (status == 0 && e.frames == 0) {
    fprintf (stderr, "coordtok encode: %s has no frames\n", argv[1]);
    status = 1;
  }
  status = ct_cli_finish_output ("encode", tmp, argv[2], status);
  if (status == 0)
    printf ("wrote %s: %" G_GUINT64_FORMAT " frame%s in %" G_GUINT64_FORMAT " window%s, %"
        G_GUINT64_FORMAT " bytes (input: %s)\n", argv[2], e.frames, e.frames == 1 ? "" : "s",
        e.windows, e.windows == 1 ? "" : "s", e.bytes, ct_input_describe (e.in));
done:
  if (pipeline)
    gst_object_unref (pipeline);
  ct_input_free (e.in);
  g_clear_error (&err);
  g_free (tmp);
  g_free (dtype);
  g_free (io.framerate);
  ct_cli_element_options_clear (&eo);
  return status;
}
