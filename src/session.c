/* session.c - a model bound to a backend (CPU built in, CUDA loaded as a
 * module at run time), with argument checking and the whole-window
 * rasterizer on top of the backend's decode.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "backend.h"

#include <math.h>
#include <string.h>

struct _CtSession {
  CtModel *model;
  const CtBackendOps *ops;
  void *ctx;
  CtDevice device;
  /* rasterizer scratch, grown on demand */
  float *coords, *patches;
  int capacity;
};

CtSession *
ct_session_new (CtModel *m, CtDevice device, CtPrecision precision, GError **error)
{
  const CtBackendOps *ops;
  void *ctx;
  if (!ct_backend_create (m, device, precision, &ops, &ctx, error))
    return NULL;
  CtSession *s = g_new0 (CtSession, 1);
  s->model = ct_model_ref (m);
  s->ops = ops;
  s->ctx = ctx;
  s->device = ops == &ct_cpu_backend_ops ? CT_DEVICE_CPU : CT_DEVICE_CUDA;
  return s;
}

void
ct_session_free (CtSession *s)
{
  if (!s)
    return;
  s->ops->destroy (s->ctx);
  ct_model_unref (s->model);
  g_free (s->coords);
  g_free (s->patches);
  g_free (s);
}

void
ct_session_set_threads (CtSession *s, int n)
{
  if (s->ops->set_threads)
    s->ops->set_threads (s->ctx, n < 0 ? CT_THREADS_ADAPTIVE : n);
}

CtDevice ct_session_device (const CtSession *s) { return s->device; }
const char *ct_session_device_name (const CtSession *s) { return s->ops->device_name (s->ctx); }
CtModel *ct_session_model (const CtSession *s) { return s->model; }

gboolean
ct_session_encode (CtSession *s, const float *video, int n_frames, float *z,
    CtEncodeTrace *trace, GError **error)
{
  const CtConfig *c = ct_model_config (s->model);
  if (!video || !z || n_frames < 1 || n_frames > c->T) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "encode: need video, output and 1 <= n_frames (%d) <= T (%d)", n_frames, c->T);
    return FALSE;
  }
  return s->ops->encode (s->ctx, video, n_frames, z, trace, error);
}

gboolean
ct_session_decode (CtSession *s, const float *z, const float *coords, int n,
    float *out, float *embedding, GError **error)
{
  if (!z || !coords || !out || n < 1) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT, "decode: need planes, coords, output and n >= 1");
    return FALSE;
  }
  for (int i = 0; i < 3 * n; i++)
    if (!(coords[i] >= 0.0f && coords[i] <= 1.0f)) {
      g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
          "decode: coordinate %d (%g) outside [0, 1]", i, coords[i]);
      return FALSE;
    }
  return s->ops->decode (s->ctx, z, coords, n, out, embedding, error);
}

void
ct_patch_coord (const CtConfig *c, int it, int ix, int iy, float out[3])
{
  out[0] = (float) it / (float) (ct_config_nt (c) - 1);
  out[1] = (float) ix / (float) (ct_config_nx (c) - 1);
  out[2] = (float) iy / (float) (ct_config_ny (c) - 1);
}

static gboolean
check_span (const char *what, int *start, int *len, int limit, int align,
    GError **error)
{
  if (*len <= 0)
    *len = limit - *start;
  if (*start < 0 || *len < 1 || *start + *len > limit || *start % align ||
      (*len % align && *start + *len != limit)) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "rasterize: %s [%d, %d) must lie inside [0, %d) and be aligned to %d",
        what, *start, *start + *len, limit, align);
    return FALSE;
  }
  return TRUE;
}

