/* cpu/scratch.h - per-thread buffers reused from call to call.
 *
 * The attention's K^T and V copies are megabytes per call; malloc'd and
 * freed every call they came back from the kernel as fresh zeroed pages
 * (page faults were a few percent of an encode).  Each calling thread keeps
 * its buffers until it exits.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_SCRATCH_H
#define CT_CPU_SCRATCH_H

#include <glib.h>

typedef enum {
  CT_SCRATCH_ATTN_KT,
  CT_SCRATCH_ATTN_V,
  CT_SCRATCH_ATTN_BIAS,
  CT_SCRATCH_DNNL,         /* a oneDNN primitive's scratchpad */
  CT_SCRATCH_N_SLOTS
} CtScratchSlot;

/* The calling thread's buffer for `slot`, at least `bytes` long (malloc's
 * alignment, contents undefined), valid until this thread's next call for
 * the same slot. */
void *ct_cpu_scratch (CtScratchSlot slot, gsize bytes);

#endif
