/* cmd-reconstruct.c - `coordtok reconstruct IN.rgb OUT.rgb`: raw RGB24
 * frames at the model's size, encoded and decoded window by window (the last
 * window partial, padded as the spec says).  Prints PSNR per window.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int
ct_cmd_reconstruct (int argc, char **argv)
{
  char *model = NULL, *device_s = NULL;
  int slice = 0, max_frames = 0;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "Weight file (default: the default model)", "F" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device_s, "auto (default), cpu, cuda", "DEV" },
    { "slice", 's', 0, G_OPTION_ARG_INT, &slice, "Queries per decoded sequence", "N" },
    { "frames", 'n', 0, G_OPTION_ARG_INT, &max_frames, "Stop after N frames", "N" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("IN.rgb OUT.rgb - encode and decode raw RGB24 video");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *err = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &err) || argc != 3) {
    fprintf (stderr, "coordtok reconstruct: %s\n", err ? err->message : "need IN.rgb and OUT.rgb");
    g_clear_error (&err);
    g_option_context_free (ctx);
    return 2;
  }
  g_option_context_free (ctx);
  CtDevice dev = CT_DEVICE_AUTO;
  if (device_s && !ct_cli_parse_device (device_s, &dev)) {
    fprintf (stderr, "coordtok reconstruct: bad --device\n");
    return 2;
  }
  CtModel *m = ct_model_load (model, &err);
  CtSession *s = m ? ct_session_new (m, dev, CT_PRECISION_FP32, &err) : NULL;
  FILE *in = NULL, *out = NULL;
  int ret = 1;
  if (!s)
    goto fail;
  if (!(in = fopen (argv[1], "rb")) || !(out = fopen (argv[2], "wb"))) {
    g_set_error (&err, CT_ERROR, CT_ERROR_IO, "cannot open %s", in ? argv[2] : argv[1]);
    goto fail;
  }
  const CtConfig *c = ct_model_config (m);
  gsize fbytes = (gsize) c->H * c->W * 3;
  guint8 *frames = g_malloc (fbytes * c->T), *rec = g_malloc (fbytes * c->T);
  float *video = g_new (float, fbytes * c->T), *z = g_new (float, ct_config_token_floats (c));
  float *dec = g_new (float, fbytes * c->T);
  double sse_all = 0;
  gint64 total = 0;
  for (int w = 0;; w++) {
    int n = 0;
    while (n < c->T && (!max_frames || total + n < max_frames) &&
        fread (frames + n * fbytes, 1, fbytes, in) == fbytes)
      n++;
    if (n == 0)
      break;
    for (int f = 0; f < n; f++)
      ct_rgb8_to_model (frames + f * fbytes, c->W, c->H, c->W * 3, video + f * fbytes);
    ct_pad_window (c, video, n);
    gint64 t0 = g_get_monotonic_time ();
    if (!ct_session_encode (s, video, n, z, NULL, &err))
      goto fail_loop;
    gint64 t1 = g_get_monotonic_time ();
    if (!ct_session_rasterize (s, z, n, slice, dec, &err))
      goto fail_loop;
    gint64 t2 = g_get_monotonic_time ();
    double sse = 0;
    for (int f = 0; f < n; f++) {
      ct_model_to_rgb8 (dec + f * fbytes, c->W, c->H, rec + f * fbytes, c->W * 3);
      for (gsize i = 0; i < fbytes; i++) {
        double d = (double) rec[f * fbytes + i] - frames[f * fbytes + i];
        sse += d * d;
      }
    }
    fwrite (rec, 1, fbytes * n, out);
    double mse = sse / (fbytes * n);
    printf ("window %d: %d frames, PSNR %.2f dB, encode %.0f ms, decode %.0f ms\n", w, n,
        10 * log10 (255.0 * 255.0 / MAX (mse, 1e-10)), (t1 - t0) / 1e3, (t2 - t1) / 1e3);
    sse_all += sse;
    total += n;
    if (n < c->T)
      break;
  }
  if (total > 0)
    printf ("all %" G_GINT64_FORMAT " frames: PSNR %.2f dB\n", total,
        10 * log10 (255.0 * 255.0 / MAX (sse_all / (fbytes * total), 1e-10)));
  ret = 0;
  goto done;
fail_loop:
  fprintf (stderr, "coordtok reconstruct: %s\n", err->message);
  g_clear_error (&err);
done:
  g_free (frames); g_free (rec); g_free (video); g_free (z); g_free (dec);
  fclose (in);
  fclose (out);
  ct_session_free (s);
  ct_model_unref (m);
  g_free (model); g_free (device_s);
  return ret;
fail:
  fprintf (stderr, "coordtok reconstruct: %s\n", err->message);
  g_error_free (err);
  if (in) fclose (in);
  if (out) fclose (out);
  ct_session_free (s);
  ct_model_unref (m);
  g_free (model); g_free (device_s);
  return 1;
}
