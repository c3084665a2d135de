/* kernel-check.cu - standalone check of the riskiest kernels against a CPU
 * reference in double precision (llm.c dev/cuda style): flash attention
 * (fp32 and bf16 tensor-core kernels, head dims 12/16/64/128, partial tiles,
 * packed-qkv strides, fused qkv bias, additive key bias, bf16 output, large
 * logits that move the running max across key tiles), LayerNorm with the
 * fused pending bias, and the small kernels: triplane sampling and
 * positional rows (bit-exact against a float32 replica of src/sampling.c),
 * query embedding, patch gather, unpatchify, bias + GELU, bias/pos adds,
 * sums and bf16 casts, the memory mask.  Prints the max error per case and
 * a rough timing of the CoordTok-L decoder attention (S = 4096, 16 heads of
 * 64).  Exit 0 all good, 1 a failure, 77 no device.
 *
 *   ninja -C build-cuda kernels/kernel-check && build-cuda/kernels/kernel-check
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "../kernels.h"

#include <cuda_bf16.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

static int failures;

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
  printf ("FAIL: %s: %s\n", #x, cudaGetErrorString (e_)); exit (1); } } while (0)

static float
frand (unsigned *s)
{
  *s = *s * 1664525u + 1013904223u;
  return (*s >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

static float
bf16_to_f (uint16_t h)
{
  uint32_t u = (uint32_t) h << 16;
  float f;
  memcpy (&f, &u, 4);
  return f;
}

static void
attention_case (int Sq, int Sk, int heads, int hd, bool packed, bool qkv_bias,
    bool key_bias, int tc, int out_bf16, float qmag = 1.0f)
{
  unsigned seed = 1234u + Sq * 7 + Sk * 13 + hd;
  int W = heads * hd;
  /* packed: one (S, 3W) buffer as the self-attention qkv GEMM writes it */
  int ld = packed ? 3 * W : W;
  std::vector<float> q ((size_t) Sq * ld), k ((size_t) Sk * ld), v ((size_t) Sk * ld);
  /* qmag > 1: logits spread over tens of units, so the running max changes
   * across key tiles and a wrong rescale (alpha) shows */
  for (auto &x : q) x = frand (&seed) * qmag;
  for (auto &x : k) x = frand (&seed);
  for (auto &x : v) x = frand (&seed);
  std::vector<float> b (3 * W), kb (Sk);
  for (auto &x : b) x = frand (&seed) * 0.5f;
  for (int j = 0; j < Sk; j++) kb[j] = (j % 5 == 0) ? 1.0f : 0.0f;
  float scale = 1.0f / sqrtf ((float) hd);

  float *dq, *dk, *dv, *db, *dkb;
  void *dout;
  CK (cudaMalloc (&dq, q.size () * 4)); CK (cudaMalloc (&dk, k.size () * 4));
  CK (cudaMalloc (&dv, v.size () * 4)); CK (cudaMalloc (&db, b.size () * 4));
  CK (cudaMalloc (&dkb, kb.size () * 4));
  CK (cudaMalloc (&dout, (size_t) Sq * W * 4));
  CK (cudaMemcpy (dq, q.data (), q.size () * 4, cudaMemcpyHostToDevice));
  CK (cudaMemcpy (dk, k.data (), k.size () * 4, cudaMemcpyHostToDevice));
  CK (cudaMemcpy (dv, v.data (), v.size () * 4, cudaMemcpyHostToDevice));
  CK (cudaMemcpy (db, b.data (), b.size () * 4, cudaMemcpyHostToDevice));
  CK (cudaMemcpy (dkb, kb.data (), kb.size () * 4, cudaMemcpyHostToDevice));
  CK (cudaMemset (dout, 0xff, (size_t) Sq * W * 4));   /* NaN: unwritten shows */

  CtCuAttention a = {};
  a.q = dq; a.k = dk; a.v = dv; a.ldq = ld; a.ldk = ld; a.ldv = ld;
  if (qkv_bias) { a.bq = db; a.bk = db + W; a.bv = db + 2 * W; }
  a.key_bias = key_bias ? dkb : NULL;
  a.out = dout; a.ldo = W; a.out_bf16 = out_bf16;
  a.Sq = Sq; a.Sk = Sk; a.heads = heads; a.hd = hd; a.scale = scale;
  CK (ct_cu_attention (&a, tc, 0));
  CK (cudaDeviceSynchronize ());
  std::vector<float> out ((size_t) Sq * W);
  if (out_bf16) {
    std::vector<uint16_t> o16 ((size_t) Sq * W);
    CK (cudaMemcpy (o16.data (), dout, o16.size () * 2, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < o16.size (); i++) out[i] = bf16_to_f (o16[i]);
  } else
    CK (cudaMemcpy (out.data (), dout, out.size () * 4, cudaMemcpyDeviceToHost));

  double maxerr = 0, maxref = 0;
  std::vector<double> lg (Sk);
  for (int h = 0; h < heads; h++)
    for (int i = 0; i < Sq; i++) {
      double mx = -1e300;
      for (int j = 0; j < Sk; j++) {
        double s = 0;
        for (int d = 0; d < hd; d++) {
          double qv = q[(size_t) i * ld + h * hd + d] + (qkv_bias ? b[h * hd + d] : 0);
          double kv = k[(size_t) j * ld + h * hd + d] + (qkv_bias ? b[W + h * hd + d] : 0);
          s += qv * kv;
        }
        lg[j] = s * scale + (key_bias ? kb[j] : 0);
        mx = lg[j] > mx ? lg[j] : mx;
      }
      double sum = 0;
      for (int j = 0; j < Sk; j++) sum += (lg[j] = exp (lg[j] - mx));
      for (int d = 0; d < hd; d++) {
        double o = 0;
        for (int j = 0; j < Sk; j++)
          o += lg[j] * (v[(size_t) j * ld + h * hd + d] + (qkv_bias ? b[2 * W + h * hd + d] : 0));
        o /= sum;
        double e = fabs (o - out[(size_t) i * W + h * hd + d]);
        if (!(e <= maxerr)) maxerr = isnan (e) ? INFINITY : e;
        maxref = fmax (maxref, fabs (o));
      }
    }
  /* fp32 kernel: summation order only; bf16: Q, K, V, P rounded to 8 bits */
  double tol = (tc && hd % 16 == 0 && hd <= 128 && (hd & (hd - 1)) == 0) || out_bf16 ? 3e-2 : 2e-5;
  bool ok = maxerr <= tol * fmax (1.0, maxref);
  printf ("  %-4s attention Sq=%5d Sk=%5d heads=%2d hd=%3d %s%s%s%s tc=%d out=%s  max|err| %.2e (tol %.0e)\n",
      ok ? "ok" : "FAIL", Sq, Sk, heads, hd, packed ? "packed " : "", qkv_bias ? "qkv_bias " : "",
      key_bias ? "key_bias " : "", qmag != 1.0f ? "large-logits " : "", tc,
      out_bf16 ? "bf16" : "f32", maxerr, tol);
  if (!ok) failures++;
  cudaFree (dq); cudaFree (dk); cudaFree (dv); cudaFree (db); cudaFree (dkb); cudaFree (dout);
}

