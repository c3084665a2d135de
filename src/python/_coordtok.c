/* _coordtok.c - the C half of the `coordtok` Python package: libcoordtok's
 * engine and token-record API over NumPy arrays.  Only the public API
 * (<coordtok/coordtok.h>, <coordtok/tokens.h>) is used.  The engine runs
 * with the GIL released; a Model serialises its own calls (a session is not
 * thread-safe).  The Python layer (coordtok/__init__.py) shapes the planes.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <coordtok/coordtok.h>
#include <coordtok/tokens.h>

#include <string.h>

/* One family, each also the builtin a Python user would catch:
 * CoordTokError (base) > InvalidInputError (ValueError: malformed input, a
 * mismatched model, a refused argument), FileAccessError (OSError: a file
 * that cannot be read or written), DeviceError (RuntimeError: a backend
 * that is missing or failed). */
static PyObject *CoordTokError, *InvalidInputError, *FileAccessError, *DeviceError;

static PyObject *
raise_gerror (GError *err)
{
  PyObject *type = InvalidInputError;
  if (err->domain == CT_ERROR && err->code == CT_ERROR_IO)
    type = FileAccessError;
  else if (err->domain == CT_ERROR && err->code == CT_ERROR_DEVICE)
    type = DeviceError;
  PyErr_SetString (type, err->message);
  g_error_free (err);
  return NULL;
}

/* ---- Model ------------------------------------------------------------ */

typedef struct {
  PyObject_HEAD
  CtModel *model;
  CtSession *session;
  PyThread_type_lock lock;
} ModelObject;

static void
model_dealloc (ModelObject *self)
{
  if (self->session)
    ct_session_free (self->session);
  if (self->model)
    ct_model_unref (self->model);
  if (self->lock)
    PyThread_free_lock (self->lock);
  Py_TYPE (self)->tp_free ((PyObject *) self);
}

static int
model_init (ModelObject *self, PyObject *args, PyObject *kw)
{
  static char *names[] = { "path", "device", "threads", NULL };
  const char *path = NULL, *device = "auto";
  int threads = 0;
  if (!PyArg_ParseTupleAndKeywords (args, kw, "|zsi", names, &path, &device, &threads))
    return -1;
  CtDevice dev;
  int device_index;
  if (!ct_device_parse (device, &dev, &device_index)) {
    PyErr_Format (InvalidInputError, "device '%s': must be 'auto', 'cpu', 'cuda' or "
        "'cuda:N'", device);
    return -1;
  }
  if (threads < 0) {
    PyErr_SetString (InvalidInputError, "threads must be >= 0 (0: the free cores)");
    return -1;
  }
  if (self->model) {
    PyErr_SetString (PyExc_RuntimeError, "Model is already initialised");
    return -1;
  }
  GError *err = NULL;
  CtModel *m;
  CtSession *s = NULL;
  Py_BEGIN_ALLOW_THREADS
  m = (path && *path) ? ct_model_load (path, &err) : ct_model_load_default (&err);
  if (m && !(s = ct_session_new_full (m, dev, device_index, CT_PRECISION_FP32, &err))) {
    ct_model_unref (m);
    m = NULL;
  }
  Py_END_ALLOW_THREADS
  if (!m) {
    raise_gerror (err);
    return -1;
  }
  if (threads > 0)
    ct_session_set_threads (s, threads);
  if (!(self->lock = PyThread_allocate_lock ())) {
    ct_session_free (s);
    ct_model_unref (m);
    PyErr_NoMemory ();
    return -1;
  }
  self->model = m;
  self->session = s;
  return 0;
}

static gboolean
model_ready (ModelObject *self)
{
  if (!self->model)
    PyErr_SetString (PyExc_RuntimeError, "Model.__init__ was not called");
  return self->model != NULL;
}

/* config() -> dict of the model's sizes */
static PyObject *
model_config (ModelObject *self, PyObject *unused)
{
  if (!model_ready (self))
    return NULL;
  const CtConfig *c = ct_model_config (self->model);
  return Py_BuildValue ("{si si si si si si si si si si ss ss ss}",
      "T", c->T, "H", c->H, "W", c->W, "rxy", c->rxy, "rt", c->rt,
      "channels", c->channels, "dec_pt", c->dec_pt, "dec_pxy", c->dec_pxy,
      "default_slice", c->default_slice, "n_params", (int) ct_model_n_params (self->model),
      "model_id", ct_model_id (self->model), "path", ct_model_path (self->model),
      "device", ct_session_device_name (self->session));
}

