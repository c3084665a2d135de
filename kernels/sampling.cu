/* sampling.cu - the decoder's input (spec 5.1-5.2): bilinear triplane
 * samples, positional-embedding rows, and the patch embedding fused with
 * the positional-embedding gather.  The float32 arithmetic mirrors
 * src/sampling.c operation for operation.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-util.cuh"

__device__ __forceinline__ int ct_clampi (int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* bilinear sample of plane g (Ra, Rb, C) at (ca, cb).  Every operation is
 * an explicitly rounded float32 intrinsic: nvcc contracts a*b + c into an
 * FMA by default (--fmad=true), which would make the weights differ from
 * the one-rounding-per-operation float32 of the spec and of src/sampling.c
 * (compiled without FMA contraction) in the last bit. */
__device__ __forceinline__ void
sample_plane (const float *g, int Ra, int Rb, int C, float ca, float cb, float *e)
{
  float sa = __fmul_rn (ca, (float) (Ra - 1)), sb = __fmul_rn (cb, (float) (Rb - 1));
  float fa0 = floorf (sa), fb0 = floorf (sb);
  int a0 = ct_clampi ((int) fa0, 0, Ra - 1), b0 = ct_clampi ((int) fb0, 0, Rb - 1);
  int a1 = min (a0 + 1, Ra - 1), b1 = min (b0 + 1, Rb - 1);
  float fa = __fsub_rn (sa, fa0), fb = __fsub_rn (sb, fb0);
  float ga = __fsub_rn (1.0f, fa), gb = __fsub_rn (1.0f, fb);
  const float *p00 = g + ((size_t) a0 * Rb + b0) * C, *p01 = g + ((size_t) a0 * Rb + b1) * C;
  const float *p10 = g + ((size_t) a1 * Rb + b0) * C, *p11 = g + ((size_t) a1 * Rb + b1) * C;
  for (int k = 0; k < C; k++) {
    /* (p00 (1-fb) + p01 fb) (1-fa) + (p10 (1-fb) + p11 fb) fa */
    float r0 = __fadd_rn (__fmul_rn (p00[k], gb), __fmul_rn (p01[k], fb));
    float r1 = __fadd_rn (__fmul_rn (p10[k], gb), __fmul_rn (p11[k], fb));
    e[k] = __fadd_rn (__fmul_rn (r0, ga), __fmul_rn (r1, fa));
  }
}

__global__ void
sample_triplane_kernel (const float *z, const float *coords, int n,
    CtCuPlaneDims d, float *emb, int *pos_row)
{
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n)
    return;
  int C = d.C;
  const float *zxy = z;
  const float *zyt = zxy + (size_t) d.rxy * d.rxy * C;
  const float *zxt = zyt + (size_t) d.rt * d.rxy * C;
  float ct = coords[3 * i], cx = coords[3 * i + 1], cy = coords[3 * i + 2];
  float *e = emb + (size_t) i * 3 * C;
  sample_plane (zxy, d.rxy, d.rxy, C, cx, cy, e);
  sample_plane (zyt, d.rt, d.rxy, C, ct, cy, e + C);
  sample_plane (zxt, d.rt, d.rxy, C, ct, cx, e + 2 * C);
  /* float32 product, truncated toward zero (spec 5.2) */
  int it = ct_clampi ((int) __fmul_rn (ct, (float) (d.nt - 1)), 0, d.nt - 1);
  int ix = ct_clampi ((int) __fmul_rn (cx, (float) (d.nx - 1)), 0, d.nx - 1);
  int iy = ct_clampi ((int) __fmul_rn (cy, (float) (d.ny - 1)), 0, d.ny - 1);
  pos_row[i] = (it * d.nx + ix) * d.ny + iy;
}

extern "C" cudaError_t
ct_cu_sample_triplane (const float *z, const float *coords, int n,
    CtCuPlaneDims d, float *emb, int *pos_row, cudaStream_t stream)
{
  if (n <= 0 || d.C <= 0 || d.rxy <= 0 || d.rt <= 0 || d.nt <= 0 || d.nx <= 0 ||
      d.ny <= 0 || !z || !coords || !emb || !pos_row)
    return cudaErrorInvalidValue;
  sample_triplane_kernel<<<(n + 127) / 128, 128, 0, stream>>> (z, coords, n, d,
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
