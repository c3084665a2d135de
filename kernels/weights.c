/* weights.c - uploading a model's weights to a device, once per process.
 *
 * A process-wide table maps (CtModel*, device) to one upload with a
 * reference count: every session (element) on the same model and device
 * shares it.  The table holds a model reference, so the key pointer cannot
 * be reused by another model while the entry lives.  The float32 weights
 * live in one cudaMalloc block; the bf16 copies of the Linear weights (for
 * bf16 sessions) in a second block, made on first need by casting the fp32
 * copies on the device.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-backend.h"

#include <string.h>

struct _CtCuShared {
  CtModel *model;
  int device;
  int refcount;                 /* under table_lock */
  void *f32_block;
  void *bf16_block;
  GPtrArray *linears;           /* CtCuLinear* inside w, for the bf16 pass */
  CtCuWeights w;
};

static GMutex table_lock;
static GList *table;            /* CtCuShared*; a handful of entries at most */

/* Two passes over the weights: first count bytes (base == NULL), then
 * copy.  Every tensor starts on a 256-byte boundary. */
typedef struct {
  char *base;
  gsize used;
  cudaError_t err;
  const char *what;
} Upload;

static const float *
up (Upload *u, const float *host, gsize n, const char *what)
{
  gsize bytes = n * sizeof (float);
  if (!host)
    return NULL;        /* an absent optional tensor stays absent */
  char *dst = u->base ? u->base + u->used : NULL;
  u->used += (bytes + 255) & ~(gsize) 255;
  if (dst && u->err == cudaSuccess) {
    u->err = cudaMemcpy (dst, host, bytes, cudaMemcpyHostToDevice);
    if (u->err != cudaSuccess)
      u->what = what;
  }
  return (const float *) dst;
}

static void
up_linear (Upload *u, CtCuLinear *d, const CtLinear *h, GPtrArray *list)
{
  d->w = up (u, h->w, (gsize) h->out * h->in, "linear weight");
  d->b = h->b ? up (u, h->b, h->out, "linear bias") : NULL;
  d->wh = NULL;
  d->out = h->out;
  d->in = h->in;
  if (list)
    g_ptr_array_add (list, d);
}

static void
up_norm (Upload *u, CtNorm *d, const CtNorm *h, int dim)
{
  d->w = up (u, h->w, dim, "norm weight");
  d->b = up (u, h->b, dim, "norm bias");
  d->eps = h->eps;
}

static void
up_vit (Upload *u, CtCuVitBlock *d, const CtVitBlock *h, int D, GPtrArray *l)
{
  up_norm (u, &d->norm1, &h->norm1, D);
  up_norm (u, &d->norm2, &h->norm2, D);
  up_linear (u, &d->qkv, &h->qkv, l);
  up_linear (u, &d->proj, &h->proj, l);
  up_linear (u, &d->fc1, &h->fc1, l);
  up_linear (u, &d->fc2, &h->fc2, l);
}

/* Fills w (device pointers relative to u->base) for the whole model.
 * dec_wt: the host transpose of the decoder patch embedding. */
