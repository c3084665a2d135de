/* gemm.c - the linear layers on cuBLAS, one wrapper per precision.
 *
 * Row-major y (M, N) = x (M, K) W^T with W (N, K) row-major is, seen
 * column-major, y^T (N, M) = W^T' x^T: cublasGemmEx(OP_T, OP_N, m = N,
 * n = M, k = K, A = W (ld K), B = x (ld ldx), C = y (ld ldy)).  No copies.
 *
 *   fp32: float operands, CUBLAS_COMPUTE_32F (the handle's math mode is
 *         CUBLAS_DEFAULT_MATH | DISALLOW_REDUCED_PRECISION_REDUCTION, so no
 *         TF32): the exact reference.
 *   tf32: float operands, CUBLAS_COMPUTE_32F_FAST_TF32.
 *   bf16: bf16 weights (the shared bf16 copy) and bf16 activations,
 *         float output, CUBLAS_COMPUTE_32F (fp32 accumulate).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-backend.h"

CtCuLinear
ct_cu_linear_rows (const CtCuLinear *lin, int r0, int n)
{
  CtCuLinear s = *lin;
  s.w = lin->w + (gsize) r0 * lin->in;
  s.wh = lin->wh ? lin->wh + (gsize) r0 * lin->in : NULL;
  s.b = lin->b ? lin->b + r0 : NULL;
  s.out = n;
  return s;
}

gboolean
ct_cu_gemm (CtCuContext *ctx, const CtCuLinear *lin, const void *x, int ldx,
    int M, float *y, int ldy, float beta, GError **error)
{
  int N = lin->out, K = lin->in;
  if (M <= 0 || N <= 0 || K <= 0 || ldx < K || ldy < N || !x || !y) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "cuda gemm: bad shape M=%d N=%d K=%d ldx=%d ldy=%d", M, N, K, ldx, ldy);
    return FALSE;
  }
  const float alpha = 1.0f;
  const void *A;
  cudaDataType_t t;
  if (ctx->bf16) {
    if (!lin->wh) {
      g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "cuda gemm: bf16 weights missing");
      return FALSE;
    }
    A = lin->wh;
    t = CUDA_R_16BF;
  } else {
    A = lin->w;
    t = CUDA_R_32F;
  }
  return ct_cu_check_blas (cublasGemmEx (ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N,
      N, M, K, &alpha, A, t, K, x, t, ldx, &beta, y, CUDA_R_32F, ldy,
      ctx->compute, CUBLAS_GEMM_DEFAULT), "cublasGemmEx", error);
}
