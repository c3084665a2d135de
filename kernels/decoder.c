/* decoder.c - the coordinate decoder (spec section 5) on the GPU, mirroring
 * src/cpu/decoder.c: triplane samples, patch + positional embedding, Ld
 * pre-norm blocks over the whole sequence (flash attention), final
 * LayerNorm, projector.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-backend.h"

#include <string.h>

static gboolean
decode (CtCuContext *ctx, const float *z, const float *coords, int n,
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
  gsize zbytes = ct_config_token_floats (c) * sizeof (float);
  memcpy (hc, coords, (gsize) n * 3 * sizeof (float));
  memcpy (ctx->host_z, z, zbytes);
  CT_CU_TRY (cudaMemcpyAsync (ctx->coords, hc, (gsize) n * 3 * sizeof (float),
      cudaMemcpyHostToDevice, st));
  CT_CU_TRY (cudaMemcpyAsync (ctx->dz, ctx->host_z, zbytes, cudaMemcpyHostToDevice, st));

  /* 1.-2. plane samples, patch embedding + positional embedding */
  CtPlaneGeometry geom = { c->rxy, c->rt, c->channels, ct_config_nt (c),
      ct_config_nx (c), ct_config_ny (c) };
  CT_CU_TRY (ct_cu_sample_triplane (ctx->dz, ctx->coords, n, &geom, ctx->emb,
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

gboolean
ct_cu_decode (void *vctx, const float *z, const float *coords, int n,
    float *out, float *embedding, GError **error)
{
  CtCuContext *ctx = vctx;
  if (decode (ctx, z, coords, n, out, embedding, error))
    return TRUE;
  /* drain what a failed call left in flight (pinned staging, workspace) */
  cudaStreamSynchronize (ctx->stream);
  return FALSE;
}
