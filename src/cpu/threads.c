/* cpu/threads.c - see threads.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/threads.h"
#include "cpu/linear.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

#ifdef __linux__
#include <dirent.h>
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
  p->free_cores = n == 0 && ct_cpu_linear_split_fixed ();
  p->fixed = n > 0 ? MIN (n, CT_THREADS_MAX) : n == 0 && !p->free_cores ? p->max : 0;
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

#define LOOK_EVERY_US 20000   /* a look costs ~0.1 ms: at most one in 20 ms */

#ifdef __linux__
/* This process's threads in state R (running or runnable). */
static int
own_running (void)
{
  DIR *d = opendir ("/proc/self/task");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  char path[64], buf[512];
  while ((e = readdir (d))) {
    if (e->d_name[0] == '.')
      continue;
    g_snprintf (path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
    FILE *f = fopen (path, "r");
    if (!f)
      continue;       /* the thread has gone */
    size_t k = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[k] = 0;
    /* "tid (comm) S ...": comm may hold spaces and parentheses */
    const char *close = strrchr (buf, ')');
    if (close && close[1] == ' ' && close[2] == 'R')
      n++;
  }
  closedir (d);
  return n;
}

int
ct_threads_others_running (void)
{
  /* this process's running threads are counted before and after the
   * machine's: an OpenMP helper that stops spinning and sleeps in between
   * was running when the machine's count was taken, and is ours */
  int own_before = own_running ();
  FILE *f = fopen ("/proc/loadavg", "r");
  int running = -1;
  if (f) {
    if (fscanf (f, "%*f %*f %*f %d/", &running) != 1)
      running = -1;
    fclose (f);
  }
  if (running < 0)
    return -1;
  if (running <= 1)
    return 0;           /* the caller alone */
  int own = MAX (own_before, own_running ());
  return own < 0 ? -1 : MAX (running - own, 0);
}
#else
int ct_threads_others_running (void) { return -1; }
#endif

/* The cores that other processes leave free.  A neighbour counts when two
 * looks see it: the previous look (at most 20 ms before, while calls come
 * one after another) and this one, or, at a first call, this one and a
 * second 50 us later.  A kernel thread passing by (a few looks in a hundred
 * on a quiet machine) would otherwise halve a call now and then. */
static int
free_cores (CtThreadPolicy *p)
{
  gint64 now = g_get_monotonic_time ();
  if (p->looked && now - p->looked < LOOK_EVERY_US)
    return p->current;
  gboolean recent = p->looked && now - p->looked < 4 * LOOK_EVERY_US;
  p->looked = now;
  int seen = ct_threads_others_running ();
  int others = seen;
  if (others > 0 && recent)
    others = MIN (others, p->others);
  else if (others > 0) {
    g_usleep (50);
    others = MIN (others, ct_threads_others_running ());
  }
  p->others = seen;
  if (others < 0)
    return p->max;
  return CLAMP (omp_get_num_procs () - others, 1, p->max);
}

gint64
ct_thread_policy_begin (CtThreadPolicy *p)
{
  int n = ct_thread_policy_next (p);
  if (!p->fixed && !p->free_cores)
    lower_helpers (n);
  omp_set_num_threads (n);
  return g_get_monotonic_time ();
}

int
ct_thread_policy_next (CtThreadPolicy *p)
{
  if (p->free_cores)
    return p->current = free_cores (p);
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
  if (p->fixed || p->free_cores)
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
