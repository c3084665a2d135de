/* test-tokens.c - the token record format (src/tokens): pack/unpack round
 * trips for every dtype, CRC, and every validation error.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "coordtok.h"
#include "tokens/tokens.h"

#include <math.h>
#include <string.h>

static guint rd16 (const guint8 *p) { return p[0] | (p[1] << 8); }
static void wr16 (guint8 *p, guint v) { p[0] = v; p[1] = v >> 8; }
static void wr32 (guint8 *p, guint32 v) { wr16 (p, v & 0xFFFF); wr16 (p + 2, v >> 16); }

static CtModel *
tiny_model (void)
{
  GError *err = NULL;
  const char *path = g_getenv ("CT_TEST_TINY");
  CtModel *m;
  g_assert_nonnull (path);
  m = ct_model_load_full (path, &(CtLoadOptions) {4, 4}, &err);
  g_assert_no_error (err);
  return m;
}

static guint8 *
make_record (CtModel *m, CtTokensDType dt, guint n, float **z_out, gsize *size,
    CtTokensFrameTime *times)
{
  CtTokensHeader h;
  GError *err = NULL;
  ct_tokens_header_init (&h, m, dt, n);
  gsize ne = ct_tokens_n_elems (&h);
  float *z = g_new (float, ne);
  for (gsize i = 0; i < ne; i++)
    z[i] = sinf (0.37f * i) * 3.0f;
  h.pts = 1000;
  h.duration = 0;
  h.fps_n = 30;
  h.fps_d = 1;
  for (guint i = 0; i < n; i++) {
    times[i].pts = 1000 + i * 33;
    times[i].duration = 33;
    h.duration += 33;
  }
  *size = ct_tokens_record_size (&h);
  guint8 *rec = g_malloc (*size);
  g_assert_true (ct_tokens_pack (&h, times, z, rec, *size, &err));
  g_assert_no_error (err);
  *z_out = z;
  return rec;
}

static void
test_crc (void)
{
  /* the standard check value of CRC-32/IEEE */
  g_assert_cmphex (ct_crc32 (0, "123456789", 9), ==, 0xCBF43926u);
  guint32 c = ct_crc32 (0, "1234", 4);
  g_assert_cmphex (ct_crc32 (c, "56789", 5), ==, 0xCBF43926u);
}

static void
test_half (void)
{
  const float v[] = { 0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 70000.0f, 6.1035156e-05f,
    5.9604645e-08f, 1e-9f, 0.1f, 3.14159265f, INFINITY, NAN };
  guint16 h[G_N_ELEMENTS (v)], b[G_N_ELEMENTS (v)];
  float back[G_N_ELEMENTS (v)], backb[G_N_ELEMENTS (v)];
  ct_tokens_f32_to_f16 (v, h, G_N_ELEMENTS (v));
  ct_tokens_f16_to_f32 (h, back, G_N_ELEMENTS (v));
  ct_tokens_f32_to_bf16 (v, b, G_N_ELEMENTS (v));
  ct_tokens_bf16_to_f32 (b, backb, G_N_ELEMENTS (v));
  g_assert_cmphex (h[2], ==, 0x3C00);
  g_assert_cmphex (h[3], ==, 0xC100);
  g_assert_cmphex (h[4], ==, 0x7BFF);
  g_assert_cmphex (h[5], ==, 0x7C00);      /* overflow -> inf */
  g_assert_cmphex (h[6], ==, 0x0400);      /* smallest normal */
  g_assert_cmphex (h[7], ==, 0x0001);      /* smallest subnormal */
  g_assert_cmphex (h[8], ==, 0x0000);
  g_assert_cmphex (h[9], ==, 0x2E66);      /* 0.1 rounds to 0x2E66 */
  g_assert_true (isnan (back[12]) && isnan (backb[12]));
  g_assert_true (isinf (back[11]) && isinf (backb[11]));
  g_assert_cmpfloat (fabsf (back[10] - 3.14159265f), <, 2e-3f);
  g_assert_cmphex (b[2], ==, 0x3F80);
  g_assert_cmpfloat (fabsf (backb[10] - 3.14159265f), <, 2e-2f);
  /* all f16 values survive f16 -> f32 -> f16 */
  for (guint32 x = 0; x < 65536; x++) {
    guint16 in = x, out;
    float f;
    if ((x & 0x7C00) == 0x7C00 && (x & 0x3FF))
      continue;                 /* NaN payloads */
    ct_tokens_f16_to_f32 (&in, &f, 1);
    ct_tokens_f32_to_f16 (&f, &out, 1);
    g_assert_cmphex (out, ==, in);
  }
}

