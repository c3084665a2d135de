/* embedded-model.c - the default model's bytes, linked into libcoordtok
 * (src/models/embed-model.py writes the .incbin), so that every build finds
 * its default model: installed or not, whatever the working directory.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model-cache.h"

extern const guint8 ct_embedded_model_start[];
extern const guint8 ct_embedded_model_end[];

const guint8 *
ct_embedded_model (gsize *size)
{
  *size = (gsize) (ct_embedded_model_end - ct_embedded_model_start);
  return ct_embedded_model_start;
}
