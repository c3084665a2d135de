/* model.c - a CoordTok model: configuration plus float32 weights, loaded
 * from safetensors (validated tensor by tensor) or randomly initialised.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model-private.h"
#include "config-private.h"
#include "safetensors.h"
#include "model-cache.h"

#include <math.h>
#include <string.h>

struct _CtModel {
  gint refcount;
  CtConfig config;
  char *path;          /* canonical path, NULL for random models */
  char *id;
  gint64 n_params;
  float *arena;        /* all weights, float32 */
  gsize arena_used, arena_size;
  GData *backend_data; /* what backends keep per model (backend_lock) */
  CtWeights w;
};

/* ---- the list of tensors a configuration requires ---------------------- */

typedef struct {
  char *name;
  int ndim;
  gint64 shape[6];
  const float **slot;   /* where the pointer goes */
} Spec;

typedef struct {
  GArray *specs;        /* Spec */
} SpecList;

static void
spec_add (SpecList *l, const float **slot, int ndim, const gint64 *shape,
    const char *fmt, ...)
{
  Spec s = { 0 };
  va_list ap;
  va_start (ap, fmt);
  s.name = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  s.ndim = ndim;
  memcpy (s.shape, shape, ndim * sizeof (gint64));
  s.slot = slot;
  g_array_append_val (l->specs, s);
}


static void
add1 (SpecList *l, const float **slot, gint64 d0, const char *name)
{
  spec_add (l, slot, 1, (gint64[]) { d0 }, "%s", name);
}

static void
add2 (SpecList *l, const float **slot, gint64 d0, gint64 d1, const char *name)
{
  spec_add (l, slot, 2, (gint64[]) { d0, d1 }, "%s", name);
}

static void
add_linear (SpecList *l, CtLinear *lin, int out, int in, gboolean bias,
    const char *prefix)
{
  char *n = g_strconcat (prefix, ".weight", NULL);
  add2 (l, &lin->w, out, in, n);
  g_free (n);
  if (bias) {
    n = g_strconcat (prefix, ".bias", NULL);
    add1 (l, &lin->b, out, n);
    g_free (n);
  }
  lin->out = out;
  lin->in = in;
}

static void
add_norm (SpecList *l, CtNorm *nm, int dim, float eps, const char *prefix)
{
  char *n = g_strconcat (prefix, ".weight", NULL);
  add1 (l, &nm->w, dim, n);
  g_free (n);
  n = g_strconcat (prefix, ".bias", NULL);
  add1 (l, &nm->b, dim, n);
  g_free (n);
  nm->eps = eps;
}

static void
add_vit_block (SpecList *l, CtVitBlock *b, int D, float eps, gboolean qkv_bias,
    const char *prefix)
{
  char *p;
#define P(s) (g_free (p), p = g_strconcat (prefix, s, NULL))
  p = NULL;
  add_norm (l, &b->norm1, D, eps, P (".norm1"));
  add_linear (l, &b->qkv, 3 * D, D, qkv_bias, P (".attn.qkv"));
  add_linear (l, &b->proj, D, D, TRUE, P (".attn.proj"));
  add_norm (l, &b->norm2, D, eps, P (".norm2"));
  add_linear (l, &b->fc1, 4 * D, D, TRUE, P (".mlp.fc1"));
  add_linear (l, &b->fc2, D, 4 * D, TRUE, P (".mlp.fc2"));
  g_free (p);
#undef P
}