/* encode(frames uint8 C-contiguous (n, height, width, 3), any size)
 *   -> (z float32 (n_tiles * floats,), encode_s, tiles_x, tiles_y)
 * z is the engine's layout: tile after tile, each xy | yt | xt. */
static PyObject *
model_encode (ModelObject *self, PyObject *args)
{
  PyArrayObject *frames;
  if (!model_ready (self) || !PyArg_ParseTuple (args, "O!", &PyArray_Type, &frames))
    return NULL;
  const CtConfig *c = ct_model_config (self->model);
  npy_intp *d = PyArray_DIMS (frames);
  if (PyArray_TYPE (frames) != NPY_UINT8 || PyArray_NDIM (frames) != 4 ||
      !PyArray_IS_C_CONTIGUOUS (frames) || d[3] != 3) {
    PyErr_SetString (InvalidInputError, "frames must be C-contiguous uint8 (n, height, "
        "width, 3) RGB");
    return NULL;
  }
  CtTileGrid grid;
  GError *gerr = NULL;
  if (d[1] > CT_FRAME_MAX || d[2] > CT_FRAME_MAX ||
      !ct_tile_grid_init (&grid, c, (int) d[2], (int) d[1], &gerr))
    return gerr ? raise_gerror (gerr) :
        PyErr_Format (InvalidInputError, "frames of %zdx%zd: at most %d a side",
        (Py_ssize_t) d[2], (Py_ssize_t) d[1], CT_FRAME_MAX);
  if (d[0] < 1 || d[0] > c->T) {
    PyErr_Format (InvalidInputError, "%zd frames: a window holds 1..%d", (Py_ssize_t) d[0], c->T);
    return NULL;
  }
  int n = (int) d[0];
  npy_intp nz = (npy_intp) ct_config_token_floats (c) * ct_tile_grid_n_tiles (&grid);
  PyArrayObject *z = (PyArrayObject *) PyArray_SimpleNew (1, &nz, NPY_FLOAT32);
  if (!z)
    return NULL;
  int W = (int) d[2], H = (int) d[1];
  const guint8 *rgb = PyArray_DATA (frames);
  float *zd = PyArray_DATA (z);
  GError *err = NULL;
  gboolean ok;
  gint64 t0;
  double seconds;
  Py_BEGIN_ALLOW_THREADS
  PyThread_acquire_lock (self->lock, WAIT_LOCK);
  /* as coordtokenc: the same function over the same packed RGB */
  t0 = g_get_monotonic_time ();
  ok = ct_session_encode_rgb8 (self->session, rgb, W, H, (gsize) W * 3,
      (gsize) W * H * 3, n, zd, &err);
  seconds = (g_get_monotonic_time () - t0) / 1e6;
  PyThread_release_lock (self->lock);
  Py_END_ALLOW_THREADS
  if (!ok) {
    Py_DECREF (z);
    return raise_gerror (err);
  }
  return Py_BuildValue ("(Ndii)", z, seconds, grid.cols, grid.rows);
}

/* Where decode's chunks go: their place in the output array. */
typedef struct {
  guint8 *pix;
  gsize frame;                  /* bytes of one output frame */
  int t0;                       /* first frame of the region */
} PixelsOut;

static gboolean
pixels_out_frames (gpointer user, const guint8 *rgb, int f0, int n)
{
  PixelsOut *po = user;
  memcpy (po->pix + (gsize) (f0 - po->t0) * po->frame, rgb, (gsize) n * po->frame);
  return TRUE;
}

/* decode(z float32 (n_tiles * floats,), frame_width, frame_height, n_frames,
 *        t0, nt, top, height, left, width, slice)
 *   -> (uint8 (nt, height, width, 3), decode_s)
 * Chunk by chunk as coordtokdec decodes, so that the pixels are its. */
