/* cpu/gemm-kernels.c - packing and one work item of the engine's GEMM
 * (cpu/gemm-kernels.h), over cpu/simd.h, compiled once per kernel set.
 *
 * The micro-kernel keeps an MR x NR tile of y in registers (NR = two
 * vectors): per k it loads the panel's NR weights once and broadcasts
 * MR values of x, MR x 2 FMAs (sizes in gemm-kernels.h).  x is read in
 * place: packing it into [k][MR] strips per item, as BLIS does, measured
 * slower (AVX2, Ice Lake: 88% of the sgemm ceiling at 256 rows against 96%
 * without).  What the next calls will read from memory is prefetched a
 * share per call: the next weight slice from inside the k loop, a few
 * lines every PF_EVERY k; the next k block of x before the call.
 * Bias and the residual (accumulate) enter in the first k block's load;
 * no separate pass over y.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/gemm-kernels.h"
#include "cpu/simd.h"

#include <string.h>

#define MR CT_GEMM_MR
#define NV CT_GEMM_NV
#define NR CT_GEMM_NR
#define KC CT_GEMM_KC

void
CT_GEMM_FN (ct_gemm_pack) (const float *w, int N, int K, float *packed)
{
  int panels = (N + NR - 1) / NR;
  for (int p = 0; p < panels; p++) {
    float *dst = packed + (gsize) p * K * NR;
    for (int c = 0; c < NR; c++) {
      int col = p * NR + c;
      const float *src = w + (gsize) col * K;
      if (col < N)
        for (int k = 0; k < K; k++)
          dst[(gsize) k * NR + c] = src[k];
      else
        for (int k = 0; k < K; k++)
          dst[(gsize) k * NR + c] = 0.0f;
    }
  }
}

typedef enum {
  START_ZERO,        /* first k block: y = 0 + ... */
  START_BIAS,        /* first k block: y = b + ... */
  START_Y,           /* later k blocks, or accumulate: y = y + ... */
  START_Y_BIAS,      /* accumulate with a bias: y = (y + b) + ... */
} Start;

/* Prefetches, a share per micro-kernel call, what the next calls read from
 * memory rather than from cache: lines [from, to) of a block of `rows`
 * rows of `cols` floats (row stride ld). */
static inline void
prefetch_lines (const float *block, gsize ld, int cols, int from, int to)
{
  int per_row = (cols + 15) / 16;
  for (int l = from; l < to; l++)
    __builtin_prefetch (block + (l / per_row) * ld + (l % per_row) * 16);
}

/* k per prefetch slot: the micro-kernel's loop issues the caller's
 * prefetches a few at a time, one slot per PF_EVERY k, rather than in one
 * burst before it (a burst of ~20 prefetches from memory fills the line
 * fill buffers and stalls: measured, 6% of an encode's time sat on it) */
#define PF_EVERY 8

/* acc (+)= x's MR values at k (rows 0.. through x, MR/2.. through xh)
 * times the panel's NR weights at k */
#define FMA_STEP(k)                                                          \
  do {                                                                       \
    vf w_[NV];                                                               \
    for (int v = 0; v < NV; v++)                                             \
      w_[v] = vf_load (ws + (k) * NR + v * VW);                              \
    for (int i = 0; i < MR; i++) {                                           \
      vf a_ = vf_set1 (i < MR / 2 ? x[i * ldx + (k)] : xh[(i - MR / 2) * ldx + (k)]); \
      for (int v = 0; v < NV; v++)                                           \
        acc[i][v] = vf_fmadd (a_, w_[v], acc[i][v]);                         \
    }                                                                        \
  } while (0)

/* One MR x NR tile of y (row stride ldy) (+)= x rows (stride ldx) over
 * kc columns . the panel's kc x NR slice.  x's rows are read in place,
 * through two pointers (rows 0.. and MR/2..) so that every row is one
 * addressing mode away: no per-item copy of x.  Meanwhile it prefetches
 * pf_lines cache lines from pf (contiguous), spread over its k loop. */
