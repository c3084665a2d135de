/* pixels.c - 8-bit RGB <-> model space (spec 4 and 5.4).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "coordtok.h"

#include <math.h>

void
ct_rgb8_to_model (const guint8 *rgb, int width, int height, int stride, float *dst)
{
  for (int y = 0; y < height; y++) {
    const guint8 *r = rgb + (gsize) y * stride;
    float *d = dst + (gsize) y * width * 3;
    for (int i = 0; i < width * 3; i++)
      d[i] = 2.0f * ((float) r[i] / 255.0f) - 1.0f;
  }
}

void
ct_model_to_rgb8 (const float *src, int width, int height, guint8 *rgb, int stride)
{
  for (int y = 0; y < height; y++) {
    const float *s = src + (gsize) y * width * 3;
    guint8 *o = rgb + (gsize) y * stride;
    for (int i = 0; i < width * 3; i++) {
      float v = (s[i] + 1.0f) * 0.5f;
      v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);   
      if (!(v >= 0.0f))
        v = 0.0f;
      o[i] = (guint8) lrintf (v * 255.0f);
    }
  }
}

void
ct_pad_window (const CtConfig *c, float *video, int n_frames)
{
  gsize frame = (gsize) c->H * c->W * 3;
  for (gsize i = (gsize) n_frames * frame; i < (gsize) c->T * frame; i++)
    video[i] = -3.0f;
}
