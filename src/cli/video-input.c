/* video-input.c - the CLI's input: a file is looked at before a pipeline
 * is built, so that a video given as raw frames, a token file given as a
 * video or a raw file of the wrong size is refused with a sentence that
 * says what it is, never read as pixels.
 *   video file  filesrc ! decodebin         (its video stream)
 *   raw RGB24   filesrc ! rawvideoparse     (--width, --height, --framerate)
 *   Y4M         appsrc, fed by y4m-reader.c (Debian's GStreamer has no y4mdec)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "video-input.h"
#include "y4m-reader.h"
#include "file-kind.h"
#include "coordtok.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>

struct CtInput {
  CtInputKind kind;
  char *path, *describe;
  int width, height, fps_n, fps_d;
  /* video file */
  GstElement *next;
  gboolean linked;
  /* Y4M */
  CtY4mReader *y4m;
  GstVideoInfo info;
  guint64 frame;
};

static int
fail (int *status, int code, GError **error, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static int
fail (int *status, int code, GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, CT_ERROR, code == 2 ? CT_ERROR_ARGUMENT : CT_ERROR_FORMAT, msg);
  g_free (msg);
  *status = code;
  return code;
}

static gboolean
parse_rate (const char *s, int *n, int *d)
{
  char *end;
  gint64 a = g_ascii_strtoll (s, &end, 10), b = 1;
  if (end == s || a <= 0 || a > G_MAXINT)
    return FALSE;
  if (*end == '/') {
    const char *p = end + 1;
    b = g_ascii_strtoll (p, &end, 10);
    if (end == p || b <= 0 || b > G_MAXINT)
      return FALSE;
  }
  if (*end)
    return FALSE;
  *n = (int) a;
  *d = (int) b;
  return TRUE;
}

static gboolean
raw_by_name (const char *path)
{
  return g_str_has_suffix (path, ".rgb") || g_str_has_suffix (path, ".raw") ||
      g_str_has_suffix (path, ".RGB");
}

static const char *
chroma_name (CtY4mChroma c)
{
  static const char *names[] = { "420jpeg", "420mpeg2", "420paldv", "411", "422", "444", "mono" };
  return names[c];
}

static gboolean
open_y4m (CtInput *in, FILE *f, const CtInputOptions *o, gboolean need_rate, int *status,
    GError **error)
{
  GError *err = NULL;
  if (o->width || o->height) {
    fclose (f);
    return !fail (status, 2, error, "%s is a Y4M video: its header gives the frame size; "
        "drop --width/--height", in->path);
  }
  in->y4m = ct_y4m_reader_new (f, in->path, &err);
  if (!in->y4m) {
    fail (status, 1, error, "%s", err->message);
    g_error_free (err);
    return FALSE;
  }
  const CtY4mHeader *h = ct_y4m_reader_header (in->y4m);
  if (h->fps_n && o->framerate)
    return !fail (status, 2, error, "%s's header gives the frame rate (%d/%d): drop --framerate",
        in->path, h->fps_n, h->fps_d);
  in->fps_n = h->fps_n;
  in->fps_d = h->fps_d;
  if (!h->fps_n && o->framerate && !parse_rate (o->framerate, &in->fps_n, &in->fps_d))
    return !fail (status, 2, error, "bad --framerate '%s' (N or N/D, both positive)", o->framerate);
  if (!in->fps_n && need_rate)
    return !fail (status, 2, error, "%s has no frame rate in its header (F tag): give --framerate",
        in->path);
  if (!in->fps_n) {
    in->fps_n = 0;
    in->fps_d = 1;
  }
  static const GstVideoFormat formats[] = {
    GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_Y41B,
    GST_VIDEO_FORMAT_Y42B, GST_VIDEO_FORMAT_Y444, GST_VIDEO_FORMAT_GRAY8,
  };
  static const GstVideoChromaSite sites[] = {
    GST_VIDEO_CHROMA_SITE_JPEG, GST_VIDEO_CHROMA_SITE_MPEG2, GST_VIDEO_CHROMA_SITE_DV,
    GST_VIDEO_CHROMA_SITE_UNKNOWN, GST_VIDEO_CHROMA_SITE_UNKNOWN,
    GST_VIDEO_CHROMA_SITE_UNKNOWN, GST_VIDEO_CHROMA_SITE_UNKNOWN,
  };
  gst_video_info_set_format (&in->info, formats[h->chroma], h->width, h->height);
  if (sites[h->chroma] != GST_VIDEO_CHROMA_SITE_UNKNOWN)
    in->info.chroma_site = sites[h->chroma];
  if (h->full_range >= 0 && h->chroma != CT_Y4M_MONO)
    in->info.colorimetry.range = h->full_range ? GST_VIDEO_COLOR_RANGE_0_255 :
        GST_VIDEO_COLOR_RANGE_16_235;
  GST_VIDEO_INFO_PAR_N (&in->info) = h->par_n;
  GST_VIDEO_INFO_PAR_D (&in->info) = h->par_d;
  GST_VIDEO_INFO_FPS_N (&in->info) = in->fps_n;
  GST_VIDEO_INFO_FPS_D (&in->info) = in->fps_d;
  in->width = h->width;
  in->height = h->height;
  in->describe = g_strdup_printf ("Y4M %dx%d %s, %d/%d fps", h->width, h->height,
      chroma_name (h->chroma), in->fps_n, in->fps_d);
  return TRUE;
}

