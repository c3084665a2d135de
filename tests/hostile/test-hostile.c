/* test-hostile.c - inputs written by an attacker (issue #9): each case is a
 * small hand-made file or header that once crashed, overflowed or exhausted
 * the process.  Every one must now be refused with a GError that names the
 * problem, quickly and within a bounded amount of memory.
 *
 * The memory cases run in a subprocess whose peak RSS is checked
 * (getrusage), so one case's heap does not hide another's.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coordtok.h"
#include "config-private.h"
#include "model-cache.h"
#include "safetensors.h"
#include "convert/pickle.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

/* What refusing or reading one hostile input may add to peak RSS (issue #9:
 * "well under 1 GiB" for any input up to 100 MB; these took 3.8 and
 * 4.9 GB); sanitizers add their shadow memory and quarantine on top. */
#ifdef __SANITIZE_ADDRESS__
#define RSS_LIMIT_MIB 900
#else
#define RSS_LIMIT_MIB 512
#endif

static void
expect_error (GError *err, const char *what)
{
  g_assert_nonnull (err);
  g_assert_true (err->domain == CT_ERROR);
  if (g_test_verbose ())
    g_printerr ("  refused: %s\n", err->message);
  if (!strstr (err->message, what))
    g_error ("error '%s' does not mention '%s'", err->message, what);
}

/* What one parse adds to the process's peak RSS: VmHWM after it, less
 * VmRSS before it (writing 5 to /proc/self/clear_refs resets VmHWM to the
 * current RSS, Linux >= 4.0), so the input already built, and under ASan
 * the quarantine of the test's own earlier buffers, do not count.  Where
 * the reset is not allowed, the process's peak (getrusage), which only
 * overstates. */
static gboolean hwm_reset_ok;
static glong rss_at_reset_kib;

static glong
status_kib (const char *field)
{
  char *status = NULL;
  glong kib = -1;
  if (g_file_get_contents ("/proc/self/status", &status, NULL, NULL)) {
    const char *p = strstr (status, field);
    if (p)
      kib = strtol (p + strlen (field), NULL, 10);
  }
  g_free (status);
  return kib;
}

static void
rss_reset (void)
{
  FILE *f = fopen ("/proc/self/clear_refs", "w");   /* not g_file_set_contents: */
  hwm_reset_ok = f && fputs ("5", f) >= 0;           /* it writes a temp file */
  if (f && fclose (f) != 0)
    hwm_reset_ok = FALSE;
  rss_at_reset_kib = hwm_reset_ok ? status_kib ("VmRSS:") : 0;
}

static void
check_rss (const char *what)
{
  glong peak = hwm_reset_ok ? status_kib ("VmHWM:") : -1;
  if (peak < 0) {
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    peak = ru.ru_maxrss;
    rss_at_reset_kib = 0;
  }
  glong grew = (peak - rss_at_reset_kib) / 1024;
  g_printerr ("  %s: peak RSS %ld MiB, %ld MiB above the RSS before the parse (limit %d)\n",
      what, peak / 1024, grew, RSS_LIMIT_MIB);
  g_assert_cmpint (grew, <, RSS_LIMIT_MIB);
}

/* A safetensors file: 8-byte length, header, data. */
static GByteArray *
safetensors_bytes (const char *header, gsize data_size)
{
  GByteArray *b = g_byte_array_new ();
  guint64 n = strlen (header);
  guint8 len[8];
  for (int i = 0; i < 8; i++)
    len[i] = (n >> (8 * i)) & 0xff;
  g_byte_array_append (b, len, 8);
  g_byte_array_append (b, (const guint8 *) header, n);
  g_byte_array_set_size (b, b->len + data_size);
  memset (b->data + 8 + n, 0, data_size);
  return b;
}

