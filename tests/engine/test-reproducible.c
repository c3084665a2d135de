/* test-reproducible.c - tokens and pixels do not depend on the thread count.
 *
 * Every product's split is the same whatever the number of workers: our
 * kernels cut rows into fixed blocks, OpenBLAS and oneDNN split M and N
 * (never K) among threads, so each output element is summed in one order.
 * This test holds that for CoordTok-L's layer shapes (random weights; one
 * layer per stack: the shapes, not the depth, decide the splits) with the
 * kernel set and linear path of the environment (COORDTOK_CPU,
 * COORDTOK_LINEAR; meson runs it once per pair).  Encode and two decode
 * lengths at 1, 2 and 3 threads must be bit-identical: if they ever are
 * not, a thread count that adapts to the machine's load would change
 * tokens (docs/engine.md, threads).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <coordtok/coordtok.h>

#include <string.h>

/* One session at `threads`: the window's planes, then each decode length's
 * output, all appended to `out` in turn. */
static void
run (CtModel *m, int threads, const float *video, const float *coords, const int *lengths,
    int n_lengths, float *z, float *out)
{
  const CtConfig *c = ct_model_config (m);
  GError *err = NULL;
  CtSession *s = ct_session_new (m, CT_DEVICE_CPU, CT_PRECISION_FP32, &err);
  g_assert_no_error (err);
  ct_session_set_threads (s, threads);
  g_assert_true (ct_session_encode (s, video, c->T, z, NULL, &err));
  g_assert_no_error (err);
  for (int k = 0; k < n_lengths; k++) {
    g_assert_true (ct_session_decode (s, z, coords, lengths[k], out, NULL, &err));
    g_assert_no_error (err);
    out += (gsize) lengths[k] * 3 * c->dec_pt * c->dec_pxy * c->dec_pxy;
  }
  ct_session_free (s);
}

static void
test_thread_counts (void)
{
  CtConfig c;
  ct_config_init_coordtok_l (&c);
  c.enc_vit_layers = c.enc_cross_layers = c.dec_layers = 1;
  GError *err = NULL;
  CtModel *m = ct_model_new_random (&c, 7, &err);
  g_assert_no_error (err);
  GRand *r = g_rand_new_with_seed (3);
  gsize vn = (gsize) c.T * c.H * c.W * 3, zn = ct_config_token_floats (&c);
  float *video = g_new (float, vn);
  for (gsize i = 0; i < vn; i++)
    video[i] = (float) g_rand_double_range (r, -1, 1);
  const int lengths[] = { 256, 1024 };
  float *coords = g_new (float, 3 * 1024);
  for (int i = 0; i < 3 * 1024; i++)
    coords[i] = (float) g_rand_double (r);
  gsize on = (gsize) (256 + 1024) * 3 * c.dec_pt * c.dec_pxy * c.dec_pxy;
  float *z_ref = g_new (float, zn), *out_ref = g_new (float, on);
  float *z = g_new (float, zn), *out = g_new (float, on);
  run (m, 1, video, coords, lengths, 2, z_ref, out_ref);
  /* counts above this machine's cores too: a 16-core machine splits
   * products 16 ways, and the split must not change a sum */
  const int counts[] = { 2, 3, 4, 8, 16 };
  char *linear = ct_cpu_linear_describe ();
  for (guint i = 0; i < G_N_ELEMENTS (counts); i++) {
    run (m, counts[i], video, coords, lengths, 2, z, out);
    g_test_message ("%s, linear layers %s: encode, 256 and 1024 queries, 1 vs %d threads",
        ct_cpu_kernels_name (), linear, counts[i]);
    g_assert_cmpmem (z, zn * sizeof (float), z_ref, zn * sizeof (float));
    g_assert_cmpmem (out, on * sizeof (float), out_ref, on * sizeof (float));
  }
  g_free (linear);
  g_free (coords); g_free (z_ref); g_free (out_ref); g_free (z); g_free (out);
  g_free (video);
  g_rand_free (r);
  ct_model_unref (m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *set = g_getenv ("COORDTOK_CPU");
  if (set && !ct_cpu_kernels_supported (set)) {
    g_print ("1..0 # SKIP this CPU cannot run the %s kernel set\n", set);
    return 77;
  }
  g_test_add_func ("/threads/reproducible", test_thread_counts);
  return g_test_run ();
}
