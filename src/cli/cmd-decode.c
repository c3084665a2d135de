/* cmd-decode.c - `coordtok decode IN.ctok OUT`: the plugin's elements in
 *   filesrc ! coordtokparse ! coordtokdec ! videoconvert ! video/x-raw,format=F [! y4menc] ! filesink
 * raw RGB24 (F = RGB) or Y4M (F = I420, or Y444), chosen by OUT's extension
 * or --format.  Damaged records are skipped with a warning, as the
 * elements do (docs/elements.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"
#include "cli-gst.h"
#include "file-kind.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  guint64 frames;
  int width, height;
} Decode;

static GstPadProbeReturn
count_frames (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Decode *d = data;
  if (d->frames++ == 0) {
    GstCaps *caps = gst_pad_get_current_caps (pad);
    if (caps) {
      GstStructure *s = gst_caps_get_structure (caps, 0);
      gst_structure_get_int (s, "width", &d->width);
      gst_structure_get_int (s, "height", &d->height);
      gst_caps_unref (caps);
    }
  }
  return GST_PAD_PROBE_OK;
}

/* A file that is recognisably something else is refused before the parser
 * sees it; anything else is the parser's to judge (it skips damage). */
static gboolean
check_tokens_file (const char *path)
{
  guint8 head[64];
  FILE *f = fopen (path, "rb");
  if (!f) {
    fprintf (stderr, "coordtok decode: cannot open %s: %s\n", path, g_strerror (errno));
    return FALSE;
  }
  gsize n = fread (head, 1, sizeof head, f);
  fclose (f);
  const char *name = NULL;
  CtFileKind kind = ct_file_kind (head, n, &name);
  if (kind == CT_FILE_KIND_TOKENS || kind == CT_FILE_KIND_UNKNOWN)
    return TRUE;
  gboolean video = kind == CT_FILE_KIND_VIDEO || kind == CT_FILE_KIND_Y4M ||
      kind == CT_FILE_KIND_IMAGE;
  fprintf (stderr, "coordtok decode: %s is %s, not a CoordTok token file%s%s%s\n", path, name,
      video ? ": encode it first with 'coordtok encode " : "", video ? path : "",
      video ? " OUT.ctok'" : "");
  return FALSE;
}

int
ct_cmd_decode (int argc, char **argv)
{
  CtCliElementOptions eo = { 0 };
  char *format = NULL, *tmp = NULL;
  int slice = 0;
  GOptionEntry entries[] = {
    CT_CLI_ELEMENT_OPTION_ENTRIES (&eo),
    { "slice", 's', 0, G_OPTION_ARG_INT, &slice, "Queries per decoded sequence (0: the model's default)", "N" },
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "Output: rgb (raw RGB24), y4m (4:2:0), "
      "y4m444 (default: from OUT's extension, .rgb or .y4m)", "F" },
    { NULL }
  };
  Decode d = { 0 };
  GstElement *pipeline = NULL;
  int status = ct_cli_parse_args ("decode", "IN.ctok OUT - decode CoordTok tokens into raw "
      "RGB24 (.rgb) or Y4M (.y4m) video", entries, &argc, &argv, 2, 2, "need IN.ctok and OUT");
  if (status >= 0)
    goto done;
  status = 2;
  const char *out = argv[2], *raw_format = NULL;
  if (!format)
    format = g_strdup (g_str_has_suffix (out, ".y4m") ? "y4m" :
        g_str_has_suffix (out, ".rgb") || g_str_has_suffix (out, ".raw") ? "rgb" : "");
  if (!strcmp (format, "rgb"))
    raw_format = "RGB";
  else if (!strcmp (format, "y4m"))
    raw_format = "I420";
  else if (!strcmp (format, "y4m444"))
    raw_format = "Y444";
  else {
    if (*format)
      fprintf (stderr, "coordtok decode: unknown --format '%s' (rgb, y4m or y4m444)\n", format);
    else
      fprintf (stderr, "coordtok decode: cannot tell the output format from '%s': name it "
          ".rgb or .y4m, or give --format rgb|y4m|y4m444\n", out);
    goto done;
  }
  if (slice < 0) {
    fprintf (stderr, "coordtok decode: --slice must be >= 0\n");
    goto done;
  }
  if (!ct_cli_element_options_check ("decode", &eo))
    goto done;
  status = 1;
  if (!check_tokens_file (argv[1]) || !ct_cli_gst_init ("decode", TRUE))
    goto done;
  gboolean y4m = strcmp (format, "rgb") != 0;
  pipeline = gst_pipeline_new ("decode");
  GstElement *src = gst_element_factory_make ("filesrc", NULL);
  GstElement *parse = gst_element_factory_make ("coordtokparse", NULL);
  GstElement *dec = gst_element_factory_make ("coordtokdec", NULL);
  GstElement *conv = gst_element_factory_make ("videoconvert", NULL);
  GstElement *filter = gst_element_factory_make ("capsfilter", NULL);
  GstElement *mux = y4m ? gst_element_factory_make ("y4menc", NULL) : NULL;
  GstElement *sink = gst_element_factory_make ("filesink", NULL);
  if (!src || !parse || !dec || !conv || !filter || !sink || (y4m && !mux)) {
    fprintf (stderr, "coordtok decode: GStreamer elements missing (%s)\n", y4m && !mux ?
        "y4menc: gstreamer1.0-plugins-good" : "videoconvert: gstreamer1.0-plugins-base");
    goto done;
  }
  GstCaps *caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, raw_format, NULL);
  g_object_set (filter, "caps", caps, NULL);
  gst_caps_unref (caps);
  g_object_set (src, "location", argv[1], NULL);
  tmp = ct_cli_tmp_path (out);
  g_object_set (sink, "location", tmp, NULL);
  ct_cli_element_options_apply (&eo, dec);
  if (slice)
    g_object_set (dec, "slice", slice, NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, parse, dec, conv, filter, sink, NULL);
  if (mux)
    gst_bin_add (GST_BIN (pipeline), mux);
  if (!gst_element_link_many (src, parse, dec, conv, filter, NULL) ||
      !(mux ? gst_element_link_many (filter, mux, sink, NULL) : gst_element_link (filter, sink))) {
    fprintf (stderr, "coordtok decode: cannot link the pipeline\n");
    goto done;
  }
  GstPad *p = gst_element_get_static_pad (filter, "src");
  gst_pad_add_probe (p, GST_PAD_PROBE_TYPE_BUFFER, count_frames, &d, NULL);
  gst_object_unref (p);

  status = ct_cli_gst_run ("decode", pipeline, NULL, NULL);
  if (status == 0 && d.frames == 0) {
    fprintf (stderr, "coordtok decode: no frame decoded from %s (no token record in it was "
        "intact)\n", argv[1]);
    status = 1;
  }
  status = ct_cli_finish_output ("decode", tmp, out, status);
  if (status == 0)
    printf ("wrote %s: %" G_GUINT64_FORMAT " frames of %dx%d (%s)\n", out, d.frames, d.width,
        d.height, y4m ? (mux && !strcmp (raw_format, "Y444") ? "Y4M 4:4:4" : "Y4M 4:2:0") :
        "raw RGB24");
done:
  if (pipeline)
    gst_object_unref (pipeline);
  g_free (tmp);
  g_free (format);
  ct_cli_element_options_clear (&eo);
  return status;
}
