/* cuda-util.cuh - small device helpers shared by the kernels.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CUDA_UTIL_CUH
#define CT_CUDA_UTIL_CUH

#include <cuda_bf16.h>
#include <math.h>
#include "kernels.h"

#define CT_WARP 32

__device__ __forceinline__ float
ct_warp_sum (float v)
{
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync (0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float
ct_warp_max (float v)
{
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf (v, __shfl_xor_sync (0xffffffffu, v, o));
  return v;
}

/* store a float as float or as bf16 (round to nearest even) */
__device__ __forceinline__ void ct_store (float *p, float v) { *p = v; }
__device__ __forceinline__ void ct_store (__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn (v); }

/* grid size for n elements, `per_block` each, capped for grid-stride loops */
static inline unsigned
ct_blocks (size_t n, unsigned per_block)
{
  size_t b = (n + per_block - 1) / per_block;
  if (b > 65535u * 16u)
    b = 65535u * 16u;
  return b ? (unsigned) b : 1u;
}

#endif
