/* cpu/kernels.c - the CPU kernels, written once over cpu/simd.h and
 * compiled once per kernel set (src/meson.build sets CT_SIMD_WIDTH,
 * CT_KSET_NAME, CT_KSET_TABLE and the ISA flags).  See cpu/kernels.h.
 *
 * Fused attention (sets with vectors, head dims 16/32/64): one work item =
 * one head and QB query rows.  Keys are streamed in blocks of KB: S = Q K^T
 * for the block (in L1), online softmax (running max and sum per row,
 * rescaling the output accumulator), O += P V.  No S x S matrix, and no
 * BLAS packing of K per query block (the BLAS path spent ~30% of its time
 * re-packing K).  K is transposed and V gathered per head once so the inner
 * loops read contiguous vectors.  The micro-tiles are sized to the register
 * file: 32 zmm registers hold 6x64 S or O accumulators, 16 ymm registers
 * 6x16 of either, so AVX2 walks the head dim in chunks.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "cpu/scratch.h"

#include <math.h>
#include <string.h>

/* ---- softmax, GELU, LayerNorm ------------------------------------------ */

static float
softmax_exp_row (float *r, const float *bias, int n)
{
  int j = 0, rem = n % VW;
  vf vmx = vf_set1 (-INFINITY);
  for (; j + VW <= n; j += VW) {
    vf v = vf_load (r + j);
    if (bias)
      v = vf_add (v, vf_load (bias + j));
    vf_store (r + j, v);
    vmx = vf_max (vmx, v);
  }
  float mx = vf_reduce_max (vmx);
  for (; j < n; j++) {
    if (bias)
      r[j] += bias[j];
    mx = r[j] > mx ? r[j] : mx;
  }
  vf vmax = vf_set1 (mx), vsum = vf_zero ();
  for (j = 0; j + VW <= n; j += VW) {
    vf e = vf_exp (vf_sub (vf_load (r + j), vmax));
    vf_store (r + j, e);
    vsum = vf_add (vsum, e);
  }
  float sum = vf_reduce_add (vsum);
  if (rem) {       /* the tail through the same exp, one padded vector */
    float buf[VW];
    for (int k = 0; k < VW; k++)
      buf[k] = k < rem ? r[j + k] : mx;
    vf_store (buf, vf_exp (vf_sub (vf_load (buf), vmax)));
    for (int k = 0; k < rem; k++) {
      r[j + k] = buf[k];
      sum += buf[k];
    }
  }
  return sum;
}

static inline vf
gelu_vec (vf v)
{
  vf e = vf_erf (vf_mul (v, vf_set1 ((float) M_SQRT1_2)));
  return vf_mul (vf_mul (vf_set1 (0.5f), v), vf_add (vf_set1 (1.0f), e));
}

static void
gelu_range (float *x, gsize i, gsize end)
{
  for (; i + VW <= end; i += VW)
    vf_store (x + i, gelu_vec (vf_load (x + i)));
  if (i < end) {
    float buf[VW] = { 0 };
    memcpy (buf, x + i, (end - i) * sizeof (float));
    vf_store (buf, gelu_vec (vf_load (buf)));
    memcpy (x + i, buf, (end - i) * sizeof (float));
  }
}

static void
layernorm_rows (const float *x, int D, const float *w, const float *b,
    float eps, float *y, int r0, int r1)
{
  for (int i = r0; i < r1; i++) {
    const float *r = x + (gsize) i * D;
    float *o = y + (gsize) i * D;
    /* two-pass, as PyTorch's CPU kernel (accumulated in double here for
     * stability; differences are far below tolerance) */
    double s = 0;
    for (int j = 0; j < D; j++)
      s += r[j];
    float mean = (float) (s / D);
    double v = 0;
    for (int j = 0; j < D; j++) {
      float d = r[j] - mean;
      v += (double) d * d;
    }
    float rstd = 1.0f / sqrtf ((float) (v / D) + eps);
    for (int j = 0; j < D; j++)
      o[j] = (r[j] - mean) * rstd * w[j] + b[j];
  }
}

/* ---- fused attention ---------------------------------------------------- */

#if VW > 1

#define QB 64        /* query rows per work item */
#define KB 128       /* keys per block */
/* rows per S micro-tile: with NV_S vectors a row, 24 of 32 zmm
 * accumulators on AVX-512, 12 of 16 ymm on AVX2 */
#define MR_S 6
#define MR_O 6       /* rows per PV micro-tile */
/* vectors per micro-tile row: S covers NV_S * VW keys, O covers
 * NH_MAX * VW head channels at a time */
#if VW == 16
#define NV_S 4
#define NH_MAX 4
#else
#define NV_S 2
#define NH_MAX 2
#endif
G_STATIC_ASSERT (KB % (NV_S * VW) == 0);