static gboolean
open_raw (CtInput *in, const struct stat *st, const char *kind_name, const CtInputOptions *o,
    gboolean need_rate, int *status, GError **error)
{
  if (kind_name)
    return !fail (status, 1, error, "%s is %s, not raw RGB24 frames: drop --width/--height "
        "(video files are decoded by GStreamer, Y4M files have their own header)", in->path,
        kind_name);
  if (!o->width || !o->height || (need_rate && !o->framerate))
    return !fail (status, 2, error, "raw RGB24 input (%s) needs --width and --height%s: raw "
        "frames say nothing about their size", in->path, need_rate ? " and --framerate" : "");
  if (o->width < 1 || o->height < 1 || o->width > CT_Y4M_MAX_DIM || o->height > CT_Y4M_MAX_DIM ||
      (gsize) o->width * o->height * 3 > CT_Y4M_MAX_FRAME_BYTES)
    return !fail (status, 2, error, "--width and --height must be 1 to %d, with frames of at "
        "most %" G_GSIZE_FORMAT " MiB", CT_Y4M_MAX_DIM, CT_Y4M_MAX_FRAME_BYTES >> 20);
  /* without --framerate (reconstruct: timing does not matter) rawvideoparse's default */
  in->fps_n = 25;
  in->fps_d = 1;
  if (o->framerate && !parse_rate (o->framerate, &in->fps_n, &in->fps_d))
    return !fail (status, 2, error, "bad --framerate '%s' (N or N/D, both positive)", o->framerate);
  gint64 frame = (gint64) o->width * o->height * 3;
  if (S_ISREG (st->st_mode) && st->st_size % frame != 0)
    return !fail (status, 1, error, "%s has %" G_GINT64_FORMAT " bytes, not a whole number of "
        "%dx%d RGB24 frames (%" G_GINT64_FORMAT " bytes each): are --width/--height right?",
        in->path, (gint64) st->st_size, o->width, o->height, frame);
  in->width = o->width;
  in->height = o->height;
  in->describe = g_strdup_printf ("raw RGB24 %dx%d", in->width, in->height);
  return TRUE;
}

