/* gstcoordtokcommon.c - enums, model opening, token caps, pixel conversion.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gstcoordtokcommon.h"

#include <string.h>

GType
gst_coordtok_device_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_COORDTOK_DEVICE_AUTO, "CUDA when a usable GPU and the CUDA module are present, else CPU", "auto"},
    {GST_COORDTOK_DEVICE_CPU, "CPU (OpenBLAS + OpenMP)", "cpu"},
    {GST_COORDTOK_DEVICE_CUDA, "CUDA (fails at start if unavailable)", "cuda"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstCoordTokDevice", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_coordtok_dtype_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_COORDTOK_DTYPE_F32, "32-bit IEEE float (exact engine output)", "f32"},
    {GST_COORDTOK_DTYPE_F16, "16-bit IEEE half float (rounded to nearest even)", "f16"},
    {GST_COORDTOK_DTYPE_BF16, "bfloat16 (rounded to nearest even)", "bf16"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstCoordTokDType", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

gboolean
gst_coordtok_open (GstElement * element, const char *path,
    GstCoordTokDevice device, gint cuda_device_id, CtModel ** model,
    CtSession ** session)
{
  GError *err = NULL;
  CtModel *m = (path && *path) ? ct_model_load (path, &err) : ct_model_load_default (&err);
  if (!m) {
    GST_ELEMENT_ERROR (element, RESOURCE, OPEN_READ,
        ("Could not open CoordTok model %s: %s", path && *path ? path : "(default)",
            err->message), (NULL));
    g_clear_error (&err);
    return FALSE;
  }
  CtSession *s = ct_session_new_full (m, (CtDevice) device, cuda_device_id,
      CT_PRECISION_FP32, &err);
  if (!s) {
    GEnumValue *v = g_enum_get_value (g_type_class_peek (GST_TYPE_COORDTOK_DEVICE), device);
    gchar *which = cuda_device_id >= 0 ? g_strdup_printf (" (cuda-device-id %d)",
        cuda_device_id) : g_strdup ("");
    GST_ELEMENT_ERROR (element, RESOURCE, FAILED,
        ("Could not run CoordTok on device '%s'%s: %s", v ? v->value_nick : "?",
            which, err->message),
        ("the model loaded; device=cpu (or auto, which falls back to the CPU) runs it without a GPU"));
    g_free (which);
    g_clear_error (&err);
    ct_model_unref (m);
    return FALSE;
  }
  *model = m;
  *session = s;
  return TRUE;
}

gchar *
gst_coordtok_cpu_description (CtSession * session)
{
  if (ct_session_device (session) != CT_DEVICE_CPU)
    return NULL;
  gchar *blas = ct_cpu_blas_core (), *linear = ct_cpu_linear_describe ();
  gchar *d = g_strdup_printf ("cpu kernels: %s, BLAS kernels: %s, linear layers: %s",
      ct_cpu_kernels_name (), blas, linear);
  g_free (blas);
  g_free (linear);
  return d;
}

void
gst_coordtok_answer_caps_query (GstQuery * query, GstCaps * caps)
{
  GstCaps *filter;
  gst_query_parse_caps (query, &filter);
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = tmp;
  }
  gst_query_set_caps_result (query, caps);
  gst_caps_unref (caps);
}

GstCaps *
gst_coordtok_token_caps_from_header (const CtTokensHeader *h)
{
  return gst_caps_new_simple (GST_COORDTOK_MEDIA_TYPE,
      "parsed", G_TYPE_BOOLEAN, TRUE,
      "version", G_TYPE_INT, CT_TOKENS_VERSION,
      "dtype", G_TYPE_STRING, ct_tokens_dtype_name (h->dtype),
      "window", G_TYPE_INT, (gint) h->T,
      "width", G_TYPE_INT, (gint) h->width,
      "height", G_TYPE_INT, (gint) h->height,
      "framerate", GST_TYPE_FRACTION, h->fps_n, h->fps_d,
      "pixel-aspect-ratio", GST_TYPE_FRACTION, h->par_n, h->par_d,
      "tile-width", G_TYPE_INT, (gint) h->tile_width,
      "tile-height", G_TYPE_INT, (gint) h->tile_height,
      "tiles-x", G_TYPE_INT, (gint) h->tiles_x,
      "tiles-y", G_TYPE_INT, (gint) h->tiles_y,
      "rxy", G_TYPE_INT, (gint) h->rxy,
      "rt", G_TYPE_INT, (gint) h->rt,
      "channels", G_TYPE_INT, (gint) h->channels,
      "model-id", G_TYPE_STRING, h->model_id, NULL);
}

gboolean
gst_coordtok_parse_token_caps (const GstCaps *caps, GstCoordTokCapsInfo *info,
    GError **error)
{
  GstStructure *s;
  const gchar *dt;
  gint version = CT_TOKENS_VERSION;

  memset (info, 0, sizeof *info);
  if (!caps || gst_caps_get_size (caps) != 1 || !gst_caps_is_fixed (caps)) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "token caps are not fixed");
    return FALSE;
  }
  s = gst_caps_get_structure (caps, 0);
  if (!gst_structure_has_name (s, GST_COORDTOK_MEDIA_TYPE)) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "caps are %s, not %s",
        gst_structure_get_name (s), GST_COORDTOK_MEDIA_TYPE);
    return FALSE;
  }
  gst_structure_get_int (s, "version", &version);
  if (version < CT_TOKENS_VERSION_MIN || version > CT_TOKENS_VERSION) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "token stream version %d is not supported (this build reads %d to %d): "
        "a newer gst-coordtok wrote it", version, CT_TOKENS_VERSION_MIN,
        CT_TOKENS_VERSION);
    return FALSE;
  }
  dt = gst_structure_get_string (s, "dtype");
  info->model_id = gst_structure_get_string (s, "model-id");
  if (!dt || !ct_tokens_dtype_from_name (dt, &info->dtype) ||
      !gst_structure_get_int (s, "window", &info->T) ||
      !gst_structure_get_int (s, "width", &info->width) ||
      !gst_structure_get_int (s, "height", &info->height) ||
      !gst_structure_get_int (s, "rxy", &info->rxy) ||
      !gst_structure_get_int (s, "rt", &info->rt) ||
      !gst_structure_get_int (s, "channels", &info->channels) ||
      !gst_structure_get_fraction (s, "framerate", &info->fps_n, &info->fps_d) ||
      !info->model_id) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "token caps lack a field (need dtype f32/f16/bf16, window, width, "
        "height, framerate, rxy, rt, channels, model-id): %" GST_PTR_FORMAT, caps);
    return FALSE;
  }
  /* version 1 streams have no grid: one tile of the frame's size */
  info->tile_width = info->width;
  info->tile_height = info->height;
  gst_structure_get_int (s, "tile-width", &info->tile_width);
  gst_structure_get_int (s, "tile-height", &info->tile_height);
  info->par_n = info->par_d = 1;
  gst_structure_get_fraction (s, "pixel-aspect-ratio", &info->par_n, &info->par_d);
  if (info->width < 1 || info->height < 1 || info->tile_width < 1 ||
      info->tile_height < 1 || info->par_n < 1 || info->par_d < 1) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
        "token caps: invalid frame, tile size or aspect ratio: %" GST_PTR_FORMAT, caps);
    return FALSE;
  }
  return TRUE;
}

