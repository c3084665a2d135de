/* cmd-golden.c - `coordtok golden CASE_DIR...`: runs a case folder in the
 * golden format (config.json, weights.safetensors, io.safetensors; see
 * tests/data/golden/README.md) and prints the max error of every tensor the
 * engine exposes.  Exit status 1 if any exceeds the tolerance
 * max|ours - ref| <= tol * max(1, max|ref|) (spec 7; tol 1e-4 on CPU).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"
#include "safetensors.h"
#include "convert/convert.h"

#include <glib/gstdio.h>

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  double tol;
  int failures;
  int checks;
} Report;

static float *
tensor_f32 (CtSafetensors *io, const char *name, gint64 *numel, GError **error)
{
  const CtTensorView *t = ct_safetensors_find (io, name);
  if (!t) {
    g_set_error (error, CT_ERROR, CT_ERROR_FORMAT, "io.safetensors has no tensor '%s'", name);
    return NULL;
  }
  float *d = g_new (float, MAX (t->numel, 1));
  if (!ct_tensor_to_f32 (t, d, error)) {
    g_free (d);
    return NULL;
  }
  if (numel)
    *numel = t->numel;
  return d;
}

static void
compare (Report *r, const char *name, const float *ours, CtSafetensors *io)
{
  gint64 n = 0;
  GError *err = NULL;
  float *ref = tensor_f32 (io, name, &n, &err);
  if (!ref) {
    printf ("  %-22s MISSING (%s)\n", name, err->message);
    g_error_free (err);
    r->failures++;
    return;
  }
  double maxerr = 0, maxref = 0;
  for (gint64 i = 0; i < n; i++) {
    double e = fabs ((double) ours[i] - ref[i]);
    if (!(e <= maxerr))   /* NaN counts as failure */
      maxerr = isnan (e) ? INFINITY : e;
    maxref = MAX (maxref, fabs (ref[i]));
  }
  double bound = r->tol * MAX (1.0, maxref);
  gboolean ok = maxerr <= bound;
  printf ("  %-22s max|err| %.3e  bound %.3e  (max|ref| %.3g, %" G_GINT64_FORMAT " values)  %s\n",
      name, maxerr, bound, maxref, n, ok ? "ok" : "FAIL");
  r->checks++;
  if (!ok)
    r->failures++;
  g_free (ref);
}

static gboolean
read_heads (const char *dir, int *enc_heads, int *dec_heads, GError **error)
{
  char *path = g_build_filename (dir, "config.json", NULL);
  JsonParser *p = json_parser_new ();
  gboolean ok = json_parser_load_from_file (p, path, error);
  if (ok) {
    JsonNode *root = json_parser_get_root (p);
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
    JsonObject *mo = o && json_object_has_member (o, "model")
        ? json_object_get_object_member (o, "model") : NULL;
    if (!mo || !json_object_has_member (mo, "enc_num_heads") ||
        !json_object_has_member (mo, "dec_num_heads")) {
      g_set_error (error, CT_ERROR, CT_ERROR_FORMAT,
          "%s: expected model.enc_num_heads and model.dec_num_heads", path);
      ok = FALSE;
    } else {
      *enc_heads = json_object_get_int_member (mo, "enc_num_heads");
      *dec_heads = json_object_get_int_member (mo, "dec_num_heads");
    }
  }
  g_object_unref (p);
  g_free (path);
  return ok;
}