static char *
write_tmp (const char *name, const GByteArray *b)
{
  char *path = g_build_filename (g_get_tmp_dir (), name, NULL);
  GError *err = NULL;
  g_assert_true (g_file_set_contents (path, (const char *) b->data, b->len, &err));
  g_assert_no_error (err);
  return path;
}

/* The coordtok.* metadata of CoordTok-L with some fields replaced. */
static GString *
metadata_header (const char *overrides[][2], const char *tensors)
{
  CtConfig c;
  ct_config_init_coordtok_l (&c);
  GString *h = g_string_new ("{\"__metadata__\":{\"coordtok.format\":\"coordtok-weights-1\"");
  const char *keys[] = { "T", "H", "W", "enc_pt", "enc_pxy", "enc_dim", "enc_heads",
    "enc_vit_layers", "enc_cross_layers", "rxy", "rt", "channels", "qxy", "qt",
    "dec_dim", "dec_heads", "dec_layers", "dec_pxy", "dec_pt", "default_slice" };
  const int *f = &c.T;
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
    char *v = g_strdup_printf ("%d", f[i]);
    for (int k = 0; overrides && overrides[k][0]; k++)
      if (strcmp (overrides[k][0], keys[i]) == 0) {
        g_free (v);
        v = g_strdup (overrides[k][1]);
      }
    g_string_append_printf (h, ",\"coordtok.%s\":\"%s\"", keys[i], v);
    g_free (v);
  }
  g_string_append (h, ",\"coordtok.enc_vit_eps\":\"1e-5\",\"coordtok.enc_cross_eps\":\"1e-6\","
      "\"coordtok.dec_eps\":\"1e-5\"}");
  g_string_append (h, tensors ? tensors : "");
  g_string_append_c (h, '}');
  return h;
}

/* ---- 1: a header nested 75,000 deep ------------------------------------ */

static void
test_deep_json (void)
{
  const int depth = 75000;
  GString *h = g_string_new ("{\"a\":");
  for (int i = 0; i < depth; i++)
    g_string_append_c (h, '[');
  for (int i = 0; i < depth; i++)
    g_string_append_c (h, ']');
  g_string_append_c (h, '}');
  GByteArray *b = safetensors_bytes (h->str, 0);
  GError *err = NULL;
  g_assert_null (ct_safetensors_open_memory (b->data, b->len, &err));
  expect_error (err, "nests deeper than 3 levels");
  g_clear_error (&err);
  /* and through the model loader, as `coordtok info` and the elements do */
  char *path = write_tmp ("ct-hostile-deep.safetensors", b);
  g_assert_null (ct_model_load (path, &err));
  expect_error (err, "nests deeper");
  g_clear_error (&err);
  g_unlink (path);
  g_free (path);
  g_byte_array_unref (b);
  g_string_free (h, TRUE);
}

/* ---- 3: products of bounded fields -------------------------------------- */

static void
test_config_products (void)
{
  GError *err = NULL;
  CtConfig c;
  ct_config_init_coordtok_l (&c);
  g_assert_true (ct_config_validate (&c, &err));
  /* T=H=W=2048: (T/8)(H/16)(W/16) = 4 M video tokens fit an int, but the
   * window (2048^3 * 3 values) does not; once this wrapped to 0 tokens */
  c.T = c.H = c.W = 2048;
  g_assert_false (ct_config_validate (&c, &err));
  expect_error (err, "window values");
  g_clear_error (&err);
  /* a wide model whose position embedding alone exceeds 2^31 floats */
  ct_config_init_coordtok_l (&c);
  c.T = 1024;
  c.H = c.W = 1024;
  c.enc_pt = 1;
  c.enc_pxy = 1;
  c.default_slice = 4096;
  g_assert_false (ct_config_validate (&c, &err));
  g_assert_nonnull (err);
  g_clear_error (&err);
  /* every field within its own bound, but 3 * enc_pt * enc_pxy^2 * enc_dim
   * is 2^63.6: computed unchecked, it overflowed 64 bits (UBSan) */
  ct_config_init_coordtok_l (&c);
  c.T = c.H = c.W = c.enc_pt = c.enc_pxy = 1 << 16;
  c.enc_dim = 1 << 14;
  g_assert_false (ct_config_validate (&c, &err));
  g_assert_nonnull (err);
  g_clear_error (&err);

  /* the same through a weight file's metadata: refused before any tensor
   * is looked at (a zero-element pos_emb once passed its shape check) */
  const char *ov[][2] = { { "T", "2048" }, { "H", "2048" }, { "W", "2048" }, { NULL, NULL } };
  GString *h = metadata_header (ov, ",\"encoder.encoder.pos_emb\":{\"dtype\":\"F32\","
      "\"shape\":[1,0,1024],\"data_offsets\":[0,0]}");
  GByteArray *b = safetensors_bytes (h->str, 0);
  g_assert_null (ct_model_load_memory (b->data, b->len, NULL, &err));
  expect_error (err, "window values");
  g_clear_error (&err);
  g_byte_array_unref (b);
  g_string_free (h, TRUE);
}

