/* attention.cu - multi-head attention, flash-style: each block owns a tile
 * of query rows of one head, streams key/value tiles through shared memory
 * and keeps a running max and sum per row (online softmax), so no Sq x Sk
 * matrix ever exists in memory.
 *
 * Two kernels:
 *  - attn_f32_kernel: exact float32 on the CUDA cores, any head dim <= 128
 *    (the reference for fp32/tf32 sessions and the fallback for odd head
 *    dims).  8 warps x 8 query rows each; a key tile of 32 keys, one key per
 *    lane for the logits, one output dim (or 2, 4) per lane for P V.
 *  - attn_tc_kernel: bf16 tensor cores through WMMA (16x16x16, fp32
 *    accumulate) for head dims 16, 32, 64, 128.  4 warps x 16 query rows;
 *    key tiles of 64.  Logits and the output accumulator round-trip
 *    through shared memory (WMMA fragments have no documented layout), the
 *    softmax itself is fp32; only Q, K, V and the probabilities P are
 *    rounded to bf16.
 *
 * The packed qkv projection's bias (decoder) is added while loading, and
 * the encoder's additive key bias (+1.0 on padded keys) is added to the
 * scaled logits, as the CPU reference (src/cpu/attention.c) does.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cuda-util.cuh"

#include <mma.h>

/* ---------------------------------------------------------------------- */
/* exact fp32 kernel                                                        */

#define F32_WARPS 8
#define F32_R 8                          /* query rows per warp */
#define F32_BR (F32_WARPS * F32_R)       /* query rows per block: 64 */
#define F32_BC 32                        /* keys per tile: one per lane */

static __host__ __device__ __forceinline__ int
f32_kstride (int hd)
{
  return (hd % 2 == 0) ? hd + 1 : hd;    /* odd stride: conflict-free rows */
}

static size_t
f32_smem_bytes (int hd)
{
  return sizeof (float) * ((size_t) F32_BR * hd + (size_t) F32_BC * f32_kstride (hd)
      + (size_t) F32_BC * hd + (size_t) F32_WARPS * F32_R * F32_BC);
}