static void
test_roundtrip (void)
{
  CtModel *m = tiny_model ();
  for (int dt = CT_TOKENS_F32; dt <= CT_TOKENS_BF16; dt++) {
    for (guint n = 1; n <= 16; n += 7) {
      CtTokensFrameTime times[16], times2[16];
      float *z;
      gsize size;
      guint8 *rec = make_record (m, dt, n, &z, &size, times);
      CtTokensHeader h;
      GError *err = NULL;
      gsize ne = ct_config_token_floats (ct_model_config (m));
      float *z2 = g_new (float, ne);

      g_assert_cmpuint (size, ==, 144 + 16 * n + ne * ct_tokens_dtype_size (dt));
      g_assert_true (memcmp (rec, "CTOK", 4) == 0);
      g_assert_true (ct_tokens_unpack (rec, size, &h, times2, 16, z2, ne, &err));
      g_assert_no_error (err);
      g_assert_true (ct_tokens_check_model (&h, m, &err));
      g_assert_cmpuint (h.n_frames, ==, n);
      g_assert_cmpuint (h.T, ==, 16);
      g_assert_cmpint (h.fps_n, ==, 30);
      g_assert_cmpuint (h.pts, ==, 1000);
      g_assert_cmpuint (h.duration, ==, 33 * n);
      g_assert_cmpstr (h.model_id, ==, ct_model_id (m));
      g_assert_true (memcmp (times, times2, n * sizeof times[0]) == 0);
      for (gsize i = 0; i < ne; i++) {
        float tol = dt == CT_TOKENS_F32 ? 0 : dt == CT_TOKENS_F16 ? 2e-3f : 2e-2f;
        g_assert_cmpfloat (fabsf (z[i] - z2[i]), <=, tol);
      }
      g_free (z2);
      g_free (z);
      g_free (rec);
    }
  }
  ct_model_unref (m);
}

static void
expect_fail (const guint8 *rec, gsize size, const char *needle)
{
  CtTokensHeader h;
  GError *err = NULL;
  float z[16 * 16 * 4 * 3];
  g_assert_false (ct_tokens_unpack (rec, size, &h, NULL, 0, z, G_N_ELEMENTS (z), &err));
  g_assert_nonnull (err);
  if (!strstr (err->message, needle))
    g_error ("error '%s' does not mention '%s'", err->message, needle);
  g_clear_error (&err);
}

static void
test_errors (void)
{
  CtModel *m = tiny_model ();
  CtTokensFrameTime times[16];
  float *z;
  gsize size;
  guint8 *rec = make_record (m, CT_TOKENS_F32, 8, &z, &size, times);
  guint8 *bad = g_malloc (size + 8);

  memcpy (bad, rec, size);
  bad[0] = 'X';
  expect_fail (bad, size, "magic");
  memcpy (bad, rec, size);
  bad[4] = 3;
  expect_fail (bad, size, "version 3");
  memcpy (bad, rec, size);
  bad[size - 5] ^= 0x10;
  expect_fail (bad, size, "payload corrupted");
  memcpy (bad, rec, size);
  bad[146] ^= 0x01;             /* frame table */
  expect_fail (bad, size, "header corrupted");
  memcpy (bad, rec, size);
  bad[24] = 17;                 /* n_frames > T */
  expect_fail (bad, size, "real frames");
  expect_fail (rec, size - 1, "truncated");
  expect_fail (rec, 100, "too short");
  expect_fail (rec, 136, "too short");
  expect_fail (rec, 150, "truncated");
  memcpy (bad, rec, size);
  bad[120] = 2;                 /* 2 tile columns for frames of one tile */
  expect_fail (bad, size, "does not cover");
  memcpy (bad, rec, size);
  bad[131] = 0x80;              /* negative aspect ratio */
  expect_fail (bad, size, "aspect ratio");
  memcpy (bad, rec, size);
  expect_fail (bad, size + 8, "after its");

  /* a model id that is not this model's */
  {
    CtTokensHeader h;
    GError *err = NULL;
    g_assert_true (ct_tokens_header_parse (rec, size, &h, NULL, 0, &err));
    g_strlcpy (h.model_id, "0123456789abcdef", sizeof h.model_id);
    g_assert_false (ct_tokens_check_model (&h, m, &err));
    g_assert_error (err, CT_ERROR, CT_ERROR_MISMATCH);
    g_assert_nonnull (strstr (err->message, "0123456789abcdef"));
    g_clear_error (&err);
  }
  g_free (bad);
  g_free (rec);
  g_free (z);
  ct_model_unref (m);
}

/* Frames of 70x40 with the 32x32 tiny model: 3 x 2 tiles; the payload is
 * plane by plane over the tiles, z (the engine's layout) tile by tile. */
