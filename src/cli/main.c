/* main.c - `coordtok`: inspect, convert, check and benchmark CoordTok models.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  int (*fn) (int, char **);
  const char *help;
} cmds[] = {
  { "info", ct_cmd_info, "info [MODEL]             configuration, parameters, token shape, FLOPs" },
  { "convert", ct_cmd_convert, "convert IN.pth OUT.safetensors [--enc-heads N --dec-heads N --dtype f32|f16|bf16 --name S]" },
  { "golden", ct_cmd_golden, "golden [--weights F] [--device D] CASE_DIR...  check against reference vectors" },
  { "bench", ct_cmd_bench, "bench [MODEL|--random-l|--random CONFIG] [--device D] [--slice N] [--queries N] [--runs N] [--json]" },
  { "encode", ct_cmd_encode, "encode VIDEO OUT.ctok       video file, .y4m, or raw RGB24 (--width --height --framerate) to tokens" },
  { "decode", ct_cmd_decode, "decode IN.ctok OUT.y4m|OUT.rgb   tokens to Y4M or raw RGB24 video" },
  { "reconstruct", ct_cmd_reconstruct, "reconstruct VIDEO OUT.rgb   encode + decode with the engine, prints the RGB PSNR" },
};

static void
usage (FILE *f)
{
  fprintf (f, "usage: coordtok COMMAND [ARGS]\n\ncommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++)
    fprintf (f, "  %s\n", cmds[i].help);
  fprintf (f, "\nMODEL defaults to the embedded default model.  'coordtok COMMAND --help'"
      " describes a command; 'coordtok --version' prints the version.\n");
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && (!strcmp (argv[1], "--version") || !strcmp (argv[1], "-V"))) {
    ct_cli_print_version ();
    return 0;
  }
  if (argc < 2 || !strcmp (argv[1], "-h") || !strcmp (argv[1], "--help")) {
    usage (argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++)
    if (!strcmp (argv[1], cmds[i].name))
      return cmds[i].fn (argc - 1, argv + 1);
  fprintf (stderr, "coordtok: unknown command '%s'\n\n", argv[1]);
  usage (stderr);
  return 2;
}

gboolean
ct_cli_parse_precision (const char *s, CtPrecision *p)
{
  if (!g_strcmp0 (s, "fp32")) *p = CT_PRECISION_FP32;
  else if (!g_strcmp0 (s, "tf32")) *p = CT_PRECISION_TF32;
  else if (!g_strcmp0 (s, "bf16")) *p = CT_PRECISION_BF16;
  else return FALSE;
  return TRUE;
}

void
ct_cli_print_config (const CtConfig *c)
{
  printf ("window        T=%d H=%d W=%d\n", c->T, c->H, c->W);
  printf ("encoder       De=%d heads=%d vit_layers=%d cross_layers=%d patch=%dx%dx%d\n",
      c->enc_dim, c->enc_heads, c->enc_vit_layers, c->enc_cross_layers, c->enc_pt,
      c->enc_pxy, c->enc_pxy);
  printf ("triplane      xy %dx%d, yt %dx%d, xt %dx%d, C=%d (%d tokens, %" G_GSIZE_FORMAT " floats)\n",
      c->rxy, c->rxy, c->rt, c->rxy, c->rt, c->rxy, c->channels,
      c->rxy * c->rxy + 2 * c->rt * c->rxy, ct_config_token_floats (c));
  printf ("query tokens  %d (plane patches %dx%d, %dx%d)\n", ct_config_n_query_tokens (c),
      c->qxy, c->qxy, c->qt, c->qxy);
  printf ("decoder       Dd=%d heads=%d layers=%d patch=%dx%dx%d, default slice %d queries\n",
      c->dec_dim, c->dec_heads, c->dec_layers, c->dec_pt, c->dec_pxy, c->dec_pxy,
      c->default_slice);
  printf ("layernorm eps vit %g, cross %g, decoder %g\n", c->enc_vit_eps, c->enc_cross_eps,
      c->dec_eps);
}
