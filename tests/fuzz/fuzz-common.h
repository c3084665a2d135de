/* fuzz-common.h - what every harness checks besides "no crash": a refusal
 * always carries a GError with a message, and invariants hold.  A failed
 * check aborts, which libFuzzer (and the replay driver) report.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_FUZZ_COMMON_H
#define CT_FUZZ_COMMON_H

#include "coordtok.h"

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond) do { if (!(cond)) { \
      fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      abort (); } } while (0)

/* A refusal must say why; clears the error for the next call. */
static inline void
fuzz_check_error (GError **err)
{
  FUZZ_CHECK (*err != NULL && (*err)->message && (*err)->message[0]);
  g_clear_error (err);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

#endif