/* ---- 4: inference from shapes (converter path) ------------------------ */

typedef struct {
  const char *name;
  int ndim;
  gint64 shape[5];
} FakeTensor;

static gboolean
fake_lookup (void *user, const char *name, int *ndim, gint64 *shape)
{
  for (const FakeTensor *t = user; t->name; t++)
    if (strcmp (t->name, name) == 0) {
      *ndim = t->ndim;
      memcpy (shape, t->shape, t->ndim * sizeof (gint64));
      return TRUE;
    }
  return FALSE;
}

static void
infer_refused (FakeTensor *ts, const char *what)
{
  CtConfig c;
  GError *err = NULL;
  g_assert_false (ct_config_infer (&c, fake_lookup, ts, 1, 1, &err));
  expect_error (err, what);
  g_clear_error (&err);
}

static void
test_infer_products (void)
{
  /* grids of 2^24 per axis: T*H*W overflowed 64 bits, the window size was
   * truncated to int before validation */
  FakeTensor big[] = {
    { "encoder.encoder.patch_embed.proj.weight", 5, { 16, 3, 1, 1, 1 } },
    { "weight_tokens_xy", 4, { 1, 4, 4, 2 } },
    { "weight_tokens_yt", 4, { 1, 4, 4, 2 } },
    { "encoder.patch_embeds_xy.proj.weight", 4, { 16, 2, 2, 2 } },
    { "encoder.patch_embeds_yt.proj.weight", 4, { 16, 2, 2, 2 } },
    { "decoder.transformer.pos_embed", 5, { 1, 1 << 24, 1 << 24, 1 << 24, 16 } },
    { "decoder.projector.weight", 2, { 3, 16 } },
    { "encoder.encoder.pos_emb", 3, { 1, 1 << 24, 16 } },
    { NULL, 0, { 0 } },
  };
  infer_refused (big, "cannot derive the window size");
  /* a frame of 2^14 x 2^14 patches (encoder patches 2x4x4, so Nv = 2^24
   * is plausible): 16 * nx * ny once overflowed an int */
  FakeTensor wide[] = {
    { "encoder.encoder.patch_embed.proj.weight", 5, { 16, 3, 2, 4, 4 } },
    { "weight_tokens_xy", 4, { 1, 4, 4, 2 } },
    { "weight_tokens_yt", 4, { 1, 4, 4, 2 } },
    { "encoder.patch_embeds_xy.proj.weight", 4, { 16, 2, 2, 2 } },
    { "encoder.patch_embeds_yt.proj.weight", 4, { 16, 2, 2, 2 } },
    { "decoder.transformer.pos_embed", 5, { 1, 2, 1 << 14, 1 << 14, 16 } },
    { "decoder.projector.weight", 2, { 3, 16 } },
    { "encoder.encoder.pos_emb", 3, { 1, 1 << 24, 16 } },
    { "encoder.encoder.layers.0.norm1.weight", 1, { 16 } },
    { "encoder.transformer.layers.0.norm1.weight", 1, { 16 } },
    { "decoder.transformer.layers.0.norm1.weight", 1, { 16 } },
    { NULL, 0, { 0 } },
  };
  infer_refused (wide, "decoder queries per window");
  /* a projector of 2^24 outputs: the search once took ~10^10 steps */
  FakeTensor slow[] = {
    { "encoder.encoder.patch_embed.proj.weight", 5, { 16, 3, 1, 1, 1 } },
    { "weight_tokens_xy", 4, { 1, 4, 4, 2 } },
    { "weight_tokens_yt", 4, { 1, 4, 4, 2 } },
    { "encoder.patch_embeds_xy.proj.weight", 4, { 16, 2, 2, 2 } },
    { "encoder.patch_embeds_yt.proj.weight", 4, { 16, 2, 2, 2 } },
    { "decoder.transformer.pos_embed", 5, { 1, 2, 2, 2, 16 } },
    { "decoder.projector.weight", 2, { 3 * (1 << 22), 16 } },
    { "encoder.encoder.pos_emb", 3, { 1, 7, 16 } },
    { NULL, 0, { 0 } },
  };
  gint64 t0 = g_get_monotonic_time ();
  infer_refused (slow, "cannot derive the window size");
  /* generous: the old search ran for minutes */
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 20 * G_USEC_PER_SEC);
}

