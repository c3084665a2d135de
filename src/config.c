/* config.c - model hyper-parameters: derived sizes, validation, inference
 * from tensor shapes, and the coordtok.* metadata keys (docs/weights.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config-private.h"

#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>

/* The int-valued sizes below are computed in 64 bits; ct_config_validate
 * refuses every configuration for which one of them would not fit an int
 * (see derived_sizes_ok), so no caller ever sees a wrapped value. */
static gint64
n_video_tokens64 (const CtConfig *c)
{
  return (gint64) (c->T / c->enc_pt) * (c->H / c->enc_pxy) * (c->W / c->enc_pxy);
}

static gint64
n_query_tokens64 (const CtConfig *c)
{
  gint64 gxy = c->rxy / c->qxy, gt = c->rt / c->qt;
  return gxy * gxy + 2 * gt * gxy;
}

int ct_config_n_video_tokens (const CtConfig *c) { return (int) n_video_tokens64 (c); }
int ct_config_n_query_tokens (const CtConfig *c) { return (int) n_query_tokens64 (c); }

int ct_config_nt (const CtConfig *c) { return c->T / c->dec_pt; }
int ct_config_nx (const CtConfig *c) { return c->H / c->dec_pxy; }
int ct_config_ny (const CtConfig *c) { return c->W / c->dec_pxy; }

int ct_config_patch_values (const CtConfig *c)
{
  return (int) ((gint64) 3 * c->dec_pt * c->dec_pxy * c->dec_pxy);
}

gsize ct_config_plane_floats (const CtConfig *c, int plane)
{
  CtPlaneGeometry g = ct_config_plane_geometry (c);
  return ct_geom_plane_floats (&g, plane);
}

CtPlaneGeometry ct_config_plane_geometry (const CtConfig *c)
{
  return (CtPlaneGeometry) { c->rxy, c->rt, c->channels, ct_config_nt (c),
      ct_config_nx (c), ct_config_ny (c) };
}

CtPatchGeometry ct_config_patch_geometry (const CtConfig *c)
{
  return (CtPatchGeometry) { c->T, c->H, c->W, c->enc_pt, c->enc_pxy };
}

gsize ct_config_token_floats (const CtConfig *c)
{
  return ct_config_plane_floats (c, 0) + 2 * ct_config_plane_floats (c, 1);
}

void ct_config_init_coordtok_l (CtConfig *c)
{
  *c = (CtConfig) {
    .T = 128, .H = 128, .W = 128, .enc_pt = 8, .enc_pxy = 16,
    .enc_dim = 1024, .enc_heads = 16, .enc_vit_layers = 8,
    .enc_cross_layers = 24, .rxy = 16, .rt = 32, .channels = 8,
    .qxy = 8, .qt = 16, .dec_dim = 1024, .dec_heads = 16, .dec_layers = 24,
    .dec_pxy = 8, .dec_pt = 1, .default_slice = 16 * 16 * 16,
    .enc_vit_eps = 1e-5f, .enc_cross_eps = 1e-6f, .dec_eps = 1e-5f,
  };
}

#define CHECK(cond, ...) do { if (!(cond)) { \
      g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED, __VA_ARGS__); \
      return FALSE; } } while (0)

/* Products of the fields, each bounded so that it fits an int (and every
 * tensor's element count fits comfortably in 64 bits).  The bounds are far
 * above any real CoordTok (CoordTok-L: Nv 1024, window 6.3 M values). */
#define MAX_DIM        (1 << 14)       /* enc_dim, dec_dim: 4*D*D fits an int */
#define MAX_LAYERS     (1 << 12)
#define MAX_AXIS       (1 << 16)       /* T, H, W */
#define MAX_TOKENS     (1 << 24)       /* Nv, Nq, queries per window */
#define MAX_PLANE      (1 << 22)       /* floats in one plane (token format bound) */
#define MAX_PATCH      (1 << 24)       /* values in one encoder/decoder patch */
#define MAX_PRODUCT    G_MAXINT        /* window values, per-tensor sizes */

/* a*b, saturated at G_MAXINT64 (operands are non-negative) */
static gint64
sat_mul (gint64 a, gint64 b)
{
  gint64 r;
  return __builtin_mul_overflow (a, b, &r) ? G_MAXINT64 : r;
}

static gint64
prod (gint64 a, gint64 b, gint64 c, gint64 d, gint64 e)
{
  return sat_mul (sat_mul (sat_mul (sat_mul (a, b), c), d), e);
}

