/* gelu-bias.cu - elementwise kernels: bias + exact (erf) GELU, bias and
 * positional-embedding adds, sums, bf16 casts, the encoder memory mask.
 * All grid-stride loops over size_t indices.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-util.cuh"

#define EW_THREADS 256

template <typename OutT>
__global__ void
bias_gelu_kernel (const float *h, const float *b, OutT *y, size_t n, int N)
{
  for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < n;
       i += (size_t) gridDim.x * blockDim.x) {
    float v = h[i] + (b ? b[i % N] : 0.0f);
    ct_store (y + i, 0.5f * v * (1.0f + erff (v * 0.70710678118654752440f)));
  }
}

extern "C" cudaError_t
ct_cu_bias_gelu (const float *h, const float *b, void *y, int y_bf16, int M,
    int N, cudaStream_t stream)
{
  if (M <= 0 || N <= 0 || !h || !y)
    return cudaErrorInvalidValue;
  size_t n = (size_t) M * N;
  if (y_bf16)
    bias_gelu_kernel<<<ct_blocks (n, EW_THREADS), EW_THREADS, 0, stream>>> (
        h, b, (__nv_bfloat16 *) y, n, N);
  else
    bias_gelu_kernel<<<ct_blocks (n, EW_THREADS), EW_THREADS, 0, stream>>> (
        h, b, (float *) y, n, N);
  return cudaGetLastError ();
}

__global__ void
add_bias_pos_kernel (float *y, int ldy, const float *b, const float *pos,
    size_t n, int N)
{
  for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < n;
       i += (size_t) gridDim.x * blockDim.x) {
    size_t r = i / N;
    int c = (int) (i % N);
    float v = y[r * ldy + c];
    if (b)
      v += b[c];
    if (pos)
      v += pos[i];
    y[r * ldy + c] = v;
  }
}

extern "C" cudaError_t
ct_cu_add_bias_pos (float *y, int ldy, const float *b, const float *pos, int M,
    int N, cudaStream_t stream)
{
  if (M <= 0 || N <= 0 || ldy < N || !y)
    return cudaErrorInvalidValue;
  size_t n = (size_t) M * N;
  add_bias_pos_kernel<<<ct_blocks (n, EW_THREADS), EW_THREADS, 0, stream>>> (
      y, ldy, b, pos, n, N);
  return cudaGetLastError ();
}

__global__ void
add_kernel (float *out, __nv_bfloat16 *out_h, const float *a, const float *b,
    size_t n)
{
  for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < n;
       i += (size_t) gridDim.x * blockDim.x) {
    float v = a[i] + b[i];
    out[i] = v;
    if (out_h)
      out_h[i] = __float2bfloat16_rn (v);
  }
}

extern "C" cudaError_t
ct_cu_add (float *out, ct_bf16 *out_bf16, const float *a, const float *b,
    size_t n, cudaStream_t stream)
{
  if (!n || !out || !a || !b)
    return cudaErrorInvalidValue;
  add_kernel<<<ct_blocks (n, EW_THREADS), EW_THREADS, 0, stream>>> (
      out, (__nv_bfloat16 *) out_bf16, a, b, n);
  return cudaGetLastError ();
}

__global__ void
to_bf16_kernel (__nv_bfloat16 *dst, const float *src, size_t n)
{
  for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < n;
       i += (size_t) gridDim.x * blockDim.x)
    dst[i] = __float2bfloat16_rn (src[i]);
}

extern "C" cudaError_t
ct_cu_to_bf16 (ct_bf16 *dst, const float *src, size_t n, cudaStream_t stream)
{
  if (!n || !dst || !src)
    return cudaErrorInvalidValue;
  to_bf16_kernel<<<ct_blocks (n, EW_THREADS), EW_THREADS, 0, stream>>> (
      (__nv_bfloat16 *) dst, src, n);
  return cudaGetLastError ();
}

__global__ void
key_bias_kernel (float *bias, int Nv, int per_slab, int real_slabs)
{
  int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n < Nv)
    bias[n] = (n / per_slab) >= real_slabs ? 1.0f : 0.0f;
}

extern "C" cudaError_t
ct_cu_key_bias (float *bias, int Nv, int per_slab, int real_slabs,
    cudaStream_t stream)
{
  if (Nv <= 0 || per_slab <= 0 || !bias)
    return cudaErrorInvalidValue;
  key_bias_kernel<<<(Nv + EW_THREADS - 1) / EW_THREADS, EW_THREADS, 0, stream>>> (
      bias, Nv, per_slab, real_slabs);
  return cudaGetLastError ();
}
