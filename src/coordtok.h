/* coordtok.h - public API of libcoordtok, the CoordTok inference engine.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Layouts (all float32, row-major, channel last), see docs/engine.md:
 *   video   (T, H, W, 3)  model space: 2*pixel/255 - 1, padded frames = -3.0
 *   z_xy    (Rxy, Rxy, C)  z_xy[x][y][c]   x = rows (H axis), y = columns
 *   z_yt    (Rt,  Rxy, C)  z_yt[t][y][c]
 *   z_xt    (Rt,  Rxy, C)  z_xt[t][x][c]
 *   coords  (n, 3)         (ct, cx, cy) in [0, 1]
 *   patches (n, pt*p*p*3)  (dt, dx, dy, rgb), rgb fastest, model space
 *
 * No function here aborts on bad input: errors come back as GError
 * (domain CT_ERROR) so that a GStreamer element can post them.
 */
#ifndef COORDTOK_H
#define COORDTOK_H

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

/* libcoordtok exports exactly what its public headers declare. */
#pragma GCC visibility push(default)

#define CT_ERROR (ct_error_quark ())
GQuark ct_error_quark (void);

typedef enum {
  CT_ERROR_IO,          /* file cannot be opened / read / written */
  CT_ERROR_FORMAT,      /* malformed file or buffer */
  CT_ERROR_UNSUPPORTED, /* valid input the engine cannot run */
  CT_ERROR_MISMATCH,    /* shape / dtype / model mismatch */
  CT_ERROR_DEVICE,      /* backend (CUDA) not available or failed */
  CT_ERROR_ARGUMENT,    /* invalid argument from the caller */
} CtErrorCode;

/* Model hyper-parameters (spec section 2). */
typedef struct {
  int T, H, W;              /* window frames, height, width */
  int enc_pt, enc_pxy;      /* encoder patch: frames, pixels per side */
  int enc_dim, enc_heads;   /* De, He */
  int enc_vit_layers;       /* Lv */
  int enc_cross_layers;     /* Lx */
  int rxy, rt, channels;    /* Rxy, Rt, C */
  int qxy, qt;              /* plane patch (query token) size */
  int dec_dim, dec_heads;   /* Dd, Hd */
  int dec_layers;           /* Ld */
  int dec_pxy, dec_pt;      /* p, pt */
  int default_slice;        /* decoder queries per sequence by default */
  float enc_vit_eps, enc_cross_eps, dec_eps; /* LayerNorm eps per group */
} CtConfig;

/* Derived sizes. */
int ct_config_n_video_tokens (const CtConfig *c); /* Nv */
int ct_config_n_query_tokens (const CtConfig *c); /* Nq */
int ct_config_nt (const CtConfig *c);             /* T / pt */
int ct_config_nx (const CtConfig *c);             /* H / p */
int ct_config_ny (const CtConfig *c);             /* W / p */
int ct_config_patch_values (const CtConfig *c);   /* 3 * pt * p * p */
/* Floats in each plane and in all three together. */
gsize ct_config_plane_floats (const CtConfig *c, int plane /* 0 xy, 1 yt, 2 xt */);
gsize ct_config_token_floats (const CtConfig *c);
/* Checks internal consistency; names the offending field. */
gboolean ct_config_validate (const CtConfig *c, GError **error);
/* CoordTok-L defaults (spec table). */
void ct_config_init_coordtok_l (CtConfig *c);
/* FLOPs (2 per multiply-add) of one encode, and of decoding n queries in
 * sequences of `slice` queries. */
double ct_config_encode_flops (const CtConfig *c);
double ct_config_decode_flops (const CtConfig *c, gint64 n_queries, int slice);

/* ---- Models ---------------------------------------------------------- */

typedef struct _CtModel CtModel;

/* Loads a safetensors weight file (F32/F16/BF16).  The configuration comes
 * from __metadata__ (see docs/weights.md); where it is absent, sizes are
 * inferred from tensor shapes and head counts default to CoordTok-L (16).
 * Every tensor is validated.  Models are cached by canonical path: loading
 * the same file twice returns a new reference to the same model. */
CtModel *ct_model_load (const char *path, GError **error);
/* Overrides for files whose metadata lacks head counts (golden cases). */
typedef struct {
  int enc_heads;   /* 0: metadata or 16 */
  int dec_heads;   /* 0: metadata or 16 */
} CtLoadOptions;
CtModel *ct_model_load_full (const char *path, const CtLoadOptions *opts,
    GError **error);