static void
upload_all (Upload *u, const CtConfig *c, const CtWeights *hw, const float *dec_wt,
    CtCuWeights *w, GPtrArray *list)
{
  int De = c->enc_dim, Dd = c->dec_dim, Nv = ct_config_n_video_tokens (c);
  up_linear (u, &w->enc_patch, &hw->enc_patch, list);
  w->cls_token = up (u, hw->cls_token, De, "cls_token");
  w->pos_emb = up (u, hw->pos_emb, (gsize) Nv * De, "pos_emb");
  for (int i = 0; i < c->enc_vit_layers; i++)
    up_vit (u, &w->vit[i], &hw->vit[i], De, list);
  up_norm (u, &w->vit_norm, &hw->vit_norm, De);
  w->cross_pos_emb = up (u, hw->cross_pos_emb, (gsize) Nv * De, "cross_pos_emb");
  for (int j = 0; j < c->enc_cross_layers; j++) {
    const CtCrossBlock *h = &hw->cross[j];
    CtCuCrossBlock *d = &w->cross[j];
    up_norm (u, &d->norm1, &h->norm1, De);
    up_norm (u, &d->norm2, &h->norm2, De);
    up_norm (u, &d->norm3, &h->norm3, De);
    up_linear (u, &d->cross_in, &h->cross_in, list);
    up_linear (u, &d->cross_out, &h->cross_out, list);
    up_linear (u, &d->self_in, &h->self_in, list);
    up_linear (u, &d->self_out, &h->self_out, list);
    up_linear (u, &d->fc1, &h->fc1, list);
    up_linear (u, &d->fc2, &h->fc2, list);
  }
  up_norm (u, &w->cross_norm, &hw->cross_norm, De);
  for (int g = 0; g < 3; g++)
    up_linear (u, &w->projector[g], &hw->projector[g], list);
  w->query_tokens = up (u, hw->query_tokens,
      (gsize) ct_config_n_query_tokens (c) * De, "query_tokens");
  w->dec_patch_wt = up (u, dec_wt, (gsize) 3 * c->channels * Dd, "dec patch_embed");
  w->dec_patch_b = up (u, hw->dec_patch_embed.b, Dd, "dec patch_embed bias");
  w->dec_pos_embed = up (u, hw->dec_pos_embed,
      (gsize) ct_config_nt (c) * ct_config_nx (c) * ct_config_ny (c) * Dd, "dec pos_embed");
  for (int k = 0; k < c->dec_layers; k++)
    up_vit (u, &w->dec[k], &hw->dec[k], Dd, list);
  up_norm (u, &w->dec_norm, &hw->dec_norm, Dd);
  up_linear (u, &w->dec_projector, &hw->dec_projector, list);
}

static void
shared_free (CtCuShared *s)
{
  /* the device may already be gone (process exit); errors are ignored */
  if (cudaSetDevice (s->device) == cudaSuccess) {
    if (s->f32_block)
      cudaFree (s->f32_block);
    if (s->bf16_block)
      cudaFree (s->bf16_block);
  }
  g_free (s->w.vit);
  g_free (s->w.cross);
  g_free (s->w.dec);
  if (s->linears)
    g_ptr_array_free (s->linears, TRUE);
  ct_model_unref (s->model);
  g_free (s);
}

static CtCuShared *
shared_upload (CtModel *m, const CtWeights *hw, int device, GError **error)
{
  const CtConfig *c = ct_model_config (m);
  CtCuShared *s = g_new0 (CtCuShared, 1);
  s->model = ct_model_ref (m);
  s->device = device;
  s->refcount = 1;
  s->linears = g_ptr_array_new ();
  s->w.vit = g_new0 (CtCuVitBlock, MAX (c->enc_vit_layers, 1));
  s->w.cross = g_new0 (CtCuCrossBlock, MAX (c->enc_cross_layers, 1));
  s->w.dec = g_new0 (CtCuVitBlock, MAX (c->dec_layers, 1));

  /* decoder patch embedding transposed to (3C, Dd) for coalesced reads */
  int K = 3 * c->channels, Dd = c->dec_dim;
  float *wt = g_new (float, (gsize) K * Dd);
  for (int j = 0; j < Dd; j++)
    for (int k = 0; k < K; k++)
      wt[(gsize) k * Dd + j] = hw->dec_patch_embed.w[(gsize) j * K + k];

  Upload u = { 0 };
  upload_all (&u, c, hw, wt, &s->w, NULL);          /* size pass */
  gsize bytes = u.used;
  if (!ct_cu_check (cudaSetDevice (device), "cudaSetDevice", error) ||
      !ct_cu_check (cudaMalloc (&s->f32_block, bytes), "cudaMalloc (weights)", error)) {
    g_prefix_error (error, "uploading %.1f MiB of weights: ", bytes / 1048576.0);
    g_free (wt);
    shared_free (s);
    return NULL;
  }
  u = (Upload) { .base = s->f32_block };
  upload_all (&u, c, hw, wt, &s->w, s->linears);
  g_free (wt);
  if (u.err != cudaSuccess) {
    ct_cu_check (u.err, u.what, error);
    g_prefix_error (error, "uploading weights: ");
    shared_free (s);
    return NULL;
  }
  g_debug ("cuda:%d: uploaded %.1f MiB of fp32 weights for model %s", device,
      bytes / 1048576.0, ct_model_id (m));
  return s;
}