template <int DPL, typename OutT>
__global__ void __launch_bounds__ (F32_WARPS * CT_WARP)
attn_f32_kernel (CtCuAttention a, OutT *out)
{
  extern __shared__ float smem[];
  const int hd = a.hd, kst = f32_kstride (hd);
  float *Qs = smem;                       /* [F32_BR][hd] */
  float *Ks = Qs + F32_BR * hd;           /* [F32_BC][kst] */
  float *Vs = Ks + F32_BC * kst;          /* [F32_BC][hd] */
  float *Ps = Vs + F32_BC * hd;           /* [F32_WARPS][F32_R][F32_BC] */
  const int h = blockIdx.y, q0 = blockIdx.x * F32_BR;
  const int tid = threadIdx.x, warp = tid / CT_WARP, lane = tid % CT_WARP;
  const size_t hoff = (size_t) h * hd;

  for (int i = tid; i < F32_BR * hd; i += blockDim.x) {
    int r = i / hd, d = i % hd, qi = q0 + r;
    float v = 0.0f;
    if (qi < a.Sq) {
      v = a.q[(size_t) qi * a.ldq + hoff + d];
      if (a.bq)
        v += a.bq[hoff + d];
    }
    Qs[i] = v;
  }

  float m[F32_R], l[F32_R], acc[F32_R][DPL];
#pragma unroll
  for (int r = 0; r < F32_R; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; i++)
      acc[r][i] = 0.0f;
  }
  float *P = Ps + warp * F32_R * F32_BC;
  const float *Qw = Qs + warp * F32_R * hd;

  for (int k0 = 0; k0 < a.Sk; k0 += F32_BC) {
    __syncthreads ();                     /* previous tile fully consumed */
    for (int i = tid; i < F32_BC * hd; i += blockDim.x) {
      int j = i / hd, d = i % hd, kj = k0 + j;
      float kv = 0.0f, vv = 0.0f;
      if (kj < a.Sk) {
        kv = a.k[(size_t) kj * a.ldk + hoff + d];
        vv = a.v[(size_t) kj * a.ldv + hoff + d];
        if (a.bk)
          kv += a.bk[hoff + d];
        if (a.bv)
          vv += a.bv[hoff + d];
      }
      Ks[j * kst + d] = kv;
      Vs[j * hd + d] = vv;
    }
    __syncthreads ();

    /* logits: lane = key */
    const int kj = k0 + lane;
    const bool valid = kj < a.Sk;
    const float kb = (valid && a.key_bias) ? a.key_bias[kj] : 0.0f;
    float s[F32_R];
#pragma unroll
    for (int r = 0; r < F32_R; r++)
      s[r] = 0.0f;
    const float *kr = Ks + lane * kst;
    for (int d = 0; d < hd; d++) {
      float kd = kr[d];
#pragma unroll
      for (int r = 0; r < F32_R; r++)
        s[r] = fmaf (Qw[r * hd + d], kd, s[r]);
    }
    /* online softmax per row */
#pragma unroll
    for (int r = 0; r < F32_R; r++) {
      float sv = valid ? s[r] * a.scale + kb : -INFINITY;
      float mnew = fmaxf (m[r], ct_warp_max (sv));  /* finite: key k0 is valid */
      float p = valid ? expf (sv - mnew) : 0.0f;
      float alpha = expf (m[r] - mnew);             /* 0 on the first tile */
      l[r] = l[r] * alpha + ct_warp_sum (p);
      m[r] = mnew;
      P[r * F32_BC + lane] = p;
#pragma unroll
      for (int i = 0; i < DPL; i++)
        acc[r][i] *= alpha;
    }
    __syncwarp ();
    /* P V: lane = output dims lane, lane+32, ... */
    const int nk = min (F32_BC, a.Sk - k0);
    for (int j = 0; j < nk; j++) {
      float vj[DPL];
#pragma unroll
      for (int i = 0; i < DPL; i++) {
        int d = lane + CT_WARP * i;
        vj[i] = d < hd ? Vs[j * hd + d] : 0.0f;
      }
#pragma unroll
      for (int r = 0; r < F32_R; r++) {
        float p = P[r * F32_BC + j];
#pragma unroll
        for (int i = 0; i < DPL; i++)
          acc[r][i] = fmaf (p, vj[i], acc[r][i]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < F32_R; r++) {
    int qi = q0 + warp * F32_R + r;
    if (qi >= a.Sq)
      continue;
    float inv = 1.0f / l[r];
#pragma unroll
    for (int i = 0; i < DPL; i++) {
      int d = lane + CT_WARP * i;
      if (d < hd)
        ct_store (out + (size_t) qi * a.ldo + hoff + d, acc[r][i] * inv);
    }
  }
}

template <int DPL, typename OutT>
static cudaError_t
launch_f32 (const CtCuAttention *a, cudaStream_t stream)
{
  size_t smem = f32_smem_bytes (a->hd);
  cudaError_t e = cudaFuncSetAttribute (attn_f32_kernel<DPL, OutT>,
      cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  dim3 grid ((a->Sq + F32_BR - 1) / F32_BR, a->heads);
  attn_f32_kernel<DPL, OutT><<<grid, F32_WARPS * CT_WARP, smem, stream>>> (*a,
      (OutT *) a->out);
  return cudaGetLastError ();
}

template <typename OutT>
static cudaError_t
dispatch_f32 (const CtCuAttention *a, cudaStream_t stream)
{
  if (a->hd <= 32)
    return launch_f32<1, OutT> (a, stream);
  if (a->hd <= 64)
    return launch_f32<2, OutT> (a, stream);
  if (a->hd <= 128)
    return launch_f32<4, OutT> (a, stream);
  return cudaErrorInvalidValue;
}

/* ---------------------------------------------------------------------- */
/* bf16 tensor-core kernel (WMMA)                                           */

using namespace nvcuda;

#define TC_WARPS 4
#define TC_BR (16 * TC_WARPS)            /* query rows per block: 64 */
#define TC_BC 64                         /* keys per tile */

template <int HD>
struct TcLayout {
  /* row strides (elements); every tile pointer stays 32-byte aligned and
   * every ldm is a multiple of 8 (bf16) / 4 (float) as WMMA requires */
  static constexpr int LDH = HD + 8;      /* bf16 Q, K, V tiles */
  static constexpr int LDS = TC_BC + 4;   /* fp32 logits */
  static constexpr int LDO = HD + 4;      /* fp32 output accumulator */
  static constexpr int LDP = TC_BC + 8;   /* bf16 probabilities */
  static constexpr size_t q_bytes = (size_t) TC_BR * LDH * 2;
  static constexpr size_t kv_bytes = (size_t) TC_BC * LDH * 2;
  static constexpr size_t s_bytes = (size_t) TC_WARPS * 16 * LDS * 4;
  static constexpr size_t o_bytes = (size_t) TC_WARPS * 16 * LDO * 4;
  static constexpr size_t p_bytes = (size_t) TC_WARPS * 16 * LDP * 2;
  static constexpr size_t stat_bytes = (size_t) TC_WARPS * 16 * 3 * 4;
  static constexpr size_t total = q_bytes + 2 * kv_bytes + s_bytes + o_bytes
      + p_bytes + stat_bytes;
  static_assert (q_bytes % 32 == 0 && kv_bytes % 32 == 0 && s_bytes % 32 == 0
      && o_bytes % 32 == 0 && p_bytes % 32 == 0, "WMMA tiles need 32-byte alignment");
};

template <int HD, typename OutT>
__global__ void __launch_bounds__ (TC_WARPS * CT_WARP)
attn_tc_kernel (CtCuAttention a, OutT *out)
{
  typedef TcLayout<HD> L;
  extern __shared__ __align__ (128) unsigned char tc_smem[];
  __nv_bfloat16 *Qs = (__nv_bfloat16 *) tc_smem;
  __nv_bfloat16 *Ks = (__nv_bfloat16 *) (tc_smem + L::q_bytes);
  __nv_bfloat16 *Vs = (__nv_bfloat16 *) (tc_smem + L::q_bytes + L::kv_bytes);
  float *Ss = (float *) (tc_smem + L::q_bytes + 2 * L::kv_bytes);
  float *Os = (float *) (tc_smem + L::q_bytes + 2 * L::kv_bytes + L::s_bytes);
  __nv_bfloat16 *Ps = (__nv_bfloat16 *) (tc_smem + L::q_bytes + 2 * L::kv_bytes
      + L::s_bytes + L::o_bytes);
  float *Stats = (float *) (tc_smem + L::q_bytes + 2 * L::kv_bytes + L::s_bytes
      + L::o_bytes + L::p_bytes);

  const int h = blockIdx.y, q0 = blockIdx.x * TC_BR;
  const int tid = threadIdx.x, warp = tid / CT_WARP, lane = tid % CT_WARP;
  const size_t hoff = (size_t) h * HD;
  float *Sw = Ss + warp * 16 * L::LDS;
  float *Ow = Os + warp * 16 * L::LDO;
  __nv_bfloat16 *Pw = Ps + warp * 16 * L::LDP;
  float *mw = Stats + warp * 48, *lw = mw + 16, *aw = mw + 32;

  for (int i = tid; i < TC_BR * HD; i += blockDim.x) {
    int r = i / HD, d = i % HD, qi = q0 + r;
    float v = 0.0f;
    if (qi < a.Sq) {
      v = a.q[(size_t) qi * a.ldq + hoff + d];
      if (a.bq)
        v += a.bq[hoff + d];
    }
    Qs[r * L::LDH + d] = __float2bfloat16_rn (v);
  }
  for (int i = lane; i < 16 * HD; i += CT_WARP)
    Ow[(i / HD) * L::LDO + i % HD] = 0.0f;
  if (lane < 16) {
    mw[lane] = -INFINITY;
    lw[lane] = 0.0f;
    aw[lane] = 0.0f;
  }
  __syncthreads ();

  wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> qf[HD / 16];
#pragma unroll
  for (int kk = 0; kk < HD / 16; kk++)
    wmma::load_matrix_sync (qf[kk], Qs + warp * 16 * L::LDH + kk * 16, L::LDH);

  for (int k0 = 0; k0 < a.Sk; k0 += TC_BC) {
    __syncthreads ();                     /* previous K/V tile consumed */
    for (int i = tid; i < TC_BC * HD; i += blockDim.x) {
      int j = i / HD, d = i % HD, kj = k0 + j;
      float kv = 0.0f, vv = 0.0f;
      if (kj < a.Sk) {
        kv = a.k[(size_t) kj * a.ldk + hoff + d];
        vv = a.v[(size_t) kj * a.ldv + hoff + d];
        if (a.bk)
          kv += a.bk[hoff + d];
        if (a.bv)
          vv += a.bv[hoff + d];
      }
      Ks[j * L::LDH + d] = __float2bfloat16_rn (kv);
      Vs[j * L::LDH + d] = __float2bfloat16_rn (vv);
    }
    __syncthreads ();

    /* S (16 x TC_BC) = Q_w K^T: K^T is K read column-major */
#pragma unroll
    for (int jt = 0; jt < TC_BC / 16; jt++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> sf;
      wmma::fill_fragment (sf, 0.0f);
#pragma unroll
      for (int kk = 0; kk < HD / 16; kk++) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> kf;
        wmma::load_matrix_sync (kf, Ks + jt * 16 * L::LDH + kk * 16, L::LDH);
        wmma::mma_sync (sf, qf[kk], kf, sf);
      }
      wmma::store_matrix_sync (Sw + jt * 16, sf, L::LDS, wmma::mem_row_major);
    }
    __syncwarp ();

    /* online softmax in fp32: two lanes per row, interleaved keys */
    {
      const int r = lane >> 1, half = lane & 1;
      float *srow = Sw + r * L::LDS;
      float mx = -INFINITY;
      for (int c = 0; c < TC_BC / 2; c++) {
        int j = 2 * c + half, kj = k0 + j;
        float s = -INFINITY;
        if (kj < a.Sk)
          s = srow[j] * a.scale + (a.key_bias ? a.key_bias[kj] : 0.0f);
        srow[j] = s;
        mx = fmaxf (mx, s);
      }
      mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 1));
      float mold = mw[r];
      float mnew = fmaxf (mold, mx);      /* finite: key k0 is valid */
      float sum = 0.0f;
      for (int c = 0; c < TC_BC / 2; c++) {
        int j = 2 * c + half;
        float p = expf (srow[j] - mnew);  /* invalid keys: exp(-inf) = 0 */
        Pw[r * L::LDP + j] = __float2bfloat16_rn (p);
        sum += p;
      }
      sum += __shfl_xor_sync (0xffffffffu, sum, 1);
      float alpha = expf (mold - mnew);
      __syncwarp ();                      /* both lanes have read mw[r] */
      if (!half) {
        mw[r] = mnew;
        lw[r] = lw[r] * alpha + sum;
        aw[r] = alpha;
      }
    }
    __syncwarp ();
    for (int i = lane; i < 16 * HD; i += CT_WARP)
      Ow[(i / HD) * L::LDO + i % HD] *= aw[i / HD];
    __syncwarp ();

    /* O_w (16 x HD) += P (16 x TC_BC) V (TC_BC x HD) */
#pragma unroll
    for (int dt = 0; dt < HD / 16; dt++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> of;
      wmma::load_matrix_sync (of, Ow + dt * 16, L::LDO, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < TC_BC / 16; kk++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> pf;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> vf;
        wmma::load_matrix_sync (pf, Pw + kk * 16, L::LDP);
        wmma::load_matrix_sync (vf, Vs + kk * 16 * L::LDH + dt * 16, L::LDH);
        wmma::mma_sync (of, pf, vf, of);
      }
      wmma::store_matrix_sync (Ow + dt * 16, of, L::LDO, wmma::mem_row_major);
    }
    __syncwarp ();
  }

  for (int i = lane; i < 16 * HD; i += CT_WARP) {
    int r = i / HD, d = i % HD, qi = q0 + warp * 16 + r;
    if (qi < a.Sq)
      ct_store (out + (size_t) qi * a.ldo + hoff + d, Ow[r * L::LDO + d] / lw[r]);
  }
}