static void
layernorm_case (int M, int D, bool pre_bias, int out_bf16)
{
  unsigned seed = 77u + M + D;
  std::vector<float> x ((size_t) M * D), w (D), b (D), pb (D);
  for (auto &t : x) t = frand (&seed) * 3.0f + 0.5f;
  for (auto &t : w) t = 1.0f + 0.1f * frand (&seed);
  for (auto &t : b) t = 0.1f * frand (&seed);
  for (auto &t : pb) t = 0.2f * frand (&seed);
  float *dx, *dw, *db, *dpb;
  void *dy;
  CK (cudaMalloc (&dx, x.size () * 4)); CK (cudaMalloc (&dw, D * 4));
  CK (cudaMalloc (&db, D * 4)); CK (cudaMalloc (&dpb, D * 4));
  CK (cudaMalloc (&dy, x.size () * 4));
  CK (cudaMemcpy (dx, x.data (), x.size () * 4, cudaMemcpyHostToDevice));
  CK (cudaMemcpy (dw, w.data (), D * 4, cudaMemcpyHostToDevice));
  CK (cudaMemcpy (db, b.data (), D * 4, cudaMemcpyHostToDevice));
  CK (cudaMemcpy (dpb, pb.data (), D * 4, cudaMemcpyHostToDevice));
  CK (ct_cu_layernorm (dx, D, pre_bias ? dpb : NULL, dw, db, 1e-5f, dy, D, out_bf16, M, D, 0));
  CK (cudaDeviceSynchronize ());
  std::vector<float> y (x.size ()), xb (x.size ());
  if (out_bf16) {
    std::vector<uint16_t> y16 (x.size ());
    CK (cudaMemcpy (y16.data (), dy, y16.size () * 2, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < y.size (); i++) y[i] = bf16_to_f (y16[i]);
  } else
    CK (cudaMemcpy (y.data (), dy, y.size () * 4, cudaMemcpyDeviceToHost));
  CK (cudaMemcpy (xb.data (), dx, xb.size () * 4, cudaMemcpyDeviceToHost));
  double maxerr = 0, xerr = 0;
  for (int i = 0; i < M; i++) {
    double mean = 0, var = 0;
    std::vector<double> r (D);
    for (int j = 0; j < D; j++) {
      r[j] = (double) x[(size_t) i * D + j] + (pre_bias ? pb[j] : 0);
      mean += r[j];
      xerr = fmax (xerr, fabs (r[j] - xb[(size_t) i * D + j]));
    }
    mean /= D;
    for (int j = 0; j < D; j++) var += (r[j] - mean) * (r[j] - mean);
    var /= D;
    for (int j = 0; j < D; j++) {
      double o = (r[j] - mean) / sqrt (var + 1e-5) * w[j] + b[j];
      double e = fabs (o - y[(size_t) i * D + j]);
      if (!(e <= maxerr)) maxerr = isnan (e) ? INFINITY : e;
    }
  }
  double tol = out_bf16 ? 3e-2 : 2e-5;
  bool ok = maxerr <= tol && xerr <= 1e-6;
  printf ("  %-4s layernorm M=%d D=%d %s out=%s  max|err| %.2e  x write-back %.1e\n",
      ok ? "ok" : "FAIL", M, D, pre_bias ? "pre_bias" : "", out_bf16 ? "bf16" : "f32", maxerr, xerr);
  if (!ok) failures++;
  cudaFree (dx); cudaFree (dw); cudaFree (db); cudaFree (dpb); cudaFree (dy);
}

/* ---- the other kernels ------------------------------------------------ */

template <typename T>
static T *
to_dev (const std::vector<T> &h)
{
  T *d;
  CK (cudaMalloc (&d, h.size () * sizeof (T) + 16));
  CK (cudaMemcpy (d, h.data (), h.size () * sizeof (T), cudaMemcpyHostToDevice));
  return d;
}

template <typename T>
static std::vector<T>
from_dev (const T *d, size_t n)
{
  std::vector<T> h (n);
  CK (cudaMemcpy (h.data (), d, n * sizeof (T), cudaMemcpyDeviceToHost));
  return h;
}

static void
report (const char *what, bool ok, double err, double tol)
{
  printf ("  %-4s %-58s max|err| %.2e (tol %.0e)\n", ok ? "ok" : "FAIL", what, err, tol);
  if (!ok) failures++;
}

/* sampling (spec 5.1/5.2): must be bit-exact; query embedding */
static void
sampling_case (int rxy, int rt, int C, int nt, int nx, int ny, int D, int n)
{
  unsigned seed = 4242u + rxy + rt + C + n;
  size_t zn = (size_t) rxy * rxy * C + 2 * (size_t) rt * rxy * C;
  std::vector<float> z (zn), coords (3 * (size_t) n);
  for (auto &t : z) t = frand (&seed) * 2.0f;
  /* the patch-centre coordinates a reconstruction queries (it / (NT - 1)
   * in float32: these hit the truncation edge cases), then random ones,
   * and the corners 0 and 1 */
  for (int i = 0; i < n; i++) {
    float *c = &coords[3 * (size_t) i];
    if (i < n / 2) {
      int it = i % nt, ix = (i / nt) % nx, iy = (i / (nt * nx)) % ny;
      c[0] = (float) it / (float) (nt - 1);
      c[1] = (float) ix / (float) (nx - 1);
      c[2] = (float) iy / (float) (ny - 1);
    } else
      for (int k = 0; k < 3; k++)
        c[k] = (frand (&seed) + 1.0f) * 0.5f;
  }
  coords[0] = coords[1] = coords[2] = 0.0f;
  coords[3] = coords[4] = coords[5] = 1.0f;
  float *dz = to_dev (z), *dc = to_dev (coords), *demb;
  int *drow;
  CK (cudaMalloc (&demb, (size_t) n * 3 * C * 4));
  CK (cudaMalloc (&drow, (size_t) n * 4));
  CtPlaneGeometry g = { rxy, rt, C, nt, nx, ny };
  CK (ct_cu_sample_triplane (dz, dc, n, &g, demb, drow, 0));
  CK (cudaDeviceSynchronize ());
  std::vector<float> emb = from_dev (demb, (size_t) n * 3 * C);
  std::vector<int> row = from_dev (drow, (size_t) n);
  std::vector<float> ref ((size_t) n * 3 * C);
  int bad_rows = 0;
  size_t bad_emb = 0;
  for (int i = 0; i < n; i++) {
    float ct = coords[3 * (size_t) i], cx = coords[3 * (size_t) i + 1], cy = coords[3 * (size_t) i + 2];
    /* the host compile of the shared source: device rounding must match */
    ct_geom_sample_triplane (&g, z.data (), ct, cx, cy, &ref[(size_t) i * 3 * C]);
    int r = (int) ct_geom_pos_row (&g, ct, cx, cy);
    bad_rows += row[i] != r;
  }
  for (size_t i = 0; i < ref.size (); i++)
    bad_emb += memcmp (&ref[i], &emb[i], 4) != 0;
  char what[160];
  snprintf (what, sizeof what, "sampling n=%d planes %dx%d/%dx%d C=%d: %zu emb, %d rows differ",
      n, rxy, rxy, rt, rxy, C, bad_emb, bad_rows);
  report (what, bad_emb == 0 && bad_rows == 0, (double) (bad_emb + bad_rows), 0);

  /* query embedding: x = emb wt + b + pos[row] */
  int K = 3 * C;
  std::vector<float> wt ((size_t) K * D), b (D), pos ((size_t) nt * nx * ny * D);
  for (auto &t : wt) t = frand (&seed);
  for (auto &t : b) t = frand (&seed);
  for (auto &t : pos) t = frand (&seed);
  float *dwt = to_dev (wt), *db = to_dev (b), *dpos = to_dev (pos), *dx;
  CK (cudaMalloc (&dx, (size_t) n * D * 4));
  CK (ct_cu_query_embed (demb, drow, dwt, db, dpos, n, K, D, dx, 0));
  CK (cudaDeviceSynchronize ());
  std::vector<float> x = from_dev (dx, (size_t) n * D);
  double err = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < D; j++) {
      double acc = 0;
      for (int k = 0; k < K; k++)
        acc += (double) ref[(size_t) i * K + k] * wt[(size_t) k * D + j];
      double o = acc + b[j] + pos[(size_t) row[i] * D + j];
      double e = fabs (o - x[(size_t) i * D + j]);
      if (!(e <= err)) err = isnan (e) ? INFINITY : e;
    }
  snprintf (what, sizeof what, "query embed n=%d K=%d D=%d", n, K, D);
  report (what, err <= 1e-5 * K, err, 1e-5 * K);
  cudaFree (dz); cudaFree (dc); cudaFree (demb); cudaFree (drow);
  cudaFree (dwt); cudaFree (db); cudaFree (dpos); cudaFree (dx);
}

