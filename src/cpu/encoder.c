/* cpu/encoder.c - the triplane encoder (spec section 4) on the CPU.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/cpu-backend.h"
#include "config-private.h"

#include <string.h>

/* video (T, H, W, 3) -> patches (Nv, 3*et*ep*ep) in the layout of
 * src/geometry.h (spec 4.1), which the CUDA gather shares. */
static void
gather_video_patches (const CtConfig *c, const float *video, float *patches)
{
  CtPatchGeometry g = ct_config_patch_geometry (c);
  int et = g.et, ep = g.ep, in = ct_geom_patch_values (&g);
  int rows = ct_config_n_video_tokens (c);
  #pragma omp parallel for
  for (int row = 0; row < rows; row++) {
    float *dst = patches + (gsize) row * in;
    for (int ch = 0; ch < 3; ch++)
      for (int dt = 0; dt < et; dt++)
        for (int dx = 0; dx < ep; dx++) {
          const float *src = video + ct_geom_patch_run (&g, row, ch, dt, dx);
          float *d = dst + ((ch * et + dt) * ep + dx) * ep;
          for (int dy = 0; dy < ep; dy++)
            d[dy] = src[dy * 3];
        }
  }
}

/* Cross block (spec 4.6) over a batch: each tile's Nq queries attend to its
 * own Nv memory rows; the linear layers run over the rows of every tile. */
static void
cross_block (CtCpuContext *ctx, const CtCrossBlock *b, int B, float *q, int Nq,
    const float *memory, int Nv, const float *key_bias)
{
  const CtConfig *c = ctx->config;
  int D = c->enc_dim, H = c->enc_heads, hd = D / H;
  float *ln = ctx->enc.q_ln, *qp = ctx->enc.q_proj, *att = ctx->enc.q_att;
  float *kv = ctx->enc.kv;    /* (B*Nv, 2D) */
  float *hidden = ctx->enc.q_hidden;
  int BNq = B * Nq;

  /* cross attention: Q from LN1(q), K and V from memory (not normalised) */
  ct_cpu_layernorm (&b->norm1, q, BNq, D, ln);
  CtLinear wq = { b->cross_in.w, NULL, D, D };
  CtLinear wkv = { b->cross_in.w + (gsize) D * D, NULL, 2 * D, D };
  ct_cpu_linear (&wq, ln, BNq, qp, FALSE);
  ct_cpu_linear (&wkv, memory, B * Nv, kv, FALSE);
  for (int t = 0; t < B; t++) {
    const float *kvt = kv + (gsize) t * Nv * 2 * D;
    ct_cpu_attention (qp + (gsize) t * Nq * D, D, kvt, 2 * D, kvt + D, 2 * D,
        att + (gsize) t * Nq * D, D, Nq, Nv, H, hd, key_bias);
  }
  ct_cpu_linear (&b->cross_out, att, BNq, q, TRUE);

  /* self attention over each tile's queries */
  ct_cpu_layernorm (&b->norm2, q, BNq, D, ln);
  ct_cpu_linear (&b->self_in, ln, BNq, qp /* (B*Nq, 3D) */, FALSE);
  for (int t = 0; t < B; t++) {
    const float *qt = qp + (gsize) t * Nq * 3 * D;
    ct_cpu_attention (qt, 3 * D, qt + D, 3 * D, qt + 2 * D, 3 * D,
        att + (gsize) t * Nq * D, D, Nq, Nq, H, hd, NULL);
  }
  ct_cpu_linear (&b->self_out, att, BNq, q, TRUE);

  /* MLP */
  ct_cpu_layernorm (&b->norm3, q, BNq, D, ln);
  ct_cpu_linear (&b->fc1, ln, BNq, hidden, FALSE);
  ct_cpu_gelu (hidden, (gsize) BNq * 4 * D);
  ct_cpu_linear (&b->fc2, hidden, BNq, q, TRUE);
}

