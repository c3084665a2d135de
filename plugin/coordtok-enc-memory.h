/* coordtok-enc-memory.h - what coordtokenc holds for frames of a size, and
 * its memory budget (issue 25: 4480x4480 frames made it reserve two
 * 7.35 GiB windows at caps time).  Refused at caps, with the numbers, when
 * the estimate is above the budget (property max-memory).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef COORDTOK_ENC_MEMORY_H
#define COORDTOK_ENC_MEMORY_H

#include <glib.h>
#include <unistd.h>

#include <coordtok/coordtok.h>
#include <coordtok/tokens.h>

/* The encoder's batches are bounded to about this much workspace
 * (ct_session_encode_rgb8). */
#define CT_ENC_WORKSPACE_BOUND (512u << 20)

typedef struct {
  guint64 windows;       /* two RGB windows: one filling, one encoding */
  guint64 tokens;        /* token planes (f32) and the record buffer */
  guint64 workspace;     /* the encoder's batch workspace bound */
  guint64 total;
} CtEncMemory;

/* Estimate for frames of the header's size (h from a checked header). */
static inline void
ct_enc_memory_estimate (const CtConfig *c, const CtTokensHeader *h, CtEncMemory *m)
{
  guint64 frame = (guint64) h->width * h->height * 3;
  m->windows = 2 * frame * c->T;
  m->tokens = (guint64) ct_tokens_n_elems (h) * 4 + ct_tokens_record_size (h);
  m->workspace = CT_ENC_WORKSPACE_BOUND;
  m->total = m->windows + m->tokens + m->workspace;
}

/* The default budget (max-memory=0): half of the machine's memory. */
static inline guint64
ct_enc_memory_default_budget (void)
{
  long pages = sysconf (_SC_PHYS_PAGES), page = sysconf (_SC_PAGESIZE);
  if (pages <= 0 || page <= 0)
    return G_MAXUINT64;
  return (guint64) pages * page / 2;
}

#endif
