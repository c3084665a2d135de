/* tests/bench/hide-avx512.c - runs a program as if its CPU had no AVX-512
 * (benchmarks only; issue #23).
 *
 * onnxruntime (MLAS) has no setting that limits it to AVX2: it picks its
 * kernels from CPUID.  To compare it with the engine's AVX2 code on an
 * AVX-512 machine, this LD_PRELOAD library turns on CPUID faulting (Linux
 * arch_prctl ARCH_SET_CPUID, on CPUs whose lscpu flags show cpuid_fault):
 * every CPUID instruction of the process then raises SIGSEGV; the handler
 * runs the real CPUID with faulting briefly off, clears the AVX-512 feature
 * bits of leaf 7 and steps over the instruction.  Threads inherit the
 * setting; an exec drops it (and LD_PRELOAD sets it again).
 *
 *   cc -O2 -shared -fPIC -o /tmp/hide-avx512.so tests/bench/hide-avx512.c
 *   LD_PRELOAD=/tmp/hide-avx512.so HIDE_AVX512_CHECK=1 python3 ...
 *
 * What ran before this library's constructor (the dynamic loader's own
 * CPUID reads, e.g. glibc's choice of memcpy) still saw AVX-512.  With
 * HIDE_AVX512_CHECK set it prints to stderr how many CPUIDs it answered,
 * at exit, so that a run can show the mask was in use.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* leaf 7, subleaf 0 */
#define EBX_AVX512 ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | \
                    (1u << 28) | (1u << 30) | (1u << 31))   /* f dq ifma pf er cd bw vl */
#define ECX_AVX512 ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
                                    /* vbmi vbmi2 vnni bitalg vpopcntdq */
#define EDX_AVX512 ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23))
                                    /* 4vnniw 4fmaps vp2intersect fp16 */
/* leaf 7, subleaf 1 */
#define EAX1_AVX512 (1u << 5)       /* bf16 */

static volatile long answered;

static int
set_faulting (int on)
{
  /* ARCH_SET_CPUID's argument: 1 = CPUID allowed, 0 = it faults */
  return (int) syscall (SYS_arch_prctl, ARCH_SET_CPUID, on ? 0 : 1);
}

static void
on_segv (int sig, siginfo_t *info, void *context)
{
  ucontext_t *uc = context;
  greg_t *r = uc->uc_mcontext.gregs;
  /* a faulting CPUID is a general protection fault (SI_KERNEL); a bad
   * address (SEGV_MAPERR, ...) may be the instruction pointer itself, so
   * the code is not read then: the fault kills the process as it would
   * have */
  const unsigned char *ip = (const unsigned char *) r[REG_RIP];
  if (info->si_code != SI_KERNEL || ip[0] != 0x0f || ip[1] != 0xa2) {
    signal (sig, SIG_DFL);
    return;
  }
  unsigned a = (unsigned) r[REG_RAX], b, c = (unsigned) r[REG_RCX], d;
  unsigned leaf = a, sub = c;
  set_faulting (0);
  __asm__ volatile ("cpuid" : "+a" (a), "=b" (b), "+c" (c), "=d" (d));
  set_faulting (1);
  if (leaf == 7 && sub == 0) {
    b &= ~EBX_AVX512;
    c &= ~ECX_AVX512;
    d &= ~EDX_AVX512;
  } else if (leaf == 7 && sub == 1) {
    a &= ~EAX1_AVX512;
  }
  r[REG_RAX] = a;
  r[REG_RBX] = b;
  r[REG_RCX] = c;
  r[REG_RDX] = d;
  r[REG_RIP] += 2;
  answered++;
}

static void
report (void)
{
  char line[96];
  int n = snprintf (line, sizeof line, "hide-avx512: answered %ld CPUID instructions\n",
      answered);
  if (n > 0)
    (void) !write (2, line, (size_t) n);
}

__attribute__ ((constructor)) static void
start (void)
{
  struct sigaction sa;
  memset (&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset (&sa.sa_mask);
  if (sigaction (SIGSEGV, &sa, NULL) != 0 || set_faulting (1) != 0) {
    fprintf (stderr, "hide-avx512: CPUID faulting is not available here "
        "(needs Linux and a CPU with the cpuid_fault flag); refusing to run unmasked\n");
    _exit (97);
  }
  if (getenv ("HIDE_AVX512_CHECK"))
    atexit (report);
}
