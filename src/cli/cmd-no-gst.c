/* cmd-no-gst.c - encode, decode and reconstruct in a coordtok built without
 * GStreamer (they run the plugin's elements and GStreamer's decoders): the
 * arguments are checked as usual, then the command says what is missing.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include <stdio.h>

static int
no_gst (const char *cmd, const char *params, const char *args_msg, int argc, char **argv)
{
  int status = ct_cli_parse_args (cmd, params, NULL, &argc, &argv, 2, 2, args_msg);
  if (status >= 0)
    return status;
  fprintf (stderr, "coordtok %s: this coordtok was built without GStreamer (install "
      "libgstreamer1.0-dev and libgstreamer-plugins-base1.0-dev, then rebuild)\n", cmd);
  return 1;
}

int
ct_cmd_encode (int argc, char **argv)
{
  return no_gst ("encode", "VIDEO OUT.ctok - encode a video (not built: needs GStreamer)",
      "need VIDEO and OUT.ctok", argc, argv);
}

int
ct_cmd_decode (int argc, char **argv)
{
  return no_gst ("decode", "IN.ctok OUT - decode tokens (not built: needs GStreamer)",
      "need IN.ctok and OUT", argc, argv);
}

int
ct_cmd_reconstruct (int argc, char **argv)
{
  return no_gst ("reconstruct", "VIDEO OUT.rgb - encode and decode (not built: needs "
      "GStreamer)", "need VIDEO and OUT.rgb", argc, argv);
}