/* Path NULL or "" loads the embedded default model. */
CtModel *ct_model_load_default (GError **error);
/* The default model file that replaces the embedded one, if any
 * ($COORDTOK_MODEL_DIR first, then $datadir/coordtok of the install); NULL
 * if none (ct_model_load_default then loads the copy linked into the
 * library). */
char *ct_default_model_path (void);
/* Random weights of any size (benchmarks); not cached. */
CtModel *ct_model_new_random (const CtConfig *config, guint64 seed, GError **error);
CtModel *ct_model_ref (CtModel *m);
void ct_model_unref (CtModel *m);
const CtConfig *ct_model_config (const CtModel *m);
/* Short stable identifier of the weights (hex), used in token headers. */
const char *ct_model_id (const CtModel *m);
const char *ct_model_path (const CtModel *m);
gint64 ct_model_n_params (const CtModel *m);

/* ---- Sessions: a model on a backend, with its workspace --------------- */

typedef enum {
  CT_DEVICE_AUTO = 0,
  CT_DEVICE_CPU,
  CT_DEVICE_CUDA,
} CtDevice;

typedef enum {
  CT_PRECISION_FP32 = 0,
  CT_PRECISION_TF32,
  CT_PRECISION_BF16,
} CtPrecision;

typedef struct _CtSession CtSession;

/* Parses a device name as every front end spells it: "auto", "cpu", "cuda"
 * or "cuda:N" (CUDA device N, 0 to 1023; *index is N, else -1).  FALSE for
 * anything else. */
gboolean ct_device_parse (const char *s, CtDevice *device, int *index);

/* Creates a session; AUTO picks CUDA when a device is usable, else CPU.
 * Not thread-safe: one session per thread/element. */
CtSession *ct_session_new (CtModel *m, CtDevice device, CtPrecision precision,
    GError **error);
/* The same on a chosen GPU: device_index N is CUDA device N (as
 * cudaSetDevice counts them, after CUDA_VISIBLE_DEVICES); -1 the default
 * ($COORDTOK_CUDA_DEVICE, else 0).  With CT_DEVICE_AUTO a missing device
 * falls back to the CPU (logged); the CPU ignores the index. */
CtSession *ct_session_new_full (CtModel *m, CtDevice device, int device_index,
    CtPrecision precision, GError **error);
void ct_session_free (CtSession *s);
CtDevice ct_session_device (const CtSession *s);
const char *ct_session_device_name (const CtSession *s);
CtModel *ct_session_model (const CtSession *s);
/* CPU threads per call: n > 0 that many; 0 (the default) the cores that
 * other processes leave free at each call, at most all of them (or
 * OMP_NUM_THREADS); CT_THREADS_ADAPTIVE all cores, but one fewer while a
 * busy neighbour makes that faster, measured by probing (src/cpu/threads.h).
 * Outputs are the same bit for bit at any count where every product's
 * split is fixed (OpenBLAS, oneDNN's AVX-512 brgemm: tests/engine/
 * test-reproducible.c); where oneDNN's AVX2 jit sgemm runs (the avx2 set),
 * they are not, and the default there is all cores, fixed.  No effect on
 * CUDA sessions. */
#define CT_THREADS_ADAPTIVE (-1)
void ct_session_set_threads (CtSession *s, int n);

/* Optional intermediates for checking against the reference. */
typedef struct {
  float *vit_out;      /* (Nv, De) or NULL */
  float *memory_mask;  /* (Nv) or NULL */
} CtEncodeTrace;

/* Encodes one window.  `video` is (T, H, W, 3) in model space with frames
 * >= n_frames already padded with -3.0.  Planes are written to z (xy, yt,
 * xt concatenated, ct_config_token_floats floats). */
gboolean ct_session_encode (CtSession *s, const float *video, int n_frames,
    float *z, CtEncodeTrace *trace, GError **error);

/* Decodes n queries as ONE sequence (attention spans all of them).
 * out: (n, patch_values).  embedding (n, 3C) is optional (may be NULL). */
gboolean ct_session_decode (CtSession *s, const float *z, const float *coords,
    int n, float *out, float *embedding, GError **error);

