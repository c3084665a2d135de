/* backend.h - the interface between the engine and its backends, and the
 * registry that picks one (backend-registry.c).  Internal to libcoordtok
 * and its backend modules; not installed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A backend runs the network over a model's weights.  The CPU backend is
 * built into libcoordtok; the CUDA backend is a module loaded at run time
 * (libcoordtok-cuda.so, symbol ct_cuda_backend_ops) so that the library
 * loads on machines without CUDA.  A module built against another version
 * of this interface is refused (abi_version), never called.
 */
#ifndef CT_BACKEND_H
#define CT_BACKEND_H

#include "model-private.h"

G_BEGIN_DECLS

/* Bump on every change of CtBackendOps or of what its functions mean.
 * 5: two batched compute calls (encode_tiles from 8-bit frames, decode_seqs
 * over planes bound once per record) instead of four. */
#define CT_BACKEND_ABI_VERSION 5

/* Where a batched encode gets its windows: 8-bit RGB frames cut into the
 * grid's tiles (rgb non-NULL: `frames` frames, frame f's row y at rgb + f *
 * frame_stride + y * stride; a GPU backend can upload these bytes and
 * convert on the device; the window's frames from `frames` up to the
 * n_frames encoded repeat the last one, ct_window_encoded_frames), or, when
 * rgb is NULL, n_tiles windows (T, H, W, 3) in model
 * space one after another at `video`, padded past n_frames (the reference
 * path of ct_session_encode). */
typedef struct {
  const guint8 *rgb;
  gsize stride, frame_stride;
  int frames;            /* frames at rgb (<= the n_frames encoded) */
  CtTileGrid grid;
  const float *video;
} CtTileSource;

/* Tile i of a source as a model-space window: its own memory, or `scratch`
 * (T*H*W*3 floats) filled by ct_tile_gather_rgb8.  For backends that
 * convert on the host. */
static inline const float *
ct_tile_source_window (const CtConfig *c, const CtTileSource *src, int i,
    float *scratch)
{
  if (!src->rgb)
    return src->video + (gsize) i * c->T * c->H * c->W * 3;
  /* the real frames; the gather fills the rest of the encoded n_frames */
  ct_tile_gather_rgb8 (c, &src->grid, i, src->rgb, src->stride,
      src->frame_stride, src->frames, scratch);
  return scratch;
}

/* A backend: two compute calls, each batched.  The session derives every
 * single-tile and single-sequence call from them. */
typedef struct {
  guint32 abi_version;   /* CT_BACKEND_ABI_VERSION the backend was built with */
  const char *name;
  /* Returns FALSE (with error) when device device_index (-1: the
   * backend's default) is not there or not usable. */
  gboolean (*probe) (int device_index, GError **error);
  /* w: the model's weights (ct_model_weights is internal to libcoordtok,
   * which a module cannot call).  Refusals (model too large, head size,
   * out of memory) return NULL with the reason. */
  void *(*create) (CtModel *m, const CtWeights *w, CtPrecision precision,
      int device_index, GError **error);
  void (*destroy) (void *ctx);
  const char *(*device_name) (void *ctx);
  /* Optional: host threads per call (0: automatic); NULL: not applicable. */
  void (*set_threads) (void *ctx, int n);
  /* Encodes n_tiles windows with the same n_frames (1..T) as one batch;
   * z: n_tiles triplanes one after another.  trace (optional) is tile 0's. */
  gboolean (*encode_tiles) (void *ctx, const CtTileSource *src, int n_tiles,
      int n_frames, float *z, CtEncodeTrace *trace, GError **error);
  /* Binds a record's planes (n_tiles triplanes at z, which stay valid and
   * unchanged until unbind_planes) for the decode_seqs calls that follow:
   * a GPU backend uploads them once for every chunk of the window. */
  gboolean (*bind_planes) (void *ctx, const float *z, int n_tiles, GError **error);
  void (*unbind_planes) (void *ctx);
  /* Decodes n_seq independent sequences of seq queries (coords, out and
   * embedding stacked), sequence i over bound tile tiles[i].  embedding
   * (n_seq * seq, 3C) is optional. */
  gboolean (*decode_seqs) (void *ctx, const int *tiles, const float *coords,
      int n_seq, int seq, float *out, float *embedding, GError **error);
} CtBackendOps;

#define CT_CUDA_BACKEND_SYMBOL "ct_cuda_backend_ops"
#define CT_CUDA_BACKEND_MODULE "libcoordtok-cuda.so"

extern const CtBackendOps ct_cpu_backend_ops;

/* The registry.  Finds the backend of `device` (CUDA: the module from
 * $COORDTOK_MODULE_DIR, then the install's module dir, loaded once per
 * process), probes it and creates a context for the model.  CT_DEVICE_AUTO
 * tries CUDA and falls back to the CPU, logging why, when the module is
 * missing or refused, has no device, or refuses the model; the CPU then
 * computes in fp32.  CT_DEVICE_CUDA reports those as errors.  device_index
 * picks the GPU (-1: the backend's default); the CPU ignores it. */
gboolean ct_backend_create (CtModel *m, CtDevice device, int device_index,
    CtPrecision precision, const CtBackendOps **ops, void **ctx, GError **error);

G_END_DECLS

#endif
