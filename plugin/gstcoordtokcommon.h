/* gstcoordtokcommon.h - shared by the coordtok elements.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_COORDTOK_COMMON_H
#define GST_COORDTOK_COMMON_H

#include <gst/gst.h>
#include <gst/video/video.h>
#include <coordtok/coordtok.h>
#include <coordtok/tokens.h>

G_BEGIN_DECLS

/* Media type of token buffers (one token record per buffer). */
#define GST_COORDTOK_MEDIA_TYPE "video/x-coordtok"

/* Raw formats the encoder accepts and the decoder produces (8-bit RGB
 * family; model space is RGB). */
#define GST_COORDTOK_RAW_FORMATS \
  "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR }"

typedef enum {
  GST_COORDTOK_DEVICE_AUTO = CT_DEVICE_AUTO,
  GST_COORDTOK_DEVICE_CPU = CT_DEVICE_CPU,
  GST_COORDTOK_DEVICE_CUDA = CT_DEVICE_CUDA,
} GstCoordTokDevice;

typedef enum {
  GST_COORDTOK_DTYPE_F32 = CT_TOKENS_F32,
  GST_COORDTOK_DTYPE_F16 = CT_TOKENS_F16,
  GST_COORDTOK_DTYPE_BF16 = CT_TOKENS_BF16,
} GstCoordTokDType;

#define GST_TYPE_COORDTOK_DEVICE (gst_coordtok_device_get_type ())
GType gst_coordtok_device_get_type (void);
#define GST_TYPE_COORDTOK_DTYPE (gst_coordtok_dtype_get_type ())
GType gst_coordtok_dtype_get_type (void);

/* Loads `path` (NULL/"": the default model) and starts a session on
 * `device` (CUDA device `cuda_device_id`, -1: the default); on failure posts the element error itself, naming what failed:
 * the model file, or the device (a missing GPU is not the model's fault). */
gboolean gst_coordtok_open (GstElement * element, const char *path,
    GstCoordTokDevice device, gint cuda_device_id, CtModel ** model,
    CtSession ** session);

/* Caps of a token stream, from a header of it: everything a consumer needs
 * to interpret a buffer (framerate 0/1: variable). */
GstCaps *gst_coordtok_token_caps_from_header (const CtTokensHeader *h);

/* Reads the token caps back; FALSE with a message if a field is missing. */
typedef struct {
  CtTokensDType dtype;
  gint T, width, height, rxy, rt, channels;
  gint tile_width, tile_height;   /* version 1: width, height */
  gint fps_n, fps_d, par_n, par_d;
  const gchar *model_id;      /* points into the caps */
} GstCoordTokCapsInfo;
gboolean gst_coordtok_parse_token_caps (const GstCaps *caps,
    GstCoordTokCapsInfo *info, GError **error);

/* What runs a CPU session, for the elements' INFO log: "cpu kernels:
 * avx512, BLAS kernels: ..., linear layers: ..."; NULL for other devices.
 * Free with g_free. */
gchar *gst_coordtok_cpu_description (CtSession * session);

/* Answers a CAPS query with `caps` (taken) intersected with its filter. */
void gst_coordtok_answer_caps_query (GstQuery * query, GstCaps * caps);

/* A mapped frame as packed RGB24 (width*3 bytes per row). */
void gst_coordtok_frame_to_rgb8 (const GstVideoFrame *frame, guint8 *dst);
/* Packed RGB24 (width*3 bytes per row) into a mapped frame of any of the
 * raw formats (alpha and padding bytes 0xff). */
void gst_coordtok_rgb8_to_frame (const guint8 *rgb, GstVideoFrame *frame);

G_END_DECLS

#endif
