/* cpu/decoder.c - the coordinate decoder (spec section 5) on the CPU.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/cpu-backend.h"
#include "sampling.h"

#include <string.h>

gboolean
ct_cpu_reserve_decode (CtCpuContext *ctx, int n, GError **error)
{
  if (n <= ctx->dec.capacity)
    return TRUE;
  const CtConfig *c = ctx->config;
  g_free (ctx->dec.emb);
  g_free (ctx->dec.x);
  g_free (ctx->dec.scratch);
  ctx->dec.emb = g_try_malloc ((gsize) n * 3 * c->channels * sizeof (float));
  ctx->dec.x = g_try_malloc ((gsize) n * c->dec_dim * sizeof (float));
  ctx->dec.scratch = g_try_malloc (ct_cpu_vit_scratch_floats (n, c->dec_dim) * sizeof (float));
  if (!ctx->dec.emb || !ctx->dec.x || !ctx->dec.scratch) {
    g_free (ctx->dec.emb);
    g_free (ctx->dec.x);
    g_free (ctx->dec.scratch);
    ctx->dec.emb = ctx->dec.x = ctx->dec.scratch = NULL;
    ctx->dec.capacity = 0;
    g_set_error (error, CT_ERROR, CT_ERROR_IO,
        "out of memory for a decoder sequence of %d queries", n);
    return FALSE;
  }
  ctx->dec.capacity = n;
  return TRUE;
}

/* n_seq independent sequences of seq queries, stacked: only attention needs
 * them apart, so the linear layers see n_seq * seq rows at once.  Sequence
 * i samples planes z[i] (the tiles of a frame grid have their own). */
gboolean
ct_cpu_decode_seqs (void *vctx, const float *const *z, const float *coords, int n_seq,
    int seq, float *out, float *embedding, GError **error)
{
  int n = n_seq * seq;
  CtCpuContext *ctx = vctx;
  const CtConfig *c = ctx->config;
  const CtWeights *w = ctx->w;
  int D = c->dec_dim, C3 = 3 * c->channels;

  if (!ct_cpu_reserve_decode (ctx, n, error))
    return FALSE;
  CtCpuDecodeBuffers *d = &ctx->dec;

  /* 1.-2. plane samples, patch embedding, positional embedding */
  for (int i = 0; i < n_seq; i++)
    ct_sample_triplane (c, z[i], coords + (gsize) 3 * i * seq, seq,
        d->emb + (gsize) i * seq * C3);
  if (embedding)
    memcpy (embedding, d->emb, (gsize) n * C3 * sizeof (float));
  ct_cpu_linear (&w->dec_patch_embed, d->emb, n, d->x, FALSE);
  #pragma omp parallel for if (n > 256)
  for (int i = 0; i < n; i++) {
    const float *pe = w->dec_pos_embed + ct_pos_embed_row (c, coords + 3 * i) * D;
    float *r = d->x + (gsize) i * D;
    for (int j = 0; j < D; j++)
      r[j] += pe[j];
  }
  /* 3. blocks over the whole sequence, final LayerNorm, projector */
  for (int k = 0; k < c->dec_layers; k++)
    ct_cpu_vit_block (&w->dec[k], d->x, n, seq, D, c->dec_heads, d->scratch);
  ct_cpu_layernorm (&w->dec_norm, d->x, n, D, d->scratch);
  ct_cpu_linear (&w->dec_projector, d->scratch, n, out, FALSE);
  return TRUE;
}