static void
test_tiles (void)
{
  CtModel *m = tiny_model ();
  const CtConfig *c = ct_model_config (m);
  CtTokensHeader h, h2;
  GError *err = NULL;
  g_assert_true (ct_tokens_header_init_tiled (&h, m, CT_TOKENS_F32, 5, 70, 40, &err));
  g_assert_no_error (err);
  g_assert_cmpuint (h.tiles_x, ==, 3);
  g_assert_cmpuint (h.tiles_y, ==, 2);
  g_assert_cmpuint (h.tile_width, ==, c->W);
  g_assert_cmpuint (ct_tokens_n_tiles (&h), ==, 6);
  gsize per = ct_config_token_floats (c), ne = ct_tokens_n_elems (&h);
  g_assert_cmpuint (ne, ==, 6 * per);
  float *z = g_new (float, ne), *z2 = g_new (float, ne);
  for (gsize i = 0; i < ne; i++)
    z[i] = (float) i;
  gsize size = ct_tokens_record_size (&h);
  guint8 *rec = g_malloc (size);
  g_assert_true (ct_tokens_pack (&h, NULL, z, rec, size, &err));
  /* byte layout: grid at 120, planes of all tiles one after another */
  g_assert_cmpuint (rd16 (rec + 120), ==, 3);
  g_assert_cmpuint (rd16 (rec + 122), ==, 2);
  g_assert_cmpuint (rd16 (rec + 124), ==, c->W);
  g_assert_cmpuint (rd16 (rec + 126), ==, c->H);
  gsize xy = ct_tokens_plane_elems (&h, 0);
  const guint8 *pl = rec + h.header_size;
  float v;
  memcpy (&v, pl + 4 * xy, 4);            /* tile 1's xy starts after tile 0's */
  g_assert_cmpfloat (v, ==, (float) per);
  memcpy (&v, pl + 4 * 6 * xy, 4);        /* tile 0's yt follows every xy */
  g_assert_cmpfloat (v, ==, (float) xy);
  g_assert_true (ct_tokens_unpack (rec, size, &h2, NULL, 0, z2, ne, &err));
  g_assert_no_error (err);
  g_assert_true (memcmp (z, z2, ne * 4) == 0);
  g_assert_cmpuint (h2.width, ==, 70);
  g_assert_true (ct_tokens_check_model (&h2, m, &err));
  /* a grid too large for a record is refused before any allocation */
  g_assert_false (ct_tokens_header_init_tiled (&h, m, CT_TOKENS_F32, 1, 16384, 16384, &err));
  g_assert_nonnull (err);
  g_clear_error (&err);
  g_free (rec);
  g_free (z);
  g_free (z2);
  ct_model_unref (m);
}

/* A version 1 record (128-byte fixed part, no grid), written byte by byte
 * as the previous release did, is still read as one tile. */
static void
test_version1 (void)
{
  CtModel *m = tiny_model ();
  CtTokensFrameTime times[16], times2[16];
  float *z;
  gsize size;
  guint8 *v2 = make_record (m, CT_TOKENS_F32, 3, &z, &size, times);
  gsize v1size = size - 16;
  guint8 *v1 = g_malloc0 (v1size);
  memcpy (v1, v2, 120);
  wr16 (v1 + 4, 1);
  wr16 (v1 + 6, 128);
  wr32 (v1 + 8, 128 + 16 * 3);
  memcpy (v1 + 128, v2 + 144, size - 144);
  wr32 (v1 + 84, 0);
  wr32 (v1 + 84, ct_crc32 (0, v1, 128 + 16 * 3));
  CtTokensHeader h;
  GError *err = NULL;
  gsize ne = ct_config_token_floats (ct_model_config (m));
  float *z2 = g_new (float, ne);
  g_assert_true (ct_tokens_unpack (v1, v1size, &h, times2, 16, z2, ne, &err));
  g_assert_no_error (err);
  g_assert_cmpuint (h.version, ==, 1);
  g_assert_cmpuint (ct_tokens_n_tiles (&h), ==, 1);
  g_assert_true (ct_tokens_check_model (&h, m, &err));
  g_assert_true (memcmp (z, z2, ne * 4) == 0);
  g_assert_true (memcmp (times, times2, 3 * sizeof times[0]) == 0);
  g_free (z2);
  g_free (v1);
  g_free (v2);
  g_free (z);
  ct_model_unref (m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tokens/crc32", test_crc);
  g_test_add_func ("/tokens/half", test_half);
  g_test_add_func ("/tokens/roundtrip", test_roundtrip);
  g_test_add_func ("/tokens/errors", test_errors);
  g_test_add_func ("/tokens/tiles", test_tiles);
  g_test_add_func ("/tokens/version1", test_version1);
  return g_test_run ();
}