/* encoder patch gather (spec 4.1, flattened (ch, dt, dx, dy)) for slabs
 * [a0, a1), and unpatchify (spec 4.8): exact copies */
static void
patch_case (int T, int H, int W, int et, int ep, int a0, int a1, int out_bf16)
{
  unsigned seed = 99u + T + H + ep;
  std::vector<float> v ((size_t) T * H * W * 3);
  for (auto &t : v) t = frand (&seed);
  int nb = H / ep, nc = W / ep, in = 3 * et * ep * ep, Nv = (T / et) * nb * nc;
  float *dv = to_dev (v);
  void *dp;
  size_t es = out_bf16 ? 2 : 4;
  CK (cudaMalloc (&dp, (size_t) Nv * in * es));
  CK (cudaMemset (dp, 0, (size_t) Nv * in * es));
  CK (ct_cu_gather_video_patches (dv, T, H, W, et, ep, a0, a1, dp, out_bf16, 0));
  CK (cudaDeviceSynchronize ());
  std::vector<uint16_t> p16;
  std::vector<float> p32;
  if (out_bf16) p16 = from_dev ((uint16_t *) dp, (size_t) Nv * in);
  else p32 = from_dev ((float *) dp, (size_t) Nv * in);
  double err = 0;
  for (int a = 0; a < T / et; a++)
    for (int b = 0; b < nb; b++)
      for (int c = 0; c < nc; c++) {
        size_t row = ((size_t) a * nb + b) * nc + c;
        for (int ch = 0; ch < 3; ch++)
          for (int dt = 0; dt < et; dt++)
            for (int dx = 0; dx < ep; dx++)
              for (int dy = 0; dy < ep; dy++) {
                size_t k = ((size_t) (ch * et + dt) * ep + dx) * ep + dy;
                float want = (a >= a0 && a < a1)
                    ? v[(((size_t) (a * et + dt) * H + b * ep + dx) * W + c * ep + dy) * 3 + ch] : 0.0f;
                float got = out_bf16 ? bf16_to_f (p16[row * in + k]) : p32[row * in + k];
                double e = fabs ((double) want - got);
                if (!(e <= err)) err = isnan (e) ? INFINITY : e;
              }
      }
  char what[160];
  snprintf (what, sizeof what, "patch gather %dx%dx%d et=%d ep=%d slabs [%d,%d) out=%s",
      T, H, W, et, ep, a0, a1, out_bf16 ? "bf16" : "f32");
  double tol = out_bf16 ? 4e-3 : 0;
  report (what, err <= tol, err, tol);
  cudaFree (dv); cudaFree (dp);
}

