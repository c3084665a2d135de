/* patch.cu - the encoder's patch gather (Conv3d as a GEMM, spec 4.1) and
 * the projector unpatchify (spec 4.8); the index arithmetic is
 * src/geometry.h's, the same source as the CPU backend's.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-util.cuh"

template <typename OutT>
__global__ void
gather_kernel (const float *video, CtPatchGeometry g, size_t row0, size_t n,
    OutT *patches)
{
  int in = ct_geom_patch_values (&g);
  for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < n;
       i += (size_t) gridDim.x * blockDim.x) {
    size_t row = row0 + i / in;
    int k = (int) (i % in);
    ct_store (patches + row * in + k, video[ct_geom_patch_value_index (&g, row, k)]);
  }
}

extern "C" cudaError_t
ct_cu_gather_video_patches (const float *video, int T, int H, int W, int et,
    int ep, int a0, int a1, void *patches, int out_bf16, cudaStream_t stream)
{
  CtPatchGeometry g = { T, H, W, et, ep };
  if (!ct_geom_patches_valid (&g, a0, a1) || !video || !patches)
    return cudaErrorInvalidValue;
  size_t row0 = (size_t) a0 * (H / ep) * (W / ep);
  size_t n = (size_t) (a1 - a0) * (H / ep) * (W / ep) * ct_geom_patch_values (&g);
  if (out_bf16)
    gather_kernel<<<ct_blocks (n, 256), 256, 0, stream>>> (video, g, row0, n,
        (__nv_bfloat16 *) patches);
  else
    gather_kernel<<<ct_blocks (n, 256), 256, 0, stream>>> (video, g, row0, n,
        (float *) patches);
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
    plane[i] = tok[ct_geom_unpatchify_src (gc, P1, P2, C, x, y) + c];
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
