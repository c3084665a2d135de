/* cpu/encoder.c - the triplane encoder (spec section 4) on the CPU.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/cpu-backend.h"

#include <string.h>

/* video (T, H, W, 3) -> patches (Nv, 3*et*ep*ep) flattened (ch, dt, dx, dy),
 * token order a-major, then b, then c (spec 4.1). */
static void
gather_video_patches (const CtConfig *c, const float *video, float *patches)
{
  int et = c->enc_pt, ep = c->enc_pxy;
  int na = c->T / et, nb = c->H / ep, nc = c->W / ep;
  int in = 3 * et * ep * ep;
  #pragma omp parallel for collapse(2)
  for (int a = 0; a < na; a++)
    for (int b = 0; b < nb; b++)
      for (int cc = 0; cc < nc; cc++) {
        float *dst = patches + (gsize) ((a * nb + b) * nc + cc) * in;
        for (int ch = 0; ch < 3; ch++)
          for (int dt = 0; dt < et; dt++)
            for (int dx = 0; dx < ep; dx++) {
              const float *src = video + (((gsize) (a * et + dt) * c->H + b * ep + dx)
                  * c->W + cc * ep) * 3 + ch;
              float *d = dst + ((ch * et + dt) * ep + dx) * ep;
              for (int dy = 0; dy < ep; dy++)
                d[dy] = src[dy * 3];
            }
      }
}

/* Cross block (spec 4.6): q (Nq, D) attends to memory (Nv, D). */
static void
cross_block (CtCpuContext *ctx, const CtCrossBlock *b, float *q, int Nq,
    const float *memory, int Nv, const float *key_bias)
{
  const CtConfig *c = ctx->config;
  int D = c->enc_dim, H = c->enc_heads, hd = D / H;
  float *ln = ctx->enc.q_ln, *qp = ctx->enc.q_proj, *att = ctx->enc.q_att;
  float *kv = ctx->enc.kv;    /* (Nv, 2D) */
  float *hidden = ctx->enc.q_hidden;

  /* cross attention: Q from LN1(q), K and V from memory (not normalised) */
  ct_cpu_layernorm (&b->norm1, q, Nq, D, ln);
  CtLinear wq = { b->cross_in.w, NULL, D, D };
  CtLinear wkv = { b->cross_in.w + (gsize) D * D, NULL, 2 * D, D };
  ct_cpu_linear (&wq, ln, Nq, qp, FALSE);
  ct_cpu_linear (&wkv, memory, Nv, kv, FALSE);
  ct_cpu_attention (qp, D, kv, 2 * D, kv + D, 2 * D, att, D, Nq, Nv, H, hd, key_bias);
  ct_cpu_linear (&b->cross_out, att, Nq, q, TRUE);

  /* self attention over the queries */
  ct_cpu_layernorm (&b->norm2, q, Nq, D, ln);
  ct_cpu_linear (&b->self_in, ln, Nq, qp /* (Nq, 3D) */, FALSE);
  ct_cpu_attention (qp, 3 * D, qp + D, 3 * D, qp + 2 * D, 3 * D, att, D, Nq, Nq, H, hd, NULL);
  ct_cpu_linear (&b->self_out, att, Nq, q, TRUE);

  /* MLP */
  ct_cpu_layernorm (&b->norm3, q, Nq, D, ln);
  ct_cpu_linear (&b->fc1, ln, Nq, hidden, FALSE);
  ct_cpu_gelu (hidden, (gsize) Nq * 4 * D);
  ct_cpu_linear (&b->fc2, hidden, Nq, q, TRUE);
}

/* Projection and unpatchify (spec 4.8) into z = xy | yt | xt. */
static void
unpatchify (const CtConfig *c, const CtWeights *w, const float *q, float *z,
    float *tmp)
{
  int C = c->channels, D = c->enc_dim, row = 0;
  float *plane = z;
  for (int g = 0; g < 3; g++) {
    int P1 = g == 0 ? c->qxy : c->qt, P2 = c->qxy;
    int rows = g == 0 ? c->rxy : c->rt, cols = c->rxy;
    int gr = rows / P1, gc = cols / P2;
    ct_cpu_linear (&w->projector[g], q + (gsize) row * D, gr * gc, tmp, FALSE);
    for (int gi = 0; gi < gr; gi++)
      for (int hi = 0; hi < gc; hi++) {
        const float *t = tmp + (gsize) (gi * gc + hi) * P1 * P2 * C;
        for (int i = 0; i < P1; i++)
          for (int j = 0; j < P2; j++)
            memcpy (plane + ((gsize) (gi * P1 + i) * cols + hi * P2 + j) * C,
                t + (i * P2 + j) * C, C * sizeof (float));
      }
    row += gr * gc;
    plane += (gsize) rows * cols * C;
  }
}

gboolean
ct_cpu_encode (void *vctx, const float *video, int n_frames, float *z,
    CtEncodeTrace *trace, GError **error)
{
  CtCpuContext *ctx = vctx;
  const CtConfig *c = ctx->config;
  const CtWeights *w = ctx->w;
  int D = c->enc_dim, Nv = ct_config_n_video_tokens (c), Nq = ct_config_n_query_tokens (c);
  int na = c->T / c->enc_pt, per_a = Nv / na;
  CtCpuEncodeBuffers *e = &ctx->enc;

  if (n_frames < 0 || n_frames > c->T) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT, "n_frames %d outside 0..%d", n_frames, c->T);
    return FALSE;
  }
  /* 1. patch embedding into rows 1.. of h (row 0 is the cls token) */
  gather_video_patches (c, video, e->patches);
  float *tokens = e->h + D;
  ct_cpu_linear (&w->enc_patch, e->patches, Nv, tokens, FALSE);
  /* 2. memory mask: +1.0 for tokens of time slabs past the real frames */
  int real_a = n_frames / c->enc_pt;
  for (int n = 0; n < Nv; n++)
    e->key_bias[n] = (n / per_a) >= real_a ? 1.0f : 0.0f;
  if (trace && trace->memory_mask)
    memcpy (trace->memory_mask, e->key_bias, Nv * sizeof (float));
  /* 3. ViT over cls + tokens (unmasked) */
  for (int n = 0; n < Nv; n++) {
    float *r = tokens + (gsize) n * D;
    const float *p = w->pos_emb + (gsize) n * D;
    for (int j = 0; j < D; j++)
      r[j] += p[j];
  }
  memcpy (e->h, w->cls_token, D * sizeof (float));
  for (int i = 0; i < c->enc_vit_layers; i++)
    ct_cpu_vit_block (&w->vit[i], e->h, Nv + 1, Nv + 1, D, c->enc_heads, e->scratch);
  ct_cpu_layernorm (&w->vit_norm, tokens, Nv, D, e->memory);
  if (trace && trace->vit_out)
    memcpy (trace->vit_out, e->memory, (gsize) Nv * D * sizeof (float));
  /* 4. memory = feats + cross_pos_emb */
  for (gsize i = 0; i < (gsize) Nv * D; i++)
    e->memory[i] += w->cross_pos_emb[i];
  /* 5.-7. query tokens through the cross blocks, final LayerNorm */
  memcpy (e->q, w->query_tokens, (gsize) Nq * D * sizeof (float));
  for (int j = 0; j < c->enc_cross_layers; j++)
    cross_block (ctx, &w->cross[j], e->q, Nq, e->memory, Nv, e->key_bias);
  ct_cpu_layernorm (&w->cross_norm, e->q, Nq, D, e->q_ln);
  /* 8. projection and unpatchify */
  unpatchify (c, w, e->q_ln, z, e->proj_tmp);
  return TRUE;
}
