/* cpu/threads.c - see threads.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/threads.h"

#include <omp.h>

#define EMA_WEIGHT 0.3          /* of the newest call */
#define SLOWER 1.2              /* "slower than its best": 20% */
#define BETTER 0.95             /* a probe must be 5% faster to win */
#define PROBE_UP_EVERY 16       /* calls between tries of one thread more */

void
ct_thread_policy_init (CtThreadPolicy *p, int n)
{
  *p = (CtThreadPolicy) { 0 };
  int procs = omp_get_max_threads ();   /* OMP_NUM_THREADS, else the cores */
  p->max = CLAMP (procs, 1, CT_THREADS_MAX);
  p->fixed = n > 0 ? MIN (n, CT_THREADS_MAX) : 0;
  p->current = p->fixed ? p->fixed : p->max;
}

int
ct_thread_policy_current (const CtThreadPolicy *p)
{
  return p->probing ? p->probing : p->current;
}

gint64
ct_thread_policy_begin (CtThreadPolicy *p)
{
  if (!p->fixed && !p->probing && p->current < p->max &&
      ++p->calls >= PROBE_UP_EVERY) {
    p->probing = p->current + 1;
    p->calls = 0;
  }
  omp_set_num_threads (ct_thread_policy_current (p));
  return g_get_monotonic_time ();
}

static void
record (CtThreadPolicy *p, int n, double spg)
{
  p->ema[n] = p->ema[n] > 0 ? (1 - EMA_WEIGHT) * p->ema[n] + EMA_WEIGHT * spg : spg;
  if (p->best[n] == 0 || p->ema[n] < p->best[n])
    p->best[n] = p->ema[n];
}

void
ct_thread_policy_end (CtThreadPolicy *p, gint64 t0, double flops)
{
  if (p->fixed || flops <= 0)
    return;
  double spg = (g_get_monotonic_time () - t0) / 1e6 / (flops / 1e9);
  if (p->probing) {
    int n = p->probing;
    p->probing = 0;
    /* a probe is one call: compare it with the current count's average */
    if (spg < BETTER * p->ema[p->current]) {
      p->ema[n] = spg;
      p->current = n;
    }
    p->calls = 0;
    return;
  }
  record (p, p->current, spg);
  /* slower than this count has been: try one thread fewer next */
  if (p->current > 1 && p->ema[p->current] > SLOWER * p->best[p->current]) {
    p->probing = p->current - 1;
    p->best[p->current] = p->ema[p->current];   /* probe again only if it worsens */
  }
}