static void
unpatchify_case (int gr, int gc, int P1, int P2, int C)
{
  unsigned seed = 7u + gr * 3 + P1;
  std::vector<float> tok ((size_t) gr * gc * P1 * P2 * C);
  for (auto &t : tok) t = frand (&seed);
  float *dt = to_dev (tok), *dpl;
  size_t n = tok.size ();
  CK (cudaMalloc (&dpl, n * 4));
  CK (ct_cu_unpatchify (dt, gr, gc, P1, P2, C, dpl, 0));
  CK (cudaDeviceSynchronize ());
  std::vector<float> pl = from_dev (dpl, n);
  int cols = gc * P2;
  size_t bad = 0;
  for (int g = 0; g < gr; g++)
    for (int h = 0; h < gc; h++)
      for (int i = 0; i < P1; i++)
        for (int j = 0; j < P2; j++)
          for (int c = 0; c < C; c++)
            bad += pl[((size_t) (g * P1 + i) * cols + h * P2 + j) * C + c] !=
                tok[(((size_t) (g * gc + h) * P1 + i) * P2 + j) * C + c];
  char what[160];
  snprintf (what, sizeof what, "unpatchify grid %dx%d patch %dx%d C=%d (%zu differ)", gr, gc, P1, P2, C, bad);
  report (what, bad == 0, (double) bad, 0);
  cudaFree (dt); cudaFree (dpl);
}

