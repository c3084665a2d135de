/* test-convert.c - checkpoint conversion, zip/pickle hardening, writer.
 *
 * Golden cases: every folder of tests/data/golden holding checkpoint.pth,
 * weights.safetensors and config.json is converted and compared bit for bit.
 * Malformed inputs are built here (small zips written from C, or mutated
 * copies of a golden checkpoint) so that they are reproducible.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coordtok.h"
#include "safetensors.h"
#include "convert/convert.h"
#include "convert/pickle.h"
#include "convert/zip.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static char *data_dir;   /* tests/data */
static char *tmp_dir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

/* ---- builders ---------------------------------------------------------- */

static void
put16 (GByteArray *b, guint v)
{
  guint8 x[2] = { v & 0xff, (v >> 8) & 0xff };
  g_byte_array_append (b, x, 2);
}

static void
put32 (GByteArray *b, guint32 v)
{
  guint8 x[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
  g_byte_array_append (b, x, 4);
}

static void
put64 (GByteArray *b, guint64 v)
{
  put32 (b, (guint32) v);
  put32 (b, (guint32) (v >> 32));
}

typedef struct {
  const char *name;
  const guint8 *data;
  gsize size;
  guint16 method;
  guint16 flags;
  guint64 local_offset_override;  /* 0: real offset */
  guint64 size_override;          /* 0: real size (central directory) */
} ZEntry;

/* A zip the way torch writes it (stored entries); zip64 puts every size
 * and offset into zip64 extra fields and adds the zip64 end records. */
static GByteArray *
build_zip (const ZEntry *e, int n, gboolean zip64)
{
  GByteArray *b = g_byte_array_new ();
  guint64 *offs = g_new0 (guint64, n);
  for (int i = 0; i < n; i++) {
    offs[i] = b->len;
    put32 (b, 0x04034b50);
    put16 (b, 20);
    put16 (b, e[i].flags);
    put16 (b, e[i].method);
    put16 (b, 0);
    put16 (b, 0);
    put32 (b, 0);                      /* crc (not checked) */
    put32 (b, (guint32) e[i].size);
    put32 (b, (guint32) e[i].size);
    put16 (b, strlen (e[i].name));
    put16 (b, 4);                      /* padding extra, like torch's "FB" */
    g_byte_array_append (b, (const guint8 *) e[i].name, strlen (e[i].name));
    put16 (b, 0x4246);
    put16 (b, 0);
    g_byte_array_append (b, e[i].data, e[i].size);
  }
  guint64 cd_off = b->len;
  for (int i = 0; i < n; i++) {
    guint64 off = e[i].local_offset_override ? e[i].local_offset_override :
        offs[i];
    guint64 sz = e[i].size_override ? e[i].size_override : e[i].size;
    put32 (b, 0x02014b50);
    put16 (b, 45);
    put16 (b, 45);
    put16 (b, e[i].flags);
    put16 (b, e[i].method);
    put16 (b, 0);
    put16 (b, 0);
    put32 (b, 0);
    put32 (b, zip64 ? 0xffffffffu : (guint32) sz);
    put32 (b, zip64 ? 0xffffffffu : (guint32) sz);
    put16 (b, strlen (e[i].name));
    put16 (b, zip64 ? 28 : 0);
    put16 (b, 0);
    put16 (b, 0);
    put16 (b, 0);
    put32 (b, 0);
    put32 (b, zip64 ? 0xffffffffu : (guint32) off);
    g_byte_array_append (b, (const guint8 *) e[i].name, strlen (e[i].name));
    if (zip64) {
      put16 (b, 1);
      put16 (b, 24);
      put64 (b, sz);
      put64 (b, sz);
      put64 (b, off);
    }
  }
  guint64 cd_size = b->len - cd_off;
  if (zip64) {
    guint64 rec = b->len;
    put32 (b, 0x06064b50);
    put64 (b, 44);
    put16 (b, 45);
    put16 (b, 45);
    put32 (b, 0);
    put32 (b, 0);
    put64 (b, n);
    put64 (b, n);
    put64 (b, cd_size);
    put64 (b, cd_off);
    put32 (b, 0x07064b50);
    put32 (b, 0);
    put64 (b, rec);
    put32 (b, 1);
  }
  put32 (b, 0x06054b50);
  put16 (b, 0);
  put16 (b, 0);
  put16 (b, zip64 ? 0xffff : n);
  put16 (b, zip64 ? 0xffff : n);
  put32 (b, zip64 ? 0xffffffffu : (guint32) cd_size);
  put32 (b, zip64 ? 0xffffffffu : (guint32) cd_off);
  put16 (b, 0);
  g_free (offs);
  return b;
}

/* pickle pieces */
static void
p_op (GByteArray *b, guint8 op)
{
  g_byte_array_append (b, &op, 1);
}

static void
p_str (GByteArray *b, const char *s)
{
  p_op (b, 'X');
  put32 (b, strlen (s));
  g_byte_array_append (b, (const guint8 *) s, strlen (s));
}

static void
p_int (GByteArray *b, gint64 v)
{
  if (v >= 0 && v < 256) {
    p_op (b, 'K');
    p_op (b, (guint8) v);
  } else if (v >= 0 && v < 65536) {
    p_op (b, 'M');
    put16 (b, (guint) v);
  } else if (v >= G_MININT32 && v <= G_MAXINT32) {
    p_op (b, 'J');
    put32 (b, (guint32) v);
  } else {
    p_op (b, 0x8a);
    p_op (b, 8);
    put64 (b, (guint64) v);
  }
}

static void
p_global (GByteArray *b, const char *mod, const char *name)
{
  p_op (b, 'c');
  g_byte_array_append (b, (const guint8 *) mod, strlen (mod));
  p_op (b, '\n');
  g_byte_array_append (b, (const guint8 *) name, strlen (name));
  p_op (b, '\n');
}

typedef struct {
  const char *name;
  const char *storage_cls;    /* "FloatStorage", ... */
  const char *key;
  gint64 numel;               /* storage elements */
  gint64 offset;
  int ndim;
  gint64 size[4], stride[4];
  gboolean parameter;         /* wrap in _rebuild_parameter */
} TSpec;

static void
p_tensor (GByteArray *b, const TSpec *t)
{
  if (t->parameter)
    p_global (b, "torch._utils", "_rebuild_parameter");
  p_global (b, "torch._utils", "_rebuild_tensor_v2");
  p_op (b, '(');
  p_op (b, '(');
  p_str (b, "storage");
  p_global (b, "torch", t->storage_cls);
  p_str (b, t->key);
  p_str (b, "cpu");
  p_int (b, t->numel);
  p_op (b, 't');
  p_op (b, 'Q');
  p_int (b, t->offset);
  p_op (b, '(');
  for (int d = 0; d < t->ndim; d++)
    p_int (b, t->size[d]);
  p_op (b, 't');
  p_op (b, '(');
  for (int d = 0; d < t->ndim; d++)
    p_int (b, t->stride[d]);
  p_op (b, 't');
  p_op (b, 0x89);
  p_global (b, "collections", "OrderedDict");
  p_op (b, ')');
  p_op (b, 'R');
  p_op (b, 't');
  p_op (b, 'R');
  if (t->parameter) {
    p_op (b, 0x88);
    p_global (b, "collections", "OrderedDict");
    p_op (b, ')');
    p_op (b, 'R');
    p_op (b, 0x87);
    p_op (b, 'R');
  }
}

/* {'epoch': 3, 'model': OrderedDict(tensors) [+ BUILD _metadata]} or the
 * bare state dict; `inject` is spliced in right after PROTO. */
static GByteArray *
build_pickle (const TSpec *ts, int n, gboolean wrap, const guint8 *inject,
    gsize inject_len)
{
  GByteArray *b = g_byte_array_new ();
  p_op (b, 0x80);
  p_op (b, 2);
  if (inject)
    g_byte_array_append (b, inject, inject_len);
  if (wrap) {
    p_op (b, '}');
    p_op (b, 'q');
    p_op (b, 0);
    p_op (b, '(');
    p_str (b, "epoch");
    p_int (b, 3);
    p_str (b, "best_psnr");
    p_op (b, 'G');
    guint8 f[8] = { 0x40, 0x3b, 0x80, 0, 0, 0, 0, 0 };
    g_byte_array_append (b, f, 8);
    /* an optimizer state the converter must ignore */
    p_str (b, "optimizer");
    p_op (b, '}');
    p_str (b, "state");
    p_op (b, '}');
    p_int (b, 0);
    p_op (b, '}');
    p_str (b, "step");
    p_int (b, -5);
    p_op (b, 's');
    p_op (b, 's');
    p_op (b, 's');
    p_str (b, "param_groups");
    p_op (b, ']');
    p_op (b, '}');
    p_op (b, '(');
    p_str (b, "betas");
    p_op (b, 'G');
    g_byte_array_append (b, f, 8);
    p_op (b, 'N');
    p_op (b, 0x86);
    p_str (b, "foreach");
    p_op (b, 'N');
    p_str (b, "params");
    p_op (b, ']');
    p_op (b, '(');
    p_int (b, 0);
    p_int (b, 70000);
    p_op (b, 'e');
    p_op (b, 'u');
    p_op (b, 'a');
    p_op (b, 's');
    p_str (b, "model");
  }
  p_global (b, "collections", "OrderedDict");
  p_op (b, ')');
  p_op (b, 'R');
  p_op (b, 0x94);   /* MEMOIZE */
  p_op (b, '(');
  for (int i = 0; i < n; i++) {
    p_str (b, ts[i].name);
    p_tensor (b, &ts[i]);
  }
  p_op (b, 'u');
  /* newer torch: state_dict._metadata through BUILD */
  p_op (b, '}');
  p_str (b, "_metadata");
  p_op (b, '}');
  p_op (b, 's');
  p_op (b, 'b');
  if (wrap)
    p_op (b, 'u');
  p_op (b, '.');
  return b;
}

static void
write_bytes (const char *path, const guint8 *d, gsize n)
{
  GError *err = NULL;
  g_assert_true (g_file_set_contents (path, (const char *) d, n, &err));
  g_assert_no_error (err);
}

/* Storage fixture: "0" = 24 floats 0..23, "1" = 4 doubles, "2" = 4 halfs. */
typedef struct {
  float f[24];
  double d[4];
  guint16 h[4];
} Storages;

static void
storages_init (Storages *s)
{
  for (int i = 0; i < 24; i++)
    s->f[i] = (float) i;
  for (int i = 0; i < 4; i++) {
    s->d[i] = 0.1 * (i + 1);
    s->h[i] = ct_f32_to_f16 (-1.5f * i);
  }
}

/* Writes a checkpoint made of `pkl` and the fixture storages. */
static const char *byteorder = "little";

static char *
write_checkpoint (const char *file, GByteArray *pkl, gboolean zip64,
    guint16 pkl_method, const char *extra_name)
{
  Storages s;
  storages_init (&s);
  ZEntry e[8] = {
    { "archive/byteorder", (const guint8 *) byteorder, strlen (byteorder),
      0, 0, 0, 0 },
    { "archive/.data/serialization_id", (const guint8 *) "1234", 4, 0, 0, 0,
      0 },
    { "archive/data.pkl", pkl->data, pkl->len, pkl_method, 0, 0, 0 },
    { "archive/data/0", (const guint8 *) s.f, sizeof s.f, 0, 0, 0, 0 },
    { "archive/data/1", (const guint8 *) s.d, sizeof s.d, 0, 0, 0, 0 },
    { "archive/data/2", (const guint8 *) s.h, sizeof s.h, 0, 0, 0, 0 },
    { "archive/version", (const guint8 *) "3\n", 2, 0, 0, 0, 0 },
    { extra_name, (const guint8 *) "x", 1, 0, 0, 0, 0 },
  };
  GByteArray *z = build_zip (e, extra_name ? 8 : 7, zip64);
  char *path = tmp_path (file);
  write_bytes (path, z->data, z->len);
  g_byte_array_unref (z);
  return path;
}

static const TSpec fixture_tensors[] = {
  { "module.a", "FloatStorage", "0", 24, 0, 2, { 2, 3 }, { 3, 1 }, FALSE },
  /* transposed view of a */
  { "module.b", "FloatStorage", "0", 24, 0, 2, { 3, 2 }, { 1, 3 }, TRUE },
  /* offset + row stride: rows 6..7, 10..11 */
  { "module.c", "FloatStorage", "0", 24, 6, 2, { 2, 2 }, { 4, 1 }, FALSE },
  /* scalar */
  { "module.s", "FloatStorage", "0", 24, 5, 0, { 0 }, { 0 }, FALSE },
  { "module.d64", "DoubleStorage", "1", 4, 0, 1, { 4 }, { 1 }, FALSE },
  { "module.h16", "HalfStorage", "2", 4, 1, 1, { 3 }, { 1 }, FALSE },
  /* broadcast (stride 0) and empty tensors */
  { "module.z0", "FloatStorage", "0", 24, 23, 2, { 3, 2 }, { 0, 0 }, FALSE },
  { "module.empty", "FloatStorage", "0", 24, 24, 2, { 0, 5 }, { 5, 1 }, FALSE },
  { "module.decoder.lpips_loss.net.0.weight", "FloatStorage", "0", 24, 0, 1,
    { 24 }, { 1 }, FALSE },
};

/* ---- synthetic checkpoints: views, dtypes, zip64 ----------------------- */

static void
check_fixture (const char *path)
{
  GError *err = NULL;
  CtCheckpoint *c = ct_checkpoint_open (path, &err);
  g_assert_no_error (err);
  g_assert_nonnull (c);
  g_assert_cmpuint (ct_checkpoint_n_tensors (c), ==, 8);
  /* sorted, stripped, lpips dropped */
  const char *names[] = { "a", "b", "c", "d64", "empty", "h16", "s", "z0" };
  for (guint i = 0; i < 8; i++)
    g_assert_cmpstr (ct_checkpoint_tensor (c, i)->name, ==, names[i]);
  g_assert_cmpint (ct_checkpoint_find (c, "decoder.lpips_loss.net.0.weight"),
      ==, -1);

  float out[8];
  g_assert_true (ct_checkpoint_read (c, 0, CT_DTYPE_F32, out, 6 * 4, &err));
  for (int i = 0; i < 6; i++)
    g_assert_cmpfloat (out[i], ==, (float) i);
  g_assert_true (ct_checkpoint_read (c, 1, CT_DTYPE_F32, out, 6 * 4, &err));
  float bt[6] = { 0, 3, 1, 4, 2, 5 };
  for (int i = 0; i < 6; i++)
    g_assert_cmpfloat (out[i], ==, bt[i]);
  g_assert_true (ct_checkpoint_read (c, 2, CT_DTYPE_F32, out, 4 * 4, &err));
  float ct[4] = { 6, 7, 10, 11 };
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat (out[i], ==, ct[i]);
  g_assert_true (ct_checkpoint_read (c, 3, CT_DTYPE_F32, out, 4 * 4, &err));
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat (out[i], ==, (float) (0.1 * (i + 1)));
  g_assert_true (ct_checkpoint_read (c, 4, CT_DTYPE_F32, out, 0, &err));
  g_assert_cmpint (ct_checkpoint_tensor (c, 4)->numel, ==, 0);
  g_assert_true (ct_checkpoint_read (c, 5, CT_DTYPE_F32, out, 3 * 4, &err));
  for (int i = 0; i < 3; i++)
    g_assert_cmpfloat (out[i], ==, -1.5f * (i + 1));
  g_assert_cmpint (ct_checkpoint_tensor (c, 6)->ndim, ==, 0);
  g_assert_true (ct_checkpoint_read (c, 6, CT_DTYPE_F32, out, 4, &err));
  g_assert_cmpfloat (out[0], ==, 5.0f);
  g_assert_true (ct_checkpoint_read (c, 7, CT_DTYPE_F32, out, 6 * 4, &err));
  for (int i = 0; i < 6; i++)
    g_assert_cmpfloat (out[i], ==, 23.0f);
  /* casts of a strided view */
  guint16 h[6];
  g_assert_true (ct_checkpoint_read (c, 1, CT_DTYPE_F16, h, 6 * 2, &err));
  for (int i = 0; i < 6; i++)
    g_assert_cmpfloat (ct_f16_to_f32 (h[i]), ==, bt[i]);
  g_assert_true (ct_checkpoint_read (c, 1, CT_DTYPE_BF16, h, 6 * 2, &err));
  for (int i = 0; i < 6; i++)
    g_assert_cmpfloat (ct_bf16_to_f32 (h[i]), ==, bt[i]);
  /* the half storage copied bit for bit */
  g_assert_true (ct_checkpoint_read (c, 5, CT_DTYPE_F16, h, 3 * 2, &err));
  for (int i = 0; i < 3; i++)
    g_assert_cmpuint (h[i], ==, ct_f32_to_f16 (-1.5f * (i + 1)));
  /* wrong buffer size is refused */
  g_assert_false (ct_checkpoint_read (c, 0, CT_DTYPE_F32, out, 5 * 4, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_ARGUMENT);
  g_clear_error (&err);
  g_assert_no_error (err);
  ct_checkpoint_free (c);
}

static void
test_views (void)
{
  GByteArray *pkl = build_pickle (fixture_tensors,
      G_N_ELEMENTS (fixture_tensors), TRUE, NULL, 0);
  char *p1 = write_checkpoint ("views.pth", pkl, FALSE, 0, NULL);
  char *p2 = write_checkpoint ("views64.pth", pkl, TRUE, 0, NULL);
  check_fixture (p1);
  check_fixture (p2);
  g_byte_array_unref (pkl);
  /* a bare state dict (no {'model': ...} wrapper) */
  pkl = build_pickle (fixture_tensors, G_N_ELEMENTS (fixture_tensors), FALSE,
      NULL, 0);
  char *p3 = write_checkpoint ("bare.pth", pkl, FALSE, 0, NULL);
  check_fixture (p3);
  g_byte_array_unref (pkl);
  g_unlink (p1);
  g_unlink (p2);
  g_unlink (p3);
  g_free (p1);
  g_free (p2);
  g_free (p3);
}

/* ---- malformed inputs ----------------------------------------------------- */

/* Converting `path` must fail with an error whose message holds `what`. */
static void
expect_fail (const char *path, const char *what)
{
  GError *err = NULL;
  char *out = tmp_path ("bad-out.safetensors");
  char *out_tmp = g_strconcat (out, ".tmp", NULL);
  CtConvertOptions o = { 4, 4, CT_DTYPE_F32, 0, NULL };
  gboolean ok = ct_convert_checkpoint (path, out, &o, &err);
  g_assert_false (ok);
  g_assert_nonnull (err);
  g_assert_true (err->domain == CT_ERROR);
  if (g_test_verbose ())
    g_printerr ("  %s\n", err->message);
  if (!strstr (err->message, what))
    g_error ("error '%s' does not mention '%s'", err->message, what);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (out_tmp, G_FILE_TEST_EXISTS));
  g_error_free (err);
  g_free (out);
  g_free (out_tmp);
}

static void
expect_pickle_fail (const TSpec *ts, int n, const guint8 *inject,
    gsize inject_len, const char *what)
{
  GByteArray *pkl = build_pickle (ts, n, TRUE, inject, inject_len);
  char *p = write_checkpoint ("bad.pth", pkl, FALSE, 0, NULL);
  expect_fail (p, what);
  g_unlink (p);
  g_free (p);
  g_byte_array_unref (pkl);
}

static const TSpec one_tensor[] = {
  { "module.a", "FloatStorage", "0", 24, 0, 2, { 2, 3 }, { 3, 1 }, FALSE },
};

/* Issue #9, case 2: a stride-0 (broadcast) view of a small storage made
 * `coordtok convert` write 4 TiB; views may not add up to much more than
 * their storages, and a refused conversion leaves no file behind. */
static void
test_view_amplification (void)
{
  static const TSpec broadcast[] = {
    { "module.a", "FloatStorage", "0", 24, 0, 2, { 1 << 20, 1 << 20 }, { 0, 0 }, FALSE },
  };
  expect_pickle_fail (broadcast, 1, NULL, 0, "broadcast or overlapping view");
  /* each view fits its storage, but four names for one storage of 24 */
  static const TSpec ties[] = {
    { "module.a", "FloatStorage", "0", 24, 0, 1, { 24 }, { 1 }, FALSE },
    { "module.b", "FloatStorage", "0", 24, 0, 1, { 24 }, { 1 }, FALSE },
    { "module.c", "FloatStorage", "0", 24, 0, 1, { 24 }, { 1 }, FALSE },
    { "module.d", "FloatStorage", "0", 24, 0, 1, { 24 }, { 1 }, FALSE },
  };
  expect_pickle_fail (ties, 4, NULL, 0, "more than 2x");
  /* one tied weight (two names, one storage) is what models do: accepted */
  GByteArray *pkl = build_pickle (ties, 2, TRUE, NULL, 0);
  char *path = write_checkpoint ("tied.pth", pkl, FALSE, 0, NULL);
  GError *err = NULL;
  CtCheckpoint *c = ct_checkpoint_open (path, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (ct_checkpoint_n_tensors (c), ==, 2);
  ct_checkpoint_free (c);
  g_unlink (path);
  g_free (path);
  g_byte_array_unref (pkl);
}

static void
test_bad_pickle (void)
{
  /* forbidden globals are refused when named, never resolved */
  const char *g1 = "cposix\nsystem\n(X\x02\0\0\0lstR";
  expect_pickle_fail (one_tensor, 1, (const guint8 *) g1, 19,
      "forbidden global 'posix system'");
  const char *g2 = "cbuiltins\neval\n";
  expect_pickle_fail (one_tensor, 1, (const guint8 *) g2, strlen (g2),
      "forbidden global 'builtins eval'");
  const char *g3 = "ctorch\nload\n";
  expect_pickle_fail (one_tensor, 1, (const guint8 *) g3, strlen (g3),
      "forbidden global 'torch load'");
  /* unknown and disallowed opcodes */
  const guint8 op_ff[] = { 0xff };
  expect_pickle_fail (one_tensor, 1, op_ff, 1, "unknown opcode 0xff");
  const guint8 op_inst[] = { 'i' };
  expect_pickle_fail (one_tensor, 1, op_inst, 1, "INST");
  const guint8 op_sg[] = { 0x8c, 1, 'a', 0x8c, 1, 'b', 0x93 };
  expect_pickle_fail (one_tensor, 1, op_sg, sizeof op_sg, "STACK_GLOBAL");
  const guint8 op_newobj[] = { ')', ')', 0x81 };
  expect_pickle_fail (one_tensor, 1, op_newobj, sizeof op_newobj, "NEWOBJ");
  /* underflow / unset memo */
  const guint8 pop_empty[] = { 't' };
  expect_pickle_fail (one_tensor, 1, pop_empty, 1, "MARK");
  const guint8 bad_get[] = { 'h', 77 };
  expect_pickle_fail (one_tensor, 1, bad_get, 2, "memo");
  /* REDUCE on a storage class */
  const char *g4 = "ctorch\nFloatStorage\n)R";
  expect_pickle_fail (one_tensor, 1, (const guint8 *) g4, strlen (g4),
      "not callable");

  /* truncated pickle: every prefix fails cleanly */
  GByteArray *pkl = build_pickle (one_tensor, 1, TRUE, NULL, 0);
  for (guint cut = 0; cut < pkl->len; cut += 7) {
    GByteArray *t = g_byte_array_new ();
    g_byte_array_append (t, pkl->data, cut);
    GError *err = NULL;
    CtPickle *p = ct_pickle_load (t->data, t->len, &err);
    g_assert_null (p);
    g_assert_error (err, CT_ERROR, CT_ERROR_FORMAT);
    g_error_free (err);
    g_byte_array_unref (t);
  }
  GByteArray *half = g_byte_array_new ();
  g_byte_array_append (half, pkl->data, pkl->len / 2);
  char *p = write_checkpoint ("trunc-pkl.pth", half, FALSE, 0, NULL);
  expect_fail (p, "truncated");
  g_unlink (p);
  g_free (p);
  g_byte_array_unref (half);
  g_byte_array_unref (pkl);

  /* storage missing from the zip */
  TSpec missing = one_tensor[0];
  missing.key = "7";
  expect_pickle_fail (&missing, 1, NULL, 0, "archive/data/7");
  /* storage key trying to leave its folder */
  TSpec evil = one_tensor[0];
  evil.key = "../version";
  expect_pickle_fail (&evil, 1, NULL, 0, "bad storage key");
  /* view larger than its storage (3x9 from 24 elements) */
  TSpec big = one_tensor[0];
  big.size[0] = 3;
  big.size[1] = 9;
  big.stride[0] = 9;
  expect_pickle_fail (&big, 1, NULL, 0, "reaches past its storage");
  TSpec off = one_tensor[0];
  off.offset = 19;
  expect_pickle_fail (&off, 1, NULL, 0, "reaches past its storage");
  /* storage numel that disagrees with the entry size */
  TSpec lie = one_tensor[0];
  lie.numel = 1000;
  expect_pickle_fail (&lie, 1, NULL, 0, "holds 96 bytes");
  /* absurd sizes must not overflow */
  TSpec huge = one_tensor[0];
  huge.size[0] = G_MAXINT64 / 2;
  huge.size[1] = 4;
  expect_pickle_fail (&huge, 1, NULL, 0, "absurd");
  /* integer storages are not weights */
  TSpec lng = one_tensor[0];
  lng.storage_cls = "LongStorage";
  lng.numel = 12;
  lng.size[1] = 2;
  lng.stride[0] = 2;
  expect_pickle_fail (&lng, 1, NULL, 0, "LongStorage");
  /* unknown storage class */
  TSpec unk = one_tensor[0];
  unk.storage_cls = "ComplexFloatStorage";
  expect_pickle_fail (&unk, 1, NULL, 0,
      "forbidden global 'torch ComplexFloatStorage'");
}

static CtPickle *
load_ok (const guint8 *d, gsize n)
{
  GError *err = NULL;
  CtPickle *p = ct_pickle_load (d, n, &err);
  g_assert_no_error (err);
  g_assert_nonnull (p);
  return p;
}

static void
load_bad (const guint8 *d, gsize n, const char *what)
{
  GError *err = NULL;
  CtPickle *p = ct_pickle_load (d, n, &err);
  g_assert_null (p);
  g_assert_nonnull (err);
  if (!strstr (err->message, what))
    g_error ("error '%s' does not mention '%s'", err->message, what);
  g_error_free (err);
}

static void
test_pickle_opcodes (void)
{
  /* protocol 4 framing, short/long unicode, LONG1, negative BININT,
   * LONG_BINPUT/LONG_BINGET, MEMOIZE, TUPLE1..3, lists, SETITEM */
  static const guint8 blob[] = {
    0x80, 4, 0x95, 60, 0, 0, 0, 0, 0, 0, 0,
    '}', 0x94,                                   /* dict, memo 0 */
    0x8c, 1, 'a', 0x8a, 2, 0x00, 0x80,           /* 'a': -32768 */
    's',
    0x8c, 1, 'b', 'J', 0xfe, 0xff, 0xff, 0xff,   /* 'b': -2 */
    's',
    0x8d, 1, 0, 0, 0, 0, 0, 0, 0, 'c',           /* 'c': [None, True, ...] */
    ']', 'r', 9, 0, 0, 0,
    'N', 'a', '(', 0x88, 0x89, 'M', 0x34, 0x12, 'e',
    's',
    'X', 2, 0, 0, 0, 0xc3, 0xa9,                 /* 'é': (1,) (1,2) (1,2,3) */
    'K', 1, 0x85, 'K', 1, 'K', 2, 0x86, 'K', 1, 'K', 2, 'K', 3, 0x87,
    0x87, 's',
    0x8c, 1, 'd', 'j', 9, 0, 0, 0, 's',          /* 'd': the same list */
    0x8c, 1, 'a', 0x8a, 0, 's',                  /* 'a' replaced by 0 */
    '.',
  };
  CtPickle *p = load_ok (blob, sizeof blob);
  const CtPyObj *r = ct_pickle_root (p);
  g_assert_cmpint (r->type, ==, CT_PY_DICT);
  g_assert_cmpuint (ct_py_dict_len (r), ==, 5);
  g_assert_cmpint (ct_py_dict_get (r, "a")->v.i, ==, 0);
  g_assert_cmpstr (ct_py_dict_key (r, 0)->v.str.s, ==, "a");
  g_assert_cmpint (ct_py_dict_get (r, "b")->v.i, ==, -2);
  const CtPyObj *c = ct_py_dict_get (r, "c");
  g_assert_cmpint (c->type, ==, CT_PY_LIST);
  g_assert_cmpuint (c->v.items->len, ==, 4);
  g_assert_cmpint (((CtPyObj *) c->v.items->pdata[0])->type, ==, CT_PY_NONE);
  g_assert_true (((CtPyObj *) c->v.items->pdata[1])->v.b);
  g_assert_false (((CtPyObj *) c->v.items->pdata[2])->v.b);
  g_assert_cmpint (((CtPyObj *) c->v.items->pdata[3])->v.i, ==, 0x1234);
  g_assert_true (ct_py_dict_get (r, "d") == c);
  const CtPyObj *t = ct_py_dict_get (r, "\xc3\xa9");
  g_assert_nonnull (t);
  g_assert_cmpint (t->type, ==, CT_PY_TUPLE);
  g_assert_cmpuint (t->v.items->len, ==, 3);
  g_assert_cmpuint (((CtPyObj *) t->v.items->pdata[2])->v.items->len, ==, 3);
  ct_pickle_free (p);

  /* a list that contains itself: no leak, no endless recursion */
  static const guint8 cyc[] = { 0x80, 2, ']', 'q', 0, 'h', 0, 'a', '.' };
  p = load_ok (cyc, sizeof cyc);
  ct_pickle_free (p);

  /* strictness */
  static const guint8 trailing[] = { 0x80, 2, 'N', '.', 'N' };
  load_bad (trailing, sizeof trailing, "after STOP");
  static const guint8 leftover[] = { 0x80, 2, 'N', 'N', '.' };
  load_bad (leftover, sizeof leftover, "left on the stack");
  static const guint8 proto9[] = { 0x80, 9, 'N', '.' };
  load_bad (proto9, sizeof proto9, "protocol 9");
  static const guint8 badutf[] = { 0x80, 2, 0x8c, 2, 0xc3, 0x28, '.' };
  load_bad (badutf, sizeof badutf, "UTF-8");
  static const guint8 hugestr[] = { 0x80, 2, 'X', 0xff, 0xff, 0xff, 0x7f };
  load_bad (hugestr, sizeof hugestr, "exceeds the limit");
  static const guint8 longstr[] = { 0x80, 2, 'X', 0xff, 0xff, 0x00, 0x00 };
  load_bad (longstr, sizeof longstr, "truncated");
  static const guint8 long9[] = { 0x80, 2, 0x8a, 9, 1, 2, 3, 4, 5, 6, 7, 8,
    9, '.' };
  load_bad (long9, sizeof long9, "too large");
  static const guint8 setitem_list[] = { 0x80, 2, ']', 'N', 'N', 's', '.' };
  load_bad (setitem_list, sizeof setitem_list, "SETITEM on a list");
  static const guint8 listkey[] = { 0x80, 2, '}', ']', 'N', 's', '.' };
  load_bad (listkey, sizeof listkey, "dict key type 'list'");
  static const guint8 under_mark[] = { 0x80, 2, ']', '(', 'N', 'a', '.' };
  load_bad (under_mark, sizeof under_mark, "underflow");
  static const guint8 persid_bad[] = { 0x80, 2, 'N', 'Q', '.' };
  load_bad (persid_bad, sizeof persid_bad, "persistent id");
  static const guint8 build_list[] = { 0x80, 2, ']', '}', 'b', '.' };
  load_bad (build_list, sizeof build_list, "BUILD");
  static const guint8 frame_big[] = { 0x80, 4, 0x95, 0xff, 0, 0, 0, 0, 0, 0,
    0, 'N', '.' };
  load_bad (frame_big, sizeof frame_big, "frame");
  load_bad (NULL, 0, "truncated");

  /* bounded nesting: 70000 MARKs */
  GByteArray *b = g_byte_array_new ();
  p_op (b, 0x80);
  p_op (b, 2);
  for (int i = 0; i < 70000; i++)
    p_op (b, '(');
  load_bad (b->data, b->len, "too many nested MARKs");
  g_byte_array_unref (b);
  /* deep nesting of lists frees without recursion */
  b = g_byte_array_new ();
  p_op (b, 0x80);
  p_op (b, 2);
  for (int i = 0; i < 200000; i++)
    p_op (b, ']');
  for (int i = 0; i < 199999; i++)
    p_op (b, 'a');
  p_op (b, '.');
  p = load_ok (b->data, b->len);
  ct_pickle_free (p);
  g_byte_array_unref (b);
}

static void
test_pickle_fuzz (void)
{
  /* random byte mutations of a real data.pkl: errors or success, never a
   * crash (ASan checks the memory side) */
  char *path = g_build_filename (data_dir, "golden", "tiny-full",
      "checkpoint.pth", NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_free (path);
    g_test_skip ("no tiny-full golden case");
    return;
  }
  GError *err = NULL;
  CtZip *z = ct_zip_open (path, &err);
  g_assert_no_error (err);
  const CtZipEntry *e = NULL;
  for (guint i = 0; i < ct_zip_n_entries (z); i++)
    if (g_str_has_suffix (ct_zip_entry (z, i)->name, "/data.pkl"))
      e = ct_zip_entry (z, i);
  g_assert_nonnull (e);
  const guint8 *d;
  guint64 n;
  g_assert_true (ct_zip_entry_data (z, e, &d, &n, &err));
  CtPickle *ok = ct_pickle_load (d, n, &err);
  g_assert_no_error (err);
  g_assert_nonnull (ok);
  g_assert_cmpint (ct_pickle_root (ok)->type, ==, CT_PY_DICT);
  ct_pickle_free (ok);

  GRand *r = g_rand_new_with_seed (1234);
  guint8 *buf = g_malloc (n);   /* (g_memdup2 needs GLib 2.68) */
  int n_ok = 0;
  for (int it = 0; it < 1500; it++) {
    memcpy (buf, d, n);
    int flips = g_rand_int_range (r, 1, 5);
    for (int k = 0; k < flips; k++)
      buf[g_rand_int_range (r, 0, (gint32) n)] = (guint8) g_rand_int (r);
    CtPickle *p = ct_pickle_load (buf, n, &err);
    if (p) {
      n_ok++;
      ct_pickle_free (p);
    } else {
      g_assert_nonnull (err);
      g_clear_error (&err);
    }
  }
  if (g_test_verbose ())
    g_printerr ("  %d of 1500 mutations still parse\n", n_ok);
  g_free (buf);
  g_rand_free (r);
  ct_zip_close (z);
  g_free (path);
}

static GByteArray *read_golden_checkpoint (void);

static void
test_zip_fuzz (void)
{
  /* random mutations of the central directory, end records and local
   * headers of a real checkpoint: errors or in-range data, never a crash */
  GByteArray *g = read_golden_checkpoint ();
  if (!g) {
    g_test_skip ("no tiny-full golden case");
    return;
  }
  GError *err = NULL;
  CtZip *z = ct_zip_open_memory (g->data, g->len, &err);
  g_assert_no_error (err);
  guint n_entries = ct_zip_n_entries (z);
  g_assert_cmpuint (n_entries, >, 3);
  ct_zip_close (z);

  GRand *r = g_rand_new_with_seed (99);
  guint8 *buf = g_malloc (g->len);
  guint tail = MIN (g->len, 8192u);
  int n_open = 0;
  for (int it = 0; it < 3000; it++) {
    memcpy (buf, g->data, g->len);
    int flips = g_rand_int_range (r, 1, 4);
    for (int k = 0; k < flips; k++) {
      guint pos = it % 4 == 0 ? (guint) g_rand_int_range (r, 0, 200) :
          g->len - 1 - (guint) g_rand_int_range (r, 0, tail);
      buf[pos] = (guint8) g_rand_int (r);
    }
    gsize len = it % 7 == 0 ? g->len - g_rand_int_range (r, 0, 64) : g->len;
    z = ct_zip_open_memory (buf, len, &err);
    if (!z) {
      g_assert_nonnull (err);
      g_clear_error (&err);
      continue;
    }
    n_open++;
    for (guint i = 0; i < ct_zip_n_entries (z); i++) {
      const guint8 *d;
      guint64 n;
      if (ct_zip_entry_data (z, ct_zip_entry (z, i), &d, &n, &err)) {
        g_assert_true (d >= buf && d <= buf + len);
        g_assert_cmpuint (n, <=, (guint64) (buf + len - d));
      } else {
        g_assert_nonnull (err);
        g_clear_error (&err);
      }
    }
    ct_zip_close (z);
  }
  if (g_test_verbose ())
    g_printerr ("  %d of 3000 mutated archives still open\n", n_open);
  g_free (buf);
  g_rand_free (r);
  g_byte_array_unref (g);
}

static GByteArray *
read_golden_checkpoint (void)
{
  char *path = g_build_filename (data_dir, "golden", "tiny-full",
      "checkpoint.pth", NULL);
  char *d = NULL;
  gsize n = 0;
  GError *err = NULL;
  if (!g_file_get_contents (path, &d, &n, &err)) {
    g_clear_error (&err);
    g_free (path);
    return NULL;
  }
  g_free (path);
  return g_byte_array_new_take ((guint8 *) d, n);
}

static void
expect_bytes_fail (const char *file, const guint8 *d, gsize n,
    const char *what)
{
  char *p = tmp_path (file);
  write_bytes (p, d, n);
  expect_fail (p, what);
  g_unlink (p);
  g_free (p);
}

static gint64
find_sig (const GByteArray *b, guint32 sig)
{
  for (gint64 i = (gint64) b->len - 4; i >= 0; i--)
    if ((b->data[i] | (b->data[i + 1] << 8) | (b->data[i + 2] << 16) |
            ((guint32) b->data[i + 3] << 24)) == sig)
      return i;
  return -1;
}

static void
test_bad_zip (void)
{
  GByteArray *pkl = build_pickle (one_tensor, 1, TRUE, NULL, 0);
  Storages s;
  storages_init (&s);

  /* not a zip at all / empty */
  expect_bytes_fail ("empty.pth", (const guint8 *) "", 0, "too short");
  expect_bytes_fail ("text.pth", (const guint8 *) "hello world, not a zip!!",
      24, "end of central directory");
  char *nofile = tmp_path ("does-not-exist.pth");
  expect_fail (nofile, "does-not-exist");
  g_free (nofile);

  /* compressed / encrypted entries */
  char *p = write_checkpoint ("deflate.pth", pkl, FALSE, 8, NULL);
  expect_fail (p, "compressed");
  g_unlink (p);
  g_free (p);
  {
    ZEntry e[2] = {
      { "archive/data.pkl", pkl->data, pkl->len, 0, 0x0001, 0, 0 },
      { "archive/data/0", (const guint8 *) s.f, sizeof s.f, 0, 0, 0, 0 },
    };
    GByteArray *z = build_zip (e, 2, FALSE);
    expect_bytes_fail ("encrypted.pth", z->data, z->len, "encrypted");
    g_byte_array_unref (z);
  }
  /* bad entry names */
  const char *bad_names[] = { "../evil", "archive/../../etc/passwd",
    "/abs/path", "archive\\data.pkl", "archive//x", "" };
  for (guint i = 0; i < G_N_ELEMENTS (bad_names); i++) {
    p = write_checkpoint ("badname.pth", pkl, i % 2 == 0, 0, bad_names[i]);
    expect_fail (p, "bad entry name");
    g_unlink (p);
    g_free (p);
  }
  /* duplicate names */
  p = write_checkpoint ("dup.pth", pkl, FALSE, 0, "archive/data/0");
  expect_fail (p, "duplicate entry");
  g_unlink (p);
  g_free (p);
  /* no data.pkl */
  {
    ZEntry e[1] = {
      { "archive/data/0", (const guint8 *) s.f, sizeof s.f, 0, 0, 0, 0 },
    };
    GByteArray *z = build_zip (e, 1, FALSE);
    expect_bytes_fail ("nopkl.pth", z->data, z->len, "data.pkl");
    g_byte_array_unref (z);
  }
  /* entry offset past EOF, and entry data past EOF, both zip flavours */
  for (int z64 = 0; z64 < 2; z64++) {
    ZEntry e[2] = {
      { "archive/data.pkl", pkl->data, pkl->len, 0, 0, 0, 0 },
      { "archive/data/0", (const guint8 *) s.f, sizeof s.f, 0, 0,
        (guint64) 1 << (z64 ? 40 : 30), 0 },
    };
    GByteArray *z = build_zip (e, 2, z64);
    expect_bytes_fail ("offset.pth", z->data, z->len, "archive/data/0");
    g_byte_array_unref (z);
    e[1].local_offset_override = 0;
    e[1].size_override = z64 ? ((guint64) 1 << 33) + 96 : 1u << 20;
    z = build_zip (e, 2, z64);
    expect_bytes_fail ("size.pth", z->data, z->len,
        "'archive/data/0' extends past end of file");
    g_byte_array_unref (z);
  }

  /* big-endian storages */
  byteorder = "big";
  p = write_checkpoint ("big.pth", pkl, FALSE, 0, NULL);
  expect_fail (p, "little-endian");
  g_unlink (p);
  g_free (p);
  byteorder = "little";

  /* mutations of the golden checkpoint */
  GByteArray *g = read_golden_checkpoint ();
  if (g) {
    /* truncated at several places */
    gsize cuts[] = { g->len - 1, g->len - 22, g->len / 2, 100, 3 };
    for (guint i = 0; i < G_N_ELEMENTS (cuts); i++)
      expect_bytes_fail ("trunc.pth", g->data, cuts[i],
          i < G_N_ELEMENTS (cuts) - 1 ? "end of central directory" :
          "too short");
    gint64 eocd = find_sig (g, 0x06054b50);
    gint64 eocd64 = find_sig (g, 0x06064b50);
    gint64 cd = find_sig (g, 0x02014b50);
    g_assert_cmpint (eocd, >, 0);
    g_assert_cmpint (eocd64, >, 0);
    GByteArray *m = g_byte_array_new ();
    /* corrupted EOCD signature */
    g_byte_array_append (m, g->data, g->len);
    m->data[eocd] ^= 0xff;
    expect_bytes_fail ("eocd.pth", m->data, m->len, "end of central directory");
    /* EOCD comment length that disagrees with the file */
    memcpy (m->data, g->data, g->len);
    m->data[eocd + 20] = 7;
    expect_bytes_fail ("eocd2.pth", m->data, m->len, "end of central directory");
    /* zip64 record: bad signature, central directory offset out of file */
    memcpy (m->data, g->data, g->len);
    m->data[eocd64 + 1] ^= 0xff;
    expect_bytes_fail ("eocd64.pth", m->data, m->len, "zip64");
    memcpy (m->data, g->data, g->len);
    m->data[eocd64 + 48 + 5] = 0x7f;
    expect_bytes_fail ("cdoff.pth", m->data, m->len, "central directory");
    /* entry count larger than the directory */
    memcpy (m->data, g->data, g->len);
    m->data[eocd64 + 24 + 3] = 0x10;
    m->data[eocd64 + 32 + 3] = 0x10;
    expect_bytes_fail ("count.pth", m->data, m->len, "entries");
    /* last central header's signature broken */
    memcpy (m->data, g->data, g->len);
    m->data[cd] = 'X';
    expect_bytes_fail ("cdsig.pth", m->data, m->len, "central directory");
    /* local header of the first entry (data.pkl) broken */
    memcpy (m->data, g->data, g->len);
    m->data[0] = 'X';
    expect_bytes_fail ("local.pth", m->data, m->len, "local header");
    /* the pickle itself damaged: opcode byte of the first BINUNICODE */
    memcpy (m->data, g->data, g->len);
    const guint8 *pk = memmem (m->data, 200, "\x80\x02}q", 4);
    g_assert_nonnull (pk);
    m->data[pk - m->data + 5] = 0xfe;
    expect_bytes_fail ("pkl.pth", m->data, m->len, "unknown opcode 0xfe");
    g_byte_array_unref (m);
    g_byte_array_unref (g);
  }
  g_byte_array_unref (pkl);
}

/* ---- golden cases ---------------------------------------------------------- */

typedef struct {
  char *name;
  char *dir;
} GoldenCase;

static gint64
jint (JsonObject *o, const char *k)
{
  g_assert_true (json_object_has_member (o, k));
  return json_object_get_int_member (o, k);
}

static void
check_meta_int (CtSafetensors *st, const char *key, gint64 expect)
{
  const char *v = ct_safetensors_metadata (st, key);
  if (!v)
    g_error ("metadata key %s missing", key);
  char *e = g_strdup_printf ("%" G_GINT64_FORMAT, expect);
  if (strcmp (v, e) != 0)
    g_error ("metadata %s = %s, expected %s", key, v, e);
  g_free (e);
}

static void
check_meta_eps (CtSafetensors *st, const char *key, double expect)
{
  const char *v = ct_safetensors_metadata (st, key);
  g_assert_nonnull (v);
  double d = g_ascii_strtod (v, NULL);
  g_assert_cmpfloat_with_epsilon (d, expect, expect * 1e-6);
}

static void
test_golden (gconstpointer data)
{
  const GoldenCase *gc = data;
  char *ckpt = g_build_filename (gc->dir, "checkpoint.pth", NULL);
  char *ref_path = g_build_filename (gc->dir, "weights.safetensors", NULL);
  char *cfg_path = g_build_filename (gc->dir, "config.json", NULL);
  char *out = tmp_path ("golden.safetensors");
  char *out2 = tmp_path ("golden2.safetensors");
  GError *err = NULL;

  JsonParser *jp = json_parser_new ();
  g_assert_true (json_parser_load_from_file (jp, cfg_path, &err));
  g_assert_no_error (err);
  JsonObject *root = json_node_get_object (json_parser_get_root (jp));
  JsonObject *m = json_object_get_object_member (root, "model");
  JsonObject *eps = json_object_get_object_member (root, "layernorm_eps");
  JsonArray *vs = json_object_get_array_member (m, "video_shape");

  CtConvertOptions o = { (int) jint (m, "enc_num_heads"),
    (int) jint (m, "dec_num_heads"), CT_DTYPE_F32, 0, "golden test model" };
  g_assert_true (ct_convert_checkpoint (ckpt, out, &o, &err));
  g_assert_no_error (err);
  char *tmp = g_strconcat (out, ".tmp", NULL);
  g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
  g_free (tmp);

  CtSafetensors *ref = ct_safetensors_open (ref_path, &err);
  g_assert_no_error (err);
  CtSafetensors *st = ct_safetensors_open (out, &err);
  g_assert_no_error (err);

  /* same set of tensors, bit-identical */
  g_assert_cmpint (ct_safetensors_n_tensors (st), ==,
      ct_safetensors_n_tensors (ref));
  for (int i = 0; i < ct_safetensors_n_tensors (ref); i++) {
    const CtTensorView *r = ct_safetensors_tensor (ref, i);
    const CtTensorView *t = ct_safetensors_find (st, r->name);
    if (!t)
      g_error ("tensor %s missing from the conversion", r->name);
    g_assert_cmpint (t->dtype, ==, CT_DTYPE_F32);
    g_assert_cmpint (t->ndim, ==, r->ndim);
    for (int d = 0; d < r->ndim; d++)
      g_assert_cmpint (t->shape[d], ==, r->shape[d]);
    g_assert_cmpuint (t->nbytes, ==, r->nbytes);
    if (memcmp (t->data, r->data, r->nbytes) != 0)
      g_error ("tensor %s differs from weights.safetensors", r->name);
  }
  /* no stray keys; stored in name order */
  const guint8 *prev_data = NULL;
  const char *prev_name = NULL;
  for (int i = 0; i < ct_safetensors_n_tensors (st); i++) {
    const CtTensorView *t = ct_safetensors_tensor (st, i);
    g_assert_null (strstr (t->name, "lpips"));
    g_assert_false (g_str_has_prefix (t->name, "module."));
    g_assert_true (prev_data == NULL || t->data >= prev_data);
    if (prev_name)
      g_assert_cmpint (strcmp (prev_name, t->name), <, 0);
    prev_data = t->data;
    prev_name = t->name;
  }

  /* metadata */
  g_assert_cmpstr (ct_safetensors_metadata (st, "coordtok.format"), ==,
      "coordtok-weights-1");
  g_assert_cmpstr (ct_safetensors_metadata (st, "coordtok.name"), ==,
      "golden test model");
  check_meta_int (st, "coordtok.T", json_array_get_int_element (vs, 0));
  check_meta_int (st, "coordtok.H", json_array_get_int_element (vs, 1));
  check_meta_int (st, "coordtok.W", json_array_get_int_element (vs, 2));
  check_meta_int (st, "coordtok.enc_pt", jint (m, "enc_patch_size_t"));
  check_meta_int (st, "coordtok.enc_pxy", jint (m, "enc_patch_size_xy"));
  check_meta_int (st, "coordtok.enc_dim", jint (m, "enc_embed_dim"));
  check_meta_int (st, "coordtok.enc_heads", jint (m, "enc_num_heads"));
  check_meta_int (st, "coordtok.enc_vit_layers",
      jint (m, "enc_patch_num_layers"));
  check_meta_int (st, "coordtok.enc_cross_layers", jint (m, "enc_num_layers"));
  check_meta_int (st, "coordtok.rxy", jint (m, "latent_resolution_xy"));
  check_meta_int (st, "coordtok.rt", jint (m, "latent_resolution_t"));
  check_meta_int (st, "coordtok.channels", jint (m, "latent_n_features"));
  check_meta_int (st, "coordtok.qxy", jint (m, "latent_patch_size_xy"));
  check_meta_int (st, "coordtok.qt", jint (m, "latent_patch_size_t"));
  check_meta_int (st, "coordtok.dec_dim", jint (m, "dec_embed_dim"));
  check_meta_int (st, "coordtok.dec_heads", jint (m, "dec_num_heads"));
  check_meta_int (st, "coordtok.dec_layers", jint (m, "dec_num_layers"));
  check_meta_int (st, "coordtok.dec_pxy", jint (m, "dec_patch_size_xy"));
  check_meta_int (st, "coordtok.dec_pt", jint (m, "dec_patch_size_t"));
  g_assert_nonnull (ct_safetensors_metadata (st, "coordtok.default_slice"));
  check_meta_eps (st, "coordtok.enc_vit_eps",
      json_object_get_double_member (eps, "encoder.encoder.layers.*"));
  check_meta_eps (st, "coordtok.enc_cross_eps",
      json_object_get_double_member (eps, "encoder.transformer.*"));
  check_meta_eps (st, "coordtok.dec_eps",
      json_object_get_double_member (eps, "decoder.transformer.layers.*"));

  /* header layout: __metadata__ first, padded to 8 */
  gsize size;
  const guint8 *bytes = ct_safetensors_bytes (st, &size);
  guint64 hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | bytes[i];
  g_assert_cmpuint (hlen % 8, ==, 0);
  g_assert_true (memcmp (bytes + 8, "{\"__metadata__\"", 15) == 0);

  /* deterministic: a second conversion is byte-identical */
  g_assert_true (ct_convert_checkpoint (ckpt, out2, &o, &err));
  g_assert_no_error (err);
  char *a = NULL, *b = NULL;
  gsize na, nb;
  g_assert_true (g_file_get_contents (out, &a, &na, NULL));
  g_assert_true (g_file_get_contents (out2, &b, &nb, NULL));
  g_assert_cmpmem (a, na, b, nb);
  g_free (a);
  g_free (b);

  /* default_slice override */
  o.default_slice = (int) json_array_get_int_element (vs, 1) /
      (int) jint (m, "dec_patch_size_xy");
  o.default_slice *= o.default_slice;
  g_assert_true (ct_convert_checkpoint (ckpt, out2, &o, &err));
  g_assert_no_error (err);
  CtSafetensors *st2 = ct_safetensors_open (out2, &err);
  g_assert_no_error (err);
  check_meta_int (st2, "coordtok.default_slice", o.default_slice);
  ct_safetensors_close (st2);

  ct_safetensors_close (st);
  ct_safetensors_close (ref);
  g_object_unref (jp);
  g_unlink (out);
  g_unlink (out2);
  g_free (out);
  g_free (out2);
  g_free (ckpt);
  g_free (ref_path);
  g_free (cfg_path);
}

static void
test_golden_cast (gconstpointer data)
{
  const GoldenCase *gc = data;
  char *ckpt = g_build_filename (gc->dir, "checkpoint.pth", NULL);
  char *ref_path = g_build_filename (gc->dir, "weights.safetensors", NULL);
  char *out = tmp_path ("cast.safetensors");
  GError *err = NULL;
  CtSafetensors *ref = ct_safetensors_open (ref_path, &err);
  g_assert_no_error (err);

  for (int k = 0; k < 2; k++) {
    CtDType dt = k == 0 ? CT_DTYPE_F16 : CT_DTYPE_BF16;
    /* half: 11 significant bits; bfloat16: 8 */
    double rel = k == 0 ? 1.0 / 2048 : 1.0 / 256;
    CtConvertOptions o = { 4, 4, dt, 0, NULL };
    g_assert_true (ct_convert_checkpoint (ckpt, out, &o, &err));
    g_assert_no_error (err);
    CtSafetensors *st = ct_safetensors_open (out, &err);
    g_assert_no_error (err);
    g_assert_cmpint (ct_safetensors_n_tensors (st), ==,
        ct_safetensors_n_tensors (ref));
    for (int i = 0; i < ct_safetensors_n_tensors (ref); i++) {
      const CtTensorView *r = ct_safetensors_tensor (ref, i);
      const CtTensorView *t = ct_safetensors_find (st, r->name);
      g_assert_nonnull (t);
      g_assert_cmpint (t->dtype, ==, dt);
      g_assert_cmpint (t->numel, ==, r->numel);
      g_assert_cmpuint (t->nbytes, ==, (gsize) r->numel * 2);
      for (gint64 j = 0; j < r->numel; j++) {
        float x;      /* tensor data need not be aligned: memcpy */
        guint16 tvj;
        memcpy (&x, r->data + 4 * j, 4);
        memcpy (&tvj, t->data + 2 * j, 2);
        float y = k == 0 ? ct_f16_to_f32 (tvj) : ct_bf16_to_f32 (tvj);
        guint16 expect = k == 0 ? ct_f32_to_f16 (x) : ct_f32_to_bf16 (x);
        if (tvj != expect || fabs (y - x) > rel * fabs (x) + 1e-7)
          g_error ("%s[%" G_GINT64_FORMAT "]: %g -> %g (%s)", r->name, j, x,
              y, ct_dtype_name (dt));
      }
    }
    /* the whole tensor also reads back through the engine's converter */
    float *buf = g_new (float, ct_safetensors_tensor (st, 0)->numel);
    g_assert_true (ct_tensor_to_f32 (ct_safetensors_tensor (st, 0), buf,
            &err));
    g_assert_no_error (err);
    g_free (buf);
    ct_safetensors_close (st);
  }
  ct_safetensors_close (ref);
  g_unlink (out);
  g_free (out);
  g_free (ckpt);
  g_free (ref_path);
}

/* ---- options ------------------------------------------------------------- */

static void
test_options (void)
{
  GByteArray *pkl = build_pickle (one_tensor, 1, TRUE, NULL, 0);
  char *p = write_checkpoint ("opts.pth", pkl, FALSE, 0, NULL);
  char *out = tmp_path ("opts.safetensors");
  GError *err = NULL;
  CtConvertOptions o = { 0, 0, CT_DTYPE_I64, 0, NULL };
  g_assert_false (ct_convert_checkpoint (p, out, &o, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_ARGUMENT);
  g_clear_error (&err);
  o.out_dtype = CT_DTYPE_F32;
  o.enc_heads = -1;
  g_assert_false (ct_convert_checkpoint (p, out, &o, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_ARGUMENT);
  g_clear_error (&err);
  /* a valid checkpoint that is not a CoordTok model: configuration
   * inference fails with an error, no output */
  g_assert_false (ct_convert_checkpoint (p, out, NULL, &err));
  g_assert_nonnull (err);
  g_clear_error (&err);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_unlink (p);
  g_free (p);
  g_free (out);
  g_byte_array_unref (pkl);
}

/* ---- writer --------------------------------------------------------------- */

static gboolean
fill_ramp (void *user, int index, FILE *fp, gsize nbytes, GError **error)
{
  for (gsize i = 0; i < nbytes; i++)
    fputc ((int) ((i + index) & 0xff), fp);
  return TRUE;
}

static gboolean
fill_short (void *user, int index, FILE *fp, gsize nbytes, GError **error)
{
  if (nbytes)
    fputc (0, fp);
  return TRUE;
}

static gboolean
fill_fail (void *user, int index, FILE *fp, gsize nbytes, GError **error)
{
  if (index == 1) {
    g_set_error (error, CT_ERROR, CT_ERROR_IO, "fill failed on purpose");
    return FALSE;
  }
  return fill_ramp (user, index, fp, nbytes, error);
}

static void
test_writer (void)
{
  char *out = tmp_path ("w.safetensors");
  char *out_tmp = g_strconcat (out, ".tmp", NULL);
  GError *err = NULL;
  float a[6] = { 1, 2, 3, 4, 5, 6 };
  gint64 sa[2] = { 2, 3 }, sb[1] = { 5 }, sc[3] = { 1, 0, 4 };

  CtSafetensorsWriter *w = ct_safetensors_writer_new ();
  ct_safetensors_writer_set_metadata (w, "z.first", "1");
  ct_safetensors_writer_set_metadata (w, "a.second", "two \"quoted\"");
  ct_safetensors_writer_set_metadata (w, "z.first", "one");   /* replaces */
  ct_safetensors_writer_add (w, "zeta", CT_DTYPE_F32, 2, sa, a);
  ct_safetensors_writer_add (w, "alpha", CT_DTYPE_U8, 1, sb, NULL);
  ct_safetensors_writer_add (w, "empty", CT_DTYPE_F16, 3, sc, NULL);
  ct_safetensors_writer_add (w, "scalar", CT_DTYPE_F32, 0, NULL, a + 5);
  g_assert_true (ct_safetensors_writer_write (w, out, fill_ramp, NULL, &err));
  g_assert_no_error (err);
  ct_safetensors_writer_free (w);
  g_assert_false (g_file_test (out_tmp, G_FILE_TEST_EXISTS));

  char *bytes;
  gsize n;
  g_assert_true (g_file_get_contents (out, &bytes, &n, NULL));
  guint64 hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | (guint8) bytes[i];
  g_assert_cmpuint (hlen % 8, ==, 0);
  g_assert_cmpuint (n, ==, 8 + hlen + 24 + 5 + 0 + 4);
  char *hdr = g_strndup (bytes + 8, hlen);
  g_assert_true (g_str_has_prefix (hdr,
          "{\"__metadata__\":{\"z.first\":\"one\",\"a.second\":"));
  /* insertion order, contiguous offsets */
  const char *pz = strstr (hdr, "\"zeta\""), *pa = strstr (hdr, "\"alpha\"");
  const char *pe = strstr (hdr, "\"empty\""), *ps = strstr (hdr, "\"scalar\"");
  g_assert_true (pz && pa && pe && ps && pz < pa && pa < pe && pe < ps);
  g_assert_nonnull (strstr (hdr, "\"data_offsets\":[0,24]"));
  g_assert_nonnull (strstr (hdr, "\"data_offsets\":[24,29]"));
  g_assert_nonnull (strstr (hdr, "\"data_offsets\":[29,29]"));
  g_assert_nonnull (strstr (hdr, "\"data_offsets\":[29,33]"));
  g_free (hdr);
  g_free (bytes);

  CtSafetensors *st = ct_safetensors_open (out, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (ct_safetensors_metadata (st, "a.second"), ==,
      "two \"quoted\"");
  const CtTensorView *t = ct_safetensors_find (st, "zeta");
  g_assert_nonnull (t);
  g_assert_cmpmem (t->data, t->nbytes, a, sizeof a);
  t = ct_safetensors_find (st, "alpha");
  g_assert_nonnull (t);
  for (int i = 0; i < 5; i++)
    g_assert_cmpuint (t->data[i], ==, (guint) (i + 1));
  t = ct_safetensors_find (st, "scalar");
  g_assert_cmpint (t->ndim, ==, 0);
  {
    float v;          /* tensor data need not be aligned: memcpy */
    memcpy (&v, t->data, 4);
    g_assert_cmpfloat (v, ==, 6.0f);
  }
  ct_safetensors_close (st);

  /* a failing fill leaves neither the file nor the temporary */
  g_unlink (out);
  w = ct_safetensors_writer_new ();
  ct_safetensors_writer_add (w, "a", CT_DTYPE_U8, 1, sb, NULL);
  ct_safetensors_writer_add (w, "b", CT_DTYPE_U8, 1, sb, NULL);
  g_assert_false (ct_safetensors_writer_write (w, out, fill_fail, NULL, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_IO);
  g_clear_error (&err);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (out_tmp, G_FILE_TEST_EXISTS));
  /* a fill that writes the wrong amount */
  g_assert_false (ct_safetensors_writer_write (w, out, fill_short, NULL,
          &err));
  g_assert_nonnull (err);
  g_clear_error (&err);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  /* no data and no callback */
  g_assert_false (ct_safetensors_writer_write (w, out, NULL, NULL, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_ARGUMENT);
  g_clear_error (&err);
  ct_safetensors_writer_free (w);

  /* invalid additions are reported by write() */
  w = ct_safetensors_writer_new ();
  ct_safetensors_writer_add (w, "x", CT_DTYPE_F32, 2, sa, a);
  ct_safetensors_writer_add (w, "x", CT_DTYPE_F32, 2, sa, a);
  g_assert_false (ct_safetensors_writer_write (w, out, NULL, NULL, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_ARGUMENT);
  g_clear_error (&err);
  ct_safetensors_writer_free (w);
  gint64 huge[3] = { G_MAXINT64 / 4, 4, 4 };
  w = ct_safetensors_writer_new ();
  ct_safetensors_writer_add (w, "h", CT_DTYPE_F32, 3, huge, NULL);
  g_assert_false (ct_safetensors_writer_write (w, out, fill_ramp, NULL, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_ARGUMENT);
  g_clear_error (&err);
  ct_safetensors_writer_free (w);
  w = ct_safetensors_writer_new ();
  ct_safetensors_writer_add (w, "__metadata__", CT_DTYPE_F32, 2, sa, a);
  g_assert_false (ct_safetensors_writer_write (w, out, NULL, NULL, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_ARGUMENT);
  g_clear_error (&err);
  ct_safetensors_writer_free (w);
  /* unwritable destination */
  w = ct_safetensors_writer_new ();
  ct_safetensors_writer_add (w, "x", CT_DTYPE_F32, 2, sa, a);
  char *bad = g_build_filename (tmp_dir, "no-such-dir", "x.safetensors",
      NULL);
  g_assert_false (ct_safetensors_writer_write (w, bad, NULL, NULL, &err));
  g_assert_error (err, CT_ERROR, CT_ERROR_IO);
  g_clear_error (&err);
  g_free (bad);
  ct_safetensors_writer_free (w);

  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_free (out);
  g_free (out_tmp);
}

/* ---- main ------------------------------------------------------------------ */

static void
golden_case_free (gpointer p)
{
  GoldenCase *gc = p;
  g_free (gc->name);
  g_free (gc->dir);
  g_free (gc);
}

static int
cmp_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *env = g_getenv ("CT_TEST_DATA");
  data_dir = g_strdup (env ? env : CT_TEST_DATA);
  GError *err = NULL;
  tmp_dir = g_dir_make_tmp ("ct-convert-XXXXXX", &err);
  g_assert_no_error (err);

  GPtrArray *cases = g_ptr_array_new_with_free_func (golden_case_free);
  char *gdir = g_build_filename (data_dir, "golden", NULL);
  GDir *d = g_dir_open (gdir, 0, NULL);
  if (d) {
    GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
    const char *n;
    while ((n = g_dir_read_name (d)))
      g_ptr_array_add (names, g_strdup (n));
    g_dir_close (d);
    g_ptr_array_sort (names, cmp_names);
    for (guint i = 0; i < names->len; i++) {
      const char *name = g_ptr_array_index (names, i);
      char *dir = g_build_filename (gdir, name, NULL);
      char *c = g_build_filename (dir, "checkpoint.pth", NULL);
      char *w = g_build_filename (dir, "weights.safetensors", NULL);
      char *j = g_build_filename (dir, "config.json", NULL);
      if (g_file_test (c, G_FILE_TEST_EXISTS) &&
          g_file_test (w, G_FILE_TEST_EXISTS) &&
          g_file_test (j, G_FILE_TEST_EXISTS)) {
        GoldenCase *gc = g_new0 (GoldenCase, 1);
        gc->name = g_strdup (name);
        gc->dir = dir;
        dir = NULL;
        g_ptr_array_add (cases, gc);
      }
      g_free (dir);
      g_free (c);
      g_free (w);
      g_free (j);
    }
    g_ptr_array_unref (names);
  }
  g_free (gdir);

  for (guint i = 0; i < cases->len; i++) {
    GoldenCase *gc = g_ptr_array_index (cases, i);
    char *p = g_strdup_printf ("/convert/golden/%s", gc->name);
    g_test_add_data_func (p, gc, test_golden);
    g_free (p);
    if (strcmp (gc->name, "tiny-full") == 0)
      g_test_add_data_func ("/convert/cast/tiny-full", gc, test_golden_cast);
  }
  g_test_add_func ("/convert/views", test_views);
  g_test_add_func ("/convert/options", test_options);
  g_test_add_func ("/convert/bad-pickle", test_bad_pickle);
  g_test_add_func ("/convert/view-amplification", test_view_amplification);
  g_test_add_func ("/convert/pickle-opcodes", test_pickle_opcodes);
  g_test_add_func ("/convert/pickle-fuzz", test_pickle_fuzz);
  g_test_add_func ("/convert/bad-zip", test_bad_zip);
  g_test_add_func ("/convert/zip-fuzz", test_zip_fuzz);
  g_test_add_func ("/safetensors/writer", test_writer);

  int r = g_test_run ();

  g_ptr_array_unref (cases);
  g_rmdir (tmp_dir);
  g_free (tmp_dir);
  g_free (data_dir);
  return r;
}
