/* decoder.c - the coordinate decoder (spec section 5) on the GPU, mirroring
 * src/cpu/decoder.c: triplane samples, patch + positional embedding, Ld
 * pre-norm blocks over the whole sequence (flash attention), final
 * LayerNorm, projector.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-backend.h"

#include <string.h>

/* One sequence over planes already on the device (dz). */
static gboolean
decode (CtCuContext *ctx, const float *dz, const float *coords, int n,
    float *out, float *embedding, GError **error)
{
  const CtConfig *c = ctx->config;
  const CtCuWeights *w = ctx->w;
  cudaStream_t st = ctx->stream;
  int D = c->dec_dim, C3 = 3 * c->channels, pv = ct_config_patch_values (c);

  if (n < 1) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT, "decode: n = %d", n);
    return FALSE;
  }
  CT_CU_TRY (cudaSetDevice (ctx->device));
  if (!ct_cu_reserve_decode (ctx, n, error))
    return FALSE;

  /* pinned staging: coords (n, 3) | out (n, pv) | emb (n, 3C) */
  float *hc = ctx->host_dec, *ho = hc + (gsize) n * 3, *he = ho + (gsize) n * pv;
  memcpy (hc, coords, (gsize) n * 3 * sizeof (float));
  CT_CU_TRY (cudaMemcpyAsync (ctx->coords, hc, (gsize) n * 3 * sizeof (float),
      cudaMemcpyHostToDevice, st));

  /* 1.-2. plane samples, patch embedding + positional embedding */
  CtPlaneGeometry geom = { c->rxy, c->rt, c->channels, ct_config_nt (c),
      ct_config_nx (c), ct_config_ny (c) };
  CT_CU_TRY (ct_cu_sample_triplane (dz, ctx->coords, n, &geom, ctx->emb,
      ctx->pos_row, st));
  CT_CU_TRY (ct_cu_query_embed (ctx->emb, ctx->pos_row, w->dec_patch_wt, w->dec_patch_b,
      w->dec_pos_embed, n, C3, D, ctx->x, st));

  /* 3. blocks over the whole sequence, final LayerNorm, projector */
  const float *pending = NULL;
  for (int k = 0; k < c->dec_layers; k++)
    if (!ct_cu_vit_block (ctx, &w->dec[k], ctx->x, n, D, c->dec_heads, &pending,
            &ctx->dec_scratch, error))
      return FALSE;
  CT_CU_TRY (ct_cu_layernorm (ctx->x, D, pending, w->dec_norm.w, w->dec_norm.b,
      w->dec_norm.eps, ctx->dec_scratch.ln, D, ctx->bf16, n, D, st));
  if (!ct_cu_gemm (ctx, &w->dec_projector, ctx->dec_scratch.ln, D, n, ctx->out, pv, 0.0f, error))
    return FALSE;
  if (w->dec_projector.b)
    CT_CU_TRY (ct_cu_add_bias_pos (ctx->out, pv, w->dec_projector.b, NULL, n, pv, st));

  CT_CU_TRY (cudaMemcpyAsync (ho, ctx->out, (gsize) n * pv * sizeof (float),
      cudaMemcpyDeviceToHost, st));
  if (embedding)
    CT_CU_TRY (cudaMemcpyAsync (he, ctx->emb, (gsize) n * C3 * sizeof (float),
        cudaMemcpyDeviceToHost, st));
  CT_CU_TRY (cudaStreamSynchronize (st));
  memcpy (out, ho, (gsize) n * pv * sizeof (float));
  if (embedding)
    memcpy (embedding, he, (gsize) n * C3 * sizeof (float));
  return TRUE;
}

/* The record's planes to the device once, for every chunk of its window. */
gboolean
ct_cu_bind_planes (void *vctx, const float *z, int n_tiles, GError **error)
{
  CtCuContext *ctx = vctx;
  gsize floats = (gsize) n_tiles * ct_config_token_floats (ctx->config);
  CT_CU_TRY (cudaSetDevice (ctx->device));
  if (floats > ctx->bound_capacity) {
    /* kernels queued on the old planes must be finished before freeing */
    CT_CU_TRY (cudaStreamSynchronize (ctx->stream));
    if (ctx->bound_z)
      cudaFree (ctx->bound_z);
    ctx->bound_z = NULL;
    ctx->bound_capacity = 0;
    if (!ct_cu_check (cudaMalloc ((void **) &ctx->bound_z, floats * sizeof (float)),
            "cudaMalloc (planes)", error)) {
      g_prefix_error (error, "planes of %d tiles: ", n_tiles);
      ctx->bound_z = NULL;
      return FALSE;
    }
    ctx->bound_capacity = floats;
  }
  /* ordered before the decodes on the compute stream */
  CT_CU_TRY (cudaMemcpyAsync (ctx->bound_z, z, floats * sizeof (float),
      cudaMemcpyHostToDevice, ctx->stream));
  CT_CU_TRY (cudaStreamSynchronize (ctx->stream));
  ctx->bound_tiles = n_tiles;
  return TRUE;
}

void
ct_cu_unbind_planes (void *vctx)
{
  CtCuContext *ctx = vctx;
  ctx->bound_tiles = 0;     /* the buffer stays, for the next record */
}

gboolean
ct_cu_decode_seqs (void *vctx, const int *tiles, const float *coords, int n_seq,
    int seq, float *out, float *embedding, GError **error)
{
  CtCuContext *ctx = vctx;
  const CtConfig *c = ctx->config;
  gsize tf = ct_config_token_floats (c), pv = ct_config_patch_values (c);
  for (int i = 0; i < n_seq; i++) {
    if (tiles[i] < 0 || tiles[i] >= ctx->bound_tiles) {
      g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
          "decode: tile %d of %d bound", tiles[i], ctx->bound_tiles);
      return FALSE;
    }
    gsize q0 = (gsize) i * seq;
    if (!decode (ctx, ctx->bound_z + (gsize) tiles[i] * tf, coords + 3 * q0, seq,
            out + q0 * pv, embedding ? embedding + q0 * 3 * c->channels : NULL,
            error)) {
      /* drain what a failed call left in flight (pinned staging, workspace) */
      cudaStreamSynchronize (ctx->stream);
      return FALSE;
    }
  }
  return TRUE;
}