/* Projection and unpatchify (spec 4.8) of one tile into z = xy | yt | xt. */
static void
unpatchify (const CtConfig *c, const CtWeights *w, const float *q, float *z,
    float *tmp)
{
  int C = c->channels, D = c->enc_dim, row = 0;
  float *plane = z;
  for (int g = 0; g < 3; g++) {
    CtQueryGrid qg = ct_geom_query_grid (c->rxy, c->rt, c->qxy, c->qt, g);
    int P1 = qg.P1, P2 = qg.P2, rows = qg.rows, cols = qg.cols, gr = qg.gr, gc = qg.gc;
    ct_cpu_linear (&w->projector[g], q + (gsize) row * D, gr * gc, tmp, FALSE);
    for (int x = 0; x < rows; x++)
      for (int y = 0; y < cols; y++)
        memcpy (plane + ((gsize) x * cols + y) * C,
            tmp + ct_geom_unpatchify_src (gc, P1, P2, C, x, y), C * sizeof (float));
    row += gr * gc;
    plane += (gsize) rows * cols * C;
  }
}

/* One batch of B tiles, all through every layer together. */
static void
encode_batch (CtCpuContext *ctx, const CtTileSource *src, int n_frames, int first,
    int B, float *z, CtEncodeTrace *trace)
{
  const CtConfig *c = ctx->config;
  const CtWeights *w = ctx->w;
  int D = c->enc_dim, Nv = ct_config_n_video_tokens (c), Nq = ct_config_n_query_tokens (c);
  CtCpuEncodeBuffers *e = &ctx->enc;
  gsize hrows = (gsize) Nv + 1;

  /* 1. patch embedding into rows 1.. of each tile's h (row 0: cls), and
   * the positional embedding; one tile's pixels in memory at a time */
  for (int t = 0; t < B; t++) {
    const float *video = ct_tile_source_window (c, src, first + t, e->video);
    float *h = e->h + t * hrows * D, *tokens = h + D;
    gather_video_patches (c, video, e->patches);
    ct_cpu_linear (&w->enc_patch, e->patches, Nv, tokens, FALSE);
    for (int n = 0; n < Nv; n++) {
      float *r = tokens + (gsize) n * D;
      const float *p = w->pos_emb + (gsize) n * D;
      for (int j = 0; j < D; j++)
        r[j] += p[j];
    }
    memcpy (h, w->cls_token, D * sizeof (float));
  }
  /* 3. ViT over cls + tokens (unmasked), sequences of Nv+1 rows per tile */
  for (int i = 0; i < c->enc_vit_layers; i++)
    ct_cpu_vit_block (&w->vit[i], e->h, B * (Nv + 1), Nv + 1, D, c->enc_heads, e->scratch);
  for (int t = 0; t < B; t++)
    ct_cpu_layernorm (&w->vit_norm, e->h + (t * hrows + 1) * D, Nv, D,
        e->memory + (gsize) t * Nv * D);
  if (trace && trace->vit_out)
    memcpy (trace->vit_out, e->memory, (gsize) Nv * D * sizeof (float));
  /* 4. memory = feats + cross_pos_emb */
  for (int t = 0; t < B; t++) {
    float *m = e->memory + (gsize) t * Nv * D;
    for (gsize i = 0; i < (gsize) Nv * D; i++)
      m[i] += w->cross_pos_emb[i];
  }
  /* 5.-7. query tokens through the cross blocks, final LayerNorm */
  for (int t = 0; t < B; t++)
    memcpy (e->q + (gsize) t * Nq * D, w->query_tokens, (gsize) Nq * D * sizeof (float));
  for (int j = 0; j < c->enc_cross_layers; j++)
    cross_block (ctx, &w->cross[j], B, e->q, Nq, e->memory, Nv, e->key_bias);
  ct_cpu_layernorm (&w->cross_norm, e->q, B * Nq, D, e->q_ln);
  /* 8. projection and unpatchify, tile by tile */
  for (int t = 0; t < B; t++)
    unpatchify (c, w, e->q_ln + (gsize) t * Nq * D,
        z + (gsize) (first + t) * ct_config_token_floats (c), e->proj_tmp);
}

/* Floats of each encoder buffer for a batch of B tiles, in the order of
 * the slots in ct_cpu_reserve_encode. */
