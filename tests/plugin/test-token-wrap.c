/* test-token-wrap.c - token records whose element count wraps 64 bits
 * (issue 25): found by searching the field space (wrap-search.c), crafted
 * with valid CRCs, and fed to every entry point in C: the library's
 * peek / parse / unpack / pack, coordtokparse, and coordtokdec without a
 * parser in front (as from appsrc).  Each must refuse them by name; before
 * the checked products they passed the size checks and the unpack loops
 * wrote past the heap (ASan).  `test-token-wrap --write DIR` writes the
 * records for the Python and CLI tests (tests/python/test_coordtok.py).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <string.h>

#include "coordtok.h"
#include "tokens/tokens.h"
#include "wrap-search.h"

#define N_WRAPS 12
#define WRAP_LO (1u << 16)    /* above the tiny model's smallest record */
#define WRAP_HI (1u << 18)   /* 1 MiB payloads (baseparse gives up after a few MB without a record) */
#define REFUSAL "elements a token record may carry"

static WrapFields wraps[N_WRAPS];

static guint n_found;

/* (no check assertion here: --write runs outside a test) */
static guint
search_once (void)
{
  static gboolean done;
  if (!done)
    n_found = wrap_search (25, WRAP_LO, WRAP_HI, wraps, N_WRAPS, 20000000);
  done = TRUE;
  return n_found;
}

static void
find_wraps (void)
{
  fail_unless_equals_int (search_once (), N_WRAPS);
}

static CtModel *
tiny_model (void)
{
  const char *p = g_getenv ("CT_TEST_TINY");
  GError *err = NULL;
  fail_unless (p != NULL, "CT_TEST_TINY not set");
  CtModel *m = ct_model_load (p, &err);
  fail_unless (m != NULL, "%s", err ? err->message : "");
  return m;
}

/* A valid record of the tiny model (zero planes) and its parsed caps. */
static GstBuffer *
valid_record (CtModel * m, GstCaps ** caps)
{
  CtTokensHeader h;
  const CtConfig *c = ct_model_config (m);
  ct_tokens_header_init (&h, m, CT_TOKENS_F32, c->T);
  h.fps_n = 25;
  gsize size = ct_tokens_record_size (&h);
  float *z = g_new0 (float, ct_tokens_n_elems (&h));
  guint8 *rec = g_malloc (size);
  fail_unless (ct_tokens_pack (&h, NULL, z, rec, size, NULL));
  g_free (z);
  *caps = gst_caps_new_simple ("video/x-coordtok", "parsed", G_TYPE_BOOLEAN, TRUE,
      "version", G_TYPE_INT, CT_TOKENS_VERSION, "dtype", G_TYPE_STRING, "f32",
      "window", G_TYPE_INT, c->T, "width", G_TYPE_INT, c->W, "height", G_TYPE_INT, c->H,
      "framerate", GST_TYPE_FRACTION, 25, 1, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1,
      "tile-width", G_TYPE_INT, c->W, "tile-height", G_TYPE_INT, c->H,
      "tiles-x", G_TYPE_INT, 1, "tiles-y", G_TYPE_INT, 1, "rxy", G_TYPE_INT, c->rxy,
      "rt", G_TYPE_INT, c->rt, "channels", G_TYPE_INT, c->channels,
      "model-id", G_TYPE_STRING, ct_model_id (m), NULL);
  GstBuffer *b = gst_buffer_new_wrapped (rec, size);
  GST_BUFFER_PTS (b) = 0;
  GST_BUFFER_DURATION (b) = gst_util_uint64_scale (c->T, GST_SECOND, 25);
  return b;
}

static void
expect_refusal (GError * err, const char *what, guint i)
{
  fail_unless (err != NULL, "%s accepted wrapping record %u", what, i);
  fail_unless (strstr (err->message, REFUSAL) != NULL,
      "%s on record %u: '%s' does not say '%s'", what, i, err->message, REFUSAL);
}

GST_START_TEST (test_search_finds_wraps)
{
  find_wraps ();
  for (guint i = 0; i < N_WRAPS; i++) {
    const WrapFields *w = &wraps[i];
    fail_unless (wrap_fields_wrap (w), "fields %u do not wrap", i);
    fail_unless (w->wrapped >= WRAP_LO && w->wrapped <= WRAP_HI);
    fail_unless (w->rxy <= 65536 && w->rt <= 65536 && w->channels <= 65536 &&
        w->tiles_x <= 65535 && w->tiles_y <= 65535, "fields %u out of the per-field "
        "bounds: not a wrap the old checks let through", i);
    GST_INFO ("wrap %u: rxy=%u rt=%u C=%u grid %ux%u -> %" G_GUINT64_FORMAT, i,
        w->rxy, w->rt, w->channels, w->tiles_x, w->tiles_y, w->wrapped);
  }
}
GST_END_TEST;

