/* session.c - a model bound to a backend (CPU built in, CUDA loaded as a
 * module at run time), with argument checking and the whole-window
 * rasterizer on top of the backend's decode.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model-private.h"
#include "config.h"

#include <gmodule.h>
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

static GMutex cuda_lock;
static gboolean cuda_tried;
static const CtBackendOps *cuda_ops;
static char *cuda_error;

/* Loads libcoordtok-cuda.so once per process.  Where CUDA is not installed
 * the module fails to load and we report why; the CPU path is unaffected. */
static const CtBackendOps *
load_cuda_backend (GError **error)
{
  g_mutex_lock (&cuda_lock);
  if (!cuda_tried) {
    cuda_tried = TRUE;
    const char *env = g_getenv ("COORDTOK_MODULE_DIR");
    const char *dirs[] = { env, CT_MODULE_DIR };
    GString *why = g_string_new (NULL);
    for (guint i = 0; i < G_N_ELEMENTS (dirs) && !cuda_ops; i++) {
      if (!dirs[i] || !*dirs[i])
        continue;
      char *path = g_build_filename (dirs[i], "libcoordtok-cuda.so", NULL);
      if (g_file_test (path, G_FILE_TEST_EXISTS)) {
        GModule *mod = g_module_open (path, G_MODULE_BIND_LOCAL);
        gpointer sym = NULL;
        if (!mod)
          g_string_append_printf (why, "%s: %s; ", path, g_module_error ());
        else if (!g_module_symbol (mod, CT_CUDA_BACKEND_SYMBOL, &sym) || !sym) {
          g_string_append_printf (why, "%s: no symbol %s; ", path, CT_CUDA_BACKEND_SYMBOL);
          g_module_close (mod);
        } else {
          g_module_make_resident (mod);
          cuda_ops = sym;
        }
      }
      g_free (path);
    }
    if (!cuda_ops)
      cuda_error = why->len ? g_string_free (why, FALSE)
          : (g_string_free (why, TRUE), g_strdup ("libcoordtok-cuda.so not found (built without CUDA?)"));
    else
      g_string_free (why, TRUE);
  }
  g_mutex_unlock (&cuda_lock);
  if (!cuda_ops)
    g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "CUDA backend unavailable: %s", cuda_error);
  return cuda_ops;
}

CtSession *
ct_session_new (CtModel *m, CtDevice device, CtPrecision precision, GError **error)
{
  const CtBackendOps *ops = NULL;
  GError *cuda_err = NULL;

  if (device == CT_DEVICE_CUDA || device == CT_DEVICE_AUTO) {
    ops = load_cuda_backend (&cuda_err);
    if (ops && !ops->probe (&cuda_err))
      ops = NULL;
    if (!ops && device == CT_DEVICE_CUDA) {
      g_propagate_error (error, cuda_err);
      return NULL;
    }
    if (!ops) {
      g_debug ("device=auto: using CPU (%s)", cuda_err->message);
      g_clear_error (&cuda_err);
    }
  }
  if (!ops) {
    ops = &ct_cpu_backend_ops;
    /* reduced precisions are GPU settings; on auto->CPU compute in fp32 */
    if (device == CT_DEVICE_AUTO)
      precision = CT_PRECISION_FP32;
  }
  void *ctx = ops->create (m, ct_model_weights (m), precision, error);
  if (!ctx)
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
