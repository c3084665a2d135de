/* test-engine.c - libcoordtok: bad weight files are refused with a message
 * that names the problem, models are shared, sessions check arguments, and
 * partial decodes agree with whole-window decodes.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "coordtok.h"
#include "safetensors.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static char *tmpdir;
static const char *golden_dir;

static char *
golden (const char *c, const char *file)
{
  return g_build_filename (golden_dir, c, file, NULL);
}

static char *
write_tmp (const char *name, const void *data, gsize len)
{
  char *p = g_build_filename (tmpdir, name, NULL);
  g_assert_true (g_file_set_contents (p, data, len, NULL));
  return p;
}

/* a safetensors file from a header string and n data bytes */
static char *
raw_st (const char *name, const char *header, gsize ndata)
{
  gsize hl = strlen (header);
  guint8 *buf = g_malloc0 (8 + hl + ndata);
  guint64 le = GUINT64_TO_LE (hl);
  memcpy (buf, &le, 8);
  memcpy (buf + 8, header, hl);
  char *p = write_tmp (name, buf, 8 + hl + ndata);
  g_free (buf);
  return p;
}

static void
expect_st_error (const char *path, const char *needle)
{
  GError *err = NULL;
  CtSafetensors *st = ct_safetensors_open (path, &err);
  g_assert_null (st);
  g_assert_nonnull (err);
  if (!strstr (err->message, needle))
    g_error ("message '%s' does not mention '%s'", err->message, needle);
  /* the model loader must refuse it too, with the same reason */
  g_clear_error (&err);
  CtModel *m = ct_model_load (path, &err);
  g_assert_null (m);
  g_assert_nonnull (err);
  g_clear_error (&err);
}

