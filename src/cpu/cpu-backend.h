/* cpu/cpu-backend.h - the CPU backend's context and workspaces.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_BACKEND_H
#define CT_CPU_BACKEND_H

#include "cpu/ops.h"
#include "cpu/threads.h"

typedef struct {
  float *patches;    /* (Nv, 3*et*ep*ep) */
  float *h;          /* (Nv+1, De): cls + tokens */
  float *scratch;    /* ViT block scratch for Nv+1 rows */
  float *memory;     /* (Nv, De) */
  float *key_bias;   /* (Nv) */
  float *kv;         /* (Nv, 2De) */
  float *q, *q_ln, *q_proj, *q_att, *q_hidden; /* Nq rows */
  float *proj_tmp;   /* projector outputs of one plane */
} CtCpuEncodeBuffers;

typedef struct {
  int capacity;      /* rows allocated */
  float *emb;        /* (n, 3C) */
  float *x;          /* (n, Dd) */
  float *scratch;    /* ViT block scratch for n rows */
} CtCpuDecodeBuffers;

typedef struct {
  CtModel *model;
  const CtConfig *config;
  const CtWeights *w;
  CtCpuEncodeBuffers enc;
  float *enc_block;  /* one allocation behind enc */
  CtCpuDecodeBuffers dec;
  /* thread counts, chosen per kind of call (their rates differ) */
  CtThreadPolicy enc_threads, dec_threads;
} CtCpuContext;

gboolean ct_cpu_reserve_decode (CtCpuContext *ctx, int n, GError **error);
gboolean ct_cpu_encode (void *ctx, const float *video, int n_frames, float *z,
    CtEncodeTrace *trace, GError **error);
gboolean ct_cpu_decode (void *ctx, const float *z, const float *coords, int n,
    float *out, float *embedding, GError **error);
gboolean ct_cpu_decode_seqs (void *ctx, const float *z, const float *coords,
    int n_seq, int seq, float *out, float *embedding, GError **error);

#endif
