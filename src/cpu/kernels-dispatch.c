/* cpu/kernels-dispatch.c - picks the CPU kernel set once (cpu/kernels.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/kernels.h"
#include "coordtok.h"

#include <string.h>

static const CtCpuKernels *const sets[CT_CPU_N_KERNEL_SETS] = {
  [CT_CPU_GENERIC] = &ct_cpu_kernels_generic,
  [CT_CPU_AVX2] = &ct_cpu_kernels_avx2,
  [CT_CPU_AVX512] = &ct_cpu_kernels_avx512,
};

CtCpuKernelSet
ct_cpu_best_kernel_set (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init ();
  /* the AVX-512 set is compiled for F, DQ, BW and VL (src/meson.build) */
  if (__builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512dq") &&
      __builtin_cpu_supports ("avx512bw") && __builtin_cpu_supports ("avx512vl"))
    return CT_CPU_AVX512;
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    return CT_CPU_AVX2;
#endif
  return CT_CPU_GENERIC;
}

const CtCpuKernels *
ct_cpu_kernel_set (CtCpuKernelSet set)
{
  if ((guint) set >= CT_CPU_N_KERNEL_SETS || set > ct_cpu_best_kernel_set ())
    return NULL;
  return sets[set];
}

static gpointer
choose (gpointer unused)
{
  CtCpuKernelSet best = ct_cpu_best_kernel_set (), use = best;
  const char *want = g_getenv ("COORDTOK_CPU");
  if (want && *want) {
    int found = -1;
    for (int i = 0; i < CT_CPU_N_KERNEL_SETS; i++)
      if (strcmp (want, sets[i]->name) == 0)
        found = i;
    if (found < 0)
      g_warning ("COORDTOK_CPU=%s is not a kernel set (avx512, avx2, generic): using %s",
          want, sets[best]->name);
    else if (found > (int) best)
      g_warning ("COORDTOK_CPU=%s: this CPU cannot run it, using %s", want,
          sets[best]->name);
    else
      use = found;
  }
  g_info ("cpu kernels: %s%s", sets[use]->name, use != best ? " (forced by COORDTOK_CPU)" : "");
  return (gpointer) sets[use];
}

const CtCpuKernels *
ct_cpu_kernels (void)
{
  static GOnce once = G_ONCE_INIT;
  return g_once (&once, choose, NULL);
}

const char *
ct_cpu_kernels_name (void)
{
  return ct_cpu_kernels ()->name;
}

gboolean
ct_cpu_kernels_supported (const char *name)
{
  for (int i = 0; i < CT_CPU_N_KERNEL_SETS; i++)
    if (g_strcmp0 (name, sets[i]->name) == 0)
      return i <= (int) ct_cpu_best_kernel_set ();
  return FALSE;
}
