/* cpu/backend.c - CPU backend: the ops table, contexts, bound planes (the
 * encoder and decoder size their own workspaces).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/cpu-backend.h"
#include "cpu/blas-core.h"
#include "cpu/linear.h"

#include <string.h>

static gboolean
cpu_probe (int device_index, GError **error)
{
  return TRUE;
}

/* The packed copies of a model's weights (cpu/linear.h) belong to
 * this backend and go when the model does: registered with the model once. */
typedef struct {
  const void *base;
  gsize bytes;
} WeightsRange;

static void
forget_packed (gpointer data)
{
  WeightsRange *r = data;
  ct_cpu_linear_forget (r->base, r->bytes);
  g_free (r);
}

static void
own_packed_weights (CtModel *m)
{
  WeightsRange *r = g_new (WeightsRange, 1);
  ct_model_weights_range (m, &r->base, &r->bytes);
  ct_model_set_backend_data (m, "cpu-packed-weights", r, forget_packed);
}

static void *
cpu_create (CtModel *m, const CtWeights *w, CtPrecision precision,
    int device_index, GError **error)
{
  if (precision != CT_PRECISION_FP32) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "the CPU backend computes in fp32 only (tf32/bf16 are CUDA precisions)");
    return NULL;
  }
  ct_cpu_blas_setup ();      /* before any GEMM: OpenBLAS's kernel choice */
  own_packed_weights (m);
  CtCpuContext *ctx = g_new0 (CtCpuContext, 1);
  const CtConfig *c = ct_model_config (m);
  ctx->model = ct_model_ref (m);
  ctx->config = c;
  ctx->w = w;

  if (!ct_cpu_reserve_encode (ctx, 1, error)) {
    ct_model_unref (ctx->model);
    g_free (ctx);
    return NULL;
  }
  ct_thread_policy_init (&ctx->enc_threads, 0);     /* all cores, fixed */
  ct_thread_policy_init (&ctx->dec_threads, 0);
  return ctx;
}

static void
cpu_destroy (void *vctx)
{
  CtCpuContext *ctx = vctx;
  if (!ctx)
    return;
  g_free (ctx->enc_block);
  g_free (ctx->dec.emb);
  g_free (ctx->dec.x);
  g_free (ctx->dec.scratch);
  g_free (ctx->seq_planes);
  ct_model_unref (ctx->model);
  g_free (ctx);
}

static const char *
cpu_device_name (void *ctx)
{
  return "cpu";
}

static void
cpu_set_threads (void *vctx, int n)
{
  CtCpuContext *ctx = vctx;
  ct_thread_policy_init (&ctx->enc_threads, n);
  ct_thread_policy_init (&ctx->dec_threads, n);
}

/* The backend's calls, each under its thread policy (cpu/threads.h). */
static gboolean
cpu_encode_tiles (void *vctx, const CtTileSource *src, int n_tiles,
    int n_frames, float *z, CtEncodeTrace *trace, GError **error)
{
  CtCpuContext *ctx = vctx;
  gint64 t0 = ct_thread_policy_begin (&ctx->enc_threads);
  gboolean ok = ct_cpu_encode_tiles (ctx, src, n_tiles, n_frames, z, trace, error);
  ct_thread_policy_end (&ctx->enc_threads, t0,
      ok ? n_tiles * ct_config_encode_flops (ctx->config) : 0);
  return ok;
}

/* The planes stay where the caller has them: binding is remembering. */
static gboolean
cpu_bind_planes (void *vctx, const float *z, int n_tiles, GError **error)
{
  CtCpuContext *ctx = vctx;
  ctx->bound = z;
  ctx->bound_tiles = n_tiles;
  return TRUE;
}

static void
cpu_unbind_planes (void *vctx)
{
  CtCpuContext *ctx = vctx;
  ctx->bound = NULL;
  ctx->bound_tiles = 0;
}

static gboolean
cpu_decode_seqs (void *vctx, const int *tiles, const float *coords, int n_seq,
    int seq, float *out, float *embedding, GError **error)
{
  CtCpuContext *ctx = vctx;
  gsize tf = ct_config_token_floats (ctx->config);
  if (n_seq > ctx->seq_capacity) {
    g_free (ctx->seq_planes);
    ctx->seq_planes = g_new (const float *, n_seq);
    ctx->seq_capacity = n_seq;
  }
  for (int i = 0; i < n_seq; i++) {
    if (!ctx->bound || tiles[i] < 0 || tiles[i] >= ctx->bound_tiles) {
      g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
          "decode: tile %d of %d bound", tiles[i], ctx->bound_tiles);
      return FALSE;
    }
    ctx->seq_planes[i] = ctx->bound + (gsize) tiles[i] * tf;
  }
  gint64 t0 = ct_thread_policy_begin (&ctx->dec_threads);
  gboolean ok = ct_cpu_decode_seqs (ctx, ctx->seq_planes, coords, n_seq, seq, out,
      embedding, error);
  ct_thread_policy_end (&ctx->dec_threads, t0,
      ok ? ct_config_decode_flops (ctx->config, (gint64) n_seq * seq, seq) : 0);
  return ok;
}

const CtBackendOps ct_cpu_backend_ops = {
  .abi_version = CT_BACKEND_ABI_VERSION,
  .name = "cpu",
  .probe = cpu_probe,
  .create = cpu_create,
  .destroy = cpu_destroy,
  .device_name = cpu_device_name,
  .set_threads = cpu_set_threads,
  .encode_tiles = cpu_encode_tiles,
  .bind_planes = cpu_bind_planes,
  .unbind_planes = cpu_unbind_planes,
  .decode_seqs = cpu_decode_seqs,
};
