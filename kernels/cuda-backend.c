/* cuda-backend.c - the CUDA backend's ops table: probe, session contexts
 * (streams, cuBLAS handle, workspaces), and the pre-norm block shared by the
 * encoder ViT and the decoder.
 *
 * Memory: weights are shared per (model, device) (weights.c).  Each
 * session owns one encoder workspace (a single cudaMalloc sized by the
 * model, plus pinned host staging for the video and the planes) and one
 * decoder workspace grown to the longest sequence it has seen (a single
 * cudaMalloc plus pinned staging).  In steady state, encode and decode
 * allocate nothing.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-backend.h"

#include <gmodule.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- device choice ----------------------------------------------------- */

/* The session's device index when it names one (>= 0), else
 * COORDTOK_CUDA_DEVICE=N, else 0; -1 when the variable is not a number. */
static int
chosen_device (int device_index)
{
  if (device_index >= 0)
    return device_index;
  const char *s = g_getenv ("COORDTOK_CUDA_DEVICE");
  if (!s || !*s)
    return 0;
  char *end = NULL;
  long v = strtol (s, &end, 10);
  return (end && !*end && v >= 0 && v < 1024) ? (int) v : -1;
}

static gboolean
cuda_probe (int device_index, GError **error)
{
  int n = 0;
  cudaError_t e = cudaGetDeviceCount (&n);
  if (e != cudaSuccess) {
    /* Without any driver the runtime says "driver version is insufficient":
     * name what is missing instead. */
    int driver = 0, runtime = 0;
    cudaDriverGetVersion (&driver);
    cudaRuntimeGetVersion (&runtime);
    if (driver == 0)
      g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "no NVIDIA driver on this machine "
          "(libcuda.so.1 not found): CUDA needs one; device=auto or device=cpu runs on the CPU");
    else if (e == cudaErrorInsufficientDriver)
      g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "the NVIDIA driver supports CUDA %d.%d, "
          "this build needs %d.%d: update the driver, or use device=cpu", driver / 1000,
          driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
    else
      g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "cudaGetDeviceCount: %s (%s)",
          cudaGetErrorString (e), cudaGetErrorName (e));
    return FALSE;
  }
  if (n < 1) {
    g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "cudaGetDeviceCount: 0 devices");
    return FALSE;
  }
  int dev = chosen_device (device_index);
  if (dev < 0) {
    g_set_error (error, CT_ERROR, CT_ERROR_DEVICE,
        "COORDTOK_CUDA_DEVICE=%s is not a device number", g_getenv ("COORDTOK_CUDA_DEVICE"));
    return FALSE;
  }
  if (dev >= n) {
    g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "cuda:%d: this machine has %d CUDA "
        "device%s (0 to %d)", dev, n, n == 1 ? "" : "s", n - 1);
    return FALSE;
  }
  void *p = NULL;
  if (!ct_cu_check (cudaSetDevice (dev), "cudaSetDevice", error) ||
      !ct_cu_check (cudaMalloc (&p, 256), "cudaMalloc (probe)", error))
    return FALSE;
  return ct_cu_check (cudaFree (p), "cudaFree (probe)", error);
}

/* ---- block scratch ----------------------------------------------------- */

static gsize
align256 (gsize b)
{
  return (b + 255) & ~(gsize) 255;
}

gsize
ct_cu_block_scratch_bytes (int S, int D, gboolean bf16)
{
  gsize in = bf16 ? 2 : 4;
  gsize rows = (gsize) S * D;
  /* ln | big (qkv (3D) + att (D) fp32 sized; hidden (4D) aliases it) | act */
  return align256 (rows * in) + align256 (rows * 4 * sizeof (float)) +
      (bf16 ? align256 (rows * 4 * 2) : 0);
}

void
ct_cu_block_scratch_layout (char *base, int S, int D, gboolean bf16,
    CtCuBlockScratch *sc)
{
  gsize in = bf16 ? 2 : 4;
  gsize rows = (gsize) S * D;
  sc->ln = base;
  char *big = base + align256 (rows * in);
  sc->qkv = (float *) big;
  sc->att = big + rows * 3 * sizeof (float);
  sc->hidden = (float *) big;
  sc->act = bf16 ? (void *) (big + align256 (rows * 4 * sizeof (float))) : (void *) sc->hidden;
}

/* ---- the pre-norm block -------------------------------------------------- */

