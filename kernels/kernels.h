/* kernels.h - launchers of the CUDA kernels (implemented in the *.cu files),
 * callable from the C host code.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Conventions: every matrix is row-major; `ld*` are row strides in
 * elements.  Activations are float32; a `void *` output with an `*_bf16`
 * flag is written either as float32 or as bfloat16 (the input of a bf16
 * GEMM).  Every launcher validates its sizes, launches on `stream` and
 * returns the launch status (cudaGetLastError()); nothing here
 * synchronises or aborts.
 */
#ifndef CT_CUDA_KERNELS_H
#define CT_CUDA_KERNELS_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "geometry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t ct_bf16;   /* storage of one bfloat16 */

/* ---- layernorm.cu ---------------------------------------------------- */

/* y (M, D) = LayerNorm(x) * w + b over rows of x (M, D, stride ldx).
 * If pre_bias (D) is not NULL it is first added to x and written back:
 * that is the pending bias of the GEMM that accumulated into x (fused
 * bias + residual).  y: float32 or bf16 (y_bf16), stride ldy. */
cudaError_t ct_cu_layernorm (float *x, int ldx, const float *pre_bias,
    const float *w, const float *b, float eps, void *y, int ldy, int y_bf16,
    int M, int D, cudaStream_t stream);

/* ---- gelu-bias.cu ---------------------------------------------------- */

/* y (M, N) = gelu_erf(h + b);  y float32 (may alias h) or bf16. */
cudaError_t ct_cu_bias_gelu (const float *h, const float *b, void *y,
    int y_bf16, int M, int N, cudaStream_t stream);
/* y (M, N) += b (N, may be NULL) + pos (M, N, may be NULL) */
cudaError_t ct_cu_add_bias_pos (float *y, int ldy, const float *b,
    const float *pos, int M, int N, cudaStream_t stream);
/* out (n) = a + b, and out_bf16 (n) = bf16(a + b) when not NULL;
 * out may alias a. */
cudaError_t ct_cu_add (float *out, ct_bf16 *out_bf16, const float *a,
    const float *b, size_t n, cudaStream_t stream);
/* dst (n) = bf16(src), round to nearest even */
cudaError_t ct_cu_to_bf16 (ct_bf16 *dst, const float *src, size_t n,
    cudaStream_t stream);
/* encoder memory mask (spec 4.2): bias[n] = 1.0 if n / per_slab >= real_slabs */
cudaError_t ct_cu_key_bias (float *bias, int Nv, int per_slab, int real_slabs,
    cudaStream_t stream);

/* ---- sampling.cu ----------------------------------------------------- */

/* the plane and patch-grid shapes are src/geometry.h's CtPlaneGeometry */

/* emb (n, 3C): bilinear samples of z = xy | yt | xt at coords (n, 3) =
 * (ct, cx, cy), src/geometry.h's arithmetic; pos_row (n): row of
 * pos_embed (NT, NX, NY) for each coordinate (float32 product, truncated). */
cudaError_t ct_cu_sample_triplane (const float *z, const float *coords, int n,
    const CtPlaneGeometry *g, float *emb, int *pos_row, cudaStream_t stream);
/* x (n, D) = emb (n, K) wt (K, D) + b (D) + pos[pos_row[i]] (rows of D):
 * the decoder's patch embedding (K = 3C is tiny) fused with the
 * positional-embedding gather; float32.  b may be NULL. */
cudaError_t ct_cu_query_embed (const float *emb, const int *pos_row,
    const float *wt, const float *b, const float *pos, int n, int K, int D,
    float *x, cudaStream_t stream);

/* ---- patch.cu -------------------------------------------------------- */

/* Video patches of time slabs [a0, a1): video (T, H, W, 3) -> rows
 * a0*nb*nc .. a1*nb*nc of patches (Nv, 3*et*ep*ep), each flattened
 * (ch, dt, dx, dy) as the Conv3d weight (spec 4.1).  float32 or bf16. */
cudaError_t ct_cu_gather_video_patches (const float *video, int T, int H,
    int W, int et, int ep, int a0, int a1, void *patches, int out_bf16,
    cudaStream_t stream);
/* Unpatchify one plane (spec 4.8): tok (gr*gc, P1*P2*C) -> plane
 * (gr*P1, gc*P2, C). */
cudaError_t ct_cu_unpatchify (const float *tok, int gr, int gc, int P1, int P2,
    int C, float *plane, cudaStream_t stream);

/* ---- attention.cu ---------------------------------------------------- */

typedef struct {
  const float *q, *k, *v;     /* (S, heads*hd) with row strides ldq/ldk/ldv */
  int ldq, ldk, ldv;
  const float *bq, *bk, *bv;  /* per-feature biases (heads*hd) or NULL: the
                                 packed qkv projection's bias, fused here */
  const float *key_bias;      /* (Sk) added to every logit row, or NULL */
  void *out;                  /* (Sq, heads*hd), stride ldo, fp32 or bf16 */
  int ldo, out_bf16;
  int Sq, Sk, heads, hd;
  float scale;                /* 1/sqrt(hd) */
} CtCuAttention;

/* softmax(q k^T * scale + key_bias) v for every head, flash-style (online
 * softmax over key tiles; no Sq x Sk matrix in memory).  tensor_cores:
 * use the bf16 WMMA kernel where hd is 16, 32, 64 or 128 (fp32 softmax and
 * accumulation); otherwise / else the exact fp32 kernel (hd <= 128). */
cudaError_t ct_cu_attention (const CtCuAttention *a, int tensor_cores,
    cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
