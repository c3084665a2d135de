/* backend-registry.c - finds, probes and creates backends (backend.h): the
 * CPU backend built in, the CUDA backend from its module, and device=auto's
 * fallback to the CPU with the reason logged.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "backend.h"
#include "config.h"

#include <gmodule.h>

static GMutex cuda_lock;
static gboolean cuda_tried;
static const CtBackendOps *cuda_ops;
static char *cuda_error;

/* Loads the CUDA module once per process.  Where CUDA is not installed the
 * module fails to load and we keep why; the CPU path is unaffected. */
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
      char *path = g_build_filename (dirs[i], CT_CUDA_BACKEND_MODULE, NULL);
      if (g_file_test (path, G_FILE_TEST_EXISTS)) {
        GModule *mod = g_module_open (path, G_MODULE_BIND_LOCAL);
        gpointer sym = NULL;
        if (!mod) {
          g_string_append_printf (why, "%s: %s; ", path, g_module_error ());
        } else if (!g_module_symbol (mod, CT_CUDA_BACKEND_SYMBOL, &sym) || !sym) {
          g_string_append_printf (why, "%s: no symbol %s; ", path, CT_CUDA_BACKEND_SYMBOL);
          g_module_close (mod);
        } else if (((const CtBackendOps *) sym)->abi_version != CT_BACKEND_ABI_VERSION) {
          g_string_append_printf (why, "%s: built for backend interface version %u, "
              "this libcoordtok has %u; ", path, ((const CtBackendOps *) sym)->abi_version,
              CT_BACKEND_ABI_VERSION);
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
          : (g_string_free (why, TRUE), g_strdup (CT_CUDA_BACKEND_MODULE " not found "
              "(built without CUDA?)"));
    else
      g_string_free (why, TRUE);
  }
  g_mutex_unlock (&cuda_lock);
  if (!cuda_ops)
    g_set_error (error, CT_ERROR, CT_ERROR_DEVICE, "CUDA backend unavailable: %s", cuda_error);
  return cuda_ops;
}

gboolean
ct_backend_create (CtModel *m, CtDevice device, int device_index,
    CtPrecision precision, const CtBackendOps **ops_out, void **ctx_out, GError **error)
{
  if (device_index < -1) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT,
        "device index %d: use -1 (the default device) or a device number", device_index);
    return FALSE;
  }
  if (device != CT_DEVICE_AUTO && device != CT_DEVICE_CPU && device != CT_DEVICE_CUDA) {
    g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT, "unknown device %d", device);
    return FALSE;
  }
  if (device != CT_DEVICE_CPU) {
    GError *cuda_err = NULL;
    const CtBackendOps *ops = load_cuda_backend (&cuda_err);
    gboolean refused = FALSE;
    void *ctx = NULL;
    if (ops && ops->probe (device_index, &cuda_err)) {
      ctx = ops->create (m, ct_model_weights (m), precision, device_index, &cuda_err);
      refused = ctx == NULL;
    }
    if (ctx) {
      *ops_out = ops;
      *ctx_out = ctx;
      return TRUE;
    }
    if (device == CT_DEVICE_CUDA) {
      g_propagate_error (error, cuda_err);
      return FALSE;
    }
    /* a machine without CUDA or a GPU is ordinary; a GPU that refused the
     * model is news */
    if (refused)
      g_message ("coordtok: device=auto: using the CPU: %s", cuda_err->message);
    else
      g_info ("coordtok: device=auto: using the CPU: %s", cuda_err->message);
    g_clear_error (&cuda_err);
    /* reduced precisions are GPU settings; the CPU computes in fp32 */
    precision = CT_PRECISION_FP32;
  }
  void *ctx = ct_cpu_backend_ops.create (m, ct_model_weights (m), precision, -1, error);
  if (!ctx)
    return FALSE;
  *ops_out = &ct_cpu_backend_ops;
  *ctx_out = ctx;
  return TRUE;
}
