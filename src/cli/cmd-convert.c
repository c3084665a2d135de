/* cmd-convert.c - `coordtok convert IN.pth OUT.safetensors`.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"
#include "convert/convert.h"

#include <stdio.h>

int
ct_cmd_convert (int argc, char **argv)
{
  int enc_heads = 0, dec_heads = 0, slice = 0;
  char *dtype_s = NULL, *name = NULL;
  GOptionEntry entries[] = {
    { "enc-heads", 0, 0, G_OPTION_ARG_INT, &enc_heads, "Encoder heads (required unless the encoder is CoordTok-L-wide, 1024: then 16)", "N" },
    { "dec-heads", 0, 0, G_OPTION_ARG_INT, &dec_heads, "Decoder heads (required unless the decoder is 1024 wide: then 16)", "N" },
    { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype_s, "Output dtype: f32 (default), f16, bf16", "T" },
    { "default-slice", 0, 0, G_OPTION_ARG_INT, &slice, "Decoder queries per sequence by default (default 16 frames)", "N" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "Model name for the metadata", "S" },
    { NULL }
  };
  GError *err = NULL;
  int status = ct_cli_parse_args ("convert", "IN.pth OUT.safetensors - convert an official "
      "checkpoint", entries, &argc, &argv, 2, 2, "need IN.pth and OUT.safetensors");
  if (status >= 0) {
    g_free (dtype_s);
    g_free (name);
    return status;
  }
  CtConvertOptions o = { .enc_heads = enc_heads, .dec_heads = dec_heads,
    .out_dtype = CT_DTYPE_F32, .default_slice = slice, .name = name };
  if (dtype_s) {
    if (!g_ascii_strcasecmp (dtype_s, "f32")) o.out_dtype = CT_DTYPE_F32;
    else if (!g_ascii_strcasecmp (dtype_s, "f16")) o.out_dtype = CT_DTYPE_F16;
    else if (!g_ascii_strcasecmp (dtype_s, "bf16")) o.out_dtype = CT_DTYPE_BF16;
    else {
      fprintf (stderr, "coordtok convert: unknown dtype '%s'\n", dtype_s);
      return 2;
    }
  }
  int ret = 0;
  if (!ct_convert_checkpoint (argv[1], argv[2], &o, &err)) {
    fprintf (stderr, "coordtok convert: %s\n", err->message);
    g_error_free (err);
    ret = 1;
  } else
    printf ("wrote %s\n", argv[2]);
  g_free (dtype_s);
  g_free (name);
  return ret;
}
