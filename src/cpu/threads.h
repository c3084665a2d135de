/* cpu/threads.h - how many threads one CPU call uses.
 *
 * Fixed (all the cores by default, or a `threads` property, `--threads`),
 * or adaptive (ct_session_set_threads (s, CT_THREADS_ADAPTIVE), which the
 * elements use in live pipelines): all the cores, fewer while that is
 * measured to be faster.  On a machine shared with
 * other busy processes (the other elements of a pipeline, a second
 * program), a parallel region waits for its slowest thread, so a thread
 * that shares its core with a busy neighbour slows every region down;
 * running one thread fewer then beats running them all (measured: a small
 * encode took 2.2 ms on one thread and 280 ms on two beside two busy
 * processes).  The policy times each call (seconds per GFLOP, per kind of
 * call); the second call, and later calls at an interval, run with one
 * thread fewer or one more (alternating), and the policy moves there when
 * that call was 5% faster than the current count's average.  The interval
 * starts at 16 calls and doubles after each probe that lost, up to 64 (a
 * probe under a lasting neighbour is a slow call: measured, probing every
 * 16th call cost an adaptive window 10-15% against one thread); a call 1.5x
 * slower or faster than its count's average (a neighbour came or went)
 * makes the next call a probe.  In a quiet machine this costs about one
 * call in 64 at one thread fewer.  Adaptive calls also run the
 * caller's OpenMP helper threads at a lower priority (threads.c), so that
 * the threads of a live pipeline around the engine are not starved.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_THREADS_H
#define CT_CPU_THREADS_H

#include <glib.h>

#define CT_THREADS_MAX 256

typedef struct {
  int fixed;              /* > 0: always this many */
  gboolean free_cores;    /* the default: as many as the cores others leave free */
  gint64 looked;          /* when free_cores last looked (monotonic, us) */
  int others;             /* what that look saw */
  int max;                /* automatic: at most this many */
  int current;            /* the count in use */
  int probing;            /* 0, or the count being tried for one call */
  int calls;              /* calls so far */
  int next_probe;         /* the call that probes next */
  int interval;           /* calls between probes now */
  int probes;             /* probes so far (their direction alternates) */
  double ema[CT_THREADS_MAX + 1];   /* seconds per GFLOP, per count (0: none) */
} CtThreadPolicy;

/* n > 0: that many; 0 (the default): the free cores, at most max (see
 * below), or max where the linear layers' sums depend on the thread count;
 * < 0: adaptive over 1..max (max: OMP_NUM_THREADS or the processors
 * available).
 *
 * The free cores: before a call, the processors less the tasks of other
 * processes that are running or waiting to run (/proc/loadavg's count less
 * this process's running threads, looked at most every 20 ms; Linux).  A
 * parallel region waits for its slowest thread, so one thread on a core
 * that a busy neighbour holds slows every region: measured, a 4096-query
 * decode took 6x longer at 2 threads than at 1 beside busy processes on 2
 * cores.  Unlike the adaptive policy this needs no slow probe calls and sees
 * a neighbour at the first call.  Outputs do not change: every product's
 * split is fixed (tests/engine/test-reproducible.c); where it is not
 * (oneDNN's AVX2 jit sgemm, only when COORDTOK_LINEAR=onednn forces it;
 * ct_cpu_linear_split_fixed) the default stays at max. */
void ct_thread_policy_init (CtThreadPolicy *p, int n);
/* Other processes' tasks running or waiting now (see above), -1 unknown. */
int ct_threads_others_running (void);
/* Sets the calling thread's OpenMP (and so OpenBLAS) thread count for the
 * next call; returns the start time (monotonic, microseconds). */
gint64 ct_thread_policy_begin (CtThreadPolicy *p);
/* Records the call that began at t0 and did `flops` of work. */
void ct_thread_policy_end (CtThreadPolicy *p, gint64 t0, double flops);
/* The count the next call would use (for logs and benchmarks). */
int ct_thread_policy_current (const CtThreadPolicy *p);
/* The two halves of begin/end without the clock (tests): next picks the
 * count of the next call, record takes its seconds per GFLOP. */
int ct_thread_policy_next (CtThreadPolicy *p);
void ct_thread_policy_record (CtThreadPolicy *p, double seconds_per_gflop);

#endif