/* bias + exact GELU, bias/pos add, sum + bf16 copy, bf16 cast, memory mask */
static void
elementwise_case (int M, int N)
{
  unsigned seed = 31u + M + N;
  size_t n = (size_t) M * N;
  std::vector<float> h (n), b (N), pos (n), a2 (n);
  for (auto &t : h) t = frand (&seed) * 4.0f;
  for (auto &t : b) t = frand (&seed);
  for (auto &t : pos) t = frand (&seed);
  for (auto &t : a2) t = frand (&seed);
  float *dh = to_dev (h), *db = to_dev (b), *dpos = to_dev (pos), *da2 = to_dev (a2), *dy;
  uint16_t *dy16;
  CK (cudaMalloc (&dy, n * 4));
  CK (cudaMalloc (&dy16, n * 2));
  char what[160];

  CK (ct_cu_bias_gelu (dh, db, dy, 0, M, N, 0));
  CK (ct_cu_bias_gelu (dh, db, dy16, 1, M, N, 0));
  CK (cudaDeviceSynchronize ());
  std::vector<float> y = from_dev (dy, n);
  std::vector<uint16_t> y16 = from_dev (dy16, n);
  double err = 0, err16 = 0;
  for (size_t i = 0; i < n; i++) {
    double v = (double) h[i] + b[i % N];
    double o = 0.5 * v * (1.0 + erf (v / sqrt (2.0)));
    err = fmax (err, fabs (o - y[i]));
    err16 = fmax (err16, fabs (o - bf16_to_f (y16[i])) / fmax (1.0, fabs (o)));
  }
  snprintf (what, sizeof what, "bias + gelu(erf) %dx%d out=f32", M, N);
  report (what, err <= 1e-5, err, 1e-5);
  snprintf (what, sizeof what, "bias + gelu(erf) %dx%d out=bf16 (relative)", M, N);
  report (what, err16 <= 8e-3, err16, 8e-3);

  /* y (M, N) with row stride N + 3: the encoder adds into rows of h */
  int ld = N + 3;
  std::vector<float> ys ((size_t) M * ld);
  for (auto &t : ys) t = frand (&seed);
  float *dys = to_dev (ys);
  CK (ct_cu_add_bias_pos (dys, ld, db, dpos, M, N, 0));
  CK (cudaDeviceSynchronize ());
  std::vector<float> yo = from_dev (dys, ys.size ());
  size_t bad = 0;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < ld; j++) {
      float want = j < N ? (ys[(size_t) i * ld + j] + b[j]) + pos[(size_t) i * N + j] : ys[(size_t) i * ld + j];
      bad += memcmp (&want, &yo[(size_t) i * ld + j], 4) != 0;
    }
  snprintf (what, sizeof what, "add bias + pos %dx%d ld=%d (%zu differ)", M, N, ld, bad);
  report (what, bad == 0, (double) bad, 0);

  CK (ct_cu_add (dy, (ct_bf16 *) dy16, dh, da2, n, 0));
  CK (cudaDeviceSynchronize ());
  y = from_dev (dy, n);
  y16 = from_dev (dy16, n);
  bad = 0;
  err16 = 0;
  for (size_t i = 0; i < n; i++) {
    float want = h[i] + a2[i];
    bad += memcmp (&want, &y[i], 4) != 0;
    err16 = fmax (err16, fabs ((double) want - bf16_to_f (y16[i])) / fmax (1.0, fabs (want)));
  }
  snprintf (what, sizeof what, "add + bf16 copy n=%zu (%zu differ)", n, bad);
  report (what, bad == 0 && err16 <= 4e-3, err16, 4e-3);

  CK (ct_cu_to_bf16 ((ct_bf16 *) dy16, dh, n, 0));
  CK (cudaDeviceSynchronize ());
  y16 = from_dev (dy16, n);
  bad = 0;
  for (size_t i = 0; i < n; i++) {
    /* round to nearest even, as __float2bfloat16_rn */
    uint32_t u;
    memcpy (&u, &h[i], 4);
    uint16_t want = (uint16_t) ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    bad += y16[i] != want;
  }
  snprintf (what, sizeof what, "to_bf16 n=%zu, round to nearest even (%zu differ)", n, bad);
  report (what, bad == 0, (double) bad, 0);
  cudaFree (dh); cudaFree (db); cudaFree (dpos); cudaFree (da2); cudaFree (dy);
  cudaFree (dy16); cudaFree (dys);
}

