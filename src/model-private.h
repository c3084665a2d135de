/* model-private.h - the model's weights as the backends see them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every tensor is float32, contiguous, in the official PyTorch layout
 * (Linear weights are (out, in): y = x W^T + b).  Conv weights are viewed as
 * Linear weights over their flattened input patch:
 *   encoder patch embed (De, 3, et, ep, ep) -> (De, 3*et*ep*ep), input patch
 *   flattened as (ch, dt, dx, dy);  plane patch embeds (De, C, P1, P2) ->
 *   (De, C*P1*P2), input flattened as (c, i, j).
 */
#ifndef CT_MODEL_PRIVATE_H
#define CT_MODEL_PRIVATE_H

#include "coordtok.h"

G_BEGIN_DECLS

typedef struct {
  const float *w;   /* (out, in) */
  const float *b;   /* (out) or NULL */
  int out, in;
} CtLinear;

typedef struct {
  const float *w, *b; /* (dim) */
  float eps;
} CtNorm;

/* Pre-norm ViT block: h += proj(attn(qkv(LN1 h))); h += fc2(gelu(fc1(LN2 h))) */
typedef struct {
  CtNorm norm1, norm2;
  CtLinear qkv, proj, fc1, fc2;
} CtVitBlock;

/* Encoder cross block (spec 4.6). in-proj weights (3De, De), no biases. */
typedef struct {
  CtNorm norm1, norm2, norm3;
  CtLinear cross_in, cross_out, self_in, self_out, fc1, fc2;
} CtCrossBlock;

typedef struct {
  /* encoder */
  CtLinear enc_patch;          /* (De, 3*et*ep*ep) */
  const float *cls_token;      /* (De) */
  const float *pos_emb;        /* (Nv, De) */
  CtVitBlock *vit;             /* [Lv] */
  CtNorm vit_norm;
  const float *cross_pos_emb;  /* (Nv, De) */
  const float *weight_tokens[3]; /* xy (Rxy,Rxy,C), yt (Rt,Rxy,C), xt (Rt,Rxy,C) */
  CtLinear plane_patch[3];     /* (De, C*P1*P2) */
  CtCrossBlock *cross;         /* [Lx] */
  CtNorm cross_norm;
  CtLinear projector[3];       /* (P1*P2*C, De) */
  float *query_tokens;         /* (Nq, De): plane patch embeds, computed at load */
  /* decoder */
  CtLinear dec_patch_embed;    /* (Dd, 3C) */
  const float *dec_pos_embed;  /* (NT, NX, NY, Dd) */
  CtVitBlock *dec;             /* [Ld] */
  CtNorm dec_norm;
  CtLinear dec_projector;      /* (3*pt*p*p, Dd) */
} CtWeights;

const CtWeights *ct_model_weights (const CtModel *m);

/* A backend runs the network over a model's weights.  The CPU backend is
 * built into libcoordtok; the CUDA backend is a module loaded at run time
 * (libcoordtok-cuda.so, symbol ct_cuda_backend_ops) so that the library
 * loads on machines without CUDA. */
typedef struct {
  const char *name;
  /* Returns FALSE (with error) when no usable device exists. */
  gboolean (*probe) (GError **error);
  /* w: the model's weights (ct_model_weights is internal to libcoordtok,
   * which a module cannot call). */
  void *(*create) (CtModel *m, const CtWeights *w, CtPrecision precision,
      GError **error);
  void (*destroy) (void *ctx);
  gboolean (*encode) (void *ctx, const float *video, int n_frames, float *z,
      CtEncodeTrace *trace, GError **error);
  gboolean (*decode) (void *ctx, const float *z, const float *coords, int n,
      float *out, float *embedding, GError **error);
  const char *(*device_name) (void *ctx);
  /* Optional: n_seq independent sequences of seq queries in one call
   * (coords/out stacked); NULL: the session calls decode per sequence. */
  gboolean (*decode_seqs) (void *ctx, const float *z, const float *coords,
      int n_seq, int seq, float *out, float *embedding, GError **error);
  /* Optional: host threads per call (0: automatic); NULL: not applicable. */
  void (*set_threads) (void *ctx, int n);
} CtBackendOps;

#define CT_CUDA_BACKEND_SYMBOL "ct_cuda_backend_ops"

extern const CtBackendOps ct_cpu_backend_ops;

G_END_DECLS

#endif
