/* cpu/attention-avx512.c - fused (flash-style) attention for AVX-512.
 *
 * One work item = one head and QB query rows.  Keys are streamed in blocks
 * of KB: S = Q K^T for the block (in L1), online softmax (running max and
 * sum per row, rescaling the output accumulator), O += P V.  No S x S
 * matrix, no BLAS packing of K per query block (the BLAS path spent ~30%
 * of its time re-packing K).  K is transposed and V gathered per head once
 * so the inner loops read contiguous 16-float vectors.
 *
 * Head dims 16, 32 and 64 take this path; others use the BLAS path.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/attention-impl.h"
#include "cpu/softmax.h"

#ifdef __AVX512F__
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define QB 64        /* query rows per work item */
#define KB 128       /* keys per block */
#define MR_S 4       /* rows per S micro-tile */
#define MR_O 6       /* rows per PV micro-tile */

gboolean
ct_attention_avx512_supported (int hd)
{
  return hd == 16 || hd == 32 || hd == 64;
}

/* S (MR_S x nk) = Q (MR_S x hd) . Kt (hd x ldk)[:, 0:nk], nk = 16 * nv */
#define S_TILE(NV) \
static inline void \
s_tile_##NV (const float *q, int hd, const float *kt, int ldk, float *s, int lds) \
{ \
  __m512 acc[MR_S][NV]; \
  for (int r = 0; r < MR_S; r++) \
    for (int v = 0; v < NV; v++) \
      acc[r][v] = _mm512_setzero_ps (); \
  for (int d = 0; d < hd; d++) { \
    __m512 kv[NV]; \
    for (int v = 0; v < NV; v++) \
      kv[v] = _mm512_loadu_ps (kt + (gsize) d * ldk + 16 * v); \
    for (int r = 0; r < MR_S; r++) { \
      __m512 qb = _mm512_set1_ps (q[r * hd + d]); \
      for (int v = 0; v < NV; v++) \
        acc[r][v] = _mm512_fmadd_ps (qb, kv[v], acc[r][v]); \
    } \
  } \
  for (int r = 0; r < MR_S; r++) \
    for (int v = 0; v < NV; v++) \
      _mm512_storeu_ps (s + r * lds + 16 * v, acc[r][v]); \
}
S_TILE (1)
S_TILE (2)
S_TILE (4)

/* O (MR_O x hd) += P (MR_O x nk) . V (nk x hd), hd = 16 * NH */
#define O_TILE(NH) \
static inline void \
o_tile_##NH (const float *p, int ldp, int nk, const float *v, float *o) \
{ \
  __m512 acc[MR_O][NH]; \
  for (int r = 0; r < MR_O; r++) \
    for (int h = 0; h < NH; h++) \
      acc[r][h] = _mm512_loadu_ps (o + r * 16 * NH + 16 * h); \
  for (int j = 0; j < nk; j++) { \
    __m512 vv[NH]; \
    for (int h = 0; h < NH; h++) \
      vv[h] = _mm512_loadu_ps (v + (gsize) j * 16 * NH + 16 * h); \
    for (int r = 0; r < MR_O; r++) { \
      __m512 pb = _mm512_set1_ps (p[r * ldp + j]); \
      for (int h = 0; h < NH; h++) \
        acc[r][h] = _mm512_fmadd_ps (pb, vv[h], acc[r][h]); \
    } \
  } \
  for (int r = 0; r < MR_O; r++) \
    for (int h = 0; h < NH; h++) \
      _mm512_storeu_ps (o + r * 16 * NH + 16 * h, acc[r][h]); \
}
O_TILE (1)
O_TILE (2)
O_TILE (4)

