/* cpu/linear-onednn.c - see linear-onednn.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/linear-onednn.h"
#include "cpu/linear.h"
#include "cpu/kernels.h"
#include "cpu/scratch.h"
#include "cpu/weight-cache.h"
#include "config.h"

#include <string.h>

#ifndef CT_HAVE_DNNL

gboolean
ct_cpu_linear_onednn (const CtLinear *lin, const float *x, int M, float *y,
    gboolean accumulate)
{
  return FALSE;
}

void ct_cpu_linear_onednn_forget (const void *base, gsize bytes) { }
char *ct_cpu_linear_onednn_describe (void) { return NULL; }
gboolean ct_cpu_linear_onednn_brgemm (void) { return FALSE; }

#else

#include <oneapi/dnnl/dnnl.h>

/* The M the packed layout is chosen for; other row counts reuse it. */
#define FORMAT_M 256
/* primitives kept per layer (row count x flags); more are made per call */
#define MAX_PRIMS 16

enum { F_ACCUMULATE = 1, F_BIAS = 2 };

/* Every primitive runs with a scratchpad we pass (scratchpad mode "user"):
 * Debian's oneDNN is built without DNNL_ENABLE_CONCURRENT_EXEC, so its own
 * scratchpad is one buffer for the whole process, and sessions running in
 * two threads at once corrupted each other's products (test-engine
 * /session/concurrent failed 2 runs in 20 before this). */
typedef struct {
  dnnl_primitive_t prim;   /* NULL: oneDNN refused this shape: OpenBLAS */
  dnnl_memory_desc_t scratch_md;
  gsize scratch_bytes;
} Exec;

typedef struct {
  int M, flags;
  Exec e;
} Prim;

typedef struct {
  const float *w;
  int out, in;
  gboolean usable;            /* FALSE: packing failed, always OpenBLAS */
  gboolean brgemm;            /* oneDNN's kernel is its brgemm matmul */
  dnnl_memory_desc_t packed_md;
  dnnl_memory_t packed;
  Prim prims[MAX_PRIMS];
  int n_prims;
} Packed;

static void
packed_free (gpointer data)
{
  Packed *p = data;
  for (int i = 0; i < p->n_prims; i++)
    if (p->prims[i].e.prim)
      dnnl_primitive_destroy (p->prims[i].e.prim);
  if (p->packed)
    dnnl_memory_destroy (p->packed);
  g_free (p);
}

static GMutex lock;
static CtWeightCache cache = CT_WEIGHT_CACHE_INIT (packed_free);
static dnnl_engine_t engine;
static gboolean forced;   /* COORDTOK_LINEAR=onednn: every call */
static gboolean enabled;

static gpointer
init_once (gpointer unused)
{
  CtLinearPath path = ct_cpu_linear_path_forced ();
  forced = path == CT_LINEAR_ONEDNN;
  const CtCpuKernels *k = ct_cpu_kernels ();
  if ((path != CT_LINEAR_AUTO && !forced) || k == &ct_cpu_kernels_generic)
    return NULL;
  /* the kernel set in use bounds oneDNN's ISA too (COORDTOK_CPU=avx2 on an
   * AVX-512 machine runs AVX2 code throughout) */
  if (k == &ct_cpu_kernels_avx2 && dnnl_set_max_cpu_isa (dnnl_cpu_isa_avx2) != dnnl_success)
    g_info ("oneDNN: could not limit the ISA to AVX2 (a primitive was made before)");
  if (dnnl_engine_create (&engine, dnnl_cpu, 0) != dnnl_success) {
    g_info ("oneDNN: no CPU engine: linear layers use OpenBLAS");
    return NULL;
  }
  enabled = TRUE;
  return NULL;
}

static gboolean
packed_enabled (void)
{
  static GOnce once = G_ONCE_INIT;
  g_once (&once, init_once, NULL);
  return enabled;
}

