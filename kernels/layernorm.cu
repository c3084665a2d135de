/* layernorm.cu - LayerNorm, one warp per row, with the pending bias of the
 * previous residual GEMM fused in (x += bias; y = LN(x)).
 * Two passes over the row (mean, then centred variance), float32, as the
 * CPU reference (ops.c) computes it up to summation order.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-util.cuh"

#define LN_ROWS 8   /* rows (warps) per block */

template <typename OutT>
__global__ void __launch_bounds__ (LN_ROWS * CT_WARP)
layernorm_kernel (float *x, int ldx, const float *pre_bias, const float *w,
    const float *b, float eps, OutT *y, int ldy, int M, int D)
{
  int row = blockIdx.x * LN_ROWS + threadIdx.x / CT_WARP;
  int lane = threadIdx.x % CT_WARP;
  if (row >= M)
    return;                     /* whole warp leaves together */
  float *xr = x + (size_t) row * ldx;
  float s = 0.0f;
  for (int j = lane; j < D; j += CT_WARP) {
    float v = xr[j];
    if (pre_bias) {
      v += pre_bias[j];
      xr[j] = v;
    }
    s += v;
  }
  float mean = ct_warp_sum (s) / (float) D;
  float v2 = 0.0f;
  for (int j = lane; j < D; j += CT_WARP) {
    float d = xr[j] - mean;
    v2 += d * d;
  }
  float rstd = 1.0f / sqrtf (ct_warp_sum (v2) / (float) D + eps);
  OutT *yr = y + (size_t) row * ldy;
  for (int j = lane; j < D; j += CT_WARP)
    ct_store (yr + j, (xr[j] - mean) * rstd * w[j] + b[j]);
}

extern "C" cudaError_t
ct_cu_layernorm (float *x, int ldx, const float *pre_bias, const float *w,
    const float *b, float eps, void *y, int ldy, int y_bf16, int M, int D,
    cudaStream_t stream)
{
  if (M <= 0 || D <= 0 || ldx < D || ldy < D || !x || !w || !b || !y)
    return cudaErrorInvalidValue;
  unsigned blocks = (unsigned) ((M + LN_ROWS - 1) / LN_ROWS);
  if (y_bf16)
    layernorm_kernel<__nv_bfloat16><<<blocks, LN_ROWS * CT_WARP, 0, stream>>> (
        x, ldx, pre_bias, w, b, eps, (__nv_bfloat16 *) y, ldy, M, D);
  else
    layernorm_kernel<float><<<blocks, LN_ROWS * CT_WARP, 0, stream>>> (
        x, ldx, pre_bias, w, b, eps, (float *) y, ldy, M, D);
  return cudaGetLastError ();
}