static void
build_specs (CtModel *m, SpecList *l)
{
  const CtConfig *c = &m->config;
  CtWeights *w = &m->w;
  int De = c->enc_dim, Dd = c->dec_dim, C = c->channels;
  int Nv = ct_config_n_video_tokens (c);
  char *p = NULL;
#define P(...) (g_free (p), p = g_strdup_printf (__VA_ARGS__))

  spec_add (l, &w->weight_tokens[0], 4, (gint64[]) { 1, c->rxy, c->rxy, C }, "weight_tokens_xy");
  spec_add (l, &w->weight_tokens[1], 4, (gint64[]) { 1, c->rt, c->rxy, C }, "weight_tokens_yt");
  spec_add (l, &w->weight_tokens[2], 4, (gint64[]) { 1, c->rt, c->rxy, C }, "weight_tokens_xt");

  spec_add (l, &w->enc_patch.w, 5, (gint64[]) { De, 3, c->enc_pt, c->enc_pxy, c->enc_pxy },
      "encoder.encoder.patch_embed.proj.weight");
  add1 (l, &w->enc_patch.b, De, "encoder.encoder.patch_embed.proj.bias");
  w->enc_patch.out = De;
  w->enc_patch.in = 3 * c->enc_pt * c->enc_pxy * c->enc_pxy;
  spec_add (l, &w->cls_token, 3, (gint64[]) { 1, 1, De }, "encoder.encoder.cls_token");
  spec_add (l, &w->pos_emb, 3, (gint64[]) { 1, Nv, De }, "encoder.encoder.pos_emb");
  w->vit = g_new0 (CtVitBlock, c->enc_vit_layers);
  for (int i = 0; i < c->enc_vit_layers; i++)
    add_vit_block (l, &w->vit[i], De, c->enc_vit_eps, FALSE, P ("encoder.encoder.layers.%d", i));
  add_norm (l, &w->vit_norm, De, c->enc_vit_eps, "encoder.encoder.norm");
  spec_add (l, &w->cross_pos_emb, 3, (gint64[]) { 1, Nv, De }, "encoder.cross_pos_emb");

  static const char *pn[3] = { "xy", "yt", "xt" };
  for (int g = 0; g < 3; g++) {
    CtQueryGrid qg = ct_geom_query_grid (c->rxy, c->rt, c->qxy, c->qt, g);
    int P1 = qg.P1, P2 = qg.P2;
    spec_add (l, &w->plane_patch[g].w, 4, (gint64[]) { De, C, P1, P2 },
        "encoder.patch_embeds_%s.proj.weight", pn[g]);
    spec_add (l, &w->plane_patch[g].b, 1, (gint64[]) { De },
        "encoder.patch_embeds_%s.proj.bias", pn[g]);
    w->plane_patch[g].out = De;
    w->plane_patch[g].in = C * P1 * P2;
  }
  w->cross = g_new0 (CtCrossBlock, c->enc_cross_layers);
  for (int j = 0; j < c->enc_cross_layers; j++) {
    CtCrossBlock *b = &w->cross[j];
    float eps = c->enc_cross_eps;
    add_norm (l, &b->norm1, De, eps, P ("encoder.transformer.layers.%d.norm1", j));
    add_norm (l, &b->norm2, De, eps, P ("encoder.transformer.layers.%d.norm2", j));
    add_norm (l, &b->norm3, De, eps, P ("encoder.transformer.layers.%d.norm3", j));
    add2 (l, &b->cross_in.w, 3 * De, De, P ("encoder.transformer.layers.%d.cross_attn.in_proj_weight", j));
    b->cross_in.out = 3 * De; b->cross_in.in = De;
    add2 (l, &b->cross_out.w, De, De, P ("encoder.transformer.layers.%d.cross_attn.out_proj.weight", j));
    b->cross_out.out = De; b->cross_out.in = De;
    add2 (l, &b->self_in.w, 3 * De, De, P ("encoder.transformer.layers.%d.self_attn.in_proj_weight", j));
    b->self_in.out = 3 * De; b->self_in.in = De;
    add2 (l, &b->self_out.w, De, De, P ("encoder.transformer.layers.%d.self_attn.out_proj.weight", j));
    b->self_out.out = De; b->self_out.in = De;
    add_linear (l, &b->fc1, 4 * De, De, TRUE, P ("encoder.transformer.layers.%d.mlp.0", j));
    add_linear (l, &b->fc2, De, 4 * De, TRUE, P ("encoder.transformer.layers.%d.mlp.3", j));
  }
  add_norm (l, &w->cross_norm, De, c->enc_cross_eps, "encoder.transformer.norm");
  for (int g = 0; g < 3; g++) {
    CtQueryGrid qg = ct_geom_query_grid (c->rxy, c->rt, c->qxy, c->qt, g);
    int P1 = qg.P1, P2 = qg.P2;
    add_linear (l, &w->projector[g], P1 * P2 * C, De, TRUE, P ("encoder.projectors_%s", pn[g]));
  }

  add_linear (l, &w->dec_patch_embed, Dd, 3 * C, TRUE, "decoder.transformer.patch_embed");
  spec_add (l, &w->dec_pos_embed, 5, (gint64[]) { 1, ct_config_nt (c), ct_config_nx (c),
        ct_config_ny (c), Dd }, "decoder.transformer.pos_embed");
  w->dec = g_new0 (CtVitBlock, c->dec_layers);
  for (int k = 0; k < c->dec_layers; k++)
    add_vit_block (l, &w->dec[k], Dd, c->dec_eps, TRUE, P ("decoder.transformer.layers.%d", k));
  add_norm (l, &w->dec_norm, Dd, c->dec_eps, "decoder.transformer.norm");
  add_linear (l, &w->dec_projector, ct_config_patch_values (c), Dd, TRUE, "decoder.projector");
  g_free (p);
#undef P
}