static PyObject *
model_decode (ModelObject *self, PyObject *args)
{
  PyArrayObject *z;
  int n_frames, slice, fw, fh;
  CtRegion r;
  if (!model_ready (self) || !PyArg_ParseTuple (args, "O!iiiiiiiiii", &PyArray_Type, &z,
          &fw, &fh, &n_frames, &r.t0, &r.nt, &r.top, &r.height, &r.left, &r.width, &slice))
    return NULL;
  const CtConfig *c = ct_model_config (self->model);
  CtTileGrid grid;
  GError *gerr = NULL;
  if (!ct_tile_grid_init (&grid, c, fw, fh, &gerr))
    return raise_gerror (gerr);
  gsize nz = ct_config_token_floats (c) * ct_tile_grid_n_tiles (&grid);
  if (PyArray_TYPE (z) != NPY_FLOAT32 || PyArray_NDIM (z) != 1 ||
      !PyArray_IS_C_CONTIGUOUS (z) || (gsize) PyArray_DIM (z, 0) != nz) {
    PyErr_Format (InvalidInputError, "planes must be %zu contiguous float32 values "
        "(this model's xy, yt, xt for %d tiles)", (size_t) nz, ct_tile_grid_n_tiles (&grid));
    return NULL;
  }
  if (n_frames < 1 || n_frames > c->T) {
    PyErr_Format (InvalidInputError, "n_frames %d: must be 1..%d", n_frames, c->T);
    return NULL;
  }
  /* normalise first (sizes <= 0: to the end) so that the output can be
   * sized; the library checks it without int overflow (issue 25) */
  if (r.t0 < 0 || r.top < 0 || r.left < 0) {
    PyErr_SetString (InvalidInputError, "frame offset and region origin must be >= 0");
    return NULL;
  }
  if (r.t0 >= n_frames) {
    PyErr_Format (InvalidInputError, "frame offset %d: the window has %d frames", r.t0, n_frames);
    return NULL;
  }
  if (r.nt > n_frames - r.t0)     /* a count past the end: to the end */
    r.nt = 0;
  if (!ct_session_region_normalise (self->session, &grid, n_frames, &r, &gerr))
    return raise_gerror (gerr);
  npy_intp dims[4] = { r.nt, r.height, r.width, 3 };
  PyArrayObject *pix = (PyArrayObject *) PyArray_SimpleNew (4, dims, NPY_UINT8);
  if (!pix)
    return NULL;
  PixelsOut po = { PyArray_DATA (pix), (gsize) r.height * r.width * 3, r.t0 };
  CtFrameSink sink = { NULL, pixels_out_frames, &po };
  const float *zd = PyArray_DATA (z);
  GError *err = NULL;
  gboolean ok;
  gint64 t0;
  double seconds;
  Py_BEGIN_ALLOW_THREADS
  PyThread_acquire_lock (self->lock, WAIT_LOCK);
  t0 = g_get_monotonic_time ();
  /* the library's decode loop, as coordtokdec's: the pixels are its */
  ok = ct_session_decode_rgb8 (self->session, zd, fw, fh, n_frames, slice, &r,
      &sink, &err);
  seconds = (g_get_monotonic_time () - t0) / 1e6;
  PyThread_release_lock (self->lock);
  Py_END_ALLOW_THREADS
  if (!ok) {
    Py_DECREF (pix);
    return raise_gerror (err);
  }
  return Py_BuildValue ("(Nd)", pix, seconds);
}

static PyMethodDef model_methods[] = {
  { "config", (PyCFunction) model_config, METH_NOARGS, "The model's sizes, id, path and device." },
  { "encode", (PyCFunction) model_encode, METH_VARARGS, "encode(frames) -> (planes, seconds)" },
  { "decode", (PyCFunction) model_decode, METH_VARARGS,
    "decode(planes, n_frames, t0, nt, top, height, left, width, slice) -> (pixels, seconds)" },
  { NULL }
};

static PyTypeObject ModelType = {
  PyVarObject_HEAD_INIT (NULL, 0)
  .tp_name = "coordtok._coordtok.Model",
  .tp_basicsize = sizeof (ModelObject),
  .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
  .tp_doc = "Model(path=None, device='auto', threads=0): a CoordTok model on a backend.",
  .tp_new = PyType_GenericNew,
  .tp_init = (initproc) model_init,
  .tp_dealloc = (destructor) model_dealloc,
  .tp_methods = model_methods,
};