static gboolean
derived_sizes_ok (const CtConfig *c, GError **error)
{
  gint64 nv = n_video_tokens64 (c), nq = n_query_tokens64 (c);
  gint64 nqd = prod (c->T / c->dec_pt, c->H / c->dec_pxy, c->W / c->dec_pxy, 1, 1);
  const struct { const char *what; gint64 v, lim; } d[] = {
    { "window values T*H*W*3", prod (c->T, c->H, c->W, 3, 1), MAX_PRODUCT },
    { "video tokens (T/enc_pt)(H/enc_pxy)(W/enc_pxy)", nv, MAX_TOKENS },
    { "query tokens", nq, MAX_TOKENS },
    { "decoder queries per window (T/dec_pt)(H/dec_pxy)(W/dec_pxy)", nqd, MAX_TOKENS },
    { "xy plane rxy*rxy*channels", prod (c->rxy, c->rxy, c->channels, 1, 1), MAX_PLANE },
    { "yt/xt plane rt*rxy*channels", prod (c->rt, c->rxy, c->channels, 1, 1), MAX_PLANE },
    { "encoder patch 3*enc_pt*enc_pxy^2", prod (3, c->enc_pt, c->enc_pxy, c->enc_pxy, 1),
      MAX_PATCH },
    { "decoder patch 3*dec_pt*dec_pxy^2", prod (3, c->dec_pt, c->dec_pxy, c->dec_pxy, 1),
      MAX_PATCH },
    { "plane patch qxy*qxy*channels", prod (c->qxy, c->qxy, c->channels, 1, 1), MAX_PATCH },
    { "plane patch qt*qxy*channels", prod (c->qt, c->qxy, c->channels, 1, 1), MAX_PATCH },
    { "position embedding Nv*enc_dim", sat_mul (nv, c->enc_dim), MAX_PRODUCT },
    { "query tokens Nq*enc_dim", sat_mul (nq, c->enc_dim), MAX_PRODUCT },
    { "decoder position embedding", sat_mul (nqd, c->dec_dim), MAX_PRODUCT },
    { "decoder projector", prod (3, c->dec_pt, c->dec_pxy, c->dec_pxy, c->dec_dim),
      MAX_PRODUCT },
    { "encoder patch embedding", prod (3, c->enc_pt, c->enc_pxy, c->enc_pxy, c->enc_dim),
      MAX_PRODUCT },
    { "encoder projectors", prod (MAX (c->qxy, c->qt), c->qxy, c->channels, c->enc_dim, 1),
      MAX_PRODUCT },
  };
  for (guint i = 0; i < G_N_ELEMENTS (d); i++)
    CHECK (d[i].v <= d[i].lim, "config: %s is %" G_GINT64_FORMAT ", more than %"
        G_GINT64_FORMAT, d[i].what, d[i].v, d[i].lim);
  return TRUE;
}