CtInput *
ct_input_open (const char *path, const CtInputOptions *o, gboolean need_rate, int *status,
    GError **error)
{
  CtInput *in = g_new0 (CtInput, 1);
  in->path = g_strdup (path);
  FILE *f = fopen (path, "rb");
  struct stat st;
  guint8 head[64];
  gsize n = 0;
  gboolean ok = FALSE;
  if (!f || fstat (fileno (f), &st) != 0 || S_ISDIR (st.st_mode)) {
    fail (status, 1, error, "cannot open %s: %s", path, f ? "it is a directory" : g_strerror (errno));
    goto out;
  }
  n = fread (head, 1, sizeof head, f);
  const char *kind_name = NULL;
  CtFileKind kind = ct_file_kind (head, n, &kind_name);
  if (kind == CT_FILE_KIND_Y4M) {
    in->kind = CT_INPUT_Y4M;
    rewind (f);
    ok = open_y4m (in, f, o, need_rate, status, error);
    f = NULL;                   /* the reader owns it */
  } else if (o->width || o->height || raw_by_name (path)) {
    in->kind = CT_INPUT_RAW;
    ok = open_raw (in, &st, kind == CT_FILE_KIND_UNKNOWN ? NULL : kind_name, o, need_rate,
        status, error);
  } else if (kind == CT_FILE_KIND_TOKENS) {
    fail (status, 1, error, "%s is a CoordTok token file, not a video: decode it with "
        "'coordtok decode %s OUT.y4m'", path, path);
  } else if (kind == CT_FILE_KIND_EMPTY || kind == CT_FILE_KIND_WEIGHTS ||
      kind == CT_FILE_KIND_CHECKPOINT || kind == CT_FILE_KIND_OTHER) {
    fail (status, 1, error, "%s is %s, not a video", path, kind_name);
  } else if (o->framerate) {
    fail (status, 2, error, "--framerate is for raw RGB24 and Y4M input without one; %s is "
        "decoded by GStreamer, with its own frame rate", path);
  } else {
    in->kind = CT_INPUT_VIDEO;
    in->describe = g_strdup_printf ("%s (decoded by GStreamer)", kind_name ? kind_name :
        "a video file");
    ok = TRUE;
  }
out:
  if (f)
    fclose (f);
  if (!ok) {
    ct_input_free (in);
    return NULL;
  }
  return in;
}

CtInputKind
ct_input_kind (const CtInput *in)
{
  return in->kind;
}

gboolean
ct_input_fixed_size (const CtInput *in, int *width, int *height)
{
  *width = in->width;
  *height = in->height;
  return in->kind != CT_INPUT_VIDEO;
}

const char *
ct_input_describe (const CtInput *in)
{
  return in->describe;
}

static void
on_pad_added (GstElement *decodebin, GstPad *pad, CtInput *in)
{
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  gboolean video = gst_caps_get_size (caps) > 0 &&
      gst_structure_has_name (gst_caps_get_structure (caps, 0), "video/x-raw");
  gst_caps_unref (caps);
  if (!video || in->linked)
    return;                     /* audio, subtitles, a second video stream */
  GstPad *sink = gst_element_get_static_pad (in->next, "sink");
  in->linked = gst_pad_link (pad, sink) == GST_PAD_LINK_OK;
  gst_object_unref (sink);
}

static void
on_no_more_pads (GstElement *decodebin, CtInput *in)
{
  if (in->linked)
    return;
  GError *err = g_error_new (GST_STREAM_ERROR, GST_STREAM_ERROR_WRONG_TYPE,
      "%s has no video stream GStreamer can decode", in->path);
  gst_element_post_message (decodebin, gst_message_new_error (GST_OBJECT (decodebin), err, NULL));
  g_error_free (err);
}

/* appsrc asks for data: one Y4M frame, copied from the file's packed planes
 * into GStreamer's layout (rows padded to 4 bytes). */