static void
test_safetensors_malformed (void)
{
  char *p;
  p = write_tmp ("short.st", "abc", 3);
  expect_st_error (p, "too short");
  g_free (p);

  /* header length past the end */
  guint8 b[16] = { 0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}' };
  p = write_tmp ("hlen.st", b, 10);
  expect_st_error (p, "past the end");
  g_free (p);

  p = raw_st ("json.st", "{\"a\": [", 0);
  expect_st_error (p, "JSON");
  g_free (p);

  p = raw_st ("dtype.st", "{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  expect_st_error (p, "unsupported dtype 'Q7'");
  g_free (p);

  p = raw_st ("range.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
  expect_st_error (p, "out of range");
  g_free (p);

  p = raw_st ("size.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
  expect_st_error (p, "needs 12");
  g_free (p);

  p = raw_st ("overlap.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
  expect_st_error (p, "overlaps");
  g_free (p);

  p = raw_st ("hole.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12);
  expect_st_error (p, "hole");
  g_free (p);

  p = raw_st ("neg.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
  expect_st_error (p, "bad shape");
  g_free (p);

  p = raw_st ("md.st", "{\"__metadata__\":{\"k\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  expect_st_error (p, "not a string");
  g_free (p);

  p = raw_st ("trail.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8);
  expect_st_error (p, "trailing");
  g_free (p);

  /* every truncation of a real weight file is refused without a crash */
  char *w = golden ("tiny-full", "weights.safetensors");
  gchar *data;
  gsize len;
  g_assert_true (g_file_get_contents (w, &data, &len, NULL));
  for (gsize cut = 0; cut < len; cut += len / 7 + 1) {
    GError *err = NULL;
    char *t = write_tmp ("trunc.st", data, cut);
    g_assert_null (ct_safetensors_open (t, &err));
    g_assert_nonnull (err);
    g_clear_error (&err);
    g_free (t);
  }
  g_free (data);
  g_free (w);
}

/* copies tiny-full's weights, dropping or reshaping one tensor */
static char *
mutated_weights (const char *drop, const char *reshape, gboolean to_i32,
    const char *md_key, const char *md_value)
{
  char *w = golden ("tiny-full", "weights.safetensors");
  CtSafetensors *st = ct_safetensors_open (w, NULL);
  g_assert_nonnull (st);
  CtSafetensorsWriter *wr = ct_safetensors_writer_new ();
  if (md_key)
    ct_safetensors_writer_set_metadata (wr, md_key, md_value);
  for (int i = 0; i < ct_safetensors_n_tensors (st); i++) {
    const CtTensorView *t = ct_safetensors_tensor (st, i);
    if (drop && !strcmp (t->name, drop))
      continue;
    gint64 shape[CT_MAX_DIMS];
    memcpy (shape, t->shape, sizeof shape);
    int nd = t->ndim;
    if (reshape && !strcmp (t->name, reshape)) {
      /* same bytes, different shape: (a, b) -> (b, a) or 1-D -> (1, n) */
      if (nd == 2) {
        shape[0] = t->shape[1];
        shape[1] = t->shape[0];
      } else {
        shape[0] = 1;
        shape[1] = t->numel;
        nd = 2;
      }
    }
    CtDType dt = t->dtype;
    if (to_i32 && !strcmp (t->name, "decoder.projector.bias"))
      dt = CT_DTYPE_I32;
    ct_safetensors_writer_add (wr, t->name, dt, nd, shape, t->data);
  }
  char *out = g_build_filename (tmpdir, "mutated.safetensors", NULL);
  GError *err = NULL;
  g_assert_true (ct_safetensors_writer_write (wr, out, NULL, NULL, &err));
  ct_safetensors_writer_free (wr);
  ct_safetensors_close (st);
  g_free (w);
  return out;
}

static void
expect_model_error (const char *path, const char *needle)
{
  GError *err = NULL;
  CtLoadOptions o = { 4, 4 };
  CtModel *m = ct_model_load_full (path, &o, &err);
  g_assert_null (m);
  g_assert_nonnull (err);
  if (!strstr (err->message, needle))
    g_error ("message '%s' does not mention '%s'", err->message, needle);
  g_error_free (err);
}

static void
test_model_validation (void)
{
  char *p = mutated_weights ("encoder.transformer.layers.1.norm2.bias", NULL, FALSE, NULL, NULL);
  expect_model_error (p, "missing tensor 'encoder.transformer.layers.1.norm2.bias'");
  g_free (p);

  p = mutated_weights (NULL, "decoder.transformer.layers.0.attn.proj.bias", FALSE, NULL, NULL);
  expect_model_error (p, "'decoder.transformer.layers.0.attn.proj.bias' has shape (1, 48), the configuration needs (48)");
  g_free (p);

  p = mutated_weights (NULL, "decoder.transformer.layers.1.mlp.fc1.weight", FALSE, NULL, NULL);
  expect_model_error (p, "(48, 192)");
  g_free (p);

  p = mutated_weights (NULL, NULL, TRUE, NULL, NULL);
  expect_model_error (p, "decoder.projector.bias' has dtype I32");
  g_free (p);

  /* a shape the sizes cannot come from */
  p = mutated_weights ("decoder.transformer.pos_embed", NULL, FALSE, NULL, NULL);
  expect_model_error (p, "decoder.transformer.pos_embed");
  g_free (p);

  /* metadata present but incomplete / malformed */
  p = mutated_weights (NULL, NULL, FALSE, "coordtok.T", "16");
  expect_model_error (p, "missing key");
  g_free (p);

  /* heads that do not divide the width */
  GError *err = NULL;
  char *w = golden ("tiny-full", "weights.safetensors");
  CtLoadOptions o = { 5, 4 };
  g_assert_null (ct_model_load_full (w, &o, &err));
  g_assert_nonnull (strstr (err->message, "enc_dim=64 not divisible by enc_heads=5"));
  g_clear_error (&err);
  g_assert_null (ct_model_load ("/nonexistent/x.safetensors", &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_IO);
  g_clear_error (&err);
  g_free (w);
}

static void
test_model_shared (void)
{
  char *w = golden ("tiny-full", "weights.safetensors");
  CtLoadOptions o = { 4, 4 };
  CtModel *a = ct_model_load_full (w, &o, NULL);
  char *rel = g_strconcat (golden_dir, "/./tiny-full/weights.safetensors", NULL);
  CtModel *b = ct_model_load_full (rel, &o, NULL);
  g_assert_nonnull (a);
  g_assert_true (a == b);          /* one copy per file */
  g_assert_cmpstr (ct_model_id (a), ==, ct_model_id (b));
  g_assert_cmpint (strlen (ct_model_id (a)), ==, 16);
  ct_model_unref (b);
  ct_model_unref (a);
  /* after the last unref a new load builds a new model, same id */
  CtModel *c = ct_model_load_full (w, &o, NULL);
  g_assert_nonnull (c);
  ct_model_unref (c);
  g_free (rel);
  g_free (w);
}

/* one encode and whole-window decode of `video` on session s */
typedef struct {
  CtSession *s;
  const float *video;
  float *z, *out;
  int reps;
  gboolean same;            /* every repetition equalled ref_z/ref_out */
  const float *ref_z, *ref_out;
} Job;

static void
encode_decode (CtSession *s, const float *video, float *z, float *out)
{
  const CtConfig *c = ct_model_config (ct_session_model (s));
  GError *err = NULL;
  g_assert_true (ct_session_encode (s, video, c->T, z, NULL, &err));
  g_assert_true (ct_session_rasterize (s, z, c->T, 0, out, &err));
}

static gpointer
job_run (gpointer data)
{
  Job *j = data;
  const CtConfig *c = ct_model_config (ct_session_model (j->s));
  gsize zn = ct_config_token_floats (c), on = (gsize) c->T * c->H * c->W * 3;
  j->same = TRUE;
  for (int r = 0; r < j->reps; r++) {
    encode_decode (j->s, j->video, j->z, j->out);
    j->same = j->same && !memcmp (j->z, j->ref_z, zn * 4) && !memcmp (j->out, j->ref_out, on * 4);
  }
  return NULL;
}

static float *
test_video (const CtConfig *c)
{
  gsize n = (gsize) c->T * c->H * c->W * 3;
  float *v = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    v[i] = (float) ((i * 7919) % 255) / 127.5f - 1.0f;
  return v;
}

/* a CPU session on m with a fixed two threads (bit-reproducible) */
static CtSession *
cpu_session (CtModel *m)
{
  CtSession *s = ct_session_new (m, CT_DEVICE_CPU, CT_PRECISION_FP32, NULL);
  g_assert_nonnull (s);
  ct_session_set_threads (s, 2);
  return s;
}

/* Sessions of one model in two threads at once give exactly what one
 * session gives alone: the per-model state they share (the packed linear
 * weights, src/cpu/linear-onednn.c, gemm-packed.c) is built once and read safely. */
static void
test_sessions_concurrent (void)
{
  char *w = golden ("small-full", "weights.safetensors");
  CtLoadOptions o = { 4, 4 };
  CtModel *m = ct_model_load_full (w, &o, NULL);
  g_assert_nonnull (m);
  const CtConfig *c = ct_model_config (m);
  gsize zn = ct_config_token_floats (c), on = (gsize) c->T * c->H * c->W * 3;
  float *video = test_video (c);
  float *ref_z = g_new (float, zn), *ref_out = g_new (float, on);
  CtSession *s[2];
  for (int i = 0; i < 2; i++)
    s[i] = cpu_session (m);
  encode_decode (s[0], video, ref_z, ref_out);
  Job jobs[2];
  GThread *t[2];
  for (int i = 0; i < 2; i++) {
    jobs[i] = (Job) { s[i], video, g_new (float, zn), g_new (float, on), 3, FALSE,
      ref_z, ref_out };
    t[i] = g_thread_new ("session", job_run, &jobs[i]);
  }
  for (int i = 0; i < 2; i++) {
    g_thread_join (t[i]);
    g_assert_true (jobs[i].same);
    g_free (jobs[i].z);
    g_free (jobs[i].out);
    ct_session_free (s[i]);
  }
  g_free (ref_z);
  g_free (ref_out);
  g_free (video);
  ct_model_unref (m);
  g_free (w);
}

/* Models freed and others built at the same addresses: nothing of one
 * (packed weights are keyed by address) leaks into the next.  References
 * for two random models are taken while both are alive (at different
 * addresses); then each is built again, alone, in turn, and must match. */
static CtModel *
random_model (const CtConfig *c, guint64 seed, CtSession **s)
{
  CtModel *m = ct_model_new_random (c, seed, NULL);
  g_assert_nonnull (m);
  *s = cpu_session (m);
  return m;
}

static void
test_models_in_turn (void)
{
  char *w = golden ("tiny-full", "weights.safetensors");
  CtLoadOptions o = { 4, 4 };
  CtModel *tiny = ct_model_load_full (w, &o, NULL);
  g_assert_nonnull (tiny);
  CtConfig c = *ct_model_config (tiny);
  ct_model_unref (tiny);
  gsize zn = ct_config_token_floats (&c), on = (gsize) c.T * c.H * c.W * 3;
  float *video = test_video (&c), *z = g_new (float, zn), *out = g_new (float, on);
  float *ref_z[2], *ref_out[2];
  CtSession *s[2];
  CtModel *m[2];
  for (int i = 0; i < 2; i++)
    m[i] = random_model (&c, 1 + i, &s[i]);
  for (int i = 0; i < 2; i++) {
    ref_z[i] = g_new (float, zn);
    ref_out[i] = g_new (float, on);
    encode_decode (s[i], video, ref_z[i], ref_out[i]);
  }
  for (int i = 0; i < 2; i++) {
    ct_session_free (s[i]);
    ct_model_unref (m[i]);
  }
  g_assert_true (memcmp (ref_z[0], ref_z[1], zn * 4) != 0);
  for (int k = 0; k < 6; k++) {
    int i = k % 2;
    CtSession *si;
    CtModel *mi = random_model (&c, 1 + i, &si);
    encode_decode (si, video, z, out);
    g_assert_true (memcmp (z, ref_z[i], zn * 4) == 0);
    g_assert_true (memcmp (out, ref_out[i], on * 4) == 0);
    ct_session_free (si);
    ct_model_unref (mi);
  }
  for (int i = 0; i < 2; i++) {
    g_free (ref_z[i]);
    g_free (ref_out[i]);
  }
  g_free (z);
  g_free (out);
  g_free (video);
  g_free (w);
}

static void
test_session_arguments (void)
{
  char *w = golden ("tiny-full", "weights.safetensors");
  CtLoadOptions o = { 4, 4 };
  GError *err = NULL;
  CtModel *m = ct_model_load_full (w, &o, NULL);
  CtSession *s = ct_session_new (m, CT_DEVICE_CPU, CT_PRECISION_FP32, &err);
  g_assert_no_error (err);
  g_assert_cmpint (ct_session_device (s), ==, CT_DEVICE_CPU);
  /* CPU refuses reduced precision instead of silently ignoring it */
  g_assert_null (ct_session_new (m, CT_DEVICE_CPU, CT_PRECISION_BF16, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_UNSUPPORTED);
  g_clear_error (&err);

  const CtConfig *c = ct_model_config (m);
  gsize vn = (gsize) c->T * c->H * c->W * 3;
  float *video = g_new0 (float, vn), *z = g_new0 (float, ct_config_token_floats (c));
  g_assert_false (ct_session_encode (s, video, 0, z, NULL, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_ARGUMENT);
  g_clear_error (&err);
  g_assert_false (ct_session_encode (s, video, c->T + 1, z, NULL, &err));
  g_clear_error (&err);
  float coords[6] = { 0, 0.5f, 1, 0, NAN, 0 }, out[2 * 48];
  g_assert_false (ct_session_decode (s, z, coords, 2, out, NULL, &err));
  g_assert_nonnull (strstr (err->message, "outside [0, 1]"));
  g_clear_error (&err);
  coords[4] = 1.5f;
  g_assert_false (ct_session_decode (s, z, coords, 2, out, NULL, &err));
  g_clear_error (&err);
  g_assert_false (ct_session_rasterize_range (s, z, 8, 0, 4, 8, video, &err));
  g_clear_error (&err);
  g_free (video);
  g_free (z);
  ct_session_free (s);
  ct_model_unref (m);
  g_free (w);
}

/* A frame sub-range decoded with frame-aligned slices equals the same
 * frames of the whole-window decode.  Not compared bit for bit: the two
 * calls stack a different number of slices into each GEMM, and whether
 * that changes the last bit depends on the BLAS kernel (it does under
 * valgrind's emulated CPU); a wrong coordinate or slice would be off by
 * far more than 1e-5. */
static void
test_rasterize_range (void)
{
  char *w = golden ("tiny-full", "weights.safetensors");
  CtLoadOptions o = { 4, 4 };
  CtModel *m = ct_model_load_full (w, &o, NULL);
  CtSession *s = ct_session_new (m, CT_DEVICE_CPU, CT_PRECISION_FP32, NULL);
  const CtConfig *c = ct_model_config (m);
  gsize frame = (gsize) c->H * c->W * 3, vn = frame * c->T;
  float *video = g_new (float, vn), *z = g_new (float, ct_config_token_floats (c));
  for (gsize i = 0; i < vn; i++)
    video[i] = sinf (i * 0.001f);
  g_assert_true (ct_session_encode (s, video, c->T, z, NULL, NULL));
  int per_frame = ct_config_nx (c) * ct_config_ny (c);
  float *full = g_new (float, vn), *part = g_new (float, 4 * frame);
  g_assert_true (ct_session_rasterize (s, z, c->T, 2 * per_frame, full, NULL));
  g_assert_true (ct_session_rasterize_range (s, z, c->T, 2 * per_frame, 6, 4, part, NULL));
  float maxd = 0;
  for (gsize i = 0; i < 4 * frame; i++)
    maxd = MAX (maxd, fabsf (part[i] - full[6 * frame + i]));
  g_assert_cmpfloat (maxd, <=, 1e-5f);
  /* and a slice size the window is not a multiple of still covers it all */
  g_assert_true (ct_session_rasterize (s, z, c->T, 1000, full, NULL));
  for (gsize i = 0; i < vn; i++)
    g_assert_true (isfinite (full[i]));
  g_free (video); g_free (z); g_free (full); g_free (part);
  ct_session_free (s);
  ct_model_unref (m);
  g_free (w);
}

/* A spatial region queries exactly its patches: with one slice it equals
 * ct_session_decode on those coordinates, placed at the right pixels. */
static void
test_rasterize_region (void)
{
  char *w = golden ("tiny-full", "weights.safetensors");
  CtLoadOptions o = { 4, 4 };
  GError *err = NULL;
  CtModel *m = ct_model_load_full (w, &o, NULL);
  CtSession *s = ct_session_new (m, CT_DEVICE_CPU, CT_PRECISION_FP32, NULL);
  const CtConfig *c = ct_model_config (m);
  int p = c->dec_pxy, pv = ct_config_patch_values (c);
  gsize vn = (gsize) c->T * c->H * c->W * 3;
  float *video = g_new (float, vn), *z = g_new (float, ct_config_token_floats (c));
  for (gsize i = 0; i < vn; i++)
    video[i] = cosf (i * 0.003f);
  g_assert_true (ct_session_encode (s, video, c->T, z, NULL, NULL));

  /* frames 2..3, rows 8..15, columns 4..19 (p = 4): 2 x 2 x 4 patches */
  CtRegion r = { .t0 = 2, .nt = 2, .top = 2 * p, .height = 2 * p, .left = p, .width = 4 * p };
  int nq = 2 * 2 * 4;
  float *reg = g_new (float, (gsize) r.nt * r.height * r.width * 3);
  g_assert_true (ct_session_rasterize_region (s, z, c->T, nq, &r, reg, &err));
  g_assert_no_error (err);
  float *coords = g_new (float, nq * 3), *patches = g_new (float, (gsize) nq * pv);
  int q = 0;
  for (int it = 2; it < 4; it++)
    for (int ix = 2; ix < 4; ix++)
      for (int iy = 1; iy < 5; iy++, q++)
        ct_patch_coord (c, it, ix, iy, coords + 3 * q);
  g_assert_true (ct_session_decode (s, z, coords, nq, patches, NULL, NULL));
  q = 0;
  for (int it = 0; it < 2; it++)
    for (int ix = 0; ix < 2; ix++)
      for (int iy = 0; iy < 4; iy++, q++)
        for (int dx = 0; dx < p; dx++)
          for (int k = 0; k < p * 3; k++)
            g_assert_cmpfloat (reg[(((gsize) it * r.height + ix * p + dx) * r.width + iy * p) * 3 + k],
                ==, patches[(gsize) q * pv + dx * p * 3 + k]);

  /* misaligned and out-of-range regions are refused with the field named */
  CtRegion bad = { .top = 3 };
  g_assert_false (ct_session_rasterize_region (s, z, c->T, 0, &bad, reg, &err));
  g_assert_nonnull (strstr (err->message, "rows"));
  g_clear_error (&err);
  CtRegion bad2 = { .left = 0, .width = c->W + p };
  g_assert_false (ct_session_rasterize_region (s, z, c->T, 0, &bad2, reg, &err));
  g_assert_nonnull (strstr (err->message, "columns"));
  g_clear_error (&err);
  g_free (video); g_free (z); g_free (reg); g_free (coords); g_free (patches);
  ct_session_free (s);
  ct_model_unref (m);
  g_free (w);
}

/* What a CtFrameSink received: every delivered chunk's frames copied to
 * their place, the chunks' starts, and an optional skip / stop pattern. */
typedef struct {
  guint8 *pix;              /* (nt, height, width, 3) of the region */
  int t0, frame_bytes;
  int chunks, skipped, stop_after;
  int next_f0;              /* chunks must arrive in order, contiguous */
  gboolean skip_odd, in_order;
} Received;

static gboolean
received_skip (gpointer user, int f0, int n)
{
  Received *r = user;
  gboolean skip = r->skip_odd && (r->chunks + r->skipped) % 2 == 1;
  if (f0 != r->next_f0)
    r->in_order = FALSE;
  if (skip) {
    r->skipped++;
    r->next_f0 = f0 + n;
  }
  return skip;
}

static gboolean
received_frames (gpointer user, const guint8 *rgb, int f0, int n)
{
  Received *r = user;
  if (f0 != r->next_f0)
    r->in_order = FALSE;
  memcpy (r->pix + (gsize) (f0 - r->t0) * r->frame_bytes, rgb, (gsize) n * r->frame_bytes);
  r->chunks++;
  r->next_f0 = f0 + n;
  return r->stop_after == 0 || r->chunks < r->stop_after;
}

/* The reference: the region rasterized at once, converted frame by frame. */
static guint8 *
rgb8_reference (CtSession *s, const float *z, const CtTileGrid *g, int n_frames,
    int slice, CtRegion *r)
{
  /* sizes <= 0 mean "to the end", as the library normalises them */
  if (r->nt <= 0)
    r->nt = n_frames - r->t0;
  if (r->height <= 0)
    r->height = g->height - r->top;
  if (r->width <= 0)
    r->width = g->width - r->left;
  gsize frame = (gsize) r->width * r->height * 3;
  float *f = g_new (float, frame * r->nt);
  guint8 *px = g_new (guint8, frame * r->nt);
  g_assert_true (ct_session_rasterize_tiles (s, z, g, n_frames, slice, r, f, NULL));
  for (int t = 0; t < r->nt; t++)
    ct_model_to_rgb8 (f + t * frame, r->width, r->height, px + t * frame, r->width * 3);
  g_free (f);
  return px;
}

/* ct_session_decode_rgb8 over a tiled window (edge tiles cropped): chunk by
 * chunk, in order, exactly the pixels of rasterizing the region at once and
 * converting them; late chunks skipped, a stop honoured, bad regions named. */
static void
test_decode_rgb8 (void)
{
  char *w = golden ("tiny-full", "weights.safetensors");
  CtLoadOptions o = { 4, 4 };
  GError *err = NULL;
  CtModel *m = ct_model_load_full (w, &o, NULL);
  CtSession *s = cpu_session (m);
  const CtConfig *c = ct_model_config (m);
  int p = c->dec_pxy, pt = c->dec_pt;
  /* enough tiles that a window is decoded in several chunks */
  int width = 6 * c->W - 3, height = 4 * c->H + 5, n_frames = c->T - pt;
  int slice = ct_config_nx (c) * ct_config_ny (c);    /* whole frames */
  gsize rgb_frame = (gsize) width * height * 3;
  guint8 *rgb = g_new (guint8, rgb_frame * n_frames);
  for (gsize i = 0; i < rgb_frame * n_frames; i++)
    rgb[i] = (guint8) ((i * 2654435761u) >> 13);
  CtTileGrid g;
  g_assert_true (ct_tile_grid_init (&g, c, width, height, NULL));
  float *z = g_new (float, ct_config_token_floats (c) * ct_tile_grid_n_tiles (&g));
  g_assert_true (ct_session_encode_rgb8 (s, rgb, width, height, width * 3,
          rgb_frame, n_frames, z, &err));
  g_assert_no_error (err);

  CtRegion whole = { 0 };
  int chunk = ct_session_rasterize_chunk_frames (s, &g, n_frames, slice, &whole);
  g_assert_cmpint (chunk, <, n_frames);
  CtRegion boxes[] = {
    { 0 },                                           /* every frame, all of it */
    { .t0 = pt, .nt = n_frames - 3 * pt },          /* a frame range */
    { .t0 = pt, .top = p, .left = 2 * p },          /* a box to the edges */
  };
  for (guint b = 0; b < G_N_ELEMENTS (boxes); b++) {
    CtRegion ref_r = boxes[b];
    guint8 *ref = rgb8_reference (s, z, &g, n_frames, slice, &ref_r);
    for (int mode = 0; mode < 3; mode++) {     /* all, skip odd chunks, stop */
      CtRegion r = boxes[b];
      gsize frame = (gsize) ref_r.width * ref_r.height * 3;
      Received got = { .pix = g_malloc0 (frame * ref_r.nt), .t0 = ref_r.t0,
        .frame_bytes = (int) frame, .next_f0 = ref_r.t0, .in_order = TRUE,
        .skip_odd = mode == 1, .stop_after = mode == 2 ? 1 : 0 };
      CtFrameSink sink = { received_skip, received_frames, &got };
      g_assert_true (ct_session_decode_rgb8 (s, z, width, height, n_frames,
              slice, &r, &sink, &err));
      g_assert_no_error (err);
      g_assert_true (memcmp (&r, &ref_r, sizeof r) == 0);   /* normalised */
      g_assert_true (got.in_order);
      int rchunk = ct_session_rasterize_chunk_frames (s, &g, n_frames, slice, &r);
      int n_chunks = (r.nt + rchunk - 1) / rchunk;
      g_test_message ("box %u: %d frames in chunks of %d", b, r.nt, rchunk);
      if (b < 2)                /* a box's slices need not fit a chunk */
        g_assert_cmpint (n_chunks, >, 1);
      if (mode == 0)
        g_assert_cmpint (got.chunks, ==, n_chunks);
      else if (mode == 1)
        g_assert_cmpint (got.chunks + got.skipped, ==, n_chunks);
      else
        g_assert_cmpint (got.chunks, ==, 1);
      for (int t = 0; t < r.nt; t++) {
        gboolean delivered = mode == 0 || (mode == 1 && (t / rchunk) % 2 == 0) ||
            (mode == 2 && t < rchunk);
        if (delivered)
          g_assert_true (memcmp (got.pix + t * frame, ref + t * frame, frame) == 0);
        else
          for (gsize i = 0; i < frame; i++)
            g_assert_cmpint (got.pix[t * frame + i], ==, 0);
      }
      g_free (got.pix);
    }
    g_free (ref);
  }

  /* refusals name what is wrong and deliver nothing */
  Received none = { .pix = NULL, .in_order = TRUE };
  CtFrameSink sink = { NULL, received_frames, &none };
  CtRegion bad = { .top = 3 };
  g_assert_false (ct_session_decode_rgb8 (s, z, width, height, n_frames, 0, &bad, &sink, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_ARGUMENT);
  g_assert_nonnull (strstr (err->message, "rows"));
  g_clear_error (&err);
  CtRegion past = { .t0 = 0, .nt = n_frames + pt };
  g_assert_false (ct_session_decode_rgb8 (s, z, width, height, n_frames, 0, &past, &sink, &err));
  g_assert_nonnull (strstr (err->message, "frames"));
  g_clear_error (&err);
  CtRegion any = { 0 };
  g_assert_false (ct_session_decode_rgb8 (s, z, width, height, c->T + 1, 0, &any, &sink, &err));
  g_assert_nonnull (strstr (err->message, "n_frames"));
  g_clear_error (&err);
  g_assert_false (ct_session_decode_rgb8 (s, z, 0, height, n_frames, 0, &any, &sink, &err));
  g_assert_nonnull (strstr (err->message, "frame size"));
  g_clear_error (&err);
  g_assert_false (ct_session_decode_rgb8 (s, z, width, height, n_frames, 0, &any, NULL, &err));
  g_assert_nonnull (strstr (err->message, "sink"));
  g_clear_error (&err);
  g_assert_cmpint (none.chunks, ==, 0);

  g_free (rgb);
  g_free (z);
  ct_session_free (s);
  ct_model_unref (m);
  g_free (w);
}

static void
test_half_conversions (void)
{
  float vals[] = { 0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f,
    1e-9f, 3.14159265f, 70000.0f, -1e-4f };
  for (guint i = 0; i < G_N_ELEMENTS (vals); i++) {
    float h = ct_f16_to_f32 (ct_f32_to_f16 (vals[i]));
    float b = ct_bf16_to_f32 (ct_f32_to_bf16 (vals[i]));
    if (fabsf (vals[i]) > 65504.0f)
      g_assert_true (isinf (h));
    else if (fabsf (vals[i]) >= 6.1035156e-05f)
      g_assert_cmpfloat (fabsf (h - vals[i]), <=, fabsf (vals[i]) / 2048.0f);
    else
      g_assert_cmpfloat (fabsf (h - vals[i]), <=, 2.98e-8f);
    g_assert_cmpfloat (fabsf (b - vals[i]), <=, fabsf (vals[i]) / 256.0f);
  }
  g_assert_cmphex (ct_f32_to_f16 (1.0f), ==, 0x3c00);
  g_assert_cmphex (ct_f32_to_bf16 (1.0f), ==, 0x3f80);
  /* round half to even: 1 + 2^-11 rounds down to 1, 1 + 3*2^-11 up */
  g_assert_cmphex (ct_f32_to_f16 (1.0f + 1.0f / 2048), ==, 0x3c00);
  g_assert_cmphex (ct_f32_to_f16 (1.0f + 3.0f / 2048), ==, 0x3c02);
}

static void
test_pixels (void)
{
  guint8 rgb[2 * 8] = { 0, 255, 128, 1, 2, 3, 0, 0, 10, 20, 30, 40, 50, 60, 0, 0 };
  float m[12];
  guint8 back[2 * 8] = { 0 };
  ct_rgb8_to_model (rgb, 2, 2, 8, m);   /* rows padded to 8 bytes */
  g_assert_cmpfloat (m[0], ==, -1.0f);
  g_assert_cmpfloat (m[1], ==, 1.0f);
  ct_model_to_rgb8 (m, 2, 2, back, 8);
  for (int y = 0; y < 2; y++)
    g_assert_cmpmem (back + 8 * y, 6, rgb + 8 * y, 6);
  float odd[3] = { -5.0f, 7.0f, NAN };
  guint8 o[3];
  ct_model_to_rgb8 (odd, 1, 1, o, 3);
  g_assert_cmpint (o[0], ==, 0);
  g_assert_cmpint (o[1], ==, 255);
  g_assert_cmpint (o[2], ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  golden_dir = g_getenv ("COORDTOK_GOLDEN_DIR");
  if (!golden_dir)
    golden_dir = "tests/data/golden";
  tmpdir = g_dir_make_tmp ("coordtok-test-XXXXXX", NULL);
  g_test_add_func ("/safetensors/malformed", test_safetensors_malformed);
  g_test_add_func ("/model/validation", test_model_validation);
  g_test_add_func ("/model/shared", test_model_shared);
  g_test_add_func ("/session/arguments", test_session_arguments);
  g_test_add_func ("/session/concurrent", test_sessions_concurrent);
  g_test_add_func ("/model/in-turn", test_models_in_turn);
  g_test_add_func ("/session/rasterize-range", test_rasterize_range);
  g_test_add_func ("/session/rasterize-region", test_rasterize_region);
  g_test_add_func ("/session/decode-rgb8", test_decode_rgb8);
  g_test_add_func ("/half/conversions", test_half_conversions);
  g_test_add_func ("/pixels/round-trip", test_pixels);
  int r = g_test_run ();
  /* clean the temp dir */
  GDir *d = g_dir_open (tmpdir, 0, NULL);
  const char *n;
  while (d && (n = g_dir_read_name (d))) {
    char *p = g_build_filename (tmpdir, n, NULL);
    g_unlink (p);
    g_free (p);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return r;
}