/* ---- 6: no allocation sized by metadata before the tensors exist ------- */

static void
test_arena_before_tensors (void)
{
  /* ~620 bytes claiming a model of ~190 GiB: once allocated before any
   * tensor was looked up */
  const char *ov[][2] = { { "enc_dim", "16384" }, { "dec_dim", "16384" },
    { "enc_cross_layers", "24" }, { "dec_layers", "24" }, { NULL, NULL } };
  GString *h = metadata_header (ov, NULL);
  GByteArray *b = safetensors_bytes (h->str, 0);
  if (g_test_verbose ())
    g_printerr ("  file of %u bytes\n", b->len);
  GError *err = NULL;
  g_assert_null (ct_model_load_memory (b->data, b->len, NULL, &err));
  expect_error (err, "holds only 0 tensors");
  g_clear_error (&err);
  /* with tensors, but not the ones the configuration needs */
  const char *ov2[][2] = { { "enc_dim", "16384" }, { "dec_dim", "16384" },
    { "enc_vit_layers", "1" }, { "enc_cross_layers", "1" }, { "dec_layers", "1" },
    { NULL, NULL } };
  g_string_free (h, TRUE);
  h = metadata_header (ov2, ",\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
      "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}");
  g_byte_array_unref (b);
  b = safetensors_bytes (h->str, 12);
  rss_reset ();
  g_assert_null (ct_model_load_memory (b->data, b->len, NULL, &err));
  expect_error (err, "missing tensor 'weight_tokens_xy'");
  g_clear_error (&err);
  check_rss ("arena");
  g_byte_array_unref (b);
  g_string_free (h, TRUE);
}

/* ---- 7: an empty header -------------------------------------------------- */

static void
test_empty_header (void)
{
  GByteArray *b = safetensors_bytes ("{}", 0);
  GError *err = NULL;
  /* a valid file with no tensors (qsort of a NULL array once: UB) */
  CtSafetensors *st = ct_safetensors_open_memory (b->data, b->len, &err);
  g_assert_no_error (err);
  g_assert_nonnull (st);
  g_assert_cmpint (ct_safetensors_n_tensors (st), ==, 0);
  ct_safetensors_close (st);
  g_assert_null (ct_model_load_memory (b->data, b->len, NULL, &err));
  expect_error (err, "missing tensor");
  g_clear_error (&err);
  g_byte_array_unref (b);
}