static void
y4m_need_data (GstAppSrc *src, guint length, gpointer data)
{
  CtInput *in = data;
  GError *err = NULL;
  const guint8 *s;
  int r = ct_y4m_reader_read (in->y4m, &s, &err);
  if (r == 0) {
    gst_app_src_end_of_stream (src);
    return;
  }
  if (r < 0) {
    gst_element_post_message (GST_ELEMENT (src),
        gst_message_new_error (GST_OBJECT (src), err, NULL));
    g_error_free (err);
    return;
  }
  const CtY4mHeader *h = ct_y4m_reader_header (in->y4m);
  GstBuffer *buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&in->info), NULL);
  GstVideoFrame vf;
  gst_video_frame_map (&vf, &in->info, buf, GST_MAP_WRITE);
  for (int p = 0; p < h->n_planes; p++) {
    guint8 *d = GST_VIDEO_FRAME_PLANE_DATA (&vf, p);
    int stride = GST_VIDEO_FRAME_PLANE_STRIDE (&vf, p);
    for (int y = 0; y < h->plane_h[p]; y++, s += h->plane_w[p])
      memcpy (d + (gsize) y * stride, s, h->plane_w[p]);
  }
  gst_video_frame_unmap (&vf);
  if (in->fps_n > 0) {
    GstClockTime t0 = gst_util_uint64_scale (in->frame, GST_SECOND * in->fps_d, in->fps_n);
    GstClockTime t1 = gst_util_uint64_scale (in->frame + 1, GST_SECOND * in->fps_d, in->fps_n);
    GST_BUFFER_PTS (buf) = t0;
    GST_BUFFER_DURATION (buf) = t1 - t0;
  }
  GST_BUFFER_OFFSET (buf) = in->frame;
  GST_BUFFER_OFFSET_END (buf) = in->frame + 1;
  in->frame++;
  gst_app_src_push_buffer (src, buf);
}

gboolean
ct_input_add (CtInput *in, GstBin *bin, GstElement *next, GError **error)
{
  GstElement *src = NULL, *second = NULL;
  switch (in->kind) {
    case CT_INPUT_VIDEO:
      src = gst_element_factory_make ("filesrc", NULL);
      second = gst_element_factory_make ("decodebin", NULL);
      break;
    case CT_INPUT_RAW:
      src = gst_element_factory_make ("filesrc", NULL);
      second = gst_element_factory_make ("rawvideoparse", NULL);
      break;
    case CT_INPUT_Y4M:
      src = gst_element_factory_make ("appsrc", NULL);
      break;
  }
  if (!src || (in->kind != CT_INPUT_Y4M && !second)) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED, "GStreamer element %s is missing "
        "(install gstreamer1.0-plugins-base)", !src ? "filesrc/appsrc" :
        in->kind == CT_INPUT_RAW ? "rawvideoparse" : "decodebin");
    if (src)
      gst_object_unref (src);
    if (second)
      gst_object_unref (second);
    return FALSE;
  }
  gst_bin_add (bin, src);
  if (second)
    gst_bin_add (bin, second);
  if (in->kind == CT_INPUT_Y4M) {
    GstCaps *caps = gst_video_info_to_caps (&in->info);
    GstAppSrcCallbacks cb = { .need_data = y4m_need_data };
    g_object_set (src, "caps", caps, "format", GST_FORMAT_TIME, NULL);
    gst_caps_unref (caps);
    gst_app_src_set_callbacks (GST_APP_SRC (src), &cb, in, NULL);
    return gst_element_link (src, next);
  }
  g_object_set (src, "location", in->path, NULL);
  if (in->kind == CT_INPUT_RAW) {
    char rate[32];
    g_snprintf (rate, sizeof rate, "%d/%d", in->fps_n, in->fps_d);
    gst_util_set_object_arg (G_OBJECT (second), "format", "rgb");
    g_object_set (second, "width", in->width, "height", in->height, NULL);
    gst_util_set_object_arg (G_OBJECT (second), "framerate", rate);
    return gst_element_link_many (src, second, next, NULL);
  }
  in->next = next;
  g_signal_connect (second, "pad-added", G_CALLBACK (on_pad_added), in);
  g_signal_connect (second, "no-more-pads", G_CALLBACK (on_no_more_pads), in);
  return gst_element_link (src, second);
}

void
ct_input_free (CtInput *in)
{
  if (!in)
    return;
  ct_y4m_reader_free (in->y4m);
  g_free (in->path);
  g_free (in->describe);
  g_free (in);
}