/* ---- token records ---------------------------------------------------- */

static guint64
time_or_none (PyObject *o)
{
  return o == Py_None ? CT_TOKENS_TIME_NONE : PyLong_AsUnsignedLongLong (o);
}

static PyObject *
time_value (guint64 t)
{
  if (t == CT_TOKENS_TIME_NONE)
    Py_RETURN_NONE;
  return PyLong_FromUnsignedLongLong (t);
}

/* record_size(data: bytes-like, >= 128 bytes) -> size of the record it starts */
static PyObject *
tokens_record_size (PyObject *mod, PyObject *args)
{
  Py_buffer b;
  if (!PyArg_ParseTuple (args, "y*", &b))
    return NULL;
  CtTokensHeader h;
  GError *err = NULL;
  gboolean ok = (gsize) b.len >= CT_TOKENS_FIXED_HEADER_SIZE &&
      ct_tokens_header_peek (b.buf, b.len, &h, &err);
  gsize len = b.len;
  PyBuffer_Release (&b);
  if (!ok) {
    if (!err) {
      PyErr_Format (InvalidInputError, "token record truncated: %zu bytes, the fixed "
          "header alone is %d", (size_t) len, CT_TOKENS_FIXED_HEADER_SIZE);
      return NULL;
    }
    return raise_gerror (err);
  }
  return PyLong_FromSize_t (ct_tokens_record_size (&h));
}

/* unpack(data) -> (header dict, planes float32, frame_pts, frame_duration) */
static PyObject *
tokens_unpack (PyObject *mod, PyObject *args)
{
  Py_buffer b;
  if (!PyArg_ParseTuple (args, "y*", &b))
    return NULL;
  CtTokensHeader h;
  GError *err = NULL;
  if ((gsize) b.len < CT_TOKENS_FIXED_HEADER_SIZE ||
      !ct_tokens_header_peek (b.buf, b.len, &h, &err)) {
    PyBuffer_Release (&b);
    if (!err)
      return PyErr_Format (InvalidInputError, "token record truncated: %zd bytes, the fixed "
          "header alone is %d", b.len, CT_TOKENS_FIXED_HEADER_SIZE);
    return raise_gerror (err);
  }
  npy_intp nz = (npy_intp) ct_tokens_n_elems (&h), nf = h.n_frames;
  PyArrayObject *z = (PyArrayObject *) PyArray_SimpleNew (1, &nz, NPY_FLOAT32);
  PyArrayObject *pts = (PyArrayObject *) PyArray_SimpleNew (1, &nf, NPY_UINT64);
  PyArrayObject *dur = (PyArrayObject *) PyArray_SimpleNew (1, &nf, NPY_UINT64);
  CtTokensFrameTime *times = g_try_new (CtTokensFrameTime, MAX (nf, 1));
  if (!z || !pts || !dur || !times) {
    PyBuffer_Release (&b);
    Py_XDECREF (z); Py_XDECREF (pts); Py_XDECREF (dur);
    g_free (times);
    return PyErr_NoMemory ();
  }
  gboolean ok = ct_tokens_unpack (b.buf, b.len, &h, times, h.n_frames,
      PyArray_DATA (z), nz, &err);
  PyBuffer_Release (&b);
  if (!ok) {
    Py_DECREF (z); Py_DECREF (pts); Py_DECREF (dur);
    g_free (times);
    return raise_gerror (err);
  }
  guint64 *pp = PyArray_DATA (pts), *dp = PyArray_DATA (dur);
  for (npy_intp i = 0; i < nf; i++) {
    pp[i] = times[i].pts;
    dp[i] = times[i].duration;
  }
  g_free (times);
  PyObject *pts_o = time_value (h.pts), *dur_o = time_value (h.duration);
  PyObject *hd = Py_BuildValue ("{si sI sI sI sI sI sI sI sI s(ii) sN sN ss ss sn sI sI sI sI s(ii)}",
      "version", h.version, "T", h.T, "n_frames", h.n_frames, "height", h.height,
      "width", h.width, "rxy", h.rxy, "rt", h.rt, "channels", h.channels,
      "flags", h.flags, "fps", h.fps_n, h.fps_d, "pts", pts_o, "duration", dur_o,
      "model_id", h.model_id, "dtype", ct_tokens_dtype_name (h.dtype),
      "record_size", (Py_ssize_t) ct_tokens_record_size (&h),
      "tiles_x", h.tiles_x, "tiles_y", h.tiles_y, "tile_width", h.tile_width,
      "tile_height", h.tile_height, "par", h.par_n, h.par_d);
  if (!hd) {
    Py_DECREF (z); Py_DECREF (pts); Py_DECREF (dur);
    return NULL;
  }
  return Py_BuildValue ("(NNNN)", hd, z, pts, dur);
}