/* Creates pd's primitive with what its scratchpad needs. */
static Exec
make_exec (dnnl_primitive_desc_t pd)
{
  Exec e = { NULL };
  const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md (pd, dnnl_query_scratchpad_md, 0);
  if (smd) {
    e.scratch_md = *smd;
    e.scratch_bytes = dnnl_memory_desc_get_size (smd);
  }
  if (dnnl_primitive_create (&e.prim, pd) != dnnl_success)
    e.prim = NULL;
  return e;
}

/* Runs e with args (room for one more) and this thread's scratchpad. */
static gboolean
exec_run (const Exec *e, dnnl_stream_t stream, int n, dnnl_exec_arg_t *args)
{
  dnnl_memory_t sm = NULL;
  if (e->scratch_bytes) {
    void *buf = ct_cpu_scratch (CT_SCRATCH_DNNL, e->scratch_bytes);
    if (dnnl_memory_create (&sm, &e->scratch_md, engine, buf) != dnnl_success)
      return FALSE;
    args[n++] = (dnnl_exec_arg_t) { DNNL_ARG_SCRATCHPAD, sm };
  }
  gboolean ok = dnnl_primitive_execute (e->prim, stream, n, args) == dnnl_success &&
      dnnl_stream_wait (stream) == dnnl_success;
  if (sm)
    dnnl_memory_destroy (sm);
  return ok;
}

static gboolean
user_scratchpad (dnnl_primitive_attr_t *attr)
{
  return dnnl_primitive_attr_create (attr) == dnnl_success &&
      dnnl_primitive_attr_set_scratchpad_mode (*attr, dnnl_scratchpad_mode_user) == dnnl_success;
}

/* y (M, out) = x (M, in) W^T [+ b] [+ y] with weights in layout wmd */
static Exec
make_prim (int M, int out, int in, const dnnl_memory_desc_t *wmd, int flags,
    dnnl_memory_desc_t *chosen_wmd, const char **impl)
{
  dnnl_memory_desc_t src, dst, bias;
  dnnl_dims_t sd = { M, in }, dd = { M, out }, bd = { 1, out };
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  Exec e = { NULL };
  dnnl_matmul_desc_t desc;
  if (dnnl_memory_desc_init_by_tag (&src, 2, sd, dnnl_f32, dnnl_ab) != dnnl_success ||
      dnnl_memory_desc_init_by_tag (&dst, 2, dd, dnnl_f32, dnnl_ab) != dnnl_success ||
      dnnl_memory_desc_init_by_tag (&bias, 2, bd, dnnl_f32, dnnl_ab) != dnnl_success ||
      dnnl_matmul_desc_init (&desc, &src, wmd, (flags & F_BIAS) ? &bias : NULL, &dst)
          != dnnl_success ||
      !user_scratchpad (&attr))
    goto done;
  if (flags & F_ACCUMULATE) {
    if (dnnl_post_ops_create (&po) != dnnl_success ||
        dnnl_post_ops_append_sum (po, 1.0f) != dnnl_success ||
        dnnl_primitive_attr_set_post_ops (attr, po) != dnnl_success)
      goto done;
  }
  if (dnnl_primitive_desc_create (&pd, &desc, attr, engine, NULL) != dnnl_success)
    goto done;
  if (chosen_wmd)
    *chosen_wmd = *dnnl_primitive_desc_query_md (pd, dnnl_query_weights_md, 0);
  if (impl) {
    const char *s = NULL;
    dnnl_primitive_desc_query (pd, dnnl_query_impl_info_str, 0, &s);
    *impl = s ? g_intern_string (s) : "?";
  }
  e = make_exec (pd);
done:
  if (pd)
    dnnl_primitive_desc_destroy (pd);
  if (po)
    dnnl_post_ops_destroy (po);
  if (attr)
    dnnl_primitive_attr_destroy (attr);
  return e;
}

static void
stream_free (gpointer s)
{
  dnnl_stream_destroy (s);
}

