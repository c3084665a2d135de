/* test-parse-storm.c - coordtokparse's work is bounded per input byte
 * (issue 25): 5000 forged headers, each claiming a 1 MiB frame table with
 * a wrong CRC, 354 bytes apart (1.77 MB), cost 14.6 s of CPU against 0.08 s
 * for 19.8 MB of valid records (~7000x per byte): every resync CRCed the
 * next 1 MiB again.  Here the storm's CPU time per byte (this thread's: the
 * harness parses in the pushing thread, so a busy machine matters less)
 * must stay within 50x that of valid records, and the valid record after
 * the storm must still come out.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <string.h>
#include <time.h>

#include "coordtok.h"
#include "tokens/tokens.h"

#define N_FORGED 5000
#define FORGED_SIZE 354
#define CHUNK 4096
#define MAX_RATIO 50.0

static double
thread_cpu_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A header that peek accepts (a window of 65536 frames, all real: a frame
 * table of 1 MiB) and whose CRC is wrong, then junk up to FORGED_SIZE. */
static void
forged (guint8 *p, guint i)
{
  CtTokensHeader h = { .T = 65536, .n_frames = 65536, .height = 8, .width = 8,
    .rxy = 4, .rt = 4, .channels = 4, .tiles_x = 1, .tiles_y = 1, .tile_width = 8,
    .tile_height = 8, .fps_n = 25, .fps_d = 1, .par_n = 1, .par_d = 1,
    .dtype = CT_TOKENS_F32 };
  float z[4 * 4 * 4 * 3] = { 0 };
  guint8 *rec;
  memset (p, 0, FORGED_SIZE);
  fail_unless (ct_tokens_header_finish (&h, NULL));
  rec = g_malloc (ct_tokens_record_size (&h));
  fail_unless (ct_tokens_pack (&h, NULL, z, rec, ct_tokens_record_size (&h), NULL));
  memcpy (p, rec, FORGED_SIZE);
  p[84] ^= 0x5a;                     /* header CRC wrong */
  for (guint k = 200; k < FORGED_SIZE; k++)
    p[k] = (guint8) (k * 37 + i);
  g_free (rec);
}

/* A valid record of 1 frame of the tiny model (zero planes). */
static GByteArray *
valid_record (void)
{
  GError *err = NULL;
  CtModel *m = ct_model_load (g_getenv ("CT_TEST_TINY"), &err);
  fail_unless (m != NULL, "%s", err ? err->message : "CT_TEST_TINY");
  CtTokensHeader h;
  ct_tokens_header_init (&h, m, CT_TOKENS_F32, 1);
  GByteArray *b = g_byte_array_sized_new (ct_tokens_record_size (&h));
  g_byte_array_set_size (b, ct_tokens_record_size (&h));
  float *z = g_new0 (float, ct_tokens_n_elems (&h));
  fail_unless (ct_tokens_pack (&h, NULL, z, b->data, b->len, NULL));
  g_free (z);
  ct_model_unref (m);
  return b;
}

/* Pushes bytes in CHUNK pieces, then EOS; returns this thread's CPU time. */
static double
push_all (GstHarness * h, const guint8 * data, gsize size)
{
  double t0 = thread_cpu_s ();
  for (gsize off = 0; off < size; off += CHUNK) {
    gsize n = MIN (CHUNK, size - off);
    fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (data + off, n)),
        GST_FLOW_OK);
  }
  gst_harness_push_event (h, gst_event_new_eos ());
  return thread_cpu_s () - t0;
}

GST_START_TEST (test_forged_header_storm)
{
  GByteArray *good = valid_record ();
  GByteArray *storm = g_byte_array_new (), *valid = g_byte_array_new ();
  guint8 f[FORGED_SIZE];
  for (guint i = 0; i < N_FORGED; i++) {
    forged (f, i);
    g_byte_array_append (storm, f, FORGED_SIZE);
  }
  g_byte_array_append (storm, good->data, good->len);
  guint n_valid = 0;
  while (valid->len < storm->len) {
    g_byte_array_append (valid, good->data, good->len);
    n_valid++;
  }

  GstHarness *h = gst_harness_new ("coordtokparse");
  gst_harness_set_src_caps_str (h, "video/x-coordtok");
  double t_storm = push_all (h, storm->data, storm->len);
  /* the valid record behind the storm comes out, alone and whole */
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  GstBuffer *b = gst_harness_pull (h);
  fail_unless (gst_buffer_get_size (b) == good->len &&
      gst_buffer_memcmp (b, 0, good->data, good->len) == 0);
  gst_buffer_unref (b);
  gst_harness_teardown (h);

  h = gst_harness_new ("coordtokparse");
  gst_harness_set_src_caps_str (h, "video/x-coordtok");
  double t_valid = push_all (h, valid->data, valid->len);
  fail_unless_equals_int (gst_harness_buffers_received (h), n_valid);
  gst_harness_teardown (h);

  double ratio = (t_storm / storm->len) / (MAX (t_valid, 1e-4) / valid->len);
  g_print ("forged-header storm: %u bytes in %.3f s CPU; %u valid records, %u bytes "
      "in %.3f s; %.1fx per byte (limit %.0fx)\n", storm->len, t_storm, n_valid,
      valid->len, t_valid, ratio, MAX_RATIO);
  fail_unless (ratio <= MAX_RATIO, "the storm cost %.1fx the CPU per byte of valid "
      "records", ratio);
  g_byte_array_unref (storm);
  g_byte_array_unref (valid);
  g_byte_array_unref (good);
}
GST_END_TEST;

static Suite *
storm_suite (void)
{
  Suite *s = suite_create ("parse-storm");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 600);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_forged_header_storm);
  return s;
}

GST_CHECK_MAIN (storm);
