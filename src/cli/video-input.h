/* video-input.h - what `coordtok encode` and `coordtok reconstruct` read
 * (video-input.c): a video file GStreamer decodes, a Y4M file, or raw RGB24
 * frames whose size and rate are given as options.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_VIDEO_INPUT_H
#define CT_VIDEO_INPUT_H

#include <gst/gst.h>

typedef struct {
  int width, height;            /* raw RGB24 only; 0 unset */
  char *framerate;              /* "N/D" or "N"; raw RGB24, or Y4M without F */
} CtInputOptions;

#define CT_INPUT_OPTION_ENTRIES(o) \
  { "width", 0, 0, G_OPTION_ARG_INT, &(o)->width, "Raw RGB24 input: frame width", "W" }, \
  { "height", 0, 0, G_OPTION_ARG_INT, &(o)->height, "Raw RGB24 input: frame height", "H" }, \
  { "framerate", 0, 0, G_OPTION_ARG_STRING, &(o)->framerate, "Raw RGB24 input: frames per second (N or N/D)", "R" }

typedef enum { CT_INPUT_VIDEO, CT_INPUT_Y4M, CT_INPUT_RAW } CtInputKind;

typedef struct CtInput CtInput;

/* Decides how to read `path`, checking what can be checked before a
 * pipeline runs.  need_rate: the frame rate matters (encode), so raw input
 * without --framerate is refused.  On failure, *status is 2 for a usage
 * error (a missing option) or 1 for a file that cannot be used, and the
 * error says why. */
CtInput *ct_input_open (const char *path, const CtInputOptions *o, gboolean need_rate,
    int *status, GError **error);
CtInputKind ct_input_kind (const CtInput *in);
/* Raw and Y4M frames have a size the input fixes (TRUE); a video file's
 * frames are scaled to what the consumer takes. */
gboolean ct_input_fixed_size (const CtInput *in, int *width, int *height);
/* "Y4M 64x48 420jpeg, 25/1 fps" etc., for messages. */
const char *ct_input_describe (const CtInput *in);
/* Adds the source elements to `bin` and links them to `next` (for a video
 * file, once the decoder exposes its video pad). */
gboolean ct_input_add (CtInput *in, GstBin *bin, GstElement *next, GError **error);
void ct_input_free (CtInput *in);

#endif
