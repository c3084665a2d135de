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
/* The memory the weights occupy. */
void ct_model_weights_range (const CtModel *m, const void **base, gsize *bytes);
/* What a backend keeps for a model (CPU: its packed weight copies), freed
 * with `destroy` when the model is, before its weights.  Set once per key:
 * FALSE (data destroyed at once) when the key is set already. */
gboolean ct_model_set_backend_data (CtModel *m, const char *key, gpointer data,
    GDestroyNotify destroy);

G_END_DECLS

#endif
