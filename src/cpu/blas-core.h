/* cpu/blas-core.h - OpenBLAS's kernel choice, corrected where it misses
 * the CPU's ISA (blas-core.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_BLAS_CORE_H
#define CT_CPU_BLAS_CORE_H

#include <glib.h>

/* Once, before the first BLAS call. */
void ct_cpu_blas_setup (void);
/* TRUE for OpenBLAS core names whose kernels predate AVX2 ("Prescott"). */
gboolean ct_cpu_blas_core_lacks_avx2 (const char *core);

#endif
