/* sampling.cu - the decoder's input (spec 5.1-5.2): bilinear triplane
 * samples, positional-embedding rows, and the patch embedding fused with
 * the positional-embedding gather.  The sampling arithmetic is
 * src/geometry.h's, the same source as the CPU backend's.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-util.cuh"

__global__ void
sample_triplane_kernel (const float *z, const float *coords, int n,
    CtPlaneGeometry g, float *emb, int *pos_row)
{
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n)
    return;
  float ct = coords[3 * i], cx = coords[3 * i + 1], cy = coords[3 * i + 2];
  ct_geom_sample_triplane (&g, z, ct, cx, cy, emb + (size_t) i * 3 * g.C);
  pos_row[i] = (int) ct_geom_pos_row (&g, ct, cx, cy);
}

extern "C" cudaError_t
ct_cu_sample_triplane (const float *z, const float *coords, int n,
    const CtPlaneGeometry *g, float *emb, int *pos_row, cudaStream_t stream)
{
  if (n <= 0 || !g || !ct_geom_planes_valid (g) || !z || !coords || !emb || !pos_row)
    return cudaErrorInvalidValue;
  sample_triplane_kernel<<<(n + 127) / 128, 128, 0, stream>>> (z, coords, n, *g,
      emb, pos_row);
  return cudaGetLastError ();
}

/* grid (ceil(D/256), n): thread j of row i; wt is (K, D) so reads coalesce */
__global__ void
query_embed_kernel (const float *emb, const int *pos_row, const float *wt,
    const float *b, const float *pos, int K, int D, float *x)
{
  int i = blockIdx.y;
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= D)
    return;
  const float *e = emb + (size_t) i * K;
  float acc = 0.0f;
  for (int k = 0; k < K; k++)
    acc = fmaf (e[k], wt[(size_t) k * D + j], acc);
  x[(size_t) i * D + j] = (acc + (b ? b[j] : 0.0f)) + pos[(size_t) pos_row[i] * D + j];
}

extern "C" cudaError_t
ct_cu_query_embed (const float *emb, const int *pos_row, const float *wt,
    const float *b, const float *pos, int n, int K, int D, float *x,
    cudaStream_t stream)
{
  if (n <= 0 || K <= 0 || D <= 0 || !emb || !pos_row || !wt || !pos || !x)
    return cudaErrorInvalidValue;
  /* gridDim.y is limited to 65535: split long sequences */
  for (int i0 = 0; i0 < n; i0 += 65535) {
    int rows = n - i0 < 65535 ? n - i0 : 65535;
    dim3 grid ((D + 255) / 256, rows);
    query_embed_kernel<<<grid, 256, 0, stream>>> (emb + (size_t) i0 * K,
        pos_row + i0, wt, b, pos, K, D, x + (size_t) i0 * D);
    cudaError_t e = cudaGetLastError ();
    if (e != cudaSuccess)
      return e;
  }
  return cudaSuccess;
}
