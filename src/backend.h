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

/* Bump on every change of CtBackendOps or of what its functions mean. */
#define CT_BACKEND_ABI_VERSION 4

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
  gboolean (*encode) (void *ctx, const float *video, int n_frames, float *z,
      CtEncodeTrace *trace, GError **error);
  gboolean (*decode) (void *ctx, const float *z, const float *coords, int n,
      float *out, float *embedding, GError **error);
  const char *(*device_name) (void *ctx);
  /* Optional: n_seq independent sequences of seq queries in one call
   * (coords/out stacked), sequence i over planes z[i] (tiles of a frame
   * grid); NULL: the session calls decode per sequence. */
  gboolean (*decode_seqs) (void *ctx, const float *const *z, const float *coords,
      int n_seq, int seq, float *out, float *embedding, GError **error);
  /* Optional: host threads per call (0: automatic); NULL: not applicable. */
  void (*set_threads) (void *ctx, int n);
  /* Optional: n_tiles windows with the same n_frames in one batch; NULL:
   * the session calls encode per tile. */
  gboolean (*encode_tiles) (void *ctx, const CtTileSource *src, int n_tiles,
      int n_frames, float *z, CtEncodeTrace *trace, GError **error);
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
