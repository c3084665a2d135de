/* consumer.c - a program as a user of an installed libcoordtok writes it:
 * only <coordtok/...> headers, compiled with `pkg-config coordtok`.  It
 * loads the default model, encodes a short synthetic window, packs the
 * planes into a token record and back, decodes the frames and reports the
 * PSNR.  argv[1]: file that receives the record and the decoded pixels, so
 * that the test can compare this build with the in-tree one bit for bit.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <coordtok/coordtok.h>
#include <coordtok/tokens.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define N_FRAMES 16

static int
fail (const char *what, GError *err)
{
  fprintf (stderr, "consumer: %s: %s\n", what, err ? err->message : "failed");
  g_clear_error (&err);
  return 1;
}

int
main (int argc, char **argv)
{
  GError *err = NULL;
  if (argc != 2) {
    fprintf (stderr, "usage: consumer OUTPUT\n");
    return 2;
  }
  CtModel *m = ct_model_load_default (&err);
  if (!m)
    return fail ("default model", err);
  const CtConfig *c = ct_model_config (m);
  CtSession *s = ct_session_new (m, CT_DEVICE_CPU, CT_PRECISION_FP32, &err);
  if (!s)
    return fail ("session", err);
  ct_session_set_threads (s, 1);   /* fixed count: bit-reproducible */

  /* a smooth pattern drifting one pixel per frame */
  gsize frame = (gsize) c->H * c->W * 3;
  guint8 *rgb = g_malloc (frame * N_FRAMES);
  for (int t = 0; t < N_FRAMES; t++)
    for (int y = 0; y < c->H; y++)
      for (int x = 0; x < c->W; x++) {
        guint8 *p = rgb + t * frame + ((gsize) y * c->W + x) * 3;
        p[0] = (guint8) (96 + 60 * sin ((x + t) * 0.03));
        p[1] = (guint8) (96 + 40 * cos (y * 0.02));
        p[2] = (guint8) (64 + (x + y) / 4);
      }
  float *video = g_malloc (sizeof (float) * frame * c->T);
  for (int t = 0; t < N_FRAMES; t++)
    ct_rgb8_to_model (rgb + t * frame, c->W, c->H, c->W * 3, video + t * frame);
  ct_pad_window (c, video, N_FRAMES);

  gsize nz = ct_config_token_floats (c);
  float *z = g_malloc (sizeof (float) * nz), *z2 = g_malloc (sizeof (float) * nz);
  if (!ct_session_encode (s, video, N_FRAMES, z, NULL, &err))
    return fail ("encode", err);

  CtTokensHeader h;
  ct_tokens_header_init (&h, m, CT_TOKENS_F32, N_FRAMES);
  gsize rec_size = ct_tokens_record_size (&h);
  guint8 *rec = g_malloc (rec_size);
  CtTokensHeader h2;
  if (!ct_tokens_pack (&h, NULL, z, rec, rec_size, &err) ||
      !ct_tokens_unpack (rec, rec_size, &h2, NULL, 0, z2, nz, &err) ||
      !ct_tokens_check_model (&h2, m, &err))
    return fail ("token record", err);
  if (memcmp (z, z2, sizeof (float) * nz) != 0) {
    fprintf (stderr, "consumer: planes changed through the token record\n");
    return 1;
  }

  float *out = g_malloc (sizeof (float) * frame * N_FRAMES);
  if (!ct_session_rasterize (s, z2, N_FRAMES, 0, out, &err))
    return fail ("decode", err);
  guint8 *dec = g_malloc (frame * N_FRAMES);
  double se = 0;
  for (int t = 0; t < N_FRAMES; t++)
    ct_model_to_rgb8 (out + t * frame, c->W, c->H, dec + t * frame, c->W * 3);
  for (gsize i = 0; i < frame * N_FRAMES; i++)
    se += ((double) dec[i] - rgb[i]) * ((double) dec[i] - rgb[i]);
  double mse = se / (frame * N_FRAMES);
  /* the best flat picture (each channel's mean): a decode must beat it */
  double mean[3] = { 0 }, se_flat = 0;
  for (gsize i = 0; i < frame * N_FRAMES; i++)
    mean[i % 3] += rgb[i] / (double) (frame * N_FRAMES / 3);
  for (gsize i = 0; i < frame * N_FRAMES; i++)
    se_flat += (rgb[i] - mean[i % 3]) * (rgb[i] - mean[i % 3]);
  double psnr = 10 * log10 (255.0 * 255.0 / MAX (mse, 1e-12));
  double psnr_flat = 10 * log10 (255.0 * 255.0 * frame * N_FRAMES / MAX (se_flat, 1e-12));
  printf ("model %s, %d frames %dx%d, PSNR %.2f dB (flat picture: %.2f dB)\n",
      ct_model_id (m), N_FRAMES, c->W, c->H, psnr, psnr_flat);
  if (!(psnr >= psnr_flat + 5)) {
    fprintf (stderr, "consumer: the decode is no picture of the input\n");
    return 1;
  }

  FILE *f = fopen (argv[1], "wb");
  if (!f || fwrite (rec, 1, rec_size, f) != rec_size ||
      fwrite (dec, 1, frame * N_FRAMES, f) != frame * N_FRAMES || fclose (f) != 0) {
    fprintf (stderr, "consumer: cannot write %s\n", argv[1]);
    return 1;
  }
  g_free (dec); g_free (out); g_free (rec); g_free (z2); g_free (z);
  g_free (video); g_free (rgb);
  ct_session_free (s);
  ct_model_unref (m);
  return 0;
}