/* memory mask (spec 4.2): +1.0 where the time slab a >= floor(n_frames/et) */
static void
key_bias_case (int na, int per, int et, int n_frames)
{
  int Nv = na * per;
  float *d;
  CK (cudaMalloc (&d, (size_t) Nv * 4));
  CK (ct_cu_key_bias (d, Nv, per, n_frames / et, 0));
  CK (cudaDeviceSynchronize ());
  std::vector<float> m = from_dev (d, Nv);
  int bad = 0;
  for (int i = 0; i < Nv; i++)
    bad += m[i] != ((i / per) >= n_frames / et ? 1.0f : 0.0f);
  char what[160];
  snprintf (what, sizeof what, "memory mask %d slabs x %d, n_frames=%d et=%d (%d differ)", na, per, n_frames, et, bad);
  report (what, bad == 0, bad, 0);
  cudaFree (d);
}

static void
time_attention (int S, int heads, int hd, int tc)
{
  int W = heads * hd;
  float *qkv;
  void *out;
  CK (cudaMalloc (&qkv, (size_t) S * 3 * W * 4));
  CK (cudaMalloc (&out, (size_t) S * W * 4));
  CK (cudaMemset (qkv, 0, (size_t) S * 3 * W * 4));
  CtCuAttention a = {};
  a.q = qkv; a.k = qkv + W; a.v = qkv + 2 * W; a.ldq = a.ldk = a.ldv = 3 * W;
  a.out = out; a.ldo = W; a.out_bf16 = tc; a.Sq = S; a.Sk = S; a.heads = heads; a.hd = hd;
  a.scale = 0.125f;
  cudaEvent_t e0, e1;
  CK (cudaEventCreate (&e0)); CK (cudaEventCreate (&e1));
  CK (ct_cu_attention (&a, tc, 0));
  CK (cudaEventRecord (e0));
  for (int i = 0; i < 5; i++)
    CK (ct_cu_attention (&a, tc, 0));
  CK (cudaEventRecord (e1));
  CK (cudaEventSynchronize (e1));
  float ms;
  CK (cudaEventElapsedTime (&ms, e0, e1));
  ms /= 5;
  double flops = 4.0 * S * (double) S * W;
  printf ("  time attention S=%d heads=%d hd=%d %s: %.3f ms, %.1f TFLOP/s\n", S, heads, hd,
      tc ? "bf16 tensor cores" : "fp32", ms, flops / ms / 1e9);
  cudaFree (qkv); cudaFree (out);
}

