/* fuzz-parse.c - libFuzzer harness: the coordtokparse element in a
 * GstHarness.  The first byte picks how the rest is cut into buffers (one
 * buffer, or chunks of 1..255 bytes); then EOS.  Every buffer the parser
 * pushes must be one whole record whose header checks out, and the parser
 * may never ask for more than the largest record a header can describe.
 * The plugin is found through GST_PLUGIN_PATH (set by meson and by
 * tests/fuzz/run-fuzzers.sh).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-common.h"
#include "tokens/tokens.h"

#include <gst/gst.h>
#include <gst/check/gstharness.h>

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_setenv ("GST_REGISTRY_FORK", "no", FALSE);
  gst_init (NULL, NULL);
  GstElementFactory *f = gst_element_factory_find ("coordtokparse");
  if (!f) {
    fprintf (stderr, "coordtokparse not found: set GST_PLUGIN_PATH to the build's plugin/\n");
    abort ();
  }
  gst_object_unref (f);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static gboolean ready;
  if (!ready) {      /* the replay driver has no initialize hook of its own */
    LLVMFuzzerInitialize (NULL, NULL);
    ready = TRUE;
  }
  if (size < 1)
    return 0;
  gsize chunk = data[0] ? data[0] : size;
  data++;
  size--;
  GstHarness *h = gst_harness_new ("coordtokparse");
  gst_harness_set_src_caps_str (h, "video/x-coordtok");
  for (gsize off = 0; off < size; off += chunk) {
    gsize n = MIN (chunk, size - off);
    FUZZ_CHECK (gst_harness_push (h, gst_buffer_new_memdup (data + off, n)) == GST_FLOW_OK);
  }
  gst_harness_push_event (h, gst_event_new_eos ());
  GstBuffer *b;
  while ((b = gst_harness_try_pull (h))) {
    GstMapInfo map;
    CtTokensHeader th;
    FUZZ_CHECK (gst_buffer_map (b, &map, GST_MAP_READ));
    FUZZ_CHECK (ct_tokens_header_parse (map.data, map.size, &th, NULL, 0, NULL));
    FUZZ_CHECK (ct_tokens_record_size (&th) == map.size);
    gst_buffer_unmap (b, &map);
    gst_buffer_unref (b);
  }
  gst_harness_teardown (h);
  return 0;
}
