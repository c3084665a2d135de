/* sampling.h - triplane bilinear sampling and positional-embedding lookup,
 * in float32 exactly as spec section 5 (shared by every backend's host
 * code and by the CPU backend).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_SAMPLING_H
#define CT_SAMPLING_H

#include "coordtok.h"

/* emb (n, 3C): xy, yt, xt samples for each (ct, cx, cy) */
void ct_sample_triplane (const CtConfig *c, const float *z, const float *coords,
    int n, float *emb);
/* row index into pos_embed (NT, NX, NY) for one coordinate */
gsize ct_pos_embed_row (const CtConfig *c, const float *coord);

#endif