gboolean
ct_session_rasterize_region (CtSession *s, const float *z, int n_frames,
    int slice, CtRegion *r, float *out, GError **error)
{
  const CtConfig *c = ct_model_config (s->model);
  int pt = c->dec_pt, p = c->dec_pxy;
  int pv = ct_config_patch_values (c);

  if (n_frames < 1 || n_frames > c->T) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "rasterize: n_frames %d outside 1..%d", n_frames, c->T);
    return FALSE;
  }
  if (!check_span ("frames", &r->t0, &r->nt, n_frames, pt, error) ||
      !check_span ("rows", &r->top, &r->height, c->H, p, error) ||
      !check_span ("columns", &r->left, &r->width, c->W, p, error))
    return FALSE;
  /* H and W are multiples of p (config), so rows and columns are whole
   * patches; only the frame span may end on a partial patch */
  int t0 = r->t0, nt = r->nt;
  int ix0 = r->top / p, nx = r->height / p, iy0 = r->left / p, ny = r->width / p;
  gsize rw = r->width;
  if (slice <= 0)
    slice = c->default_slice;
  int it0 = t0 / pt, it1 = (t0 + nt + pt - 1) / pt;
  gint64 nq = (gint64) (it1 - it0) * nx * ny;
  if (slice > nq)
    slice = nq;
  /* Backends that take several sequences per call get whole slices stacked
   * up to ~4096 rows: their linear layers then multiply bigger matrices. */
  int per_call = slice;
  if (s->ops->decode_seqs && slice < 4096)
    per_call = MIN ((gint64) (4096 / slice) * slice, nq);
  if (per_call > s->capacity) {
    g_free (s->coords);
    g_free (s->patches);
    s->coords = g_try_malloc ((gsize) per_call * 3 * sizeof (float));
    s->patches = g_try_malloc ((gsize) per_call * pv * sizeof (float));
    s->capacity = per_call;
    if (!s->coords || !s->patches) {
      g_free (s->coords);
      g_free (s->patches);
      s->coords = s->patches = NULL;
      s->capacity = 0;
      g_set_error (error, CT_ERROR, CT_ERROR_IO, "rasterize: out of memory for slice %d", slice);
      return FALSE;
    }
  }
  gsize frame = (gsize) r->height * r->width * 3;
  for (gint64 q0 = 0; q0 < nq; q0 += per_call) {
    int n = MIN ((gint64) per_call, nq - q0);
    for (int i = 0; i < n; i++) {
      gint64 q = q0 + i;
      int iy = q % ny, ix = (q / ny) % nx, it = it0 + q / ((gint64) nx * ny);
      ct_patch_coord (c, it, ix0 + ix, iy0 + iy, s->coords + 3 * i);
    }
    /* whole slices together, then the last, shorter slice on its own */
    int whole = n / slice, rest = n % slice;
    if (per_call == slice) {
      if (!s->ops->decode (s->ctx, z, s->coords, n, s->patches, NULL, error))
        return FALSE;
    } else {
      if (whole && !s->ops->decode_seqs (s->ctx, z, s->coords, whole, slice,
              s->patches, NULL, error))
        return FALSE;
      if (rest && !s->ops->decode (s->ctx, z, s->coords + 3 * (gsize) whole * slice,
              rest, s->patches + (gsize) whole * slice * pv, NULL, error))
        return FALSE;
    }
    for (int i = 0; i < n; i++) {
      gint64 q = q0 + i;
      int iy = q % ny, ix = (q / ny) % nx, it = it0 + q / ((gint64) nx * ny);
      const float *pp = s->patches + (gsize) i * pv;
      for (int dt = 0; dt < pt; dt++) {
        int f = it * pt + dt;
        if (f < t0 || f >= t0 + nt)
          continue;
        for (int dx = 0; dx < p; dx++)
          memcpy (out + (f - t0) * frame + ((gsize) (ix * p + dx) * rw + iy * p) * 3,
              pp + ((dt * p + dx) * p) * 3, p * 3 * sizeof (float));
      }
    }
  }
  return TRUE;
}

gboolean
ct_session_rasterize_range (CtSession *s, const float *z, int n_frames,
    int slice, int t0, int nt, float *out, GError **error)
{
  CtRegion r = { .t0 = t0, .nt = nt };
  return ct_session_rasterize_region (s, z, n_frames, slice, &r, out, error);
}

gboolean
ct_session_rasterize (CtSession *s, const float *z, int n_frames, int slice,
    float *out, GError **error)
{
  return ct_session_rasterize_range (s, z, n_frames, slice, 0, 0, out, error);
}