static inline void
micro (int kc, const float *restrict x, gsize ldx, const float *restrict ws,
    float *restrict y, gsize ldy, const float *restrict bias, Start start,
    const float *pf, int pf_lines)
{
  vf acc[MR][NV];
  if (start == START_Y || start == START_Y_BIAS) {
    for (int i = 0; i < MR; i++)
      for (int v = 0; v < NV; v++)
        acc[i][v] = vf_load (y + i * ldy + v * VW);
  } else {
    for (int i = 0; i < MR; i++)
      for (int v = 0; v < NV; v++)
        acc[i][v] = vf_zero ();
  }
  if (start == START_BIAS || start == START_Y_BIAS) {
    for (int v = 0; v < NV; v++) {
      vf bv = vf_load (bias + v * VW);
      for (int i = 0; i < MR; i++)
        acc[i][v] = vf_add (acc[i][v], bv);
    }
  }

  const float *xh = x + (MR / 2) * ldx;
  int slots = kc / PF_EVERY, per_slot = slots ? (pf_lines + slots - 1) / slots : 0, line = 0;
  int k = 0;
  for (; k + PF_EVERY <= kc; k += PF_EVERY) {
    int to = MIN (pf_lines, line + per_slot);
    prefetch_lines (pf, 16, 16, line, to);
    line = to;
    #pragma GCC unroll 8
    for (int j = 0; j < PF_EVERY; j++)
      FMA_STEP (k + j);
  }
  for (; k < kc; k++)
    FMA_STEP (k);
  prefetch_lines (pf, 16, 16, line, pf_lines);

  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++)
      vf_store (y + i * ldy + v * VW, acc[i][v]);
}

/* A tile with fewer than MR rows or NR columns (the last rows of the
 * product, the last panel of an N that NR does not divide): through
 * zero-padded copies of its x rows, y tile and bias. */
static void
micro_edge (int kc, const float *x, gsize ldx, const float *ws, float *y, gsize ldy,
    int mr, int nc, const float *bias, Start start)
{
  float xt[MR * KC], yt[MR * NR], bt[NR];
  memset (xt, 0, sizeof (float) * MR * kc);
  for (int i = 0; i < mr; i++)
    memcpy (xt + i * kc, x + i * ldx, kc * sizeof (float));
  memset (yt, 0, sizeof yt);
  if (start == START_Y || start == START_Y_BIAS)
    for (int i = 0; i < mr; i++)
      memcpy (yt + i * NR, y + i * ldy, nc * sizeof (float));
  memset (bt, 0, sizeof bt);
  if (bias)
    memcpy (bt, bias, nc * sizeof (float));
  micro (kc, xt, kc, ws, yt, NR, bt, start, NULL, 0);
  for (int i = 0; i < mr; i++)
    memcpy (y + i * ldy, yt + i * NR, nc * sizeof (float));
}

void
CT_GEMM_FN (ct_gemm_block) (const CtGemmArgs *a, int r0, int r1, int p0, int p1)
{
  gsize ldx = a->K, ldy = a->N;
  int rows = r1 - r0, strips = (rows + MR - 1) / MR, calls = strips * (p1 - p0);
  for (int k0 = 0; k0 < a->K; k0 += KC) {
    int kc = MIN (KC, a->K - k0);
    Start start = k0 > 0 ? START_Y :
        a->accumulate ? (a->bias ? START_Y_BIAS : START_Y) :
        a->bias ? START_BIAS : START_ZERO;
    /* the next k block's rows of x, spread over this block's calls: with
     * many rows x comes from memory, and would stall the first panel */
    int next_kc = MIN (KC, a->K - k0 - kc);
    int x_lines = next_kc > 0 ? rows * ((next_kc + 15) / 16) : 0;
    int x_per_call = (x_lines + calls - 1) / calls, call = 0;
    for (int p = p0; p < p1; p++) {
      const float *ws = a->packed + (gsize) p * a->K * NR + (gsize) k0 * NR;
      int c0 = p * NR, nc = MIN (NR, a->N - c0);
      const float *bias = a->bias ? a->bias + c0 : NULL;
      /* the next slice of weights (the next panel's, or the first panel's
       * next k block), a share per strip */
      const float *next = p + 1 < p1 ? ws + (gsize) a->K * NR :
          next_kc > 0 ? a->packed + (gsize) p0 * a->K * NR + (gsize) (k0 + kc) * NR : NULL;
      int w_lines = next ? (p + 1 < p1 ? kc : next_kc) * NR / 16 : 0;
      int w_per_strip = (w_lines + strips - 1) / strips;
      for (int i0 = r0, s = 0; i0 < r1; i0 += MR, s++, call++) {
        const float *x = a->x + i0 * ldx + k0;
        float *y = a->y + i0 * ldy + c0;
        int mr = MIN (MR, r1 - i0);
        int w_from = MIN (w_lines, s * w_per_strip), w_to = MIN (w_lines, w_from + w_per_strip);
        const float *pf = next ? next + (gsize) w_from * 16 : NULL;
        prefetch_lines (a->x + r0 * ldx + k0 + kc, ldx, next_kc, call * x_per_call,
            MIN (x_lines, (call + 1) * x_per_call));
        if (mr == MR && nc == NR) {
          micro (kc, x, ldx, ws, y, ldy, bias, start, pf, w_to - w_from);
        } else {
          prefetch_lines (pf, 16, 16, 0, w_to - w_from);
          micro_edge (kc, x, ldx, ws, y, ldy, mr, nc, bias, start);
        }
      }
    }
  }
}
