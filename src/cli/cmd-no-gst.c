/* cmd-no-gst.c - encode, decode and reconstruct in a coordtok built without
 * GStreamer (they run the plugin's elements and GStreamer's decoders).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include <stdio.h>

static int
no_gst (const char *cmd)
{
  fprintf (stderr, "coordtok %s: this coordtok was built without GStreamer (install "
      "libgstreamer1.0-dev and libgstreamer-plugins-base1.0-dev, then rebuild)\n", cmd);
  return 1;
}

int ct_cmd_encode (int argc, char **argv) { return no_gst ("encode"); }
int ct_cmd_decode (int argc, char **argv) { return no_gst ("decode"); }
int ct_cmd_reconstruct (int argc, char **argv) { return no_gst ("reconstruct"); }