gboolean ct_config_validate (const CtConfig *c, GError **error)
{
  static const char *names[] = { "T", "H", "W", "enc_pt", "enc_pxy", "enc_dim",
    "enc_heads", "enc_vit_layers", "enc_cross_layers", "rxy", "rt", "channels",
    "qxy", "qt", "dec_dim", "dec_heads", "dec_layers", "dec_pxy", "dec_pt",
    "default_slice" };
  const int *f = &c->T;
  G_STATIC_ASSERT (G_N_ELEMENTS (names) ==
      G_STRUCT_OFFSET (CtConfig, enc_vit_eps) / sizeof (int));
  /* every int field up to default_slice must be positive */
  for (const int *p = f; p <= &c->default_slice; p++)
    CHECK (*p > 0 && *p <= (1 << 20), "config: %s is %d, must be in 1..2^20",
        names[p - f], *p);
  CHECK (c->T <= MAX_AXIS && c->H <= MAX_AXIS && c->W <= MAX_AXIS,
      "config: window T=%d %dx%d, at most %d per axis (token record bound)",
      c->T, c->W, c->H, MAX_AXIS);
  CHECK (c->enc_dim <= MAX_DIM && c->dec_dim <= MAX_DIM,
      "config: model width enc_dim=%d dec_dim=%d, at most %d", c->enc_dim, c->dec_dim, MAX_DIM);
  CHECK (c->enc_vit_layers <= MAX_LAYERS && c->enc_cross_layers <= MAX_LAYERS &&
      c->dec_layers <= MAX_LAYERS, "config: %d/%d/%d layers, at most %d per stack",
      c->enc_vit_layers, c->enc_cross_layers, c->dec_layers, MAX_LAYERS);
  CHECK (c->enc_heads <= c->enc_dim && c->dec_heads <= c->dec_dim,
      "config: more heads than channels (enc %d/%d, dec %d/%d)",
      c->enc_heads, c->enc_dim, c->dec_heads, c->dec_dim);
  CHECK (c->T % c->enc_pt == 0, "config: T=%d not a multiple of enc_pt=%d", c->T, c->enc_pt);
  CHECK (c->H % c->enc_pxy == 0 && c->W % c->enc_pxy == 0,
      "config: %dx%d not a multiple of enc_pxy=%d", c->H, c->W, c->enc_pxy);
  CHECK (c->rxy % c->qxy == 0, "config: rxy=%d not a multiple of qxy=%d", c->rxy, c->qxy);
  CHECK (c->rt % c->qt == 0, "config: rt=%d not a multiple of qt=%d", c->rt, c->qt);
  CHECK (c->rxy / c->qxy == c->rt / c->qt,
      "config: plane query grids must be square (rxy/qxy=%d, rt/qt=%d), as the official unpatchify assumes",
      c->rxy / c->qxy, c->rt / c->qt);
  CHECK (c->enc_dim % c->enc_heads == 0, "config: enc_dim=%d not divisible by enc_heads=%d",
      c->enc_dim, c->enc_heads);
  CHECK (c->dec_dim % c->dec_heads == 0, "config: dec_dim=%d not divisible by dec_heads=%d",
      c->dec_dim, c->dec_heads);
  CHECK (c->T % c->dec_pt == 0, "config: T=%d not a multiple of dec_pt=%d", c->T, c->dec_pt);
  CHECK (c->H % c->dec_pxy == 0 && c->W % c->dec_pxy == 0,
      "config: %dx%d not a multiple of dec_pxy=%d", c->H, c->W, c->dec_pxy);
  CHECK (c->H >= 2 * c->dec_pxy && c->W >= 2 * c->dec_pxy && c->T >= 2 * c->dec_pt,
      "config: need at least 2 decoded patches per axis");
  CHECK (c->rxy >= 2 && c->rt >= 2, "config: plane resolutions must be >= 2");
  CHECK (c->enc_vit_eps > 0 && c->enc_cross_eps > 0 && c->dec_eps > 0,
      "config: LayerNorm eps must be positive");
  return derived_sizes_ok (c, error);
}

double ct_config_encode_flops (const CtConfig *c)
{
  double nv = ct_config_n_video_tokens (c), nq = ct_config_n_query_tokens (c);
  double D = c->enc_dim, pin = 3.0 * c->enc_pt * c->enc_pxy * c->enc_pxy;
  double f = 2 * nv * pin * D;                       /* patch embed */
  double s = nv + 1;                                  /* ViT with cls */
  f += c->enc_vit_layers * (2 * s * 12 * D * D + 4 * s * s * D);
  /* cross blocks: q proj, kv proj of memory, out; self attn; mlp */
  f += c->enc_cross_layers * (2 * nq * D * D + 2 * nv * 2 * D * D + 2 * nq * D * D
        + 4 * nq * nv * D + 2 * nq * 4 * D * D + 4 * nq * nq * D + 2 * nq * 8 * D * D);
  f += 2 * nq * D * (double) (c->qxy * c->qxy * c->channels);
  return f;
}

double ct_config_decode_flops (const CtConfig *c, gint64 n, int slice)
{
  double D = c->dec_dim;
  double f = 0;
  gint64 done = 0;
  if (slice <= 0)
    slice = c->default_slice;
  while (done < n) {
    double s = MIN ((gint64) slice, n - done);
    f += s * 2 * 3 * c->channels * D;
    f += c->dec_layers * (s * 24 * D * D + 4 * s * s * D);
    f += s * 2 * D * ct_config_patch_values (c);
    done += (gint64) s;
  }
  return f;
}

/* ---- inference from shapes ------------------------------------------- */

static gboolean
shape_of (CtShapeLookup lookup, void *user, const char *name, int want_ndim,
    gint64 *shape, GError **error)
{
  int nd = 0;
  gint64 sh[8] = { 0 };
  if (!lookup (user, name, &nd, sh)) {
    g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH, "missing tensor '%s'", name);
    return FALSE;
  }
  if (nd != want_ndim) {
    g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH,
        "tensor '%s' has %d dimensions, expected %d", name, nd, want_ndim);
    return FALSE;
  }
  for (int i = 0; i < nd; i++) {
    if (sh[i] <= 0 || sh[i] > (1 << 24)) {
      g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH,
          "tensor '%s' has an implausible dimension %" G_GINT64_FORMAT, name, sh[i]);
      return FALSE;
    }
    shape[i] = sh[i];
  }
  return TRUE;
}

