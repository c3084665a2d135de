/* fuzz-safetensors.c - libFuzzer harness: the safetensors reader and model
 * loading (metadata, configuration, shape inference, every tensor check).
 * Invariants: no crash, no leak, and every refusal comes with a message.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-common.h"
#include "model-cache.h"
#include "safetensors.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *err = NULL;
  CtSafetensors *st = ct_safetensors_open_memory (data, size, &err);
  if (st) {
    float buf[256];
    for (int i = 0; i < ct_safetensors_n_tensors (st); i++) {
      const CtTensorView *t = ct_safetensors_tensor (st, i);
      FUZZ_CHECK (ct_safetensors_find (st, t->name) == t);
      FUZZ_CHECK (t->data + t->nbytes <= data + size);
      if (t->numel <= (gint64) G_N_ELEMENTS (buf) && t->dtype != CT_DTYPE_U8)
        FUZZ_CHECK (ct_tensor_to_f32 (t, buf, NULL));
    }
    ct_safetensors_metadata (st, "coordtok.T");
    ct_safetensors_close (st);
  } else {
    fuzz_check_error (&err);
  }
  /* the loader, with head counts from metadata or (inferred configs) 1 */
  CtLoadOptions opts = { 1, 1 };
  CtModel *m = ct_model_load_memory (data, size, size % 2 ? &opts : NULL, &err);
  if (m) {
    FUZZ_CHECK (ct_config_validate (ct_model_config (m), NULL));
    ct_model_unref (m);
  } else {
    fuzz_check_error (&err);
  }
  return 0;
}
