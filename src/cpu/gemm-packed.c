/* cpu/gemm-packed.c - see gemm-packed.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/gemm-packed.h"
#include "cpu/kernels.h"
#include "cpu/weight-cache.h"

#include <omp.h>
#include <stdlib.h>

/* rows per work item at most: the item's rows of x for one k block (MC x KC
 * floats, 72 KiB) stay in L2 while its panels pass over them (measured at
 * 4096 rows, AVX2: 72 rows 2-5% ahead of 144, 24 and 576 behind) */
#define MC_MAX 72
/* columns per work item at most (x is read from memory once per item, the
 * weights from L1 per strip: wide items; 512 measured ahead of 128 at 4096
 * rows), and the fewest items worth splitting for */
#define ITEM_COLS 512
#define MIN_ITEMS 8
/* below this many FLOPs one thread does the whole product (a parallel
 * region costs microseconds) */
#define PARALLEL_FLOPS 2e5

typedef struct {
  float *packed;             /* NULL: no memory for it, OpenBLAS computes */
} Packed;

static void
packed_free (gpointer data)
{
  Packed *p = data;
  free (p->packed);
  g_free (p);
}

static GMutex lock;
static CtWeightCache cache = CT_WEIGHT_CACHE_INIT (packed_free);

/* The packed copy of lin's weights in set k's layout, made at first use
 * (under the lock). */
static Packed *
lookup (const CtLinear *lin, const CtCpuKernels *k)
{
  Packed *p = ct_weight_cache_find (&cache, lin->w, lin->out, lin->in, k);
  if (p)
    return p;
  p = g_new0 (Packed, 1);
  gsize panels = ((gsize) lin->out + k->gemm_nr - 1) / k->gemm_nr;
  gsize floats = panels * k->gemm_nr * (gsize) lin->in;
  /* 64-byte aligned: a panel row is one or two cache lines */
  if (floats <= G_MAXSIZE / sizeof (float) &&
      posix_memalign ((void **) &p->packed, 64, floats * sizeof (float)) == 0)
    k->gemm_pack (lin->w, lin->out, lin->in, p->packed);
  else
    p->packed = NULL;
  ct_weight_cache_add (&cache, lin->w, lin->out, lin->in, k, p);
  return p;
}

gboolean
ct_cpu_gemm_linear (const CtLinear *lin, const float *x, int M, float *y,
    gboolean accumulate)
{
  if (M < 1)
    return TRUE;
  const CtCpuKernels *k = ct_cpu_kernels ();
  g_mutex_lock (&lock);
  const float *packed = lookup (lin, k)->packed;
  g_mutex_unlock (&lock);
  if (!packed)
    return FALSE;

  CtGemmArgs a = { x, packed, lin->b, y, M, lin->out, lin->in, accumulate };
  int nr = k->gemm_nr, mr = k->gemm_mr;
  int panels = (a.N + nr - 1) / nr;
  /* rows: as few blocks as MC_MAX allows, even, whole micro-kernel strips */
  int row_blocks = (M + MC_MAX - 1) / MC_MAX;
  int mc = ((M + row_blocks - 1) / row_blocks + mr - 1) / mr * mr;
  row_blocks = (M + mc - 1) / mc;
  /* panels: ITEM_COLS columns an item, fewer while there are few items */
  int group = MAX (1, ITEM_COLS / nr);
  while (group > 1 && row_blocks * ((panels + group - 1) / group) < MIN_ITEMS)
    group /= 2;
  int groups = (panels + group - 1) / group, items = row_blocks * groups;
  gboolean parallel = items > 1 && 2.0 * M * a.N * a.K >= PARALLEL_FLOPS;

  /* row blocks vary fastest: threads working at once share the weights
   * of one panel group through the last-level cache */
  #pragma omp parallel for schedule (dynamic, 1) if (parallel)
  for (int it = 0; it < items; it++) {
    int g = it / row_blocks, r = it % row_blocks;
    k->gemm_block (&a, r * mc, MIN (M, r * mc + mc), g * group, MIN (panels, g * group + group));
  }
  return TRUE;
}

void
ct_cpu_gemm_forget (const void *base, gsize bytes)
{
  g_mutex_lock (&lock);
  ct_weight_cache_forget (&cache, base, bytes);
  g_mutex_unlock (&lock);
}

char *
ct_cpu_gemm_describe (void)
{
  const CtCpuKernels *k = ct_cpu_kernels ();
  return g_strdup_printf ("engine GEMM, packed weights, %dx%d micro-kernel (%s)",
      k->gemm_mr, k->gemm_nr, k->name);
}