GST_START_TEST (test_library_refuses)
{
  find_wraps ();
  for (guint i = 0; i < N_WRAPS; i++) {
    GByteArray *rec = wrap_record (&wraps[i], "wrap");
    CtTokensHeader h;
    CtTokensFrameTime t;
    GError *err = NULL;
    float z[64];

    fail_if (ct_tokens_header_peek (rec->data, rec->len, &h, &err));
    expect_refusal (err, "peek", i);
    g_clear_error (&err);
    fail_if (ct_tokens_header_parse (rec->data, rec->len, &h, &t, 1, &err));
    expect_refusal (err, "parse", i);
    g_clear_error (&err);
    fail_if (ct_tokens_unpack (rec->data, rec->len, &h, &t, 1, z, G_N_ELEMENTS (z), &err));
    expect_refusal (err, "unpack", i);
    g_clear_error (&err);

    /* the writer refuses the same fields, and sizes never wrap */
    CtTokensHeader w = { .T = 1, .n_frames = 1, .rxy = wraps[i].rxy,
      .rt = wraps[i].rt, .channels = wraps[i].channels, .width = wraps[i].tiles_x,
      .height = wraps[i].tiles_y, .tiles_x = wraps[i].tiles_x,
      .tiles_y = wraps[i].tiles_y, .tile_width = 1, .tile_height = 1,
      .fps_n = 25, .fps_d = 1, .par_n = 1, .par_d = 1, .dtype = CT_TOKENS_F32 };
    fail_if (ct_tokens_count_elems (&w, NULL));
    fail_unless (ct_tokens_n_elems (&w) == G_MAXSIZE);
    guint8 out[4096];
    fail_if (ct_tokens_pack (&w, NULL, z, out, sizeof out, &err));
    expect_refusal (err, "pack", i);
    g_clear_error (&err);
    g_byte_array_unref (rec);
  }
}
GST_END_TEST;

GST_START_TEST (test_parser_skips)
{
  find_wraps ();
  CtModel *m = tiny_model ();
  GstCaps *caps;
  GstBuffer *good = valid_record (m, &caps);
  for (guint i = 0; i < N_WRAPS; i += 3) {
    GByteArray *rec = wrap_record (&wraps[i], ct_model_id (m));
    GstHarness *h = gst_harness_new ("coordtokparse");
    GstMapInfo map;
    gst_harness_set_src_caps_str (h, "video/x-coordtok");
    gst_buffer_map (good, &map, GST_MAP_READ);
    g_byte_array_append (rec, map.data, map.size);
    fail_unless_equals_int (gst_harness_push (h,
            gst_buffer_new_memdup (rec->data, rec->len)), GST_FLOW_OK);
    gst_harness_push_event (h, gst_event_new_eos ());
    fail_unless_equals_int (gst_harness_buffers_received (h), 1);
    GstBuffer *b = gst_harness_pull (h);
    fail_unless (gst_buffer_memcmp (b, 0, map.data, map.size) == 0 &&
        gst_buffer_get_size (b) == map.size, "the valid record did not come out whole");
    gst_buffer_unmap (good, &map);
    gst_buffer_unref (b);
    gst_harness_teardown (h);
    g_byte_array_unref (rec);
  }
  gst_buffer_unref (good);
  gst_caps_unref (caps);
  ct_model_unref (m);
}
GST_END_TEST;

/* coordtokdec fed directly, as from appsrc or a network source: the
 * forged record is skipped with a warning that names the bound, and the
 * valid record after it still decodes. */
GST_START_TEST (test_decoder_skips)
{
  find_wraps ();
  CtModel *m = tiny_model ();
  GstCaps *caps;
  GstBuffer *good = valid_record (m, &caps);
  gchar *launch = g_strdup_printf ("coordtokdec model=%s", g_getenv ("CT_TEST_TINY"));
  for (guint i = 0; i < N_WRAPS; i += 4) {
    GByteArray *rec = wrap_record (&wraps[i], ct_model_id (m));
    GstHarness *h = gst_harness_new_parse (launch);
    GstBus *bus = gst_bus_new ();
    GstMessage *msg;
    GError *err = NULL;
    gst_harness_set_live (h, FALSE);
    gst_element_set_bus (h->element, bus);
    gst_harness_set_src_caps (h, gst_caps_ref (caps));
    GstBuffer *fb = gst_buffer_new_memdup (rec->data, rec->len);
    GST_BUFFER_PTS (fb) = 0;
    fail_unless_equals_int (gst_harness_push (h, fb), GST_FLOW_OK);
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING | GST_MESSAGE_ERROR);
    fail_unless (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING,
        "record %u: no warning", i);
    gst_message_parse_warning (msg, &err, NULL);
    fail_unless (strstr (err->message, "Skipped a damaged token record") != NULL);
    expect_refusal (err, "coordtokdec", i);
    g_clear_error (&err);
    gst_message_unref (msg);
    fail_unless_equals_int (gst_harness_push (h, gst_buffer_ref (good)), GST_FLOW_OK);
    const CtConfig *c = ct_model_config (m);
    for (int f = 0; f < c->T; f++)
      gst_buffer_unref (gst_harness_pull (h));
    gst_element_set_bus (h->element, NULL);
    gst_object_unref (bus);
    gst_harness_teardown (h);
    g_byte_array_unref (rec);
  }
  g_free (launch);
  gst_buffer_unref (good);
  gst_caps_unref (caps);
  ct_model_unref (m);
}
GST_END_TEST;

