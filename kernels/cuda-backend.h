/* cuda-backend.h - the CUDA backend's internal types: device weights
 * (shared per model and device), the per-session context with its
 * workspaces, and the host-side helpers (error checks, GEMM, blocks).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CUDA_BACKEND_H
#define CT_CUDA_BACKEND_H

#include "backend.h"
#include "cuda-check.h"
#include "kernels.h"

#include <cublas_v2.h>

G_BEGIN_DECLS

/* ---- device weights (weights.c) --------------------------------------- */

/* A Linear layer on the device: w (out, in) float32, b (out) or NULL, and
 * wh: the bf16 copy of w (NULL until a bf16 session needs it). */
typedef struct {
  const float *w, *b;
  const ct_bf16 *wh;
  int out, in;
} CtCuLinear;

typedef struct {
  CtNorm norm1, norm2;               /* device pointers, eps */
  CtCuLinear qkv, proj, fc1, fc2;
} CtCuVitBlock;

typedef struct {
  CtNorm norm1, norm2, norm3;
  CtCuLinear cross_in, cross_out, self_in, self_out, fc1, fc2;
} CtCuCrossBlock;

/* Mirror of CtWeights with device pointers. */
typedef struct {
  CtCuLinear enc_patch;
  const float *cls_token, *pos_emb;
  CtCuVitBlock *vit;                 /* host array [Lv] */
  CtNorm vit_norm;
  const float *cross_pos_emb;
  CtCuCrossBlock *cross;             /* host array [Lx] */
  CtNorm cross_norm;
  CtCuLinear projector[3];
  const float *query_tokens;         /* (Nq, De) */
  const float *dec_patch_wt;         /* (3C, Dd): dec_patch_embed.w transposed */
  const float *dec_patch_b;          /* (Dd) */
  const float *dec_pos_embed;        /* (NT, NX, NY, Dd) */
  CtCuVitBlock *dec;                 /* host array [Ld] */
  CtNorm dec_norm;
  CtCuLinear dec_projector;
} CtCuWeights;

typedef struct _CtCuShared CtCuShared;

/* Uploads a model's weights to `device` once per process and returns a
 * reference; later calls for the same (model, device) share the upload.
 * need_bf16 adds the bf16 copies of the linear weights (made once, on the
 * device, from the fp32 copies).  Thread-safe. */
CtCuShared *ct_cu_weights_acquire (CtModel *m, const CtWeights *hw, int device,
    gboolean need_bf16, GError **error);
void ct_cu_weights_release (CtCuShared *s);
const CtCuWeights *ct_cu_weights (const CtCuShared *s);
/* For tests and diagnostics: how many (model, device) uploads are alive. */
int ct_cu_weights_live_uploads (void);

/* ---- session context (cuda-backend.c) --------------------------------- */

#define CT_CU_MAX_CHUNKS 16  /* encoder upload pipeline depth (time slabs) */

/* Per-layer scratch of a pre-norm block over S rows (see vit_block). */
typedef struct {
  void *ln;        /* (S, D) fp32 or bf16: LayerNorm output, GEMM input */
  float *qkv;      /* (S, 3D); `big` (S, 4D) region also holds hidden */
  void *att;       /* (S, D) fp32 or bf16, right after qkv in `big` */
  float *hidden;   /* (S, 4D) fc1 output, aliases qkv+att */
  void *act;       /* (S, 4D) GELU output: == hidden (fp32) or bf16 buffer */
} CtCuBlockScratch;

