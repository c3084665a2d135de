/* session.c - a model bound to a backend (CPU built in, CUDA loaded as a
 * module at run time), with argument checking and the whole-window
 * rasterizer (rasterize.c) and tiling (tiling.c) on top of the backend's
 * decode.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "session-private.h"
#include "config.h"

#include <gmodule.h>
#include <math.h>
#include <string.h>


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
    const char *dirs[] = { env, CT_BUILD_MODULE_DIR, CT_MODULE_DIR };
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
  void *ctx = ops->create (m, precision, error);
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
  g_free (s->seq_planes);
  g_free (s->tile_video);
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
ct_session_encode_source (CtSession *s, const CtTileSource *src, int n_tiles,
    int n_frames, float *z, GError **error)
{
  const CtConfig *c = ct_model_config (s->model);
  if (s->ops->encode_tiles)
    return s->ops->encode_tiles (s->ctx, src, n_tiles, n_frames, z, NULL, error);
  /* a backend without batches: one tile after another */
  if (!s->tile_video) {
    s->tile_video = g_try_malloc ((gsize) c->T * c->H * c->W * 3 * sizeof (float));
    if (!s->tile_video) {
      g_set_error (error, CT_ERROR, CT_ERROR_IO, "encode: out of memory for a window");
      return FALSE;
    }
  }
  for (int i = 0; i < n_tiles; i++) {
    const float *video = src->tile (src->user, i, s->tile_video);
    if (!s->ops->encode (s->ctx, video, n_frames, z + (gsize) i * ct_config_token_floats (c),
            NULL, error))
      return FALSE;
  }
  return TRUE;
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