/* bf16 copies of every Linear weight, cast on the device (default stream,
 * synchronised before anyone can use them). */
static gboolean
shared_add_bf16 (CtCuShared *s, GError **error)
{
  gsize total = 0;
  for (guint i = 0; i < s->linears->len; i++) {
    CtCuLinear *l = g_ptr_array_index (s->linears, i);
    total += ((gsize) l->out * l->in * 2 + 255) & ~(gsize) 255;
  }
  void *block = NULL;
  if (!ct_cu_check (cudaSetDevice (s->device), "cudaSetDevice", error) ||
      !ct_cu_check (cudaMalloc (&block, total), "cudaMalloc (bf16 weights)", error))
    return FALSE;
  gsize off = 0;
  for (guint i = 0; i < s->linears->len; i++) {
    CtCuLinear *l = g_ptr_array_index (s->linears, i);
    gsize n = (gsize) l->out * l->in;
    ct_bf16 *dst = (ct_bf16 *) ((char *) block + off);
    if (!ct_cu_check (ct_cu_to_bf16 (dst, l->w, n, 0), "ct_cu_to_bf16 (weights)", error)) {
      cudaFree (block);
      return FALSE;
    }
    off += (n * 2 + 255) & ~(gsize) 255;
  }
  if (!ct_cu_check (cudaDeviceSynchronize (), "cudaDeviceSynchronize (bf16 weights)", error)) {
    cudaFree (block);
    return FALSE;
  }
  /* publish the pointers only once the copies exist */
  off = 0;
  for (guint i = 0; i < s->linears->len; i++) {
    CtCuLinear *l = g_ptr_array_index (s->linears, i);
    l->wh = (const ct_bf16 *) ((char *) block + off);
    off += ((gsize) l->out * l->in * 2 + 255) & ~(gsize) 255;
  }
  s->bf16_block = block;
  g_debug ("cuda:%d: made %.1f MiB of bf16 weights", s->device, total / 1048576.0);
  return TRUE;
}

CtCuShared *
ct_cu_weights_acquire (CtModel *m, const CtWeights *hw, int device, gboolean need_bf16,
    GError **error)
{
  CtCuShared *s = NULL;
  g_mutex_lock (&table_lock);
  for (GList *l = table; l; l = l->next) {
    CtCuShared *e = l->data;
    if (e->model == m && e->device == device) {
      s = e;
      s->refcount++;
      break;
    }
  }
  if (!s) {
    s = shared_upload (m, hw, device, error);
    if (s)
      table = g_list_prepend (table, s);
  }
  if (s && need_bf16 && !s->bf16_block && !shared_add_bf16 (s, error)) {
    g_mutex_unlock (&table_lock);
    ct_cu_weights_release (s);
    return NULL;
  }
  g_mutex_unlock (&table_lock);
  return s;
}

void
ct_cu_weights_release (CtCuShared *s)
{
  if (!s)
    return;
  g_mutex_lock (&table_lock);
  gboolean last = --s->refcount == 0;
  if (last)
    table = g_list_remove (table, s);
  g_mutex_unlock (&table_lock);
  if (last)
    shared_free (s);
}

const CtCuWeights *
ct_cu_weights (const CtCuShared *s)
{
  return &s->w;
}

int
ct_cu_weights_live_uploads (void)
{
  g_mutex_lock (&table_lock);
  int n = g_list_length (table);
  g_mutex_unlock (&table_lock);
  return n;
}
