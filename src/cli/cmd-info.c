/* cmd-info.c - `coordtok info [MODEL]`.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include <stdio.h>

int
ct_cmd_info (int argc, char **argv)
{
  GError *err = NULL;
  int status = ct_cli_parse_args ("info", "[MODEL] - configuration, parameters, token "
      "shape and FLOPs of a weight file (default: the embedded default model)", NULL, &argc,
      &argv, 0, 1, "one MODEL at most (extra arguments given)");
  if (status >= 0)
    return status;
  const char *path = argc > 1 ? argv[1] : NULL;
  CtModel *m = ct_model_load (path, &err);
  if (!m) {
    fprintf (stderr, "coordtok info: %s\n", err->message);
    g_error_free (err);
    return 1;
  }
  const CtConfig *c = ct_model_config (m);
  int nq = ct_config_nt (c) * ct_config_nx (c) * ct_config_ny (c);
  printf ("model         %s\n", ct_model_path (m));
  printf ("id            %s\n", ct_model_id (m));
  printf ("parameters    %" G_GINT64_FORMAT " (%.1f M)\n", ct_model_n_params (m),
      ct_model_n_params (m) / 1e6);
  ct_cli_print_config (c);
  printf ("FLOPs/window  encode %.3f GFLOP, decode %.3f GFLOP (%d queries, slices of %d)\n",
      ct_config_encode_flops (c) / 1e9, ct_config_decode_flops (c, nq, c->default_slice) / 1e9,
      nq, c->default_slice);
  ct_model_unref (m);
  return 0;
}