gboolean
ct_cu_vit_block (CtCuContext *ctx, const CtCuVitBlock *b, float *x, int S,
    int D, int heads, const float **pending, CtCuBlockScratch *sc, GError **error)
{
  cudaStream_t st = ctx->stream;
  int bf = ctx->bf16, hd = D / heads;

  CT_CU_TRY (ct_cu_layernorm (x, D, *pending, b->norm1.w, b->norm1.b, b->norm1.eps,
      sc->ln, D, bf, S, D, st));
  if (!ct_cu_gemm (ctx, &b->qkv, sc->ln, D, S, sc->qkv, 3 * D, 0.0f, error))
    return FALSE;
  const float *qb = b->qkv.b;
  CtCuAttention a = {
    .q = sc->qkv, .k = sc->qkv + D, .v = sc->qkv + 2 * D,
    .ldq = 3 * D, .ldk = 3 * D, .ldv = 3 * D,
    .bq = qb, .bk = qb ? qb + D : NULL, .bv = qb ? qb + 2 * D : NULL,
    .key_bias = NULL, .out = sc->att, .ldo = D, .out_bf16 = bf,
    .Sq = S, .Sk = S, .heads = heads, .hd = hd, .scale = 1.0f / sqrtf ((float) hd),
  };
  CT_CU_TRY (ct_cu_attention (&a, bf, st));
  if (!ct_cu_gemm (ctx, &b->proj, sc->att, D, S, x, D, 1.0f, error))
    return FALSE;
  CT_CU_TRY (ct_cu_layernorm (x, D, b->proj.b, b->norm2.w, b->norm2.b, b->norm2.eps,
      sc->ln, D, bf, S, D, st));
  if (!ct_cu_gemm (ctx, &b->fc1, sc->ln, D, S, sc->hidden, 4 * D, 0.0f, error))
    return FALSE;
  CT_CU_TRY (ct_cu_bias_gelu (sc->hidden, b->fc1.b, sc->act, bf, S, 4 * D, st));
  if (!ct_cu_gemm (ctx, &b->fc2, sc->act, 4 * D, S, x, D, 1.0f, error))
    return FALSE;
  *pending = b->fc2.b;
  return TRUE;
}

/* ---- contexts ------------------------------------------------------------ */

typedef struct {
  char *base;
  gsize used;
} Bump;

static void *
bump (Bump *b, gsize bytes)
{
  void *p = b->base ? b->base + b->used : NULL;
  b->used += align256 (bytes);
  return p;
}

/* Lays the encoder workspace out over base (NULL: just sizes it). */
static gsize
encoder_layout (CtCuContext *ctx, char *base)
{
  const CtConfig *c = ctx->config;
  gsize in = ct_cu_in_size (ctx);
  gsize D = c->enc_dim, Nv = ct_config_n_video_tokens (c), Nq = ct_config_n_query_tokens (c);
  gsize pin = (gsize) 3 * c->enc_pt * c->enc_pxy * c->enc_pxy;
  gsize proj = (gsize) MAX (c->qxy, c->qt) * c->qxy * c->channels * Nq;
  Bump b = { base, 0 };
  ctx->video = bump (&b, (gsize) c->T * c->H * c->W * 3 * sizeof (float));
  ctx->patches = bump (&b, Nv * pin * in);
  ctx->h = bump (&b, (Nv + 1) * D * sizeof (float));
  char *vs = bump (&b, ct_cu_block_scratch_bytes (Nv + 1, D, ctx->bf16));
  ctx->memory = bump (&b, Nv * D * sizeof (float));
  ctx->memory_in = ctx->bf16 ? bump (&b, Nv * D * 2) : (void *) ctx->memory;
  ctx->key_bias = bump (&b, Nv * sizeof (float));
  ctx->kv = bump (&b, Nv * 2 * D * sizeof (float));
  ctx->q = bump (&b, Nq * D * sizeof (float));
  char *qs = bump (&b, ct_cu_block_scratch_bytes (Nq, D, ctx->bf16));
  ctx->proj_tmp = bump (&b, proj * sizeof (float));
  ctx->z = bump (&b, ct_config_token_floats (c) * sizeof (float));
  ct_cu_block_scratch_layout (vs, Nv + 1, D, ctx->bf16, &ctx->vit_scratch);
  ct_cu_block_scratch_layout (qs, Nq, D, ctx->bf16, &ctx->q_scratch);
  return b.used;
}