/* The CLI (coordtok decode: filesrc ! coordtokparse ! coordtokdec): the
 * forged record is skipped with a warning, the valid one decodes. */
GST_START_TEST (test_cli_skips)
{
  const char *cli = g_getenv ("CT_COORDTOK_CLI");
  fail_unless (cli != NULL, "CT_COORDTOK_CLI not set");
  find_wraps ();
  CtModel *m = tiny_model ();
  GstCaps *caps;
  GstBuffer *good = valid_record (m, &caps);
  gchar *dir = g_dir_make_tmp ("token-wrap-XXXXXX", NULL);
  gchar *in = g_build_filename (dir, "forged.ctok", NULL),
      *out = g_build_filename (dir, "out.rgb", NULL);
  GByteArray *rec = wrap_record (&wraps[1], ct_model_id (m));
  GstMapInfo map;
  gst_buffer_map (good, &map, GST_MAP_READ);
  g_byte_array_append (rec, map.data, map.size);
  gst_buffer_unmap (good, &map);
  fail_unless (g_file_set_contents (in, (const char *) rec->data, rec->len, NULL));
  const char *argv[] = { cli, "decode", "--model", g_getenv ("CT_TEST_TINY"), in, out, NULL };
  gchar *sout = NULL, *serr = NULL;
  gint status = -1;
  GError *err = NULL;
  fail_unless (g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
          &sout, &serr, &status, &err), "%s", err ? err->message : "");
  fail_unless (g_spawn_check_wait_status (status, NULL), "coordtok decode exited "
      "with status %d: %s%s", status, sout, serr);
  fail_unless (strstr (serr, "Skipped") != NULL, "no warning: %s", serr);
  const CtConfig *c = ct_model_config (m);
  GStatBuf st;
  fail_unless (g_stat (out, &st) == 0 && st.st_size == (goffset) c->T * c->W * c->H * 3,
      "the valid window was not decoded whole: %s", serr);
  g_unlink (in);
  g_unlink (out);
  g_rmdir (dir);
  g_free (sout);
  g_free (serr);
  g_free (in);
  g_free (out);
  g_free (dir);
  g_byte_array_unref (rec);
  gst_buffer_unref (good);
  gst_caps_unref (caps);
  ct_model_unref (m);
}
GST_END_TEST;

static int
write_records (const char *dir)
{
  if (search_once () != N_WRAPS) {
    g_printerr ("the search found %u wrapping headers of %d\n", n_found, N_WRAPS);
    return 1;
  }
  for (guint i = 0; i < N_WRAPS; i++) {
    GByteArray *rec = wrap_record (&wraps[i], "wrap");
    gchar *path = g_strdup_printf ("%s/wrap-%02u.ctok", dir, i);
    GError *err = NULL;
    if (!g_file_set_contents (path, (const char *) rec->data, rec->len, &err)) {
      g_printerr ("%s\n", err->message);
      return 1;
    }
    /* the fields, for pack: rxy rt C tiles_x tiles_y */
    g_print ("%s %u %u %u %u %u\n", path, wraps[i].rxy, wraps[i].rt,
        wraps[i].channels, wraps[i].tiles_x, wraps[i].tiles_y);
    g_free (path);
    g_byte_array_unref (rec);
  }
  return 0;
}

static Suite *
wrap_suite (void)
{
  Suite *s = suite_create ("token-wrap");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_search_finds_wraps);
  tcase_add_test (tc, test_library_refuses);
  tcase_add_test (tc, test_parser_skips);
  tcase_add_test (tc, test_decoder_skips);
  tcase_add_test (tc, test_cli_skips);
  return s;
}

int
main (int argc, char **argv)
{
  if (argc == 3 && strcmp (argv[1], "--write") == 0)
    return write_records (argv[2]);
  gst_check_init (&argc, &argv);
  return gst_check_run_suite (wrap_suite (), "token-wrap", __FILE__);
}