static int
run_case (const char *dir, const char *weights, CtDevice device, int dev_index, CtPrecision prec,
    double tol)
{
  GError *err = NULL;
  Report r = { .tol = tol };
  int eh = 0, dh = 0;
  CtModel *m = NULL;
  CtSession *s = NULL;
  CtSafetensors *io = NULL;
  char *wpath = weights ? g_strdup (weights) : g_build_filename (dir, "weights.safetensors", NULL);
  char *iopath = g_build_filename (dir, "io.safetensors", NULL);
  float *video = NULL, *nfr = NULL, *z = NULL, *vit = NULL, *mask = NULL;

  printf ("case %s (weights %s)\n", dir, wpath);
  if (!read_heads (dir, &eh, &dh, &err))
    goto error;
  CtLoadOptions opts = { eh, dh };
  if (!(m = ct_model_load_full (wpath, &opts, &err)))
    goto error;
  if (!(s = ct_session_new_full (m, device, dev_index, prec, &err)))
    goto error;
  if (!(io = ct_safetensors_open (iopath, &err)))
    goto error;
  const CtConfig *c = ct_model_config (m);
  int Nv = ct_config_n_video_tokens (c);
  gint64 nvideo;
  if (!(video = tensor_f32 (io, "video", &nvideo, &err)) ||
      !(nfr = tensor_f32 (io, "n_frames", NULL, &err)))
    goto error;
  if (nvideo != (gint64) c->T * c->H * c->W * 3) {
    g_set_error (&err, CT_ERROR, CT_ERROR_MISMATCH, "video has %" G_GINT64_FORMAT
        " values, the model's window needs %d", nvideo, c->T * c->H * c->W * 3);
    goto error;
  }
  int n_frames = (int) nfr[0];
  printf ("  device %s, n_frames %d\n", ct_session_device_name (s), n_frames);
  z = g_new (float, ct_config_token_floats (c));
  vit = g_new (float, (gsize) Nv * c->enc_dim);
  mask = g_new (float, Nv);
  CtEncodeTrace trace = { vit, mask };
  if (!ct_session_encode (s, video, n_frames, z, &trace, &err))
    goto error;
  compare (&r, "enc.vit_out", vit, io);
  compare (&r, "enc.memory_mask", mask, io);
  compare (&r, "z_xy", z, io);
  compare (&r, "z_yt", z + ct_config_plane_floats (c, 0), io);
  compare (&r, "z_xt", z + ct_config_plane_floats (c, 0) + ct_config_plane_floats (c, 1), io);

  /* whole-window reconstructions, one per decoded.nsliceK tensor */
  for (int i = 0; i < ct_safetensors_n_tensors (io); i++) {
    const CtTensorView *t = ct_safetensors_tensor (io, i);
    if (!g_str_has_prefix (t->name, "decoded.nslice"))
      continue;
    int k = atoi (t->name + strlen ("decoded.nslice"));
    int nq = ((n_frames + c->dec_pt - 1) / c->dec_pt) * ct_config_nx (c) * ct_config_ny (c);
    if (k < 1) {
      printf ("  %s: cannot parse slice count\n", t->name);
      r.failures++;
      continue;
    }
    int slice = (nq + k - 1) / k;   /* torch.chunk: ceil-sized contiguous slices */
    float *out = g_new (float, (gsize) n_frames * c->H * c->W * 3);
    char *cname = g_strdup_printf ("coords.nslice%d", k);
    float *coords = g_new (float, (gsize) nq * 3);
    for (int q = 0; q < nq; q++)
      ct_patch_coord (c, q / (ct_config_nx (c) * ct_config_ny (c)),
          (q / ct_config_ny (c)) % ct_config_nx (c), q % ct_config_ny (c), coords + 3 * q);
    if (ct_safetensors_find (io, cname))
      compare (&r, cname, coords, io);
    if (!ct_session_rasterize (s, z, n_frames, slice, out, &err)) {
      g_free (out);
      g_free (cname);
      g_free (coords);
      goto error;
    }
    compare (&r, t->name, out, io);
    g_free (out);
    g_free (cname);
    g_free (coords);
  }

  /* probe: random fractional coordinates decoded as one sequence */
  gint64 np = 0;
  float *pc = tensor_f32 (io, "probe.coords", &np, NULL);
  if (pc) {
    int n = np / 3;
    float *emb = g_new (float, (gsize) n * 3 * c->channels);
    float *out = g_new (float, (gsize) n * ct_config_patch_values (c));
    /* decode the reference planes so the probe isolates the decoder */
    float *zr = g_new (float, ct_config_token_floats (c));
    float *zxy = tensor_f32 (io, "z_xy", NULL, NULL), *zyt = tensor_f32 (io, "z_yt", NULL, NULL),
        *zxt = tensor_f32 (io, "z_xt", NULL, NULL);
    gboolean ok = zxy && zyt && zxt;
    if (ok) {
      memcpy (zr, zxy, ct_config_plane_floats (c, 0) * 4);
      memcpy (zr + ct_config_plane_floats (c, 0), zyt, ct_config_plane_floats (c, 1) * 4);
      memcpy (zr + ct_config_plane_floats (c, 0) + ct_config_plane_floats (c, 1), zxt,
          ct_config_plane_floats (c, 2) * 4);
      ok = ct_session_decode (s, zr, pc, n, out, emb, &err);
    }
    if (ok) {
      compare (&r, "probe.embedding", emb, io);
      compare (&r, "probe.output", out, io);
    }
    g_free (zxy); g_free (zyt); g_free (zxt); g_free (zr);
    g_free (emb); g_free (out); g_free (pc);
    if (!ok) {
      if (!err)
        g_set_error (&err, CT_ERROR, CT_ERROR_FORMAT, "io.safetensors lacks z_xy/z_yt/z_xt");
      goto error;
    }
  }
  printf ("  %s: %d checks, %d failed\n", r.failures ? "FAIL" : "PASS", r.checks, r.failures);
  goto done;

error:
  printf ("  ERROR: %s\n", err->message);
  g_error_free (err);
  r.failures++;
done:
  g_free (video); g_free (nfr); g_free (z); g_free (vit); g_free (mask);
  ct_safetensors_close (io);
  ct_session_free (s);
  ct_model_unref (m);
  g_free (wpath);
  g_free (iopath);
  return r.failures ? 1 : 0;
}