/* one stream per calling thread (a stream is not shared between threads) */
static dnnl_stream_t
thread_stream (void)
{
  static GPrivate key = G_PRIVATE_INIT (stream_free);
  dnnl_stream_t s = g_private_get (&key);
  if (!s && dnnl_stream_create (&s, engine, dnnl_stream_default_flags) == dnnl_success)
    g_private_set (&key, s);
  return s;
}

/* Reorders W (out, in), row-major, into the layout oneDNN's matmul asks
 * for.  Called under the lock, once per layer. */
static void
pack (Packed *p)
{
  dnnl_memory_desc_t plain, any;
  dnnl_dims_t wd = { p->in, p->out };     /* (K, N); W row-major is "ba" */
  const char *impl = NULL;
  dnnl_memory_t src = NULL;
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_attr_t rattr = NULL;
  Exec reorder = { NULL };
  dnnl_stream_t stream = thread_stream ();
  if (!stream ||
      dnnl_memory_desc_init_by_tag (&plain, 2, wd, dnnl_f32, dnnl_ba) != dnnl_success ||
      dnnl_memory_desc_init_by_tag (&any, 2, wd, dnnl_f32, dnnl_format_tag_any) != dnnl_success)
    return;
  Exec probe = make_prim (FORMAT_M, p->out, p->in, &any, 0, &p->packed_md, &impl);
  if (!probe.prim)
    return;
  dnnl_primitive_destroy (probe.prim);
  p->brgemm = impl && g_str_has_prefix (impl, "brg");
  static gboolean logged;
  if (!logged) {
    logged = TRUE;   /* under the lock */
    g_info ("linear layers: oneDNN packed (%s)%s", impl, p->brgemm || forced ?
        "" : ", below " G_STRINGIFY (CT_PACKED_SMALL_M) " rows; OpenBLAS above");
  }
  if (dnnl_memory_create (&src, &plain, engine, (void *) p->w) != dnnl_success ||
      dnnl_memory_create (&p->packed, &p->packed_md, engine, DNNL_MEMORY_ALLOCATE) != dnnl_success ||
      !user_scratchpad (&rattr) ||
      dnnl_reorder_primitive_desc_create (&rpd, &plain, engine, &p->packed_md, engine, rattr)
          != dnnl_success ||
      !(reorder = make_exec (rpd)).prim)
    goto done;
  dnnl_exec_arg_t args[3] = { { DNNL_ARG_FROM, src }, { DNNL_ARG_TO, p->packed } };
  p->usable = exec_run (&reorder, stream, 2, args);
done:
  if (!p->usable && p->packed) {
    dnnl_memory_destroy (p->packed);
    p->packed = NULL;
  }
  if (reorder.prim)
    dnnl_primitive_destroy (reorder.prim);
  if (rpd)
    dnnl_primitive_desc_destroy (rpd);
  if (rattr)
    dnnl_primitive_attr_destroy (rattr);
  if (src)
    dnnl_memory_destroy (src);
}

static Packed *
lookup (const CtLinear *lin)
{
  Packed *p = ct_weight_cache_find (&cache, lin->w, lin->out, lin->in, NULL);
  if (p)
    return p;
  p = g_new0 (Packed, 1);
  p->w = lin->w;
  p->out = lin->out;
  p->in = lin->in;
  pack (p);
  ct_weight_cache_add (&cache, lin->w, lin->out, lin->in, NULL, p);
  return p;
}