static gsize
decoder_layout (CtCuContext *ctx, char *base, int n)
{
  const CtConfig *c = ctx->config;
  gsize D = c->dec_dim, C3 = 3 * c->channels, pv = ct_config_patch_values (c);
  Bump b = { base, 0 };
  ctx->coords = bump (&b, (gsize) n * 3 * sizeof (float));
  ctx->emb = bump (&b, (gsize) n * C3 * sizeof (float));
  ctx->pos_row = bump (&b, (gsize) n * sizeof (int));
  ctx->x = bump (&b, (gsize) n * D * sizeof (float));
  ctx->out = bump (&b, (gsize) n * pv * sizeof (float));
  char *sc = bump (&b, ct_cu_block_scratch_bytes (n, D, ctx->bf16));
  ct_cu_block_scratch_layout (sc, n, D, ctx->bf16, &ctx->dec_scratch);
  return b.used;
}

gboolean
ct_cu_reserve_decode (CtCuContext *ctx, int n, GError **error)
{
  if (n <= ctx->dec_capacity)
    return TRUE;
  const CtConfig *c = ctx->config;
  /* everything queued on the old buffers must be finished before freeing */
  CT_CU_TRY (cudaStreamSynchronize (ctx->stream));
  if (ctx->dec_block)
    cudaFree (ctx->dec_block);
  if (ctx->host_dec)
    cudaFreeHost (ctx->host_dec);
  ctx->dec_block = NULL;
  ctx->host_dec = NULL;
  ctx->dec_capacity = 0;
  gsize bytes = decoder_layout (ctx, NULL, n);
  gsize host = (gsize) n * (3 + ct_config_patch_values (c) + 3 * c->channels) * sizeof (float);
  if (!ct_cu_check (cudaMalloc (&ctx->dec_block, bytes), "cudaMalloc (decoder workspace)", error) ||
      !ct_cu_check (cudaMallocHost ((void **) &ctx->host_dec, host), "cudaMallocHost (decoder staging)", error)) {
    g_prefix_error (error, "decoder sequence of %d queries (%.1f MiB): ", n, bytes / 1048576.0);
    if (ctx->dec_block)
      cudaFree (ctx->dec_block);
    ctx->dec_block = NULL;
    ctx->host_dec = NULL;
    return FALSE;
  }
  decoder_layout (ctx, ctx->dec_block, n);
  ctx->dec_capacity = n;
  return TRUE;
}

static void
cuda_destroy (void *vctx)
{
  CtCuContext *ctx = vctx;
  if (!ctx)
    return;
  if (cudaSetDevice (ctx->device) == cudaSuccess) {
    if (ctx->stream)
      cudaStreamSynchronize (ctx->stream);
    if (ctx->copy)
      cudaStreamSynchronize (ctx->copy);
    for (int i = 0; i < CT_CU_MAX_CHUNKS; i++)
      if (ctx->chunk_ready[i])
        cudaEventDestroy (ctx->chunk_ready[i]);
    if (ctx->blas)
      cublasDestroy (ctx->blas);
    if (ctx->stream)
      cudaStreamDestroy (ctx->stream);
    if (ctx->copy)
      cudaStreamDestroy (ctx->copy);
    if (ctx->enc_block)
      cudaFree (ctx->enc_block);
    if (ctx->dec_block)
      cudaFree (ctx->dec_block);
    if (ctx->bound_z)
      cudaFree (ctx->bound_z);
    if (ctx->host_video)
      cudaFreeHost (ctx->host_video);
    if (ctx->host_z)
      cudaFreeHost (ctx->host_z);
    if (ctx->host_dec)
      cudaFreeHost (ctx->host_dec);
  }
  ct_cu_weights_release (ctx->shared);
  if (ctx->model)
    ct_model_unref (ctx->model);
  g_free (ctx->name);
  g_free (ctx);
}