/* pack(planes float32 (engine layout), T, n_frames, height, width, rxy, rt,
 *      channels, model_id, dtype, fps_n, fps_d, pts, duration, frame_pts,
 *      frame_duration, tiles_x, tiles_y, tile_width, tile_height, par_n, par_d)
 *   -> bytes (frame_pts / frame_duration: uint64 arrays of n_frames, or None) */
static PyObject *
tokens_pack (PyObject *mod, PyObject *args)
{
  PyArrayObject *z;
  unsigned int T, n_frames, height, width, rxy, rt, channels;
  const char *model_id, *dtype;
  int fps_n, fps_d;
  PyObject *pts_o, *dur_o, *fpts, *fdur;
  unsigned int tiles_x, tiles_y, tile_w, tile_h;
  int par_n, par_d;
  if (!PyArg_ParseTuple (args, "O!IIIIIIIssiiOOOOIIIIii", &PyArray_Type, &z, &T, &n_frames,
          &height, &width, &rxy, &rt, &channels, &model_id, &dtype, &fps_n, &fps_d,
          &pts_o, &dur_o, &fpts, &fdur, &tiles_x, &tiles_y, &tile_w, &tile_h,
          &par_n, &par_d))
    return NULL;
  CtTokensHeader h;
  memset (&h, 0, sizeof h);
  h.version = CT_TOKENS_VERSION;
  h.flags = CT_TOKENS_FLAG_FRAME_TABLE;
  if (!ct_tokens_dtype_from_name (dtype, &h.dtype))
    return PyErr_Format (InvalidInputError, "dtype '%s': must be f32, f16 or bf16", dtype);
  if (strlen (model_id) > CT_TOKENS_MODEL_ID_LEN)
    return PyErr_Format (InvalidInputError, "model id '%s' is longer than %d characters",
        model_id, CT_TOKENS_MODEL_ID_LEN);
  h.T = T; h.n_frames = n_frames; h.height = height; h.width = width;
  h.rxy = rxy; h.rt = rt; h.channels = channels;
  h.tiles_x = tiles_x; h.tiles_y = tiles_y; h.tile_width = tile_w; h.tile_height = tile_h;
  h.par_n = par_n; h.par_d = par_d;
  h.fps_n = fps_n; h.fps_d = fps_d;
  h.pts = time_or_none (pts_o);
  h.duration = time_or_none (dur_o);
  if (PyErr_Occurred ())
    return NULL;
  g_strlcpy (h.model_id, model_id, sizeof h.model_id);
  /* every field and size checked by the library, as a reader checks them,
   * before anything is sized from them */
  GError *err = NULL;
  if (!ct_tokens_header_finish (&h, &err))
    return raise_gerror (err);
  gsize n = ct_tokens_n_elems (&h);
  if (PyArray_TYPE (z) != NPY_FLOAT32 || PyArray_NDIM (z) != 1 ||
      !PyArray_IS_C_CONTIGUOUS (z) || (gsize) PyArray_DIM (z, 0) != n)
    return PyErr_Format (InvalidInputError, "planes must be %zu contiguous float32 values",
        (size_t) n);
  CtTokensFrameTime *times = NULL;
  if (fpts != Py_None || fdur != Py_None) {
    PyArrayObject *a = (PyArrayObject *) fpts, *b = (PyArrayObject *) fdur;
    if (!PyArray_Check (fpts) || !PyArray_Check (fdur) ||
        PyArray_TYPE (a) != NPY_UINT64 || PyArray_TYPE (b) != NPY_UINT64 ||
        PyArray_NDIM (a) != 1 || PyArray_NDIM (b) != 1 ||
        PyArray_DIM (a, 0) != n_frames || PyArray_DIM (b, 0) != n_frames ||
        !PyArray_IS_C_CONTIGUOUS (a) || !PyArray_IS_C_CONTIGUOUS (b))
      return PyErr_Format (InvalidInputError, "frame times must be two uint64 arrays of "
          "%u entries (n_frames)", n_frames);
    times = g_new (CtTokensFrameTime, n_frames);
    const guint64 *ap = PyArray_DATA (a), *bp = PyArray_DATA (b);
    for (guint i = 0; i < n_frames; i++) {
      times[i].pts = ap[i];
      times[i].duration = bp[i];
    }
  }
  gsize size = ct_tokens_record_size (&h);
  PyObject *out = PyBytes_FromStringAndSize (NULL, size);
  if (!out) {
    g_free (times);
    return NULL;
  }
  gboolean ok = ct_tokens_pack (&h, times, PyArray_DATA (z),
      (guint8 *) PyBytes_AS_STRING (out), size, &err);
  g_free (times);
  if (!ok) {
    Py_DECREF (out);
    return raise_gerror (err);
  }
  return out;
}

