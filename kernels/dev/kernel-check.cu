/* kernel-check.cu - standalone check of the riskiest kernels against a CPU
 * reference in double precision (llm.c dev/cuda style): flash attention
 * (fp32 and bf16 tensor-core kernels, head dims 12/16/64/128, partial tiles,
 * packed-qkv strides, fused qkv bias, additive key bias, bf16 output) and
 * LayerNorm with the fused pending bias.  Prints the max error per case and
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
    bool key_bias, int tc, int out_bf16)
{
  unsigned seed = 1234u + Sq * 7 + Sk * 13 + hd;
  int W = heads * hd;
  /* packed: one (S, 3W) buffer as the self-attention qkv GEMM writes it */
  int ld = packed ? 3 * W : W;
  std::vector<float> q ((size_t) Sq * ld), k ((size_t) Sk * ld), v ((size_t) Sk * ld);
  for (auto &x : q) x = frand (&seed);
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
  printf ("  %-4s attention Sq=%5d Sk=%5d heads=%2d hd=%3d %s%s%s tc=%d out=%s  max|err| %.2e (tol %.0e)\n",
      ok ? "ok" : "FAIL", Sq, Sk, heads, hd, packed ? "packed " : "", qkv_bias ? "qkv_bias " : "",
      key_bias ? "key_bias " : "", tc, out_bf16 ? "bf16" : "f32", maxerr, tol);
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
  }
  layernorm_case (37, 1024, true, 0);
  layernorm_case (37, 1024, false, 1);
  layernorm_case (5, 48, true, 0);
  if (!getenv ("KERNEL_CHECK_NO_TIMING")) {   /* e.g. under compute-sanitizer */
    time_attention (4096, 16, 64, 0);
    time_attention (4096, 16, 64, 1);
    time_attention (32768, 16, 64, 1);
  }
  printf ("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