/* Reconstructs the first n_frames frames of a window: every patch coordinate
 * in (it, ix, iy) order, decoded in contiguous sequences of `slice` queries
 * (<= 0: the model's default).  out: (n_frames, H, W, 3) model space, not
 * clamped.  The region restricts decoding to patches in frames
 * [t0, t0+nt) (nt <= 0: to n_frames); out is then (nt, H, W, 3). */
gboolean ct_session_rasterize (CtSession *s, const float *z, int n_frames,
    int slice, float *out, GError **error);
gboolean ct_session_rasterize_range (CtSession *s, const float *z,
    int n_frames, int slice, int t0, int nt, float *out, GError **error);

/* A sub-window to decode: frames [t0, t0+nt), rows [top, top+height),
 * columns [left, left+width), all in pixels/frames and aligned to the
 * decoder's patch (pt frames, p pixels).  nt, width or height <= 0 mean
 * "to the end".  Only the patches inside are queried (cheaper previews);
 * they are decoded in (t, x, y) order in contiguous slices, so a region's
 * pixels equal the whole decode's only when both cut the same slices (e.g.
 * slices of whole frames and a full-width, full-height region). */
typedef struct {
  int t0, nt;
  int top, height;
  int left, width;
} CtRegion;
/* out: (nt, height, width, 3); the region is normalised in place (sizes
 * filled in).  Errors name the misaligned or out-of-range field. */
gboolean ct_session_rasterize_region (CtSession *s, const float *z,
    int n_frames, int slice, CtRegion *region, float *out, GError **error);

/* ---- Tiles: frames of any size ----------------------------------------
 * A frame larger (or smaller) than the model's W x H is cut into a grid of
 * model-size tiles from the top left; tiles past the right and bottom edges
 * are filled by replicating the last column and row, and the decoder crops
 * them again.  Each tile of a window is encoded as its own triplane; z of
 * a tiled window is n_tiles triplanes one after another, tiles row-major
 * (tile = row * cols + col).  A frame of exactly W x H is one tile. */
#define CT_FRAME_MAX 16384           /* largest frame width or height */
#define CT_TILES_MAX 4096            /* largest tile count of a window */
typedef struct {
  int width, height;                 /* frame size, pixels */
  int tile_width, tile_height;       /* the model's W, H */
  int cols, rows;                    /* ceil (width / W), ceil (height / H) */
} CtTileGrid;
gboolean ct_tile_grid_init (CtTileGrid *g, const CtConfig *c, int width,
    int height, GError **error);
int ct_tile_grid_n_tiles (const CtTileGrid *g);
/* Tile `tile` of an RGB8 window (frame f's row y at rgb + f*frame_stride +
 * y*stride) into model space (T, H, W, 3): frames up to
 * ct_window_encoded_frames (c, n_frames) repeat the last real one, the rest
 * are padded (-3.0, as the spec's loader pads). */
void ct_tile_gather_rgb8 (const CtConfig *c, const CtTileGrid *g, int tile,
    const guint8 *rgb, gsize stride, gsize frame_stride, int n_frames,
    float *video);
/* How many frames a window of n_frames real ones is encoded with: n_frames
 * rounded up to the encoder's temporal patch (enc_pt), at most T.  The spec
 * pads with -3.0 and masks every patch that is not whole, so a tail of 1 to
 * pt-1 frames was encoded from padding alone and decoded to garbage; filled
 * with copies of its last frame, its patch is seen (docs/engine.md). */
int ct_window_encoded_frames (const CtConfig *c, int n_frames);
/* Encodes a window of n_frames RGB8 frames of any size: every tile, as one
 * batch (all tiles through each layer together, in batches bounded to
 * about 512 MiB of workspace).  z: n_tiles * ct_config_token_floats. */
gboolean ct_session_encode_rgb8 (CtSession *s, const guint8 *rgb, int width,
    int height, gsize stride, gsize frame_stride, int n_frames, float *z,
    GError **error);
/* Decodes a region of a tiled window: the region (frames, rows, columns)
 * is in frame coordinates, aligned as for ct_session_rasterize_region (the
 * frame's own edge may end it anywhere); out (nt, height, width, 3).
 * Sequences of all tiles are stacked into the same matrix products. */
gboolean ct_session_rasterize_tiles (CtSession *s, const float *z,
    const CtTileGrid *g, int n_frames, int slice, CtRegion *region, float *out,
    GError **error);
/* Fills in a region's sizes (<= 0: to the end) and checks it as the
 * rasterizer does (inside the window and the frame, aligned), without
 * overflow for any int fields: callers size their output after it. */
