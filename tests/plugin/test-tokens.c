/* test-tokens.c - the token record format (src/tokens): pack/unpack round
 * trips for every dtype, CRC, and every validation error.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "coordtok.h"
#include "tokens/tokens.h"

#include <math.h>
#include <string.h>

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

      g_assert_cmpuint (size, ==, 128 + 16 * n + ne * ct_tokens_dtype_size (dt));
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
  bad[4] = 2;
  expect_fail (bad, size, "version 2");
  memcpy (bad, rec, size);
  bad[size - 5] ^= 0x10;
  expect_fail (bad, size, "payload corrupted");
  memcpy (bad, rec, size);
  bad[130] ^= 0x01;             /* frame table */
  expect_fail (bad, size, "header corrupted");
  memcpy (bad, rec, size);
  bad[24] = 17;                 /* n_frames > T */
  expect_fail (bad, size, "real frames");
  expect_fail (rec, size - 1, "truncated");
  expect_fail (rec, 100, "too short");
  expect_fail (rec, 150, "truncated");
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tokens/crc32", test_crc);
  g_test_add_func ("/tokens/half", test_half);
  g_test_add_func ("/tokens/roundtrip", test_roundtrip);
  g_test_add_func ("/tokens/errors", test_errors);
  return g_test_run ();
}
