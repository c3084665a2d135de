/* cpu/cpu-backend.h - the CPU backend's context and workspaces.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CPU_BACKEND_H
#define CT_CPU_BACKEND_H

#include "backend.h"
#include "cpu/ops.h"
#include "cpu/threads.h"

/* Encoder workspace for a batch of `tiles` windows (tiles of one frame
 * grid): every row count below is per tile, times `tiles`, except the
 * per-tile inputs (video, patches) and the projector output. */
typedef struct {
  int tiles;         /* batch capacity */
  float *video;      /* (T, H, W, 3) one tile, model space */
  float *patches;    /* (Nv, 3*et*ep*ep) one tile */
  float *h;          /* (Nv+1, De) per tile: cls + tokens */
  float *scratch;    /* ViT block scratch for tiles*(Nv+1) rows */
  float *memory;     /* (Nv, De) per tile */
  float *key_bias;   /* (Nv), shared: all tiles have the same frames */
  float *kv;         /* (Nv, 2De) per tile */
  float *q, *q_ln, *q_proj, *q_att, *q_hidden; /* Nq rows per tile */
  float *proj_tmp;   /* projector outputs of one plane of one tile */
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
  /* planes bound for decode_seqs (the caller's memory), and each stacked
   * sequence's planes */
  const float *bound;
  int bound_tiles;
  const float **seq_planes;
  int seq_capacity;
  /* thread counts, chosen per kind of call (their rates differ) */
  CtThreadPolicy enc_threads, dec_threads;
} CtCpuContext;

gboolean ct_cpu_reserve_decode (CtCpuContext *ctx, int n, GError **error);
/* Grows the encoder workspace to a batch of `tiles` (encoder.c; the
 * decoder's, decoder.c, to n rows). */
gboolean ct_cpu_reserve_encode (CtCpuContext *ctx, int tiles, GError **error);
/* Largest batch the encoder takes in one pass (a memory bound). */
int ct_cpu_encode_max_batch (const CtConfig *c);
/* Encodes n_tiles windows with the same n_frames as one batch (all linear
 * layers over the rows of every tile); tiles come from the source one at a
 * time.  z: n_tiles triplanes, one after another. */
gboolean ct_cpu_encode_tiles (void *ctx, const CtTileSource *src, int n_tiles,
    int n_frames, float *z, CtEncodeTrace *trace, GError **error);
gboolean ct_cpu_decode_seqs (void *ctx, const float *const *z, const float *coords,
    int n_seq, int seq, float *out, float *embedding, GError **error);

#endif