static void
spec_list_free (SpecList *l)
{
  for (guint i = 0; i < l->specs->len; i++)
    g_free (g_array_index (l->specs, Spec, i).name);
  g_array_free (l->specs, TRUE);
}

static char *
shape_str (int nd, const gint64 *s)
{
  GString *str = g_string_new ("(");
  for (int i = 0; i < nd; i++)
    g_string_append_printf (str, "%s%" G_GINT64_FORMAT, i ? ", " : "", s[i]);
  g_string_append_c (str, ')');
  return g_string_free (str, FALSE);
}

static gint64
spec_numel (const Spec *s)
{
  gint64 n = 1;
  for (int i = 0; i < s->ndim; i++)
    n *= s->shape[i];
  return n;
}

/* 16-float (64-byte) aligned slices of one arena */
static float *
arena_take (CtModel *m, gint64 n)
{
  float *p = m->arena + m->arena_used;
  m->arena_used += (n + 15) & ~(gint64) 15;
  g_assert (m->arena_used <= m->arena_size);
  return p;
}

/* A model with its list of required tensors, but no weight memory yet:
 * loading checks the file against the list before anything is sized by
 * the configuration (a 600-byte file may claim a 192 GiB model). */
static CtModel *
model_new (const CtConfig *c, SpecList *l)
{
  CtModel *m = g_new0 (CtModel, 1);
  m->refcount = 1;
  m->config = *c;
  l->specs = g_array_new (FALSE, TRUE, sizeof (Spec));
  build_specs (m, l);
  return m;
}

/* One arena for every tensor in the list plus the query tokens; FALSE when
 * the allocation fails. */
static gboolean
model_alloc_arena (CtModel *m, const SpecList *l)
{
  gsize total = 0;
  m->n_params = 0;
  for (guint i = 0; i < l->specs->len; i++) {
    gint64 n = spec_numel (&g_array_index (l->specs, Spec, i));
    total += (n + 15) & ~(gint64) 15;
    m->n_params += n;
  }
  total += ((gsize) ct_config_n_query_tokens (&m->config) * m->config.enc_dim + 15)
      & ~(gsize) 15;
  m->arena_size = total;
  m->arena = g_try_malloc (total * sizeof (float) + 64);
  return m->arena != NULL;
}

/* Every layer owns at least one tensor of its own: a configuration with more
 * layers than the file has tensors cannot match it, and is refused before
 * the list of required tensors (sized by the layer counts) is built. */
static gboolean
layers_fit_file (const CtConfig *c, int n_tensors, const char *path, GError **error)
{
  gint64 layers = (gint64) c->enc_vit_layers + c->enc_cross_layers + c->dec_layers;
  if (layers <= n_tensors)
    return TRUE;
  g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH,
      "%s: the configuration has %" G_GINT64_FORMAT " layers but the file holds only %d "
      "tensors", path, layers, n_tensors);
  return FALSE;
}