static int
count_layers (CtShapeLookup lookup, void *user, const char *fmt)
{
  int n = 0, nd;
  gint64 sh[8];
  for (;; n++) {
    char *name = g_strdup_printf (fmt, n);
    gboolean ok = lookup (user, name, &nd, sh);
    g_free (name);
    if (!ok)
      return n;
  }
}

gboolean
ct_config_infer (CtConfig *c, CtShapeLookup lookup, void *user,
    int enc_heads, int dec_heads, GError **error)
{
  gint64 s[8];
  memset (c, 0, sizeof *c);

  if (!shape_of (lookup, user, "encoder.encoder.patch_embed.proj.weight", 5, s, error))
    return FALSE;
  c->enc_dim = s[0];
  c->enc_pt = s[2];
  c->enc_pxy = s[3];
  if (s[1] != 3 || s[3] != s[4]) {
    g_set_error (error, CT_ERROR, CT_ERROR_UNSUPPORTED,
        "encoder.encoder.patch_embed.proj.weight: expected (De, 3, et, ep, ep), got (%"
        G_GINT64_FORMAT ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
        ", %" G_GINT64_FORMAT ")", s[0], s[1], s[2], s[3], s[4]);
    return FALSE;
  }
  if (!shape_of (lookup, user, "weight_tokens_xy", 4, s, error))
    return FALSE;
  c->rxy = s[1];
  c->channels = s[3];
  if (!shape_of (lookup, user, "weight_tokens_yt", 4, s, error))
    return FALSE;
  c->rt = s[1];
  if (!shape_of (lookup, user, "encoder.patch_embeds_xy.proj.weight", 4, s, error))
    return FALSE;
  c->qxy = s[2];
  if (!shape_of (lookup, user, "encoder.patch_embeds_yt.proj.weight", 4, s, error))
    return FALSE;
  c->qt = s[2];
  if (!shape_of (lookup, user, "decoder.transformer.pos_embed", 5, s, error))
    return FALSE;
  gint64 nt = s[1], nx = s[2], ny = s[3];
  c->dec_dim = s[4];
  if (!shape_of (lookup, user, "decoder.projector.weight", 2, s, error))
    return FALSE;
  gint64 pv = s[0];
  /* decoded patch: NX*p = H, and T = NT*pt; H from the encoder grid */
  if (!shape_of (lookup, user, "encoder.encoder.pos_emb", 3, s, error))
    return FALSE;
  gint64 nv = s[1];
  /* Nv = (T/et)(H/ep)(W/ep); with H/p = nx and W/p = ny, p = sqrt(pv/(3 pt)).
   * Solve: try pt = 1..pv/3 for an integer p that makes Nv consistent. */
  gboolean found = FALSE;
  for (gint64 pt = 1; pt <= pv / 3 && !found; pt++) {
    if (pv % (3 * pt))
      continue;
    gint64 pp = pv / (3 * pt), p = (gint64) sqrt ((double) pp);
    while (p * p > pp)       /* exact integer square root (pp <= 2^24) */
      p--;
    while ((p + 1) * (p + 1) <= pp)
      p++;
    if (p * p != pp)
      continue;
    /* every factor <= 2^24, so these products fit; the window itself must
     * pass ct_config_validate's bound of 2^20 per axis */
    gint64 T = nt * pt, H = nx * p, W = ny * p;
    if (T > (1 << 20) || H > (1 << 20) || W > (1 << 20))
      continue;
    if (T % c->enc_pt || H % c->enc_pxy || W % c->enc_pxy)
      continue;
    if ((T / c->enc_pt) * (H / c->enc_pxy) * (W / c->enc_pxy) != nv)
      continue;
    c->T = T; c->H = H; c->W = W; c->dec_pt = pt; c->dec_pxy = p;
    found = TRUE;
  }
  if (!found) {
    g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH,
        "cannot derive the window size: decoder.transformer.pos_embed grid %"
        G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
        ", projector %" G_GINT64_FORMAT " outputs, %" G_GINT64_FORMAT " video tokens",
        nt, nx, ny, pv, nv);
    return FALSE;
  }
  c->enc_vit_layers = count_layers (lookup, user, "encoder.encoder.layers.%d.norm1.weight");
  c->enc_cross_layers = count_layers (lookup, user, "encoder.transformer.layers.%d.norm1.weight");
  c->dec_layers = count_layers (lookup, user, "decoder.transformer.layers.%d.norm1.weight");
  /* Head counts are not in any shape.  CoordTok-L's layout (width 1024)
   * has 16; for any other width a guess would be silent and wrong (the
   * golden tiny model has 4), so it is refused with what to do. */
  if ((enc_heads <= 0 && c->enc_dim != 1024) || (dec_heads <= 0 && c->dec_dim != 1024)) {
    g_set_error (error, CT_ERROR, CT_ERROR_MISMATCH,
        "the weights do not say how many attention heads the model has (widths: "
        "encoder %d, decoder %d; only CoordTok-L's 1024 implies 16): give them with "
        "'coordtok convert --enc-heads N --dec-heads N' (which writes them into the "
        "file), or COORDTOK_ENC_HEADS / COORDTOK_DEC_HEADS", c->enc_dim, c->dec_dim);
    return FALSE;
  }
  c->enc_heads = enc_heads > 0 ? enc_heads : 16;
  c->dec_heads = dec_heads > 0 ? dec_heads : 16;
  c->enc_vit_eps = 1e-5f;
  c->enc_cross_eps = 1e-6f;
  c->dec_eps = 1e-5f;
  /* 16 whole frames (fewer if the window is shorter), computed in 64 bits
   * and capped at the largest slice validate accepts */
  gint64 frame = (gint64) (c->H / c->dec_pxy) * (c->W / c->dec_pxy);
  c->default_slice = (int) MIN (MIN (16, (gint64) (c->T / c->dec_pt)) * frame,
      (gint64) 1 << 20);
  return ct_config_validate (c, error);
}

