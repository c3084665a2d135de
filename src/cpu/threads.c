/* cpu/threads.c - see threads.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/threads.h"

#include <omp.h>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define EMA_WEIGHT 0.3          /* of the newest call */
#define BETTER 0.95             /* a probe must be 5% faster to win */
#define PROBE_EVERY 16          /* calls between probes at first (the 2nd call is one) */
#define PROBE_MAX 64            /* ... doubling after each lost probe, up to this */
#define CHANGED 1.5             /* a call this much slower/faster: probe next */

void
ct_thread_policy_init (CtThreadPolicy *p, int n)
{
  *p = (CtThreadPolicy) { 0 };
  int procs = omp_get_max_threads ();   /* OMP_NUM_THREADS, else the cores */
  p->max = CLAMP (procs, 1, CT_THREADS_MAX);
  p->fixed = n > 0 ? MIN (n, CT_THREADS_MAX) : n == 0 ? p->max : 0;
  p->current = p->fixed ? p->fixed : p->max;
  p->next_probe = 2;
  p->interval = PROBE_EVERY;
}

int
ct_thread_policy_current (const CtThreadPolicy *p)
{
  return p->probing ? p->probing : p->current;
}

/* Adaptive calls come from live pipelines, where a capture or display
 * thread must get a core the moment it wakes: the calling thread's OpenMP
 * helpers (not the caller itself, whose priority belongs to whoever owns
 * it) run at a lower priority (Linux: nice + 5 per thread).  Once per
 * helper: teams are per calling thread, so is the count done. */
static void
lower_helpers (int n)
{
#ifdef __linux__
  static GPrivate done;
  int have = GPOINTER_TO_INT (g_private_get (&done));
  if (n <= have)
    return;
  #pragma omp parallel num_threads (n)
  {
    if (omp_get_thread_num () >= MAX (have, 1)) {
      pid_t tid = (pid_t) syscall (SYS_gettid);
      setpriority (PRIO_PROCESS, tid, MIN (getpriority (PRIO_PROCESS, tid) + 5, 19));
    }
  }
  g_private_set (&done, GINT_TO_POINTER (n));
#endif
}

gint64
ct_thread_policy_begin (CtThreadPolicy *p)
{
  int n = ct_thread_policy_next (p);
  if (!p->fixed)
    lower_helpers (n);
  omp_set_num_threads (n);
  return g_get_monotonic_time ();
}

int
ct_thread_policy_next (CtThreadPolicy *p)
{
  if (!p->fixed && p->max > 1 && !p->probing) {
    p->calls++;
    if (p->calls >= p->next_probe) {
      /* alternate: one thread fewer, one more (where there is room) */
      gboolean down = p->probes++ % 2 == 0;
      if (down && p->current == 1)
        down = FALSE;
      if (!down && p->current == p->max)
        down = TRUE;
      p->probing = down ? p->current - 1 : p->current + 1;
    }
  }
  return ct_thread_policy_current (p);
}

void
ct_thread_policy_end (CtThreadPolicy *p, gint64 t0, double flops)
{
  if (flops > 0)
    ct_thread_policy_record (p, (g_get_monotonic_time () - t0) / 1e6 / (flops / 1e9));
}

void
ct_thread_policy_record (CtThreadPolicy *p, double spg)
{
  if (p->fixed)
    return;
  if (p->probing) {
    int n = p->probing;
    p->probing = 0;
    /* one call against the current count's average */
    if (p->ema[p->current] > 0 && spg < BETTER * p->ema[p->current]) {
      p->current = n;
      p->ema[n] = spg;
      p->interval = PROBE_EVERY;
    } else {
      p->interval = MIN (p->interval * 2, PROBE_MAX);
    }
    p->next_probe = p->calls + p->interval;
    return;
  }
  int n = p->current;
  double avg = p->ema[n];
  if (avg > 0 && (spg > CHANGED * avg || spg * CHANGED < avg)) {
    /* the machine changed under us: look again now, and average afresh */
    p->next_probe = p->calls + 1;
    p->interval = PROBE_EVERY;
    p->ema[n] = spg;
    return;
  }
  p->ema[n] = avg > 0 ? (1 - EMA_WEIGHT) * avg + EMA_WEIGHT * spg : spg;
}