void
ct_attention_avx512 (const float *q, int ldq, const float *k, int ldk,
    const float *v, int ldv, float *out, int ldo, int Sq, int Sk, int heads,
    int hd, const float *key_bias)
{
  /* keys padded to whole blocks; K^T is stored block by block,
   * (hd x KB) contiguous, so the S tile's rows are 512 bytes apart rather
   * than skp*4 (a multiple of 4 KiB that made every row hit the same L1
   * sets) */
  int skp = (Sk + KB - 1) / KB * KB;
  int nqb = (Sq + QB - 1) / QB;
  float scale = 1.0f / sqrtf ((float) hd);
  /* per head: K^T (hd x skp) and V (skp x hd), padded keys are zero */
  float *kt = g_malloc ((gsize) heads * hd * skp * sizeof (float));
  float *vh = g_malloc ((gsize) heads * skp * hd * sizeof (float));
  /* bias for padded keys: -inf so they get zero weight */
  float *bias = g_malloc ((gsize) skp * sizeof (float));
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
        int nk = MIN (KB, skp - k0), nv = nk / 16;
        /* S block */
        for (int r = 0; r < nqp; r += MR_S)
          for (int c = 0; c < nv; ) {
            int step = nv - c >= 4 ? 4 : (nv - c >= 2 ? 2 : 1);
            const float *ktc = kth + (gsize) (k0 / KB) * hd * KB + 16 * c;
            float *sc = s + r * KB + 16 * c;
            if (step == 4) s_tile_4 (qb + r * hd, hd, ktc, KB, sc, KB);
            else if (step == 2) s_tile_2 (qb + r * hd, hd, ktc, KB, sc, KB);
            else s_tile_1 (qb + r * hd, hd, ktc, KB, sc, KB);
            c += step;
          }
        /* online softmax over the block */
        for (int r = 0; r < nqp; r++) {
          float *sr = s + r * KB;
          __m512 vm = _mm512_set1_ps (-INFINITY);
          for (int c = 0; c < nk; c += 16) {
            __m512 x = _mm512_add_ps (_mm512_loadu_ps (sr + c), _mm512_loadu_ps (bias + k0 + c));
            _mm512_storeu_ps (sr + c, x);
            vm = _mm512_max_ps (vm, x);
          }
          float mnew = MAX (m[r], _mm512_reduce_max_ps (vm));
          float corr = (m[r] == -INFINITY) ? 0.0f : expf (m[r] - mnew);
          __m512 vmax = _mm512_set1_ps (mnew), vs = _mm512_setzero_ps ();
          for (int c = 0; c < nk; c += 16) {
            __m512 e = ct_exp_avx512 (_mm512_sub_ps (_mm512_loadu_ps (sr + c), vmax));
            _mm512_storeu_ps (sr + c, e);
            vs = _mm512_add_ps (vs, e);
          }
          l[r] = l[r] * corr + _mm512_reduce_add_ps (vs);
          m[r] = mnew;
          if (corr != 1.0f) {
            __m512 vc = _mm512_set1_ps (corr);
            for (int d = 0; d < hd; d += 16)
              _mm512_storeu_ps (o + r * hd + d, _mm512_mul_ps (_mm512_loadu_ps (o + r * hd + d), vc));
          }
        }
        /* O += P V */
        const float *vb = vhh + (gsize) k0 * hd;
        for (int r = 0; r < nqp; r += MR_O) {
          if (hd == 64) o_tile_4 (s + r * KB, KB, nk, vb, o + r * hd);
          else if (hd == 32) o_tile_2 (s + r * KB, KB, nk, vb, o + r * hd);
          else o_tile_1 (s + r * KB, KB, nk, vb, o + r * hd);
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
  g_free (kt);
  g_free (vh);
  g_free (bias);
}

#else  /* !__AVX512F__ */

gboolean ct_attention_avx512_supported (int hd) { return FALSE; }

void
ct_attention_avx512 (const float *q, int ldq, const float *k, int ldk,
    const float *v, int ldv, float *out, int ldo, int Sq, int Sk, int heads,
    int hd, const float *key_bias)
{
  g_assert_not_reached ();
}

#endif