int
main (void)
{
  int n = 0;
  cudaError_t e = cudaGetDeviceCount (&n);
  if (e != cudaSuccess || n == 0) {
    printf ("SKIP: no CUDA device (cudaGetDeviceCount: %s)\n",
        e != cudaSuccess ? cudaGetErrorString (e) : "0 devices");
    return 77;
  }
  cudaDeviceProp p;
  CK (cudaGetDeviceProperties (&p, 0));
  printf ("device %s (sm_%d%d)\n", p.name, p.major, p.minor);
  for (int tc = 0; tc <= 1; tc++) {
    attention_case (333, 333, 2, 64, true, true, false, tc, 0);      /* decoder-like */
    attention_case (12, 1024, 4, 64, false, false, true, tc, 0);     /* cross-attention */
    attention_case (12, 12, 4, 64, true, false, false, tc, tc);      /* query self-attention */
    attention_case (100, 77, 4, 12, true, true, false, tc, 0);       /* tiny golden head dim */
    attention_case (129, 200, 4, 16, true, true, true, tc, tc);      /* small golden head dim */
    attention_case (70, 130, 2, 128, true, true, false, tc, 0);
    attention_case (65, 65, 3, 32, true, false, true, tc, 1);
    attention_case (1, 1, 1, 8, false, false, false, tc, 0);
    /* several key tiles with a running max that moves (online rescale) */
    attention_case (70, 300, 2, 64, true, true, true, tc, 0, tc ? 4.0f : 8.0f);
    attention_case (33, 200, 2, 12, true, true, false, tc, 0, 8.0f);
    attention_case (200, 1000, 2, 16, true, false, true, tc, tc, tc ? 4.0f : 8.0f);
  }
  /* CoordTok-L shapes: cross attention of the 12 queries over 1024 padded
   * memory tokens, 16 heads of 64 */
  attention_case (12, 1024, 16, 64, false, false, true, 0, 0);
  attention_case (12, 1024, 16, 64, false, false, true, 1, 1);
  layernorm_case (37, 1024, true, 0);
  layernorm_case (37, 1024, false, 1);
  layernorm_case (5, 48, true, 0);
  layernorm_case (1025, 64, true, 1);
  /* golden-case shapes: tiny (planes 8x8 / 8x8, C 4, NT 16, 8x8 patches,
   * dec dim 48), small (16x16 / 16x16, C 8, NT 32), CoordTok-L */
  sampling_case (8, 8, 4, 16, 8, 8, 48, 16 * 8 * 8 + 37);
  sampling_case (16, 16, 8, 32, 8, 8, 64, 4099);
  sampling_case (16, 32, 8, 128, 16, 16, 64, 2 * 32768);
  patch_case (16, 32, 32, 4, 8, 0, 4, 0);
  patch_case (16, 32, 32, 4, 8, 1, 3, 1);
  patch_case (32, 64, 64, 8, 16, 2, 4, 0);
  unpatchify_case (2, 2, 4, 4, 4);
  unpatchify_case (2, 2, 16, 8, 8);
  unpatchify_case (2, 2, 8, 8, 8);
  elementwise_case (37, 4 * 48);
  elementwise_case (1025, 256);
  key_bias_case (4, 16, 4, 10);
  key_bias_case (16, 64, 8, 128);
  key_bias_case (16, 64, 8, 7);
  if (!getenv ("KERNEL_CHECK_NO_TIMING")) {   /* e.g. under compute-sanitizer */
    time_attention (4096, 16, 64, 0);
    time_attention (4096, 16, 64, 1);
    time_attention (32768, 16, 64, 1);
  }
  printf ("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
