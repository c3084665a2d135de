/* encoder.c - the triplane encoder (spec section 4) on the GPU, a list of
 * layer calls mirroring src/cpu/encoder.c.
 *
 * Upload pipeline: the window is cut into chunks of time slabs; each chunk
 * is copied into pinned staging by the host and sent on the copy stream,
 * while the compute stream gathers and patch-embeds the chunks that have
 * arrived (event per chunk).  Host copy, PCIe transfer and the patch GEMMs
 * thereby overlap within a window.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-backend.h"

#include <math.h>
#include <string.h>

/* Cross block (spec 4.6) over ctx->q (Nq, D), memory in ctx->memory_in. */
static gboolean
cross_block (CtCuContext *ctx, const CtCuCrossBlock *b, const float **pending,
    GError **error)
{
  const CtConfig *c = ctx->config;
  int D = c->enc_dim, H = c->enc_heads, hd = D / H;
  int Nq = ct_config_n_query_tokens (c), Nv = ct_config_n_video_tokens (c);
  cudaStream_t st = ctx->stream;
  int bf = ctx->bf16;
  CtCuBlockScratch *sc = &ctx->q_scratch;
  float scale = 1.0f / sqrtf ((float) hd);

  /* cross attention: Q from LN1(q), K and V from memory (not normalised);
   * in_proj has no bias (spec 3), as the CPU path assumes */
  CT_CU_TRY (ct_cu_layernorm (ctx->q, D, *pending, b->norm1.w, b->norm1.b, b->norm1.eps,
      sc->ln, D, bf, Nq, D, st));
  CtCuLinear wq = ct_cu_linear_rows (&b->cross_in, 0, D);
  CtCuLinear wkv = ct_cu_linear_rows (&b->cross_in, D, 2 * D);
  if (!ct_cu_gemm (ctx, &wq, sc->ln, D, Nq, sc->qkv, D, 0.0f, error) ||
      !ct_cu_gemm (ctx, &wkv, ctx->memory_in, D, Nv, ctx->kv, 2 * D, 0.0f, error))
    return FALSE;
  CtCuAttention ca = {
    .q = sc->qkv, .k = ctx->kv, .v = ctx->kv + D, .ldq = D, .ldk = 2 * D, .ldv = 2 * D,
    .key_bias = ctx->key_bias, .out = sc->att, .ldo = D, .out_bf16 = bf,
    .Sq = Nq, .Sk = Nv, .heads = H, .hd = hd, .scale = scale,
  };
  CT_CU_TRY (ct_cu_attention (&ca, bf, st));
  if (!ct_cu_gemm (ctx, &b->cross_out, sc->att, D, Nq, ctx->q, D, 1.0f, error))
    return FALSE;

  /* self attention over the queries */
  CT_CU_TRY (ct_cu_layernorm (ctx->q, D, b->cross_out.b, b->norm2.w, b->norm2.b,
      b->norm2.eps, sc->ln, D, bf, Nq, D, st));
  if (!ct_cu_gemm (ctx, &b->self_in, sc->ln, D, Nq, sc->qkv, 3 * D, 0.0f, error))
    return FALSE;
  const float *sb = b->self_in.b;
  CtCuAttention sa = {
    .q = sc->qkv, .k = sc->qkv + D, .v = sc->qkv + 2 * D,
    .ldq = 3 * D, .ldk = 3 * D, .ldv = 3 * D,
    .bq = sb, .bk = sb ? sb + D : NULL, .bv = sb ? sb + 2 * D : NULL,
    .out = sc->att, .ldo = D, .out_bf16 = bf,
    .Sq = Nq, .Sk = Nq, .heads = H, .hd = hd, .scale = scale,
  };
  CT_CU_TRY (ct_cu_attention (&sa, bf, st));
  if (!ct_cu_gemm (ctx, &b->self_out, sc->att, D, Nq, ctx->q, D, 1.0f, error))
    return FALSE;

  /* MLP */
  CT_CU_TRY (ct_cu_layernorm (ctx->q, D, b->self_out.b, b->norm3.w, b->norm3.b,
      b->norm3.eps, sc->ln, D, bf, Nq, D, st));
  if (!ct_cu_gemm (ctx, &b->fc1, sc->ln, D, Nq, sc->hidden, 4 * D, 0.0f, error))
    return FALSE;
  CT_CU_TRY (ct_cu_bias_gelu (sc->hidden, b->fc1.b, sc->act, bf, Nq, 4 * D, st));
  if (!ct_cu_gemm (ctx, &b->fc2, sc->act, 4 * D, Nq, ctx->q, D, 1.0f, error))
    return FALSE;
  *pending = b->fc2.b;
  return TRUE;
}