/* byte offsets of R, G, B (and alpha, -1 if none) in a packed pixel */
static void
rgb_offsets (const GstVideoFrame *frame, int *r, int *g, int *b, int *a, int *ps)
{
  const GstVideoFormatInfo *f = frame->info.finfo;
  *r = GST_VIDEO_FORMAT_INFO_POFFSET (f, GST_VIDEO_COMP_R);
  *g = GST_VIDEO_FORMAT_INFO_POFFSET (f, GST_VIDEO_COMP_G);
  *b = GST_VIDEO_FORMAT_INFO_POFFSET (f, GST_VIDEO_COMP_B);
  *a = GST_VIDEO_FORMAT_INFO_HAS_ALPHA (f) ?
      (int) GST_VIDEO_FORMAT_INFO_POFFSET (f, GST_VIDEO_COMP_A) : -1;
  *ps = GST_VIDEO_FORMAT_INFO_PSTRIDE (f, 0);
}

void
gst_coordtok_frame_to_rgb8 (const GstVideoFrame *frame, guint8 *dst)
{
  int w = GST_VIDEO_FRAME_WIDTH (frame), h = GST_VIDEO_FRAME_HEIGHT (frame);
  int stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
  const guint8 *data = GST_VIDEO_FRAME_PLANE_DATA (frame, 0);

  if (GST_VIDEO_FRAME_FORMAT (frame) == GST_VIDEO_FORMAT_RGB) {
    for (int y = 0; y < h; y++)
      memcpy (dst + (gsize) y * w * 3, data + (gsize) y * stride, (gsize) w * 3);
    return;
  }
  int r, g, b, a, ps;
  rgb_offsets (frame, &r, &g, &b, &a, &ps);
  for (int y = 0; y < h; y++) {
    const guint8 *row = data + (gsize) y * stride;
    guint8 *d = dst + (gsize) y * w * 3;
    for (int x = 0; x < w; x++) {
      const guint8 *p = row + x * ps;
      d[3 * x + 0] = p[r];
      d[3 * x + 1] = p[g];
      d[3 * x + 2] = p[b];
    }
  }
}

void
gst_coordtok_rgb8_to_frame (const guint8 *rgb, GstVideoFrame *frame)
{
  int w = GST_VIDEO_FRAME_WIDTH (frame), h = GST_VIDEO_FRAME_HEIGHT (frame);
  int stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
  guint8 *data = GST_VIDEO_FRAME_PLANE_DATA (frame, 0);

  if (GST_VIDEO_FRAME_FORMAT (frame) == GST_VIDEO_FORMAT_RGB) {
    for (int y = 0; y < h; y++)
      memcpy (data + (gsize) y * stride, rgb + (gsize) y * w * 3, (gsize) w * 3);
    return;
  }
  int r, g, b, a, ps;
  rgb_offsets (frame, &r, &g, &b, &a, &ps);
  for (int y = 0; y < h; y++) {
    guint8 *row = data + (gsize) y * stride;
    const guint8 *src = rgb + (gsize) y * w * 3;
    for (int x = 0; x < w; x++) {
      guint8 *p = row + x * ps;
      p[r] = src[3 * x];
      p[g] = src[3 * x + 1];
      p[b] = src[3 * x + 2];
      if (a >= 0)
        p[a] = 255;
      else if (ps == 4)
        p[6 - r - g - b] = 0xff;  /* the x byte: offsets sum to 0+1+2+3 */
    }
  }
}