/* Checks one required tensor against the file: present, same shape, a float
 * dtype. */
static const CtTensorView *
check_spec (CtSafetensors *st, const Spec *s, const char *path, GError **error)
{
  const CtTensorView *t = ct_safetensors_find (st, s->name);
  if (!t) {
    g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH, "%s: missing tensor '%s'", path, s->name);
    return NULL;
  }
  gboolean same = t->ndim == s->ndim;
  for (int d = 0; same && d < s->ndim; d++)
    same = t->shape[d] == s->shape[d];
  if (!same) {
    char *a = shape_str (t->ndim, t->shape), *b = shape_str (s->ndim, s->shape);
    g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH,
        "%s: tensor '%s' has shape %s, the configuration needs %s", path, s->name, a, b);
    g_free (a);
    g_free (b);
    return NULL;
  }
  if (t->dtype != CT_DTYPE_F32 && t->dtype != CT_DTYPE_F16 && t->dtype != CT_DTYPE_BF16) {
    g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH,
        "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", path, s->name,
        ct_dtype_name (t->dtype));
    return NULL;
  }
  return t;
}

static GMutex backend_lock;

gboolean
ct_model_set_backend_data (CtModel *m, const char *key, gpointer data,
    GDestroyNotify destroy)
{
  g_mutex_lock (&backend_lock);
  gboolean set = !g_datalist_get_data (&m->backend_data, key);
  if (set)
    g_datalist_set_data_full (&m->backend_data, key, data, destroy);
  g_mutex_unlock (&backend_lock);
  if (!set && destroy)
    destroy (data);
  return set;
}

void
ct_model_weights_range (const CtModel *m, const void **base, gsize *bytes)
{
  *base = m->arena;
  *bytes = m->arena_size * sizeof (float) + 64;    /* the arena's alignment slack */
}

static void
model_free (CtModel *m)
{
  g_free (m->w.vit);
  g_free (m->w.cross);
  g_free (m->w.dec);
  /* what backends derived from these weights goes first (the CPU backend's
   * packed copies: a later model may get the same addresses) */
  g_datalist_clear (&m->backend_data);
  g_free (m->arena);
  g_free (m->path);
  g_free (m->id);
  g_free (m);
}

/* Query tokens (spec 4.5): each weight-token plane through its patch conv. */
static void
compute_query_tokens (CtModel *m)
{
  const CtConfig *c = &m->config;
  CtWeights *w = &m->w;
  int De = c->enc_dim, C = c->channels, row = 0;
  w->query_tokens = arena_take (m, (gint64) ct_config_n_query_tokens (c) * De);
  for (int g = 0; g < 3; g++) {
    CtQueryGrid qg = ct_geom_query_grid (c->rxy, c->rt, c->qxy, c->qt, g);
    int P1 = qg.P1, P2 = qg.P2, rows = qg.rows, cols = qg.cols;
    const float *plane = w->weight_tokens[g];
    const CtLinear *pe = &w->plane_patch[g];
    float *patch = g_new (float, pe->in);
    for (int gi = 0; gi < rows / P1; gi++)
      for (int hi = 0; hi < cols / P2; hi++, row++) {
        for (int ch = 0; ch < C; ch++)
          for (int i = 0; i < P1; i++)
            for (int j = 0; j < P2; j++)
              patch[(ch * P1 + i) * P2 + j] =
                  plane[((gi * P1 + i) * cols + hi * P2 + j) * C + ch];
        float *out = w->query_tokens + (gsize) row * De;
        for (int o = 0; o < De; o++) {
          double acc = 0;
          const float *wr = pe->w + (gsize) o * pe->in;
          for (int k = 0; k < pe->in; k++)
            acc += (double) wr[k] * patch[k];
          out[o] = (float) (acc + pe->b[o]);
        }
      }
    g_free (patch);
  }
}

static gboolean
st_lookup (void *user, const char *name, int *ndim, gint64 *shape)
{
  const CtTensorView *t = ct_safetensors_find (user, name);
  if (!t)
    return FALSE;
  *ndim = t->ndim;
  memcpy (shape, t->shape, t->ndim * sizeof (gint64));
  return TRUE;
}