/* ---- 8: memory amplification ------------------------------------------- */

/* 8 MB of EMPTY_DICT opcodes appended 1,000 at a time to one list: once
 * 3.8 GB of RAM before the object limit refused it. */
static void
amplify_pickle (void)
{
  GByteArray *b = g_byte_array_new ();
  static const guint8 head[] = { 0x80, 2, ']' };
  g_byte_array_append (b, head, sizeof head);
  guint8 group[1002];
  group[0] = '(';
  memset (group + 1, '}', 1000);
  group[1001] = 'e';
  while (b->len < 8000000)
    g_byte_array_append (b, group, sizeof group);
  guint8 stop = '.';
  g_byte_array_append (b, &stop, 1);
  GError *err = NULL;
  rss_reset ();
  CtPickle *p = ct_pickle_load (b->data, b->len, &err);
  g_assert_null (p);
  check_rss ("8 MB of empty dicts");
  expect_error (err, "MiB of memory");
  g_clear_error (&err);
  g_byte_array_unref (b);
}

/* A 48 MB header: an array of 16 M empty JSON objects (json-glib took
 * 4.9 GB), and the same as 4 M members of the root object. */
static void
amplify_json (void)
{
  GString *h = g_string_sized_new (48 << 20);
  g_string_append (h, "{\"a\":[");
  for (int i = 0; i < (16 << 20); i++)
    g_string_append (h, i ? ",{}" : "{}");
  g_string_append (h, "]}");
  GByteArray *b = safetensors_bytes (h->str, 0);
  GError *err = NULL;
  rss_reset ();
  g_assert_null (ct_safetensors_open_memory (b->data, b->len, &err));
  check_rss ("48 MB header: 16 M empty objects in an array");
  expect_error (err, "array of more than 8 elements");
  g_clear_error (&err);
  g_byte_array_unref (b);

  g_string_assign (h, "{");
  for (int i = 0; i < (4 << 20); i++)
    g_string_append_printf (h, "%s\"%x\":{}", i ? "," : "", i);
  g_string_append_c (h, '}');
  b = safetensors_bytes (h->str, 0);
  rss_reset ();
  g_assert_null (ct_safetensors_open_memory (b->data, b->len, &err));
  check_rss ("header of 4 M members");
  expect_error (err, "JSON tokens");
  g_clear_error (&err);
  g_byte_array_unref (b);

  /* the largest header the scan lets through: ~87,000 empty tensors (12
   * tokens each), which is a valid file */
  g_string_assign (h, "{");
  for (int i = 0; i < 87000; i++)
    g_string_append_printf (h, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],"
        "\"data_offsets\":[0,0]}", i ? "," : "", i);
  g_string_append_c (h, '}');
  b = safetensors_bytes (h->str, 0);
  rss_reset ();
  CtSafetensors *st = ct_safetensors_open_memory (b->data, b->len, &err);
  check_rss ("87,000 tensors (the largest header admitted)");
  g_assert_no_error (err);
  g_assert_cmpint (ct_safetensors_n_tensors (st), ==, 87000);
  ct_safetensors_close (st);
  g_byte_array_unref (b);
  g_string_free (h, TRUE);
}

static void
test_amplification (gconstpointer data)
{
  if (g_test_subprocess ()) {
    ((void (*) (void)) data) ();
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/hostile/deep-json", test_deep_json);
  g_test_add_func ("/hostile/config-products", test_config_products);
  g_test_add_func ("/hostile/infer-products", test_infer_products);
  g_test_add_func ("/hostile/arena-before-tensors", test_arena_before_tensors);
  g_test_add_func ("/hostile/empty-header", test_empty_header);
  g_test_add_data_func ("/hostile/amplification/pickle", amplify_pickle, test_amplification);
  g_test_add_data_func ("/hostile/amplification/json", amplify_json, test_amplification);
  return g_test_run ();
}