/* Projection and unpatchify (spec 4.8) of the final-normed queries. */
static gboolean
unpatchify (CtCuContext *ctx, const void *q_ln, GError **error)
{
  const CtConfig *c = ctx->config;
  int C = c->channels, D = c->enc_dim, row = 0;
  gsize in = ct_cu_in_size (ctx);
  float *plane = ctx->z;
  for (int g = 0; g < 3; g++) {
    CtQueryGrid q = ct_geom_query_grid (c->rxy, c->rt, c->qxy, c->qt, g);
    int P1 = q.P1, P2 = q.P2, rows = q.rows, cols = q.cols, gr = q.gr, gc = q.gc;
    int N = P1 * P2 * C;
    const CtCuLinear *p = &ctx->w->projector[g];
    if (!ct_cu_gemm (ctx, p, (const char *) q_ln + (gsize) row * D * in, D, gr * gc,
            ctx->proj_tmp, N, 0.0f, error))
      return FALSE;
    if (p->b)
      CT_CU_TRY (ct_cu_add_bias_pos (ctx->proj_tmp, N, p->b, NULL, gr * gc, N, ctx->stream));
    CT_CU_TRY (ct_cu_unpatchify (ctx->proj_tmp, gr, gc, P1, P2, C, plane, ctx->stream));
    row += gr * gc;
    plane += (gsize) rows * cols * C;
  }
  return TRUE;
}

