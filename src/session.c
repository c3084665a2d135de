/* session.c - a model bound to a backend (CPU built in, CUDA loaded as a
 * module at run time), with argument checking; single-window encodes and
 * single-sequence decodes as batches of one of the backend's two calls.
 * The rasterizer (rasterize.c) and tiling (tiling.c) sit on top.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "session-private.h"
#include "backend.h"
#include "config-private.h"

#include <math.h>
#include <string.h>


gboolean
ct_device_parse (const char *s, CtDevice *d, int *index)
{
  guint64 n = 0;
  *index = -1;
  if (!g_strcmp0 (s, "auto")) *d = CT_DEVICE_AUTO;
  else if (!g_strcmp0 (s, "cpu")) *d = CT_DEVICE_CPU;
  else if (!g_strcmp0 (s, "cuda")) *d = CT_DEVICE_CUDA;
  else if (s && g_str_has_prefix (s, "cuda:") &&
      g_ascii_string_to_unsigned (s + 5, 10, 0, 1023, &n, NULL)) {
    *d = CT_DEVICE_CUDA;
    *index = (int) n;
  } else return FALSE;
  return TRUE;
}

CtSession *
ct_session_new (CtModel *m, CtDevice device, CtPrecision precision, GError **error)
{
  return ct_session_new_full (m, device, -1, precision, error);
}

CtSession *
ct_session_new_full (CtModel *m, CtDevice device, int device_index,
    CtPrecision precision, GError **error)
{
  const CtBackendOps *ops;
  void *ctx;
  if (!ct_backend_create (m, device, device_index, precision, &ops, &ctx, error))
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
  g_free (s->seq_tiles);
  g_free (s->chunk);
  g_free (s->chunk_rgb);
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
  /* one window: a batch of one, from model space */
  CtTileSource src = { .video = video };
  return s->ops->encode_tiles (s->ctx, &src, 1, n_frames, z, trace, error);
}

gboolean
ct_session_encode_source (CtSession *s, const CtTileSource *src, int n_tiles,
    int n_frames, float *z, GError **error)
{
  return s->ops->encode_tiles (s->ctx, src, n_tiles, n_frames, z, NULL, error);
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
    if (!ct_geom_coord_valid (coords[i])) {
      g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
          "decode: coordinate %d (%g) outside [0, 1]", i, coords[i]);
      return FALSE;
    }
  /* one sequence over one tile's planes */
  static const int tile0 = 0;
  if (!s->ops->bind_planes (s->ctx, z, 1, error))
    return FALSE;
  gboolean ok = s->ops->decode_seqs (s->ctx, &tile0, coords, 1, n, out, embedding,
      error);
  s->ops->unbind_planes (s->ctx);
  return ok;
}

void
ct_patch_coord (const CtConfig *c, int it, int ix, int iy, float out[3])
{
  CtPlaneGeometry g = ct_config_plane_geometry (c);
  ct_geom_patch_coord (&g, it, ix, iy, out);
}
