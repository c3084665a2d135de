/* fuzz-checkpoint.c - libFuzzer harness: the checkpoint converter's path,
 * zip archive + non-executing pickle + state dict + shape inference + view
 * gathering.  An input that is not a zip is also run through the pickle
 * interpreter alone, so one corpus covers both.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-common.h"
#include "convert/convert.h"
#include "convert/pickle.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *err = NULL;
  if (size < 2 || memcmp (data, "PK", 2) != 0) {
    CtPickle *p = ct_pickle_load (data, size, &err);
    if (p)
      ct_pickle_free (p);
    else
      fuzz_check_error (&err);
    return 0;
  }
  CtCheckpoint *c = ct_checkpoint_open_memory (data, size, &err);
  if (!c) {
    fuzz_check_error (&err);
    return 0;
  }
  /* gather every small tensor in each output type */
  static guint8 buf[1 << 16];
  for (guint i = 0; i < ct_checkpoint_n_tensors (c); i++) {
    const CtCheckpointTensor *t = ct_checkpoint_tensor (c, i);
    FUZZ_CHECK (t->numel >= 0);
    const CtDType out[] = { CT_DTYPE_F32, CT_DTYPE_F16, CT_DTYPE_BF16 };
    for (guint k = 0; k < G_N_ELEMENTS (out); k++) {
      gsize n = (gsize) t->numel * ct_dtype_size (out[k]);
      if (n > sizeof buf)
        continue;
      FUZZ_CHECK (ct_checkpoint_read (c, i, out[k], buf, n, &err));
    }
  }
  CtConfig cfg;
  if (ct_checkpoint_infer_config (c, 0, 0, &cfg, &err))
    FUZZ_CHECK (ct_config_validate (&cfg, NULL));
  else
    fuzz_check_error (&err);
  ct_checkpoint_free (c);
  return 0;
}
