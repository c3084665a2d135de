/* cmd-bench.c - `coordtok bench`: encode and decode time per window and
 * achieved GFLOP/s, for a real model or random weights of any size.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"
#include "config-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
set_md (void *u, const char *k, const char *v)
{
  g_hash_table_replace (u, g_strdup (k), g_strdup (v));
}

/* "dec_dim=256,dec_layers=4" over CoordTok-L defaults */
static gboolean
parse_random_config (const char *spec, CtConfig *c, GError **error)
{
  ct_config_init_coordtok_l (c);
  if (!spec || !*spec || !strcmp (spec, "L"))
    return TRUE;
  GHashTable *md = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* start from L's metadata, then override */
  ct_config_to_metadata (c, set_md, md);
  char **kv = g_strsplit (spec, ",", -1);
  for (char **p = kv; *p; p++) {
    char **pair = g_strsplit (*p, "=", 2);
    if (!pair[0] || !pair[1]) {
      g_set_error (error, CT_ERROR, CT_ERROR_ARGUMENT, "bad config item '%s' (want key=value)", *p);
      g_strfreev (pair);
      g_strfreev (kv);
      g_hash_table_destroy (md);
      return FALSE;
    }
    g_hash_table_replace (md, g_strconcat ("coordtok.", pair[0], NULL), g_strdup (pair[1]));
    g_strfreev (pair);
  }
  g_strfreev (kv);
  gboolean ok = ct_config_from_metadata (c, md, NULL, error);
  g_hash_table_destroy (md);
  return ok;
}

/* --linear ROWS: CoordTok-L decoder blocks' linear layers against the
 * sgemm ceiling. */
static int
bench_linear (int linear, int runs, gboolean json)
{
  /* CoordTok-L's decoder block: qkv, attention out, fc1, fc2 */
  static const struct { const char *name; int in, out; } shapes[] = {
    { "qkv", 1024, 3072 }, { "proj", 1024, 1024 }, { "fc1", 1024, 4096 }, { "fc2", 4096, 1024 } };
  double ceiling = ct_cpu_sgemm_gflops (2048, runs), flops = 0, secs = 0;
  char *path = ct_cpu_linear_describe ();
  if (!json)
    printf ("linear layers over %d rows (%s), best of %d; sgemm 2048^3 ceiling %.1f GFLOP/s\n",
        linear, path, runs, ceiling);
  GString *js = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++) {
    double g = ct_cpu_linear_gflops (linear, shapes[i].in, shapes[i].out, 24, runs);
    double f = 2.0 * linear * shapes[i].in * shapes[i].out * 24;
    flops += f;
    secs += g > 0 ? f / (g * 1e9) : 0;
    if (!json)
      printf ("  %-5s %4d -> %4d x24  %7.1f GFLOP/s  %3.0f%% of ceiling\n", shapes[i].name,
          shapes[i].in, shapes[i].out, g, 100 * g / ceiling);
    g_string_append_printf (js, "%s\"%s\": %.1f", i ? ", " : "", shapes[i].name, g);
  }
  double all = secs > 0 ? flops / secs / 1e9 : 0;
  if (json)
    printf ("{\"rows\": %d, \"linear\": \"%s\", \"ceiling_gflops\": %.1f, \"gflops\": %.1f, %s}\n",
        linear, path, ceiling, all, js->str);
  else
    printf ("  all   (a decoder block's mix)  %7.1f GFLOP/s  %3.0f%% of ceiling\n", all,
        100 * all / ceiling);
  g_string_free (js, TRUE);
  g_free (path);
  return all > 0 ? 0 : 1;
}

