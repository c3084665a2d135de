/* cuda-check.h - CUDA and cuBLAS errors as GErrors (cuda-check.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CUDA_CHECK_H
#define CT_CUDA_CHECK_H

#include "coordtok.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

G_BEGIN_DECLS

/* FALSE + GError (CT_ERROR_DEVICE) naming the call when e is an error. */
gboolean ct_cu_check (cudaError_t e, const char *what, GError **error);
gboolean ct_cu_check_blas (cublasStatus_t s, const char *what, GError **error);
#define CT_CU_TRY(expr) \
  do { if (!ct_cu_check ((expr), #expr, error)) return FALSE; } while (0)

G_END_DECLS

#endif