typedef struct {
  CtModel *model;
  const CtConfig *config;
  CtCuShared *shared;
  const CtCuWeights *w;
  CtPrecision precision;
  gboolean bf16;                   /* GEMM inputs in bf16 */
  int device;
  char *name;
  cudaStream_t stream;             /* compute */
  cudaStream_t copy;               /* host <-> device uploads */
  cudaEvent_t chunk_ready[CT_CU_MAX_CHUNKS];
  cublasHandle_t blas;
  cublasComputeType_t compute;

  /* encoder workspace: one cudaMalloc, sized by the model */
  void *enc_block;
  float *video;                    /* (T, H, W, 3) */
  void *patches;                   /* (Nv, 3*et*ep*ep) fp32 or bf16 */
  float *h;                        /* (Nv+1, De) */
  CtCuBlockScratch vit_scratch;    /* for Nv+1 rows */
  float *memory;                   /* (Nv, De) */
  void *memory_in;                 /* memory as GEMM input (== memory or bf16) */
  float *key_bias;                 /* (Nv) */
  float *kv;                       /* (Nv, 2De) */
  float *q;                        /* (Nq, De) */
  CtCuBlockScratch q_scratch;      /* for Nq rows */
  float *proj_tmp;                 /* projector output of one plane */
  float *z;                        /* planes */
  float *host_video;               /* pinned (T, H, W, 3) */
  float *host_z;                   /* pinned planes */

  /* decoder workspace: grown to the longest sequence seen */
  int dec_capacity;
  void *dec_block;
  float *coords, *emb, *x, *out;
  int *pos_row;
  CtCuBlockScratch dec_scratch;
  float *host_dec;                 /* pinned: coords (n,3) | out (n,pv) | emb (n,3C) */

  /* planes bound for decode_seqs: uploaded once per record, kept on the
   * device for every chunk of its window (grown to the largest grid) */
  float *bound_z;
  gsize bound_capacity;            /* floats */
  int bound_tiles;                 /* 0: none bound */
} CtCuContext;

/* ---- GEMM (gemm.c) ----------------------------------------------------- */

/* y (M, out) = x (M, in) W^T + beta * y, no bias: callers fuse the bias
 * into a neighbouring kernel.  x is float32 or bf16 as ctx->bf16 says,
 * row stride ldx; y float32, row stride ldy. */
gboolean ct_cu_gemm (CtCuContext *ctx, const CtCuLinear *lin, const void *x,
    int ldx, int M, float *y, int ldy, float beta, GError **error);
/* rows [r0, r0+n) of a Linear (a slice of a packed projection) */
CtCuLinear ct_cu_linear_rows (const CtCuLinear *lin, int r0, int n);
/* element size of GEMM inputs */
static inline gsize ct_cu_in_size (const CtCuContext *ctx) { return ctx->bf16 ? 2 : 4; }

/* ---- shared pieces (cuda-backend.c) ------------------------------------ */

gsize ct_cu_block_scratch_bytes (int S, int D, gboolean bf16);
void ct_cu_block_scratch_layout (char *base, int S, int D, gboolean bf16,
    CtCuBlockScratch *sc);
/* Pre-norm block over x (S, D) in place on ctx->stream.  *pending is the
 * bias still owed to x by the previous residual GEMM (NULL if none); on
 * return it is the bias owed by this block's fc2. */
gboolean ct_cu_vit_block (CtCuContext *ctx, const CtCuVitBlock *b, float *x,
    int S, int D, int heads, const float **pending, CtCuBlockScratch *sc,
    GError **error);
/* Grows the decoder workspace to n queries. */
gboolean ct_cu_reserve_decode (CtCuContext *ctx, int n, GError **error);

/* ---- the forward passes (encoder.c, decoder.c) ------------------------- */

/* The backend's two compute calls (backend.h).  Tiles are encoded one
 * after another (each converted to model space on the host first) and
 * sequences decoded one after another, all over the bound planes. */
gboolean ct_cu_encode_tiles (void *ctx, const CtTileSource *src, int n_tiles,
    int n_frames, float *z, CtEncodeTrace *trace, GError **error);
gboolean ct_cu_bind_planes (void *ctx, const float *z, int n_tiles, GError **error);
void ct_cu_unbind_planes (void *ctx);
gboolean ct_cu_decode_seqs (void *ctx, const int *tiles, const float *coords,
    int n_seq, int seq, float *out, float *embedding, GError **error);

G_END_DECLS

#endif
