/* patch.cu - the encoder's patch gather (Conv3d as a GEMM, spec 4.1) and
 * the projector unpatchify (spec 4.8).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-util.cuh"

template <typename OutT>
__global__ void
gather_kernel (const float *video, int H, int W, int et, int ep, int nb, int nc,
    size_t row0, size_t n, OutT *patches)
{
  int in = 3 * et * ep * ep;
  for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < n;
       i += (size_t) gridDim.x * blockDim.x) {
    size_t row = row0 + i / in;
    int k = (int) (i % in);
    int dy = k % ep, dx = (k / ep) % ep, dt = (k / (ep * ep)) % et, ch = k / (ep * ep * et);
    int cc = (int) (row % nc), b = (int) ((row / nc) % nb), a = (int) (row / ((size_t) nb * nc));
    size_t src = (((size_t) (a * et + dt) * H + b * ep + dx) * W + cc * ep + dy) * 3 + ch;
    ct_store (patches + row * in + k, video[src]);
  }
}

extern "C" cudaError_t
ct_cu_gather_video_patches (const float *video, int T, int H, int W, int et,
    int ep, int a0, int a1, void *patches, int out_bf16, cudaStream_t stream)
{
  if (et <= 0 || ep <= 0 || T % et || H % ep || W % ep || a0 < 0 || a1 > T / et ||
      a0 >= a1 || !video || !patches)
    return cudaErrorInvalidValue;
  int nb = H / ep, nc = W / ep, in = 3 * et * ep * ep;
  size_t row0 = (size_t) a0 * nb * nc;
  size_t n = (size_t) (a1 - a0) * nb * nc * in;
  if (out_bf16)
    gather_kernel<<<ct_blocks (n, 256), 256, 0, stream>>> (video, H, W, et, ep,
        nb, nc, row0, n, (__nv_bfloat16 *) patches);
  else
    gather_kernel<<<ct_blocks (n, 256), 256, 0, stream>>> (video, H, W, et, ep,
        nb, nc, row0, n, (float *) patches);
  return cudaGetLastError ();
}

__global__ void
unpatchify_kernel (const float *tok, int gc, int P1, int P2, int C, int cols,
    size_t n, float *plane)
{
  for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < n;
       i += (size_t) gridDim.x * blockDim.x) {
    int c = (int) (i % C);
    int y = (int) ((i / C) % cols);
    int x = (int) (i / ((size_t) C * cols));
    int gi = x / P1, pi = x % P1, hi = y / P2, pj = y % P2;
    plane[i] = tok[((size_t) (gi * gc + hi) * P1 * P2 + pi * P2 + pj) * C + c];
  }
}

extern "C" cudaError_t
ct_cu_unpatchify (const float *tok, int gr, int gc, int P1, int P2, int C,
    float *plane, cudaStream_t stream)
{
  if (gr <= 0 || gc <= 0 || P1 <= 0 || P2 <= 0 || C <= 0 || !tok || !plane)
    return cudaErrorInvalidValue;
  size_t n = (size_t) gr * P1 * gc * P2 * C;
  unpatchify_kernel<<<ct_blocks (n, 256), 256, 0, stream>>> (tok, gc, P1, P2, C,
      gc * P2, n, plane);
  return cudaGetLastError ();
}
