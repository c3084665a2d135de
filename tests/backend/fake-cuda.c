/* fake-cuda.c - a stand-in for libcoordtok-cuda.so that lets the registry's
 * fallbacks be tested without a GPU.  FAKE_CUDA selects what goes wrong:
 * "nodevice" (probe fails), "refuse" (create refuses the model, as a GPU
 * out of memory would), "abi" (built for another backend interface), "old"
 * (built for version 4, the interface of four compute calls before the two
 * batched ones: its table is laid out otherwise and must never be called).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "backend.h"

#include <gmodule.h>

static gboolean
fake_probe (int device_index, GError **error)
{
  if (!g_strcmp0 (g_getenv ("FAKE_CUDA"), "nodevice")) {
    g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "fake: no CUDA device");
    return FALSE;
  }
  return TRUE;
}

/* names the device it was asked for, so that tests can follow the index
 * from an element or the API down to the backend */
static void *
fake_create (CtModel *m, const CtWeights *w, CtPrecision precision,
    int device_index, GError **error)
{
  g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "fake: out of memory on device %d "
      "for model %s", device_index, ct_model_id (m));
  return NULL;
}

static void fake_destroy (void *ctx) { }

G_MODULE_EXPORT CtBackendOps ct_cuda_backend_ops = {
  .abi_version = CT_BACKEND_ABI_VERSION,
  .name = "fake-cuda",
  .probe = fake_probe,
  .create = fake_create,
  .destroy = fake_destroy,
};

static void __attribute__ ((constructor))
fake_abi (void)
{
  if (!g_strcmp0 (g_getenv ("FAKE_CUDA"), "abi"))
    ct_cuda_backend_ops.abi_version = CT_BACKEND_ABI_VERSION + 1000;
  if (!g_strcmp0 (g_getenv ("FAKE_CUDA"), "old"))
    ct_cuda_backend_ops.abi_version = 4;
}