static gboolean
encode (CtCuContext *ctx, const float *video, int n_frames, float *z,
    CtEncodeTrace *trace, GError **error)
{
  const CtConfig *c = ctx->config;
  const CtCuWeights *w = ctx->w;
  cudaStream_t st = ctx->stream;
  int bf = ctx->bf16;
  int D = c->enc_dim, Nv = ct_config_n_video_tokens (c), Nq = ct_config_n_query_tokens (c);
  int et = c->enc_pt, na = c->T / et, per_a = Nv / na;
  gsize pin = (gsize) 3 * et * c->enc_pxy * c->enc_pxy, in = ct_cu_in_size (ctx);

  if (n_frames < 0 || n_frames > c->T) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT, "n_frames %d outside 0..%d", n_frames, c->T);
    return FALSE;
  }
  CT_CU_TRY (cudaSetDevice (ctx->device));

  /* 1. upload in chunks of time slabs; patch embedding as they arrive,
   * into rows 1.. of h (row 0 is the cls token) */
  int spc = (na + CT_CU_MAX_CHUNKS - 1) / CT_CU_MAX_CHUNKS;   /* slabs per chunk */
  gsize slab = (gsize) et * c->H * c->W * 3;
  for (int k = 0, a0 = 0; a0 < na; k++, a0 += spc) {
    int a1 = MIN (na, a0 + spc);
    gsize off = a0 * slab, bytes = (a1 - a0) * slab * sizeof (float);
    if (video != ctx->host_video)      /* else gathered there already */
      memcpy (ctx->host_video + off, video + off, bytes);
    CT_CU_TRY (cudaMemcpyAsync (ctx->video + off, ctx->host_video + off, bytes,
        cudaMemcpyHostToDevice, ctx->copy));
    CT_CU_TRY (cudaEventRecord (ctx->chunk_ready[k], ctx->copy));
    CT_CU_TRY (cudaStreamWaitEvent (st, ctx->chunk_ready[k], 0));
    CT_CU_TRY (ct_cu_gather_video_patches (ctx->video, c->T, c->H, c->W, et, c->enc_pxy,
        a0, a1, ctx->patches, bf, st));
    gsize r0 = (gsize) a0 * per_a;
    if (!ct_cu_gemm (ctx, &w->enc_patch, (const char *) ctx->patches + r0 * pin * in, pin,
            (a1 - a0) * per_a, ctx->h + (1 + r0) * D, D, 0.0f, error))
      return FALSE;
  }
  CT_CU_TRY (ct_cu_add_bias_pos (ctx->h + D, D, w->enc_patch.b, w->pos_emb, Nv, D, st));
  CT_CU_TRY (cudaMemcpyAsync (ctx->h, w->cls_token, D * sizeof (float),
      cudaMemcpyDeviceToDevice, st));
  /* 2. memory mask: +1.0 for tokens of time slabs past the real frames */
  CT_CU_TRY (ct_cu_key_bias (ctx->key_bias, Nv, per_a, n_frames / et, st));

  /* 3. ViT over cls + tokens (unmasked), final LayerNorm of the tokens */
  const float *pending = NULL;
  for (int i = 0; i < c->enc_vit_layers; i++)
    if (!ct_cu_vit_block (ctx, &w->vit[i], ctx->h, Nv + 1, D, c->enc_heads, &pending,
            &ctx->vit_scratch, error))
      return FALSE;
  CT_CU_TRY (ct_cu_layernorm (ctx->h + D, D, pending, w->vit_norm.w, w->vit_norm.b,
      w->vit_norm.eps, ctx->memory, D, 0, Nv, D, st));
  if (trace && trace->vit_out)
    CT_CU_TRY (cudaMemcpyAsync (trace->vit_out, ctx->memory, (gsize) Nv * D * sizeof (float),
        cudaMemcpyDeviceToHost, st));
  if (trace && trace->memory_mask)
    CT_CU_TRY (cudaMemcpyAsync (trace->memory_mask, ctx->key_bias, Nv * sizeof (float),
        cudaMemcpyDeviceToHost, st));

  /* 4. memory = feats + cross_pos_emb (and its bf16 copy for the GEMMs) */
  CT_CU_TRY (ct_cu_add (ctx->memory, bf ? ctx->memory_in : NULL, ctx->memory,
      w->cross_pos_emb, (gsize) Nv * D, st));

  /* 5.-7. query tokens through the cross blocks, final LayerNorm */
  CT_CU_TRY (cudaMemcpyAsync (ctx->q, w->query_tokens, (gsize) Nq * D * sizeof (float),
      cudaMemcpyDeviceToDevice, st));
  pending = NULL;
  for (int j = 0; j < c->enc_cross_layers; j++)
    if (!cross_block (ctx, &w->cross[j], &pending, error))
      return FALSE;
  CT_CU_TRY (ct_cu_layernorm (ctx->q, D, pending, w->cross_norm.w, w->cross_norm.b,
      w->cross_norm.eps, ctx->q_scratch.ln, D, bf, Nq, D, st));

  /* 8. projection and unpatchify, download */
  if (!unpatchify (ctx, ctx->q_scratch.ln, error))
    return FALSE;
  gsize zbytes = ct_config_token_floats (c) * sizeof (float);
  CT_CU_TRY (cudaMemcpyAsync (ctx->host_z, ctx->z, zbytes, cudaMemcpyDeviceToHost, st));
  CT_CU_TRY (cudaStreamSynchronize (st));
  memcpy (z, ctx->host_z, zbytes);
  return TRUE;
}

/* Tile after tile: each window converted to model space on the host (the
 * pinned staging), then encoded.  A failed call may leave uploads from the
 * pinned staging and kernels on the workspace in flight: both streams are
 * drained (errors ignored, the first one is already reported) so that the
 * next call may reuse them. */
gboolean
ct_cu_encode_tiles (void *vctx, const CtTileSource *src, int n_tiles,
    int n_frames, float *z, CtEncodeTrace *trace, GError **error)
{
  CtCuContext *ctx = vctx;
  const CtConfig *c = ctx->config;
  gsize tf = ct_config_token_floats (c);
  for (int i = 0; i < n_tiles; i++) {
    const float *video = ct_tile_source_window (c, src, i, ctx->host_video);
    if (!encode (ctx, video, n_frames, z + (gsize) i * tf, i == 0 ? trace : NULL,
            error)) {
      cudaStreamSynchronize (ctx->copy);
      cudaStreamSynchronize (ctx->stream);
      return FALSE;
    }
  }
  return TRUE;
}
