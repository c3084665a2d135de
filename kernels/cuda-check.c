/* cuda-check.c - CUDA and cuBLAS status codes as GErrors that name the
 * failed call: the one helper every file of the backend uses, so that
 * gemm.c and weights.c need nothing from cuda-backend.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-check.h"

gboolean
ct_cu_check (cudaError_t e, const char *what, GError **error)
{
  if (e == cudaSuccess)
    return TRUE;
  g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "%s: %s (%s)", what,
      cudaGetErrorString (e), cudaGetErrorName (e));
  return FALSE;
}

gboolean
ct_cu_check_blas (cublasStatus_t s, const char *what, GError **error)
{
  if (s == CUBLAS_STATUS_SUCCESS)
    return TRUE;
  g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "%s: %s (%s)", what,
      cublasGetStatusString (s), cublasGetStatusName (s));
  return FALSE;
}
