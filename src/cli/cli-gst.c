/* cli-gst.c - the CLI runs the plugin's own elements in a pipeline, so that
 * `coordtok encode` writes the bytes `gst-launch-1.0 ... ! coordtokenc !
 * filesink` would.  Here: finding the plugin, element options, the bus loop
 * and atomic output files.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"
#include "cli-gst.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>

gboolean
ct_cli_element_options_check (const char *cmd, const CtCliElementOptions *o)
{
  CtDevice d;
  int index;
  if (o->device && !ct_device_parse (o->device, &d, &index)) {
    fprintf (stderr, "coordtok %s: unknown device '%s' (auto, cpu, cuda or cuda:N)\n", cmd,
        o->device);
    return FALSE;
  }
  if (o->threads < 0 || o->threads > 256) {
    fprintf (stderr, "coordtok %s: --threads must be 0 (automatic) to 256\n", cmd);
    return FALSE;
  }
  return TRUE;
}

void
ct_cli_element_options_apply (const CtCliElementOptions *o, GstElement *e)
{
  if (o->model)
    g_object_set (e, "model", o->model, NULL);
  CtDevice d;
  int index;
  if (o->device && ct_device_parse (o->device, &d, &index))
    g_object_set (e, "device", (gint) d, "cuda-device-id", index, NULL);
  g_object_set (e, "threads", (guint) o->threads, NULL);
}

void
ct_cli_element_options_clear (CtCliElementOptions *o)
{
  g_clear_pointer (&o->model, g_free);
  g_clear_pointer (&o->device, g_free);
}

/* A coordtok run from its build tree (BUILD/src/cli/coordtok) uses the
 * plugin built beside it (BUILD/plugin), found relative to the executable so
 * that no tree path is compiled in; otherwise the installed plugin. */
static gboolean
load_plugin (void)
{
  char *exe = g_file_read_link ("/proc/self/exe", NULL);
  char *exe_dir = exe ? g_path_get_dirname (exe) : NULL;
  char *files[2] = { NULL, g_build_filename (CT_CLI_PLUGIN_DIR, "libgstcoordtok.so", NULL) };
  gboolean ok = FALSE;
  if (exe_dir && g_str_has_suffix (exe_dir, G_DIR_SEPARATOR_S "src" G_DIR_SEPARATOR_S "cli"))
    files[0] = g_build_filename (exe_dir, "..", "..", "plugin", "libgstcoordtok.so", NULL);
  for (int i = 0; i < 2 && !ok; i++) {
    if (files[i] && g_file_test (files[i], G_FILE_TEST_EXISTS)) {
      GstPlugin *p = gst_plugin_load_file (files[i], NULL);
      if (p) {
        ok = TRUE;
        gst_object_unref (p);
      }
    }
  }
  g_free (files[0]);
  g_free (files[1]);
  g_free (exe);
  g_free (exe_dir);
  return ok;
}

gboolean
ct_cli_gst_init (const char *cmd, gboolean need_plugin)
{
  gst_init (NULL, NULL);
  if (!need_plugin)
    return TRUE;
  GstElementFactory *f = gst_element_factory_find ("coordtokenc");
  if (f) {
    gst_object_unref (f);
    return TRUE;
  }
  if (load_plugin ())
    return TRUE;
  fprintf (stderr, "coordtok %s: the coordtok GStreamer plugin was not found (neither in "
      "GStreamer's plugin path nor in %s): install it, or point GST_PLUGIN_PATH at the build's "
      "plugin folder (BUILD/plugin)\n", cmd, CT_CLI_PLUGIN_DIR);
  return FALSE;
}

void
ct_cli_print_message (const char *cmd, GstMessage *msg)
{
  GError *err = NULL;
  char *debug = NULL;
  gboolean error = GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR;
  if (error)
    gst_message_parse_error (msg, &err, &debug);
  else
    gst_message_parse_warning (msg, &err, &debug);
  /* GStreamer's generic flow error says why only in the debug string */
  const char *reason = debug ? strstr (debug, "reason ") : NULL;
  /* typefind's failure names no file and no way out */
  const char *hint = g_error_matches (err, GST_STREAM_ERROR, GST_STREAM_ERROR_TYPE_NOT_FOUND) ?
      " - not a video file GStreamer knows (raw RGB24 frames need --width, --height and "
      "--framerate)" : "";
  fprintf (stderr, "coordtok %s: %s%s%s%s%s\n", cmd, error ? "" : "warning: ", err->message,
      reason ? " - " : "", reason ? reason : "", hint);
  g_error_free (err);
  g_free (debug);
}

/* Waits for the pending state change; on failure the reason is on the bus. */
static int
set_state (const char *cmd, GstElement *pipeline, GstState state)
{
  if (gst_element_set_state (pipeline, state) != GST_STATE_CHANGE_FAILURE &&
      gst_element_get_state (pipeline, NULL, NULL, GST_CLOCK_TIME_NONE) != GST_STATE_CHANGE_FAILURE)
    return -1;
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (m) {
    ct_cli_print_message (cmd, m);
    gst_message_unref (m);
  } else
    fprintf (stderr, "coordtok %s: the pipeline could not start\n", cmd);
  gst_object_unref (bus);
  return 1;
}

int
ct_cli_gst_run (const char *cmd, GstElement *pipeline, CtCliReadyCheck check, gpointer data)
{
  int ret = set_state (cmd, pipeline, GST_STATE_READY);
  if (ret < 0 && check)
    ret = check (pipeline, data);
  if (ret < 0 && gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    ret = set_state (cmd, pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipeline);
  while (ret < 0) {
    GstMessage *m = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
        GST_MESSAGE_ERROR | GST_MESSAGE_WARNING | GST_MESSAGE_EOS);
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS)
      ret = 0;
    else {
      ct_cli_print_message (cmd, m);
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR)
        ret = 1;                /* the first error is the one that says why */
    }
    gst_message_unref (m);
  }
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return ret;
}

char *
ct_cli_tmp_path (const char *path)
{
  return g_strdup_printf ("%s.tmp", path);
}

int
ct_cli_finish_output (const char *cmd, const char *tmp, const char *path, int status)
{
  if (status != 0) {
    g_unlink (tmp);
    return status;
  }
  if (g_rename (tmp, path) != 0) {
    fprintf (stderr, "coordtok %s: cannot rename %s to %s: %s\n", cmd, tmp, path,
        g_strerror (errno));
    g_unlink (tmp);
    return 1;
  }
  return 0;
}