static PyMethodDef module_methods[] = {
  { "record_size", tokens_record_size, METH_VARARGS,
    "record_size(header_bytes) -> size of the token record they start" },
  { "unpack", tokens_unpack, METH_VARARGS,
    "unpack(record) -> (header, planes, frame_pts, frame_duration)" },
  { "pack", tokens_pack, METH_VARARGS, "pack(planes, T, n_frames, ...) -> record bytes" },
  { NULL }
};

static struct PyModuleDef module_def = {
  PyModuleDef_HEAD_INIT, "_coordtok",
  "libcoordtok's engine and token records over NumPy (use the coordtok package).",
  -1, module_methods,
};

/* A class of the family: base CoordTokError, then the builtin. */
static PyObject *
new_error (PyObject *m, const char *name, const char *doc, PyObject *builtin)
{
  PyObject *bases = builtin ? PyTuple_Pack (2, CoordTokError, builtin)
      : PyTuple_Pack (1, PyExc_Exception);
  if (!bases)
    return NULL;
  char *qualified = g_strdup_printf ("coordtok.%s", name);
  PyObject *type = PyErr_NewExceptionWithDoc (qualified, doc, bases, NULL);
  g_free (qualified);
  Py_DECREF (bases);
  if (type && PyModule_AddObjectRef (m, name, type) < 0)
    Py_CLEAR (type);
  return type;     /* the module's reference; this one is kept for the C code */
}

static gboolean
add_errors (PyObject *m)
{
  return (CoordTokError = new_error (m, "CoordTokError",
          "Every error of the coordtok package.", NULL)) &&
      (InvalidInputError = new_error (m, "InvalidInputError",
          "Malformed input, a mismatched model or an argument the engine refuses.",
          PyExc_ValueError)) &&
      (FileAccessError = new_error (m, "FileAccessError",
          "A file that cannot be opened, read or written.", PyExc_OSError)) &&
      (DeviceError = new_error (m, "DeviceError",
          "A device (CUDA) that is missing, or that failed.", PyExc_RuntimeError));
}

PyMODINIT_FUNC
PyInit__coordtok (void)
{
  import_array ();
  if (PyType_Ready (&ModelType) < 0)
    return NULL;
  PyObject *m = PyModule_Create (&module_def);
  if (!m)
    return NULL;
  Py_INCREF (&ModelType);
  if (!add_errors (m) ||
      PyModule_AddObject (m, "Model", (PyObject *) &ModelType) < 0 ||
      PyModule_AddIntConstant (m, "TOKENS_VERSION", CT_TOKENS_VERSION) < 0 ||
      PyModule_AddIntConstant (m, "FIXED_HEADER_SIZE", CT_TOKENS_FIXED_HEADER_SIZE) < 0) {
    Py_DECREF (m);
    return NULL;
  }
  return m;
}
