/* cpu/blas-core.c - makes OpenBLAS use the GEMM kernels this CPU can run.
 *
 * OpenBLAS (DYNAMIC_ARCH builds, as Debian's) picks its kernels from the
 * CPU's family and model at load time.  A CPU newer than the OpenBLAS
 * release is not in its tables and gets a fallback: Debian bookworm's
 * 0.3.21 calls an Emerald Rapids Xeon (family 6, model 207) "Prescott", an
 * SSE3 core, and its sgemm ran at 55 GFLOP/s on two cores where the
 * SkylakeX kernels (AVX-512) run at 227.  When OpenBLAS chose a core without
 * AVX2 on a CPU that has AVX2 and FMA, the engine re-initialises it, once,
 * before its first BLAS call, with the core the CPU's ISA calls for
 * (SkylakeX with AVX-512 F/DQ/BW/VL, else Haswell), exactly as
 * OPENBLAS_CORETYPE would have.  A user's OPENBLAS_CORETYPE is left alone.
 * The OpenBLAS symbols are weak: with another BLAS this does nothing.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/blas-core.h"
#include "cpu/kernels.h"
#include "coordtok.h"

#include <stdlib.h>
#include <string.h>

extern char *openblas_get_corename (void) __attribute__ ((weak));
extern void gotoblas_dynamic_init (void) __attribute__ ((weak));
extern void gotoblas_dynamic_quit (void) __attribute__ ((weak));

static char *before_name, *after_name;

/* OpenBLAS core names whose kernels predate AVX2 */
gboolean
ct_cpu_blas_core_lacks_avx2 (const char *core)
{
  static const char *old[] = { "Prescott", "Core2", "Penryn", "Dunnington",
    "Nehalem", "Atom", "Nano", "Sandybridge", "Bulldozer", "Piledriver",
    "Steamroller", "Excavator", "Opteron", "Opteron_SSE3", "Barcelona",
    "Bobcat", "Katmai", "Coppermine", "Northwood", "Banias", "Athlon", "Unknown" };
  for (guint i = 0; i < G_N_ELEMENTS (old); i++)
    if (g_ascii_strcasecmp (core, old[i]) == 0)
      return TRUE;
  return FALSE;
}

static gpointer
setup (gpointer unused)
{
  if (!openblas_get_corename)
    return NULL;
  before_name = g_strdup (openblas_get_corename ());
  /* the set in use (COORDTOK_CPU=avx2 on an AVX-512 machine asks for the
   * AVX2 kernels throughout) */
  const CtCpuKernels *k = ct_cpu_kernels ();
  CtCpuKernelSet isa = k == &ct_cpu_kernels_avx512 ? CT_CPU_AVX512 :
      k == &ct_cpu_kernels_avx2 ? CT_CPU_AVX2 : CT_CPU_GENERIC;
  if (gotoblas_dynamic_init && gotoblas_dynamic_quit && !g_getenv ("OPENBLAS_CORETYPE") &&
      isa >= CT_CPU_AVX2 && ct_cpu_blas_core_lacks_avx2 (before_name)) {
    const char *want = isa == CT_CPU_AVX512 ? "SkylakeX" : "Haswell";
    g_setenv ("OPENBLAS_CORETYPE", want, TRUE);
    gotoblas_dynamic_quit ();
    gotoblas_dynamic_init ();
    g_unsetenv ("OPENBLAS_CORETYPE");
    after_name = g_strdup (openblas_get_corename ());
    g_info ("OpenBLAS chose the %s kernels for this CPU, which has %s: using %s",
        before_name, isa == CT_CPU_AVX512 ? "AVX-512" : "AVX2 and FMA", after_name);
  }
  return NULL;
}

void
ct_cpu_blas_setup (void)
{
  static GOnce once = G_ONCE_INIT;
  g_once (&once, setup, NULL);
}

char *
ct_cpu_blas_core (void)
{
  ct_cpu_blas_setup ();
  if (!before_name)
    return g_strdup ("not OpenBLAS");
  if (!after_name)
    return g_strdup (before_name);
  return g_strdup_printf ("%s (OpenBLAS had chosen %s)", after_name, before_name);
}