int
ct_cmd_golden (int argc, char **argv)
{
  char *weights = NULL, *device_s = NULL, *prec_s = NULL, *kernels = NULL;
  gboolean from_checkpoint = FALSE;
  double tol = 0;
  GOptionEntry entries[] = {
    { "weights", 'w', 0, G_OPTION_ARG_FILENAME, &weights, "Weight file to use instead of CASE/weights.safetensors", "FILE" },
    { "checkpoint", 'c', 0, G_OPTION_ARG_NONE, &from_checkpoint, "Convert CASE/checkpoint.pth in C and check with that instead", NULL },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device_s, "cpu (default), cuda, cuda:N (CUDA device N) or auto", "DEV" },
    { "precision", 'p', 0, G_OPTION_ARG_STRING, &prec_s, "fp32 (default), tf32, bf16", "P" },
    { "tolerance", 't', 0, G_OPTION_ARG_DOUBLE, &tol, "Relative bound (default 1e-4 CPU, 1e-3 CUDA fp32)", "TOL" },
    { "kernels", 'k', 0, G_OPTION_ARG_STRING, &kernels, "CPU kernel set: avx512, avx2 or generic (exit 77 if this CPU cannot run it)", "SET" },
    { NULL }
  };
  GError *err = NULL;
  int status = ct_cli_parse_args ("golden", "CASE_DIR... - check the engine against golden "
      "vectors", entries, &argc, &argv, 1, -1, "no case folder given");
  if (status >= 0) {
    g_free (weights); g_free (device_s); g_free (prec_s); g_free (kernels);
    return status;
  }
  CtDevice dev = CT_DEVICE_CPU;
  int dev_index = -1;
  CtPrecision prec = CT_PRECISION_FP32;
  if ((device_s && !ct_device_parse (device_s, &dev, &dev_index)) ||
      (prec_s && !ct_cli_parse_precision (prec_s, &prec))) {
    fprintf (stderr, "coordtok golden: bad --device or --precision\n");
    return 2;
  }
  if (tol <= 0)
    tol = dev == CT_DEVICE_CPU ? 1e-4 : 1e-3;
  if (kernels) {
    gboolean ok = ct_cpu_kernels_supported (kernels);
    if (!ok)
      printf ("skipped: this CPU cannot run the '%s' kernel set\n", kernels);
    else
      g_setenv ("COORDTOK_CPU", kernels, TRUE);   /* before the first use */
    g_free (kernels);
    if (!ok)
      return 77;
  }
  char *linear = ct_cpu_linear_describe ();
  printf ("cpu kernels: %s, linear layers: %s\n", ct_cpu_kernels_name (), linear);
  g_free (linear);
  int fails = 0;
  for (int i = 1; i < argc; i++) {
    if (!from_checkpoint) {
      fails += run_case (argv[i], weights, dev, dev_index, prec, tol);
      continue;
    }
    /* convert the official checkpoint to a temporary file first */
    int eh = 0, dh = 0, fd;
    char *tmp = NULL, *ckpt = g_build_filename (argv[i], "checkpoint.pth", NULL);
    if (!read_heads (argv[i], &eh, &dh, &err) ||
        (fd = g_file_open_tmp ("coordtok-golden-XXXXXX.safetensors", &tmp, &err)) < 0) {
      printf ("case %s\n  ERROR: %s\n", argv[i], err->message);
      g_clear_error (&err);
      g_free (ckpt);
      fails++;
      continue;
    }
    close (fd);
    CtConvertOptions o = { .enc_heads = eh, .dec_heads = dh, .out_dtype = CT_DTYPE_F32 };
    if (!ct_convert_checkpoint (ckpt, tmp, &o, &err)) {
      printf ("case %s\n  ERROR converting %s: %s\n", argv[i], ckpt, err->message);
      g_clear_error (&err);
      fails++;
    } else {
      printf ("converted %s -> %s\n", ckpt, tmp);
      fails += run_case (argv[i], tmp, dev, dev_index, prec, tol);
    }
    g_unlink (tmp);
    g_free (tmp);
    g_free (ckpt);
  }
  printf ("%d of %d cases passed\n", argc - 1 - fails, argc - 1);
  g_free (weights);
  g_free (device_s);
  g_free (prec_s);
  return fails ? 1 : 0;
}