/* --gemm N: the BLAS's best N^3 fp32 GEMM rate. */
static int
bench_gemm (int gemm, int runs, gboolean json)
{
  double g = ct_cpu_sgemm_gflops (gemm, runs);
  if (json)
    printf ("{\"gemm_n\": %d, \"threads\": \"%s\", \"gemm_gflops\": %.1f}\n", gemm,
        g_getenv ("OMP_NUM_THREADS") ? g_getenv ("OMP_NUM_THREADS") : "default", g);
  else {
    char *blas = ct_cpu_blas_core ();
    printf ("sgemm %d^3 (OpenBLAS %s kernels, best of %d): %.1f GFLOP/s\n", gemm, blas,
        runs, g);
    g_free (blas);
  }
  return 0;
}

/* What a model benchmark times. */
typedef struct {
  int runs, warmup, slice, queries, window_q;
  gboolean no_encode, no_decode;
} Plan;

/* Median times of encoding a window of noise and decoding `queries`
 * queries in sequences of `slice`: a whole window through the rasterizer,
 * as the elements do, else the first `queries` patch coordinates of the
 * window (repeated if more). */
static gboolean
time_runs (CtSession *s, const Plan *p, double *enc_ms, double *dec_ms,
    GError **error)
{
  const CtConfig *c = ct_model_config (ct_session_model (s));
  int per_frame = ct_config_nx (c) * ct_config_ny (c);
  gsize vn = (gsize) c->T * c->H * c->W * 3;
  float *video = g_new (float, vn), *z = g_new (float, ct_config_token_floats (c));
  guint32 seed = 1;
  for (gsize i = 0; i < vn; i++) {
    seed = seed * 1664525u + 1013904223u;
    video[i] = (seed >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
  double *enc_t = g_new0 (double, p->runs), *dec_t = g_new0 (double, p->runs);
  float *coords = g_new (float, (gsize) p->slice * 3);
  float *out = g_new (float, (gsize) p->slice * ct_config_patch_values (c));
  float *raster = p->queries == p->window_q ? g_new (float, vn) : NULL;
  gboolean ok = TRUE;
  for (int r = -p->warmup; ok && r < p->runs; r++) {
    gint64 t0 = g_get_monotonic_time ();
    ok = p->no_encode || ct_session_encode (s, video, c->T, z, NULL, error);
    gint64 t1 = g_get_monotonic_time ();
    if (p->no_encode && r == -p->warmup)
      memset (z, 0, ct_config_token_floats (c) * sizeof (float));
    if (ok && !p->no_decode && raster)
      ok = ct_session_rasterize (s, z, c->T, p->slice, raster, error);
    else
      for (int done = 0; ok && !p->no_decode && done < p->queries; done += p->slice) {
        int n = MIN (p->slice, p->queries - done);
        for (int i = 0; i < n; i++) {
          int q = (done + i) % p->window_q;
          ct_patch_coord (c, q / per_frame, (q / ct_config_ny (c)) % ct_config_nx (c),
              q % ct_config_ny (c), coords + 3 * i);
        }
        ok = ct_session_decode (s, z, coords, n, out, NULL, error);
      }
    gint64 t2 = g_get_monotonic_time ();
    if (r >= 0) {
      enc_t[r] = (t1 - t0) / 1e3;
      dec_t[r] = (t2 - t1) / 1e3;
    }
  }
  qsort (enc_t, p->runs, sizeof (double), cmp_double);
  qsort (dec_t, p->runs, sizeof (double), cmp_double);
  *enc_ms = enc_t[p->runs / 2];
  *dec_ms = dec_t[p->runs / 2];
  g_free (video); g_free (z); g_free (enc_t); g_free (dec_t); g_free (coords); g_free (out);
  g_free (raster);
  return ok;
}

static void
report (CtSession *s, const Plan *p, const char *threads_s, gboolean json,
    double enc_ms, double dec_ms)
{
  CtModel *m = ct_session_model (s);
  const CtConfig *c = ct_model_config (m);
  int queries = p->queries, window_q = p->window_q, slice = p->slice;
  gboolean no_encode = p->no_encode, no_decode = p->no_decode;
  double enc_f = ct_config_encode_flops (c), dec_f = ct_config_decode_flops (c, queries, slice);
  if (json) {
    printf ("{\"model\": \"%s\", \"device\": \"%s\", \"cpu_kernels\": \"%s\", \"threads\": \"%s\", \"runs\": %d, "
        "\"encode_ms\": %.3f, \"encode_gflops\": %.3f, \"decode_queries\": %d, "
        "\"slice\": %d, \"decode_ms\": %.3f, \"decode_gflops\": %.3f, "
        "\"window_ms\": %.3f}\n",
        ct_model_id (m), ct_session_device_name (s), ct_cpu_kernels_name (),
        threads_s, p->runs,
        no_encode ? 0 : enc_ms, no_encode ? 0 : enc_f / enc_ms / 1e6, queries, slice,
        no_decode ? 0 : dec_ms, no_decode ? 0 : dec_f / dec_ms / 1e6,
        (no_encode ? 0 : enc_ms) + (no_decode ? 0 : dec_ms) * window_q / queries);
  } else {
    printf ("model %s on %s, median of %d runs (%d warm-up)\n", ct_model_id (m),
        ct_session_device_name (s), p->runs, p->warmup);
    char *blas = ct_cpu_blas_core (), *linear = ct_cpu_linear_describe ();
    printf ("cpu kernels: %s, BLAS kernels: %s, linear layers: %s, threads: %s\n",
        ct_cpu_kernels_name (), blas, linear, threads_s);
    g_free (blas);
    g_free (linear);
    if (!no_encode)
      printf ("encode            %10.1f ms/window   %8.1f GFLOP/s (%.2f GFLOP)\n", enc_ms,
          enc_f / enc_ms / 1e6, enc_f / 1e9);
    if (!no_decode)
      printf ("decode %6d q    %10.1f ms           %8.1f GFLOP/s (%.2f GFLOP, slices of %d)\n",
          queries, dec_ms, dec_f / dec_ms / 1e6, dec_f / 1e9, slice);
    if (!no_encode && !no_decode)
      printf ("window (enc + %d q dec) %.1f ms => %.1f frames/s\n", window_q,
          enc_ms + dec_ms * window_q / queries, c->T * 1e3 / (enc_ms + dec_ms * window_q / queries));
  }
}

int
ct_cmd_bench (int argc, char **argv)
{
  char *random_s = NULL, *device_s = NULL, *prec_s = NULL;
  gboolean random_l = FALSE, json = FALSE, no_encode = FALSE, no_decode = FALSE;
  int runs = 3, slice = 0, queries = 0, warmup = 1, gemm = 0, threads = 0, linear = 0;
  GOptionEntry entries[] = {
    { "random", 0, 0, G_OPTION_ARG_STRING, &random_s, "Random weights: L or key=value,... over CoordTok-L (keys of docs/weights.md without 'coordtok.')", "CFG" },
    { "random-l", 0, 0, G_OPTION_ARG_NONE, &random_l, "Random CoordTok-L weights", NULL },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device_s, "auto (default), cpu, cuda, cuda:N (CUDA device N)", "DEV" },
    { "precision", 'p', 0, G_OPTION_ARG_STRING, &prec_s, "fp32 (default), tf32, bf16", "P" },
    { "slice", 's', 0, G_OPTION_ARG_INT, &slice, "Queries per decoded sequence (default: model's)", "N" },
    { "queries", 'q', 0, G_OPTION_ARG_INT, &queries, "Queries to decode (default: whole window)", "N" },
    { "runs", 'r', 0, G_OPTION_ARG_INT, &runs, "Timed runs (median reported)", "N" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &warmup, "Untimed runs first", "N" },
    { "no-encode", 0, 0, G_OPTION_ARG_NONE, &no_encode, "Skip the encoder", NULL },
    { "no-decode", 0, 0, G_OPTION_ARG_NONE, &no_decode, "Skip the decoder", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON object on stdout", NULL },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "CPU threads (0, the default: the cores other processes leave free; -1: adaptive, as in live pipelines)", "N" },
    { "gemm", 0, 0, G_OPTION_ARG_INT, &gemm, "Only measure the BLAS: best GFLOP/s of an N^3 fp32 GEMM (the ceiling for the linear layers)", "N" },
    { "linear", 0, 0, G_OPTION_ARG_INT, &linear, "Only measure the linear layers: CoordTok-L decoder blocks' four shapes, 24 distinct matrices each, over ROWS rows, against the sgemm 2048^3 ceiling", "ROWS" },
    { NULL }
  };
  GError *err = NULL;
  int ret = 1;
  CtModel *m = NULL;
  CtSession *s = NULL;
  int status = ct_cli_parse_args ("bench", "[MODEL] - time encode and decode", entries, &argc,
      &argv, 0, 1, "one MODEL at most (extra arguments given)");
  if (status < 0 && threads < -1) {
    fprintf (stderr, "coordtok bench: --threads must be -1 (adaptive), 0 (the free cores) or a count\n");
    status = 2;
  }
  if (status >= 0) {
    g_free (random_s); g_free (device_s); g_free (prec_s);
    return status;
  }
  if (linear > 0 || gemm > 0) {
    g_free (random_s); g_free (device_s); g_free (prec_s);
    return linear > 0 ? bench_linear (linear, runs, json) : bench_gemm (gemm, runs, json);
  }
  CtDevice dev = CT_DEVICE_AUTO;
  int dev_index = -1;
  CtPrecision prec = CT_PRECISION_FP32;
  if ((device_s && !ct_device_parse (device_s, &dev, &dev_index)) ||
      (prec_s && !ct_cli_parse_precision (prec_s, &prec)) || runs < 1) {
    fprintf (stderr, "coordtok bench: bad --device, --precision or --runs\n");
    return 2;
  }
  if (random_l || random_s) {
    CtConfig c;
    if (!parse_random_config (random_l ? "L" : random_s, &c, &err))
      goto fail;
    m = ct_model_new_random (&c, 1234, &err);
  } else
    m = ct_model_load (argc > 1 ? argv[1] : NULL, &err);
  if (!m || !(s = ct_session_new_full (m, dev, dev_index, prec, &err)))
    goto fail;
  ct_session_set_threads (s, threads);

  const CtConfig *c = ct_model_config (m);
  char threads_s[32];
  if (threads > 0)
    g_snprintf (threads_s, sizeof threads_s, "%d", threads);
  else
    g_snprintf (threads_s, sizeof threads_s, "%s %s", threads < 0 ? "adaptive, max" : "all:",
        g_getenv ("OMP_NUM_THREADS") ? g_getenv ("OMP_NUM_THREADS") : "cores");
  int window_q = ct_config_nt (c) * ct_config_nx (c) * ct_config_ny (c);
  if (queries <= 0)
    queries = window_q;
  if (slice <= 0)
    slice = c->default_slice;
  if (slice > queries)
    slice = queries;
  Plan plan = { runs, warmup, slice, queries, window_q, no_encode, no_decode };
  double enc_ms, dec_ms;
  if (!time_runs (s, &plan, &enc_ms, &dec_ms, &err))
    goto fail_run;
  report (s, &plan, threads_s, json, enc_ms, dec_ms);
  ret = 0;
  goto done_run;
fail_run:
  fprintf (stderr, "coordtok bench: %s\n", err->message);
  g_clear_error (&err);
done_run:
  ct_session_free (s);
  ct_model_unref (m);
  g_free (random_s); g_free (device_s); g_free (prec_s);
  return ret;
fail:
  fprintf (stderr, "coordtok bench: %s\n", err->message);
  g_error_free (err);
  ct_session_free (s);
  ct_model_unref (m);
  g_free (random_s); g_free (device_s); g_free (prec_s);
  return 1;
}