/* ---- metadata ---------------------------------------------------------- */

typedef struct { const char *key; size_t off; gboolean is_float; } Field;
#define FI(name) { "coordtok." #name, G_STRUCT_OFFSET (CtConfig, name), FALSE }
#define FF(name) { "coordtok." #name, G_STRUCT_OFFSET (CtConfig, name), TRUE }
static const Field fields[] = {
  FI (T), FI (H), FI (W), FI (enc_pt), FI (enc_pxy), FI (enc_dim), FI (enc_heads),
  FI (enc_vit_layers), FI (enc_cross_layers), FI (rxy), FI (rt), FI (channels),
  FI (qxy), FI (qt), FI (dec_dim), FI (dec_heads), FI (dec_layers), FI (dec_pxy),
  FI (dec_pt), FI (default_slice), FF (enc_vit_eps), FF (enc_cross_eps), FF (dec_eps),
};

gboolean
ct_config_from_metadata (CtConfig *c, GHashTable *md, gboolean *has_config,
    GError **error)
{
  int present = 0;
  memset (c, 0, sizeof *c);
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    if (md && g_hash_table_lookup (md, fields[i].key))
      present++;
  if (has_config)
    *has_config = present > 0;
  if (present == 0) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "no coordtok.* configuration in metadata");
    return FALSE;
  }
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++) {
    const char *v = g_hash_table_lookup (md, fields[i].key);
    char *end = NULL;
    if (!v) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "metadata: missing key '%s'", fields[i].key);
      return FALSE;
    }
    errno = 0;
    if (fields[i].is_float) {
      double d = g_ascii_strtod (v, &end);
      if (errno || end == v || *end || !(d > 0 && d < 1)) {
        g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
            "metadata: '%s' = '%s' is not a valid eps", fields[i].key, v);
        return FALSE;
      }
      G_STRUCT_MEMBER (float, c, fields[i].off) = (float) d;
    } else {
      gint64 n = g_ascii_strtoll (v, &end, 10);
      if (errno || end == v || *end || n <= 0 || n > (1 << 20)) {
        g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
            "metadata: '%s' = '%s' is not a positive integer", fields[i].key, v);
        return FALSE;
      }
      G_STRUCT_MEMBER (int, c, fields[i].off) = (int) n;
    }
  }
  return ct_config_validate (c, error);
}

void
ct_config_to_metadata (const CtConfig *c,
    void (*set) (void *user, const char *key, const char *value), void *user)
{
  set (user, "coordtok.format", "coordtok-weights-1");
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++) {
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    if (fields[i].is_float)
      g_ascii_formatd (buf, sizeof buf, "%.9g", G_STRUCT_MEMBER (float, c, fields[i].off));
    else
      g_snprintf (buf, sizeof buf, "%d", G_STRUCT_MEMBER (int, c, fields[i].off));
    set (user, fields[i].key, buf);
  }
}