static void
encode_sizes (const CtConfig *c, gsize B, gsize sizes[13])
{
  gsize D = c->enc_dim, Nv = ct_config_n_video_tokens (c), Nq = ct_config_n_query_tokens (c);
  gsize pin = 3 * c->enc_pt * c->enc_pxy * c->enc_pxy;
  gsize proj = (gsize) MAX (c->qxy, c->qt) * c->qxy * c->channels * Nq;
  gsize video = (gsize) c->T * c->H * c->W * 3;
  gsize v[13] = {
    video, Nv * pin, B * (Nv + 1) * D, ct_cpu_vit_scratch_floats (B * (Nv + 1), D),
    B * Nv * D, Nv, B * Nv * 2 * D, B * Nq * D, B * Nq * D, B * Nq * 3 * D,
    B * Nq * D, B * Nq * 4 * D, proj,
  };
  memcpy (sizes, v, sizeof v);
}

/* Bytes one more tile adds to the workspace: bounds the batch so that a
 * large frame grid does not need gigabytes at once (512 MiB per batch). */
int
ct_cpu_encode_max_batch (const CtConfig *c)
{
  gsize one[13], two[13], per_tile = 0;
  encode_sizes (c, 1, one);
  encode_sizes (c, 2, two);
  for (int i = 0; i < 13; i++)
    per_tile += two[i] - one[i];
  gsize max = (512u << 20) / MAX (per_tile * sizeof (float), 1);
  return (int) CLAMP (max, 1, 256);
}

gboolean
ct_cpu_reserve_encode (CtCpuContext *ctx, int tiles, GError **error)
{
  if (tiles <= ctx->enc.tiles)
    return TRUE;
  gsize sizes[13], total = 0;
  encode_sizes (ctx->config, tiles, sizes);
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    total += (sizes[i] + 15) & ~(gsize) 15;
  float *block = g_try_malloc (total * sizeof (float));
  if (!block) {
    g_set_error (error, CT_ERROR, CT_ERROR_IO,
        "out of memory for an encoder workspace of %d tiles (%" G_GSIZE_FORMAT " MiB)",
        tiles, total * sizeof (float) >> 20);
    return FALSE;
  }
  g_free (ctx->enc_block);
  ctx->enc_block = block;
  float **slots[13] = {
    &ctx->enc.video, &ctx->enc.patches, &ctx->enc.h, &ctx->enc.scratch,
    &ctx->enc.memory, &ctx->enc.key_bias, &ctx->enc.kv, &ctx->enc.q,
    &ctx->enc.q_ln, &ctx->enc.q_proj, &ctx->enc.q_att, &ctx->enc.q_hidden,
    &ctx->enc.proj_tmp,
  };
  float *p = block;
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    *slots[i] = p;
    p += (sizes[i] + 15) & ~(gsize) 15;
  }
  ctx->enc.tiles = tiles;
  return TRUE;
}

gboolean
ct_cpu_encode_tiles (void *vctx, const CtTileSource *src, int n_tiles,
    int n_frames, float *z, CtEncodeTrace *trace, GError **error)
{
  CtCpuContext *ctx = vctx;
  const CtConfig *c = ctx->config;
  int Nv = ct_config_n_video_tokens (c);
  int na = c->T / c->enc_pt, per_a = Nv / na;

  if (n_frames < 0 || n_frames > c->T || n_tiles < 1) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "encode: n_frames %d outside 0..%d or %d tiles", n_frames, c->T, n_tiles);
    return FALSE;
  }
  int B = MIN (n_tiles, ct_cpu_encode_max_batch (c));
  if (!ct_cpu_reserve_encode (ctx, B, error))
    return FALSE;
  /* 2. memory mask: +1.0 for tokens of time slabs past the real frames
   * (the same for every tile: they share their frames) */
  int real_a = n_frames / c->enc_pt;
  for (int n = 0; n < Nv; n++)
    ctx->enc.key_bias[n] = (n / per_a) >= real_a ? 1.0f : 0.0f;
  if (trace && trace->memory_mask)
    memcpy (trace->memory_mask, ctx->enc.key_bias, Nv * sizeof (float));
  for (int first = 0; first < n_tiles; first += B)
    encode_batch (ctx, src, n_frames, first, MIN (B, n_tiles - first), z,
        first == 0 ? trace : NULL);
  return TRUE;
}