static void *
cuda_create (CtModel *m, const CtWeights *w, CtPrecision precision,
    int device_index, GError **error)
{
  const CtConfig *c = ct_model_config (m);
  if (precision != CT_PRECISION_FP32 && precision != CT_PRECISION_TF32 &&
      precision != CT_PRECISION_BF16) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT, "cuda: unknown precision %d", precision);
    return NULL;
  }
  int ehd = c->enc_dim / c->enc_heads, dhd = c->dec_dim / c->dec_heads;
  if (ehd > 128 || dhd > 128) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "cuda: head dims up to 128 are supported (encoder %d, decoder %d)", ehd, dhd);
    return NULL;
  }
  int dev = chosen_device (device_index);
  if (dev < 0) {
    g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "COORDTOK_CUDA_DEVICE is not a device number");
    return NULL;
  }
  CtCuContext *ctx = g_new0 (CtCuContext, 1);
  ctx->model = ct_model_ref (m);
  ctx->config = c;
  ctx->precision = precision;
  ctx->bf16 = precision == CT_PRECISION_BF16;
  ctx->device = dev;
  ctx->compute = precision == CT_PRECISION_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;

  struct cudaDeviceProp prop;
  if (!ct_cu_check (cudaSetDevice (dev), "cudaSetDevice", error) ||
      !ct_cu_check (cudaGetDeviceProperties (&prop, dev), "cudaGetDeviceProperties", error))
    goto fail;
  ctx->name = g_strdup_printf ("cuda:%d (%s)", dev, prop.name);
  if (ctx->bf16 && prop.major < 8) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "%s: bf16 needs compute capability 8.0 or newer (this is %d.%d)", ctx->name,
        prop.major, prop.minor);
    goto fail;
  }
  if (!(ctx->shared = ct_cu_weights_acquire (m, w, dev, ctx->bf16, error)))
    goto fail;
  ctx->w = ct_cu_weights (ctx->shared);

  if (!ct_cu_check (cudaStreamCreateWithFlags (&ctx->stream, cudaStreamNonBlocking),
          "cudaStreamCreate", error) ||
      !ct_cu_check (cudaStreamCreateWithFlags (&ctx->copy, cudaStreamNonBlocking),
          "cudaStreamCreate", error))
    goto fail;
  for (int i = 0; i < CT_CU_MAX_CHUNKS; i++)
    if (!ct_cu_check (cudaEventCreateWithFlags (&ctx->chunk_ready[i], cudaEventDisableTiming),
            "cudaEventCreate", error))
      goto fail;
  if (!ct_cu_check_blas (cublasCreate (&ctx->blas), "cublasCreate", error) ||
      !ct_cu_check_blas (cublasSetStream (ctx->blas, ctx->stream), "cublasSetStream", error) ||
      /* no TF32 unless the compute type asks for it; no reduced-precision
       * split-K reductions in bf16 */
      !ct_cu_check_blas (cublasSetMathMode (ctx->blas,
          CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION),
          "cublasSetMathMode", error))
    goto fail;

  gsize bytes = encoder_layout (ctx, NULL);
  gsize vbytes = (gsize) c->T * c->H * c->W * 3 * sizeof (float);
  if (!ct_cu_check (cudaMalloc (&ctx->enc_block, bytes), "cudaMalloc (encoder workspace)", error) ||
      !ct_cu_check (cudaMallocHost ((void **) &ctx->host_video, vbytes), "cudaMallocHost (video staging)", error) ||
      !ct_cu_check (cudaMallocHost ((void **) &ctx->host_z,
          ct_config_token_floats (c) * sizeof (float)), "cudaMallocHost (plane staging)", error))
    goto fail;
  encoder_layout (ctx, ctx->enc_block);
  /* one default-slice decoder workspace up front */
  if (!ct_cu_reserve_decode (ctx, MAX (c->default_slice, 1), error))
    goto fail;
  g_debug ("%s: session ready (%s)", ctx->name,
      precision == CT_PRECISION_FP32 ? "fp32" : precision == CT_PRECISION_TF32 ? "tf32" : "bf16");
  return ctx;

fail:
  cuda_destroy (ctx);
  return NULL;
}

static const char *
cuda_device_name (void *vctx)
{
  CtCuContext *ctx = vctx;
  return ctx->name;
}

G_MODULE_EXPORT const CtBackendOps ct_cuda_backend_ops = {
  .abi_version = CT_BACKEND_ABI_VERSION,
  .name = "cuda",
  .probe = cuda_probe,
  .create = cuda_create,
  .destroy = cuda_destroy,
  .device_name = cuda_device_name,
  .encode_tiles = ct_cu_encode_tiles,
  .bind_planes = ct_cu_bind_planes,
  .unbind_planes = ct_cu_unbind_planes,
  .decode_seqs = ct_cu_decode_seqs,
};