static char *
hash_id (const guint8 *bytes, gsize size)
{
  /* SHA-256 of the whole file: the id changes whenever any weight does */
  char *full = g_compute_checksum_for_data (G_CHECKSUM_SHA256, bytes, size);
  char *id = g_strndup (full, 16);
  g_free (full);
  return id;
}

static CtModel *load_from (CtSafetensors *st, const char *path,
    const CtLoadOptions *opts, GError **error);

CtModel *
ct_model_load_uncached (const char *path, const CtLoadOptions *opts, GError **error)
{
  CtSafetensors *st = ct_safetensors_open (path, error);
  if (!st)
    return NULL;
  CtModel *m = load_from (st, path, opts, error);
  if (m)
    m->path = g_canonicalize_filename (path, NULL);
  ct_safetensors_close (st);
  return m;
}

CtModel *
ct_model_load_memory (const guint8 *data, gsize size, const CtLoadOptions *opts,
    GError **error)
{
  CtSafetensors *st = ct_safetensors_open_memory (data, size, error);
  if (!st)
    return NULL;
  CtModel *m = load_from (st, "model buffer", opts, error);
  ct_safetensors_close (st);
  return m;
}

CtModel *
ct_model_load_memory_named (const guint8 *data, gsize size, const char *name,
    const CtLoadOptions *opts, GError **error)
{
  CtSafetensors *st = ct_safetensors_open_memory (data, size, error);
  if (!st)
    return NULL;
  CtModel *m = load_from (st, name, opts, error);
  if (m)
    m->path = g_strdup (name);
  ct_safetensors_close (st);
  return m;
}

/* Validates and loads the weights of an open file; `path` names it in
 * messages.  The caller keeps (and closes) st. */
static CtModel *
load_from (CtSafetensors *st, const char *path, const CtLoadOptions *opts,
    GError **error)
{
  CtConfig c;
  gboolean has_config = FALSE;
  GError *merr = NULL;
  if (!ct_config_from_metadata (&c, ct_safetensors_metadata_table (st), &has_config, &merr)) {
    if (has_config) {
      g_propagate_prefixed_error (error, merr, "%s: ", path);
      return NULL;
    }
    g_clear_error (&merr);
    int eh = opts && opts->enc_heads > 0 ? opts->enc_heads : 0;
    int dh = opts && opts->dec_heads > 0 ? opts->dec_heads : 0;
    if (!eh && g_getenv ("COORDTOK_ENC_HEADS"))
      eh = atoi (g_getenv ("COORDTOK_ENC_HEADS"));
    if (!dh && g_getenv ("COORDTOK_DEC_HEADS"))
      dh = atoi (g_getenv ("COORDTOK_DEC_HEADS"));
    if (!ct_config_infer (&c, st_lookup, st, eh, dh, &merr)) {
      g_propagate_prefixed_error (error, merr, "%s: ", path);
      return NULL;
    }
  } else if (opts) {
    if (opts->enc_heads > 0)
      c.enc_heads = opts->enc_heads;
    if (opts->dec_heads > 0)
      c.dec_heads = opts->dec_heads;
    if (!ct_config_validate (&c, error)) {
      return NULL;
    }
  }

  if (!layers_fit_file (&c, ct_safetensors_n_tensors (st), path, error))
    return NULL;
  SpecList l;
  CtModel *m = model_new (&c, &l);
  GHashTable *expected = g_hash_table_new (g_str_hash, g_str_equal);
  /* first every tensor is shown to exist with its shape: only then is the
   * arena (sized by those shapes, so by the file's own bytes) allocated */
  for (guint i = 0; i < l.specs->len; i++) {
    Spec *s = &g_array_index (l.specs, Spec, i);
    g_hash_table_add (expected, s->name);
    if (!check_spec (st, s, path, error)) {
      g_hash_table_destroy (expected);
      goto fail;
    }
  }
  if (!model_alloc_arena (m, &l)) {
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "%s: out of memory for %" G_GINT64_FORMAT
        " parameters", path, m->n_params);
    g_hash_table_destroy (expected);
    goto fail;
  }
  for (guint i = 0; i < l.specs->len; i++) {
    Spec *s = &g_array_index (l.specs, Spec, i);
    const CtTensorView *t = ct_safetensors_find (st, s->name);
    float *dst = arena_take (m, t->numel);
    ct_tensor_to_f32 (t, dst, NULL);
    *s->slot = dst;
  }
  /* tensors the model does not use are tolerated (lpips etc.) but logged */
  for (int i = 0; i < ct_safetensors_n_tensors (st); i++) {
    const CtTensorView *t = ct_safetensors_tensor (st, i);
    if (!g_hash_table_contains (expected, t->name))
      g_debug ("%s: ignoring unused tensor '%s'", path, t->name);
  }
  g_hash_table_destroy (expected);
  compute_query_tokens (m);
  {
    gsize size;
    const guint8 *bytes = ct_safetensors_bytes (st, &size);
    m->id = hash_id (bytes, size);
  }
  spec_list_free (&l);
  return m;