gboolean ct_session_region_normalise (CtSession *s, const CtTileGrid *g,
    int n_frames, CtRegion *region, GError **error);
/* Frames the rasterizer decodes together for this grid, slice and region
 * (NULL: whole frames): decoding a region chunk by chunk, chunks starting
 * at region->t0, gives exactly the pixels of decoding it at once. */
int ct_session_rasterize_chunk_frames (CtSession *s, const CtTileGrid *g,
    int n_frames, int slice, const CtRegion *region);

/* Where ct_session_decode_rgb8 delivers a record's frames.  Before each
 * chunk, `skip` (optional) may return TRUE to leave frames [f0, f0 + n)
 * undecoded (a live front end's late frames).  `frames` then gets them as
 * RGB8: n frames of region->height rows of region->width * 3 bytes, one
 * after another, valid during the call only; returning FALSE stops the
 * decode (the front end knows why: not an error). */
typedef struct {
  gboolean (*skip) (gpointer user, int f0, int n);
  gboolean (*frames) (gpointer user, const guint8 *rgb, int f0, int n);
  gpointer user;
} CtFrameSink;
/* Decodes a region of a window of n_frames frames of width x height (the
 * planes z of every tile, as ct_session_encode_rgb8 wrote them) to RGB8,
 * chunk by chunk (ct_session_rasterize_chunk_frames, chunks starting at
 * region->t0), in frame order: the pixels of ct_session_rasterize_tiles
 * over the whole region converted with ct_model_to_rgb8.  The region is
 * checked and normalised in place (sizes filled in) before the first
 * callback; errors name the field.  The decode loop of the elements, the
 * Python module and any later front end. */
gboolean ct_session_decode_rgb8 (CtSession *s, const float *z, int width,
    int height, int n_frames, int slice, CtRegion *region,
    const CtFrameSink *sink, GError **error);

/* Coordinates of patch (it, ix, iy) as the official code computes them. */
void ct_patch_coord (const CtConfig *c, int it, int ix, int iy, float out[3]);

/* ---- CPU kernels ------------------------------------------------------ */

/* The CPU kernel set in use: "avx512", "avx2" or "generic", chosen once from
 * what the CPU reports; COORDTOK_CPU=avx512|avx2|generic forces a set no
 * better than the machine's. */
const char *ct_cpu_kernels_name (void);
/* TRUE when this CPU can run the named kernel set. */
gboolean ct_cpu_kernels_supported (const char *name);
/* The BLAS's GEMM kernels ("SkylakeX", or "SkylakeX (OpenBLAS had chosen
 * Prescott)" where OpenBLAS did not know the CPU and the engine corrected
 * it; src/cpu/blas-core.c).  Free it with g_free. */
char *ct_cpu_blas_core (void);
/* What computes the linear layers: "engine GEMM, packed weights, 6x16
 * micro-kernel (avx2)", "oneDNN packed (brg:avx512_core)" or "OpenBLAS";
 * COORDTOK_LINEAR=own|onednn|blas forces one (src/cpu/linear.h).  Free it
 * with g_free. */
char *ct_cpu_linear_describe (void);
/* fp32 GEMM rate (GFLOP/s) of that BLAS on n x n matrices, best of `reps`
 * runs: the ceiling `coordtok bench --gemm` compares linear layers with. */
double ct_cpu_sgemm_gflops (int n, int reps);
/* GFLOP/s of the engine's linear layers (y = x W^T + b, the path the
 * engine takes for them) over `rows` rows, `layers` distinct (out, in)
 * weight matrices in turn, best of `reps`: `coordtok bench --linear`. */
double ct_cpu_linear_gflops (int rows, int in, int out, int layers, int reps);

/* ---- Pixel conversion ------------------------------------------------- */

/* RGB8 frame (rows with `stride` bytes) -> model space (H, W, 3). */
void ct_rgb8_to_model (const guint8 *rgb, int width, int height, int stride,
    float *dst);
/* Model space -> RGB8, clamp((v+1)/2,0,1)*255 rounded. */
void ct_model_to_rgb8 (const float *src, int width, int height, guint8 *rgb,
    int stride);
/* Fills frames [n_frames, T) of a window with -3.0. */
void ct_pad_window (const CtConfig *c, float *video, int n_frames);

#pragma GCC visibility pop

G_END_DECLS

#endif /* COORDTOK_H */
