/* test-threads.c - the automatic thread policy (src/cpu/threads.c) against
 * simulated machines: it must leave the full count when a busy neighbour
 * makes it slower (within a few calls of its arrival), come back when the
 * neighbour leaves, stay put on a quiet machine and under a lasting
 * neighbour (probing rarely: the interval doubles to one call in 64), and
 * never move when fixed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/threads.h"
#include "cpu/linear.h"

#include <glib.h>
#include <omp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* seconds per GFLOP of each thread count on the simulated machine */
static int
run (CtThreadPolicy *p, const double *cost, int calls, int *probes)
{
  for (int i = 0; i < calls; i++) {
    int cur = p->current, n = ct_thread_policy_next (p);
    if (probes && n != cur)
      (*probes)++;
    ct_thread_policy_record (p, cost[n]);
  }
  return p->current;
}

static void
test_policy (void)
{
  CtThreadPolicy p;
  ct_thread_policy_init (&p, -1);   /* adaptive */
  p.max = p.current = 4;          /* a 4-core machine, whatever runs this */
  double quiet[] = { 0, 4.0, 2.0, 1.4, 1.0 };
  double loaded[] = { 0, 4.0, 2.0, 1.4, 30.0 };   /* 4 threads hit the neighbour */
  int probes = 0;
  g_assert_cmpint (run (&p, quiet, 400, &probes), ==, 4);
  /* 2, 18, 50, 114, 178, ...: 1 + 1 + 1 + 1 + (400 - 114) / 64 */
  g_assert_cmpint (probes, <=, 9);
  /* the neighbour arrives: the slow call makes the next one a probe */
  g_assert_cmpint (run (&p, loaded, 3, NULL), ==, 3);
  probes = 0;
  g_assert_cmpint (run (&p, loaded, 400, &probes), ==, 3);
  g_assert_cmpint (probes, <=, 10);
  /* it leaves: the next probe upwards finds it gone */
  g_assert_cmpint (run (&p, quiet, 2 * 64 + 2, NULL), ==, 4);
  /* fixed: never moves, never probes */
  ct_thread_policy_init (&p, 2);
  probes = 0;
  g_assert_cmpint (run (&p, loaded, 100, &probes), ==, 2);
  g_assert_cmpint (probes, ==, 0);
  /* the default: the free cores where sums do not depend on the count,
   * else all of them, fixed (/threads/free-cores runs it on this machine) */
  ct_thread_policy_init (&p, 0);
  g_assert_cmpint (p.free_cores, ==, ct_cpu_linear_split_fixed ());
  g_assert_cmpint (p.fixed, ==, p.free_cores ? 0 : p.max);
  /* a single core: nothing to choose */
  ct_thread_policy_init (&p, -1);
  p.max = p.current = 1;
  probes = 0;
  g_assert_cmpint (run (&p, quiet, 50, &probes), ==, 1);
  g_assert_cmpint (probes, ==, 0);
}

/* The default sees a real busy neighbour (a child process spinning) at the
 * first call: at least one core fewer than the machine has. */
static void
test_free_cores (void)
{
  if (ct_threads_others_running () < 0) {
    g_test_skip ("no /proc/loadavg");
    return;
  }
  pid_t child = fork ();
  g_assert_cmpint (child, >=, 0);
  if (child == 0) {
    for (volatile unsigned long i = 0;; i++)
      ;
  }
  g_usleep (200 * 1000);          /* it is running by now */
  int others = ct_threads_others_running ();
  CtThreadPolicy p;
  ct_thread_policy_init (&p, 0);
  p.free_cores = TRUE;            /* whatever this machine's linear path */
  p.fixed = 0;
  int n = ct_thread_policy_next (&p);
  kill (child, SIGKILL);
  waitpid (child, NULL, 0);
  g_test_message ("beside a spinning process: %d other tasks running, %d of %d threads "
      "(%d processors)", others, n, p.max, omp_get_num_procs ());
  g_assert_cmpint (others, >=, 1);
  g_assert_cmpint (n, >=, 1);
  g_assert_cmpint (n, <=, MIN (p.max, MAX (omp_get_num_procs () - 1, 1)));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/threads/policy", test_policy);
  g_test_add_func ("/threads/free-cores", test_free_cores);
  return g_test_run ();
}