/* S (MR_S x NV_S*VW) = Q (MR_S x hd) . Kt (hd x ldk)[:, 0:NV_S*VW] */
static inline void
s_tile (const float *q, int hd, const float *kt, int ldk, float *s, int lds)
{
  vf acc[MR_S][NV_S];
  for (int r = 0; r < MR_S; r++)
    for (int v = 0; v < NV_S; v++)
      acc[r][v] = vf_zero ();
  for (int d = 0; d < hd; d++) {
    vf kv[NV_S];
    for (int v = 0; v < NV_S; v++)
      kv[v] = vf_load (kt + (gsize) d * ldk + VW * v);
    for (int r = 0; r < MR_S; r++) {
      vf qb = vf_set1 (q[r * hd + d]);
      for (int v = 0; v < NV_S; v++)
        acc[r][v] = vf_fmadd (qb, kv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < MR_S; r++)
    for (int v = 0; v < NV_S; v++)
      vf_store (s + r * lds + VW * v, acc[r][v]);
}

/* O (MR_O x NH*VW) += P (MR_O x nk) . V (nk x ldv)[:, 0:NH*VW]; o has row
 * stride ldo */
#define O_TILE(NH) \
static inline void \
o_tile_##NH (const float *p, int ldp, int nk, const float *v, int ldv, float *o, int ldo) \
{ \
  vf acc[MR_O][NH]; \
  for (int r = 0; r < MR_O; r++) \
    for (int h = 0; h < NH; h++) \
      acc[r][h] = vf_load (o + r * ldo + VW * h); \
  for (int j = 0; j < nk; j++) { \
    vf vv[NH]; \
    for (int h = 0; h < NH; h++) \
      vv[h] = vf_load (v + (gsize) j * ldv + VW * h); \
    for (int r = 0; r < MR_O; r++) { \
      vf pb = vf_set1 (p[r * ldp + j]); \
      for (int h = 0; h < NH; h++) \
        acc[r][h] = vf_fmadd (pb, vv[h], acc[r][h]); \
    } \
  } \
  for (int r = 0; r < MR_O; r++) \
    for (int h = 0; h < NH; h++) \
      vf_store (o + r * ldo + VW * h, acc[r][h]); \
}
O_TILE (1)
O_TILE (2)
#if NH_MAX >= 4
O_TILE (4)
#endif

static void
attention_fused (const float *q, int ldq, const float *k, int ldk,
    const float *v, int ldv, float *out, int ldo, int Sq, int Sk, int heads,
    int hd, const float *key_bias)
{
  /* keys padded to whole blocks; K^T is stored block by block,
   * (hd x KB) contiguous, so the S tile's rows are 512 bytes apart rather
   * than skp*4 (a multiple of 4 KiB that made every row hit the same L1
   * sets) */
  int skp = (Sk + KB - 1) / KB * KB;
  int nqb = (Sq + QB - 1) / QB;
  /* O micro-tiles cover nh vectors of the head dim per pass */
  int nh = MIN (hd / VW, NH_MAX), chunk = nh * VW;
  float scale = 1.0f / sqrtf ((float) hd);
  /* per head: K^T (hd x skp) and V (skp x hd), padded keys are zero */
  float *kt = ct_cpu_scratch (CT_SCRATCH_ATTN_KT, (gsize) heads * hd * skp * sizeof (float));
  float *vh = ct_cpu_scratch (CT_SCRATCH_ATTN_V, (gsize) heads * skp * hd * sizeof (float));
  /* bias for padded keys: -inf so they get zero weight */
  float *bias = ct_cpu_scratch (CT_SCRATCH_ATTN_BIAS, (gsize) skp * sizeof (float));
  for (int j = 0; j < skp; j++)
    bias[j] = j < Sk ? (key_bias ? key_bias[j] : 0.0f) : -INFINITY;

  #pragma omp parallel
  {
    #pragma omp for schedule(static)
    for (int h = 0; h < heads; h++) {
      float *kth = kt + (gsize) h * hd * skp, *vhh = vh + (gsize) h * skp * hd;
      for (int j = 0; j < skp; j++) {
        float *kb = kth + (gsize) (j / KB) * hd * KB + j % KB;
        if (j < Sk) {
          const float *kr = k + (gsize) j * ldk + h * hd;
          for (int d = 0; d < hd; d++)
            kb[d * KB] = kr[d];
          memcpy (vhh + (gsize) j * hd, v + (gsize) j * ldv + h * hd, hd * sizeof (float));
        } else {
          for (int d = 0; d < hd; d++)
            kb[d * KB] = 0.0f;
          memset (vhh + (gsize) j * hd, 0, hd * sizeof (float));
        }
      }
    }

    /* QB rows rounded up to whole micro-tiles of both kinds (4 and 6) */
    enum { QBP = ((QB + 11) / 12) * 12 };
    float *qb = g_malloc ((gsize) QBP * hd * sizeof (float));
    float *s = g_malloc ((gsize) QBP * KB * sizeof (float));
    float *o = g_malloc ((gsize) QBP * hd * sizeof (float));
    float m[QBP], l[QBP];

    #pragma omp for schedule(dynamic, 1)
    for (int it = 0; it < heads * nqb; it++) {
      int h = it / nqb, q0 = (it % nqb) * QB, nq = MIN (QB, Sq - q0);
      int nqp = ((nq + 11) / 12) * 12;
      const float *kth = kt + (gsize) h * hd * skp, *vhh = vh + (gsize) h * skp * hd;
      for (int i = 0; i < nqp; i++) {
        if (i < nq) {
          const float *qr = q + (gsize) (q0 + i) * ldq + h * hd;
          for (int d = 0; d < hd; d++)
            qb[i * hd + d] = qr[d] * scale;
        } else
          memset (qb + i * hd, 0, hd * sizeof (float));
        m[i] = -INFINITY;
        l[i] = 0.0f;
      }
      memset (o, 0, (gsize) nqp * hd * sizeof (float));

      for (int k0 = 0; k0 < skp; k0 += KB) {
        int nk = MIN (KB, skp - k0);
        /* S block */
        for (int r = 0; r < nqp; r += MR_S)
          for (int c = 0; c < nk; c += NV_S * VW)
            s_tile (qb + r * hd, hd, kth + (gsize) (k0 / KB) * hd * KB + c, KB,
                s + r * KB + c, KB);
        /* online softmax over the block */
        for (int r = 0; r < nqp; r++) {
          float *sr = s + r * KB;
          vf vm = vf_set1 (-INFINITY);
          for (int c = 0; c < nk; c += VW) {
            vf x = vf_add (vf_load (sr + c), vf_load (bias + k0 + c));
            vf_store (sr + c, x);
            vm = vf_max (vm, x);
          }
          float mnew = MAX (m[r], vf_reduce_max (vm));
          float corr = (m[r] == -INFINITY) ? 0.0f : expf (m[r] - mnew);
          vf vmax = vf_set1 (mnew), vs = vf_zero ();
          for (int c = 0; c < nk; c += VW) {
            vf e = vf_exp (vf_sub (vf_load (sr + c), vmax));
            vf_store (sr + c, e);
            vs = vf_add (vs, e);
          }
          l[r] = l[r] * corr + vf_reduce_add (vs);
          m[r] = mnew;
          if (corr != 1.0f) {
            vf vc = vf_set1 (corr);
            for (int d = 0; d < hd; d += VW)
              vf_store (o + r * hd + d, vf_mul (vf_load (o + r * hd + d), vc));
          }
        }
        /* O += P V, chunk by chunk of the head dim */
        const float *vb = vhh + (gsize) k0 * hd;
        for (int r = 0; r < nqp; r += MR_O)
          for (int d0 = 0; d0 < hd; d0 += chunk) {
            const float *pr = s + r * KB;
            float *orow = o + r * hd + d0;
            if (nh == 1) o_tile_1 (pr, KB, nk, vb + d0, hd, orow, hd);
            else if (nh == 2) o_tile_2 (pr, KB, nk, vb + d0, hd, orow, hd);
#if NH_MAX >= 4
            else o_tile_4 (pr, KB, nk, vb + d0, hd, orow, hd);
#endif
          }
      }
      for (int i = 0; i < nq; i++) {
        float inv = 1.0f / l[i];
        float *dst = out + (gsize) (q0 + i) * ldo + h * hd;
        for (int d = 0; d < hd; d++)
          dst[d] = o[i * hd + d] * inv;
      }
    }
    g_free (qb);
    g_free (s);
    g_free (o);
  }
}
#define ATTENTION_FUSED attention_fused
#else
#define ATTENTION_FUSED NULL
#endif

const CtCpuKernels CT_KSET_TABLE = {
  .name = CT_KSET_NAME,
  .softmax_exp_row = softmax_exp_row,
  .gelu_range = gelu_range,
  .layernorm_rows = layernorm_rows,
  .attention_fused = ATTENTION_FUSED,
  .gemm_nr = CT_GEMM_NR,
  .gemm_mr = CT_GEMM_MR,
  .gemm_pack = CT_GEMM_FN (ct_gemm_pack),
  .gemm_block = CT_GEMM_FN (ct_gemm_block),
};