fail:
  spec_list_free (&l);
  model_free (m);
  return NULL;
}

/* Deterministic generator so random models are reproducible by seed. */
static guint64
splitmix (guint64 *s)
{
  guint64 z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

CtModel *
ct_model_new_random (const CtConfig *config, guint64 seed, GError **error)
{
  if (!ct_config_validate (config, error))
    return NULL;
  SpecList l;
  CtModel *m = model_new (config, &l);
  if (!model_alloc_arena (m, &l)) {
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "out of memory for %" G_GINT64_FORMAT
        " parameters", m->n_params);
    spec_list_free (&l);
    model_free (m);
    return NULL;
  }
  guint64 s = seed;
  for (guint i = 0; i < l.specs->len; i++) {
    Spec *sp = &g_array_index (l.specs, Spec, i);
    gint64 n = spec_numel (sp);
    float *dst = arena_take (m, n);
    gboolean is_norm_w = g_str_has_suffix (sp->name, "norm1.weight") ||
        g_str_has_suffix (sp->name, "norm2.weight") ||
        g_str_has_suffix (sp->name, "norm3.weight") ||
        g_str_has_suffix (sp->name, "norm.weight");
    gint64 fan_in = sp->ndim >= 2 ? n / sp->shape[0] : 1;
    float scale = sp->ndim >= 2 ? 1.0f / sqrtf ((float) fan_in) : 0.02f;
    if (g_str_has_suffix (sp->name, "weight_tokens_xy") || strstr (sp->name, "pos_emb") ||
        strstr (sp->name, "pos_embed") || strstr (sp->name, "cls_token") ||
        strstr (sp->name, "weight_tokens"))
      scale = 0.02f;
    for (gint64 k = 0; k < n; k++) {
      float u = (float) ((splitmix (&s) >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
      dst[k] = is_norm_w ? 1.0f + 0.1f * u : scale * u;
    }
    *sp->slot = dst;
  }
  compute_query_tokens (m);
  m->id = g_strdup_printf ("random-%" G_GINT64_MODIFIER "x", seed);
  spec_list_free (&l);
  return m;
}

CtModel *ct_model_ref (CtModel *m) { g_atomic_int_inc (&m->refcount); return m; }

void
ct_model_unref (CtModel *m)
{
  if (!m)
    return;
  if (m->path) {
    /* cached models: the cache decides under its lock */
    if (ct_model_cache_release (m))
      model_free (m);
    return;
  }
  if (g_atomic_int_dec_and_test (&m->refcount))
    model_free (m);
}

gint *ct_model_refcount_ptr (CtModel *m) { return &m->refcount; }
const CtConfig *ct_model_config (const CtModel *m) { return &m->config; }
const char *ct_model_id (const CtModel *m) { return m->id; }
const char *ct_model_path (const CtModel *m) { return m->path; }
gint64 ct_model_n_params (const CtModel *m) { return m->n_params; }
const CtWeights *ct_model_weights (const CtModel *m) { return &m->w; }