template <int HD, typename OutT>
static cudaError_t
launch_tc (const CtCuAttention *a, cudaStream_t stream)
{
  size_t smem = TcLayout<HD>::total;
  cudaError_t e = cudaFuncSetAttribute (attn_tc_kernel<HD, OutT>,
      cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  dim3 grid ((a->Sq + TC_BR - 1) / TC_BR, a->heads);
  attn_tc_kernel<HD, OutT><<<grid, TC_WARPS * CT_WARP, smem, stream>>> (*a,
      (OutT *) a->out);
  return cudaGetLastError ();
}

template <typename OutT>
static cudaError_t
dispatch (const CtCuAttention *a, int tensor_cores, cudaStream_t stream)
{
  if (tensor_cores) {
    switch (a->hd) {
      case 16: return launch_tc<16, OutT> (a, stream);
      case 32: return launch_tc<32, OutT> (a, stream);
      case 64: return launch_tc<64, OutT> (a, stream);
      case 128: return launch_tc<128, OutT> (a, stream);
      default: break;
    }
  }
  return dispatch_f32<OutT> (a, stream);
}

extern "C" cudaError_t
ct_cu_attention (const CtCuAttention *a, int tensor_cores, cudaStream_t stream)
{
  if (!a || !a->q || !a->k || !a->v || !a->out || a->Sq <= 0 || a->Sk <= 0 ||
      a->heads <= 0 || a->heads > 65535 || a->hd <= 0 || a->hd > 128)
    return cudaErrorInvalidValue;
  int width = a->heads * a->hd;
  if (a->ldq < width || a->ldk < width || a->ldv < width || a->ldo < width)
    return cudaErrorInvalidValue;
  if (a->out_bf16)
    return dispatch<__nv_bfloat16> (a, tensor_cores, stream);
  return dispatch<float> (a, tensor_cores, stream);
}