gboolean
ct_cpu_linear_onednn (const CtLinear *lin, const float *x, int M, float *y,
    gboolean accumulate)
{
  if (M < 1 || !packed_enabled ())
    return FALSE;
  int flags = (accumulate ? F_ACCUMULATE : 0) | (lin->b ? F_BIAS : 0);
  Exec exec = { NULL };
  gboolean temporary = FALSE;
  dnnl_memory_t packed = NULL;

  g_mutex_lock (&lock);
  Packed *p = lookup (lin);
  if (p->usable && (forced || p->brgemm || M < CT_PACKED_SMALL_M)) {
    packed = p->packed;
    int i;
    for (i = 0; i < p->n_prims; i++)
      if (p->prims[i].M == M && p->prims[i].flags == flags)
        break;
    if (i < p->n_prims) {
      exec = p->prims[i].e;
    } else {
      exec = make_prim (M, p->out, p->in, &p->packed_md, flags, NULL, NULL);
      if (p->n_prims < MAX_PRIMS)
        p->prims[p->n_prims++] = (Prim) { M, flags, exec };
      else
        temporary = TRUE;   /* oneDNN's own primitive cache makes this cheap */
    }
  }
  g_mutex_unlock (&lock);
  if (!exec.prim)
    return FALSE;

  dnnl_stream_t stream = thread_stream ();
  dnnl_memory_desc_t src_md, dst_md, bias_md;
  dnnl_dims_t sd = { M, lin->in }, dd = { M, lin->out }, bd = { 1, lin->out };
  dnnl_memory_t xm = NULL, ym = NULL, bm = NULL;
  gboolean ok = stream &&
      dnnl_memory_desc_init_by_tag (&src_md, 2, sd, dnnl_f32, dnnl_ab) == dnnl_success &&
      dnnl_memory_desc_init_by_tag (&dst_md, 2, dd, dnnl_f32, dnnl_ab) == dnnl_success &&
      dnnl_memory_desc_init_by_tag (&bias_md, 2, bd, dnnl_f32, dnnl_ab) == dnnl_success &&
      dnnl_memory_create (&xm, &src_md, engine, (void *) x) == dnnl_success &&
      dnnl_memory_create (&ym, &dst_md, engine, y) == dnnl_success &&
      (!lin->b || dnnl_memory_create (&bm, &bias_md, engine, (void *) lin->b) == dnnl_success);
  if (ok) {
    dnnl_exec_arg_t args[5] = { { DNNL_ARG_SRC, xm }, { DNNL_ARG_WEIGHTS, packed },
      { DNNL_ARG_DST, ym }, { DNNL_ARG_BIAS, bm } };
    ok = exec_run (&exec, stream, lin->b ? 4 : 3, args);
  }
  if (xm) dnnl_memory_destroy (xm);
  if (ym) dnnl_memory_destroy (ym);
  if (bm) dnnl_memory_destroy (bm);
  if (temporary)
    dnnl_primitive_destroy (exec.prim);
  /* a failed execution has not touched y (oneDNN validates before it runs):
   * OpenBLAS computes it */
  return ok;
}

void
ct_cpu_linear_onednn_forget (const void *base, gsize bytes)
{
  g_mutex_lock (&lock);
  ct_weight_cache_forget (&cache, base, bytes);
  g_mutex_unlock (&lock);
}

char *
ct_cpu_linear_onednn_describe (void)
{
  if (!packed_enabled ())
    return NULL;
  dnnl_memory_desc_t any;
  dnnl_dims_t wd = { 1024, 1024 };
  const char *impl = "?";
  if (dnnl_memory_desc_init_by_tag (&any, 2, wd, dnnl_f32, dnnl_format_tag_any) == dnnl_success) {
    Exec probe = make_prim (FORMAT_M, 1024, 1024, &any, 0, NULL, &impl);
    if (probe.prim)
      dnnl_primitive_destroy (probe.prim);
  }
  if (forced || g_str_has_prefix (impl, "brg"))
    return g_strdup_printf ("oneDNN packed (%s)", impl);
  return g_strdup_printf ("oneDNN packed below %d rows (%s), OpenBLAS above",
      CT_PACKED_SMALL_M, impl);
}

static gpointer
brgemm_once (gpointer unused)
{
  char *d = ct_cpu_linear_onednn_describe ();
  gboolean brgemm = d && strstr (d, "(brg") != NULL;
  g_free (d);
  return GINT_TO_POINTER (brgemm);
}

gboolean
ct_cpu_linear_onednn_brgemm (void)
{
  static GOnce once = G_ONCE_INIT;
  return GPOINTER_TO_INT (g_once (&once, brgemm_once, NULL));
}

#endif
