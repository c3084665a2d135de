"""CoordTok video tokenizer: encode RGB windows to token planes and decode
them back, read and write token files, from NumPy, without GStreamer.

    import coordtok
    model = coordtok.Model()                 # the default model, device "auto"
    frames = model.decode(model.encode(video))   # video: uint8 (n, H, W, 3)

The planes are bit for bit those of `coordtokenc dtype=f32` with the same
thread count (OpenBLAS sums differently per count; both default to all
cores, or OMP_NUM_THREADS), and decoded pixels those of `coordtokdec`.
"""
import os

import numpy as np

from ._coordtok import (CoordTokError, InvalidInputError, FileAccessError, DeviceError,
                        FIXED_HEADER_SIZE, TOKENS_VERSION)
from . import _coordtok

# Errors: one family.  CoordTokError is the base of InvalidInputError (also a
# ValueError: malformed input, a mismatched model, a refused argument),
# FileAccessError (also an OSError) and DeviceError (also a RuntimeError).
__all__ = ["Model", "Tokens", "CoordTokError", "InvalidInputError", "FileAccessError",
           "DeviceError", "read_tokens", "write_tokens",
           "TokenWriter"]


class Tokens:
    """One window's token planes and its header fields.

    xy (n_tiles, rxy, rxy, C), yt and xt (n_tiles, rt, rxy, C): float32
    (docs/token-format.md).  Frames larger than the model's are a grid of
    tiles_x by tiles_y tiles of tile_width x tile_height (the model's size),
    row-major; a record of format version 1 is one tile covering the frame.
    """

    def __init__(self, xy, yt, xt, n_frames, model_id, T, height, width,
                 tiles_x=1, tiles_y=1, fps=(0, 1), pts=None, duration=None,
                 frame_pts=None, frame_duration=None, dtype="f32",
                 encode_seconds=None, tile_width=None, tile_height=None, par=(1, 1)):
        self.xy = np.asarray(xy, dtype=np.float32)
        self.yt = np.asarray(yt, dtype=np.float32)
        self.xt = np.asarray(xt, dtype=np.float32)
        n_tiles = tiles_x * tiles_y
        rxy, C = (self.xy.shape[1], self.xy.shape[3]) if self.xy.ndim == 4 else (0, 0)
        if (self.xy.ndim != 4 or self.xy.shape != (n_tiles, rxy, rxy, C) or
                self.yt.ndim != 4 or self.yt.shape[0] != n_tiles or
                self.yt.shape[2:] != (rxy, C) or self.xt.shape != self.yt.shape):
            raise InvalidInputError(
                f"planes xy {self.xy.shape}, yt {self.yt.shape}, xt {self.xt.shape}: "
                f"expected ({n_tiles}, rxy, rxy, C) and twice ({n_tiles}, rt, rxy, C)")
        self.n_frames, self.model_id, self.T = int(n_frames), str(model_id), int(T)
        self.height, self.width = int(height), int(width)
        self.tiles_x, self.tiles_y = int(tiles_x), int(tiles_y)
        self.tile_width = int(tile_width) if tile_width else -(-self.width // self.tiles_x)
        self.tile_height = int(tile_height) if tile_height else -(-self.height // self.tiles_y)
        self.par = tuple(par)
        self.fps, self.pts, self.duration = tuple(fps), pts, duration
        self.frame_pts, self.frame_duration = frame_pts, frame_duration
        self.dtype = dtype                  # as stored; the arrays are float32
        self.encode_seconds = encode_seconds

    @property
    def n_tiles(self):
        return self.tiles_x * self.tiles_y

    @property
    def rxy(self):
        return self.xy.shape[1]

    @property
    def rt(self):
        return self.yt.shape[1]

    @property
    def channels(self):
        return self.xy.shape[3]

    def planes(self):
        """All planes as one float32 vector in the engine's order: tile
        after tile, each xy, yt, xt (the record's payload is plane by plane
        instead; pack converts)."""
        n = self.n_tiles
        return np.concatenate([self.xy.reshape(n, -1), self.yt.reshape(n, -1),
                               self.xt.reshape(n, -1)], axis=1).ravel()

    @classmethod
    def _from_planes(cls, z, rxy, rt, C, **fields):
        n_xy, n_t = rxy * rxy * C, rt * rxy * C
        n_tiles = fields.get("tiles_x", 1) * fields.get("tiles_y", 1)
        z = z.reshape(n_tiles, n_xy + 2 * n_t)
        xy = np.ascontiguousarray(z[:, :n_xy]).reshape(n_tiles, rxy, rxy, C)
        yt = np.ascontiguousarray(z[:, n_xy:n_xy + n_t]).reshape(n_tiles, rt, rxy, C)
        xt = np.ascontiguousarray(z[:, n_xy + n_t:]).reshape(n_tiles, rt, rxy, C)
        return cls(xy, yt, xt, **fields)

    def __repr__(self):
        return (f"<coordtok.Tokens {self.n_frames}/{self.T} frames {self.width}x{self.height}"
                f" tiles {self.tiles_x}x{self.tiles_y} xy{self.xy.shape} yt{self.yt.shape}"
                f" model {self.model_id}>")


class Model:
    """A CoordTok model on a backend.

    path: safetensors weights (None: the default model); device: "auto"
    (CUDA when usable, else CPU), "cpu", "cuda" or "cuda:N" (CUDA device N);
    threads: CPU threads per call (0: the cores other processes leave free, as the elements' default).  Calls on one Model are
    serialised; the engine runs without the GIL.
    """

    def __init__(self, path=None, device="auto", threads=0):
        self._m = _coordtok.Model(None if path is None else os.fspath(path), device, threads)
        c = self._m.config()
        self.T, self.height, self.width = c["T"], c["H"], c["W"]
        self.model_id, self.path, self.device = c["model_id"], c["path"], c["device"]
        self._c = c

    def encode(self, frames):
        """frames: uint8 (n, height, width, 3) RGB of any size, 1 <= n <= T
        (a short window is padded as coordtokenc pads one; frames larger
        than the model's are cut into tiles as coordtokenc cuts them) ->
        Tokens."""
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
            raise InvalidInputError("frames must be a uint8 NumPy array (n, H, W, 3)")
        frames = np.ascontiguousarray(frames)
        z, seconds, tiles_x, tiles_y = self._m.encode(frames)
        c = self._c
        return Tokens._from_planes(z, c["rxy"], c["rt"], c["channels"],
                                   n_frames=frames.shape[0], model_id=self.model_id,
                                   T=self.T, height=frames.shape[1], width=frames.shape[2],
                                   tiles_x=tiles_x, tiles_y=tiles_y,
                                   tile_width=self.width, tile_height=self.height,
                                   encode_seconds=seconds)

    def decode(self, tokens, frames=None, region=None, slice=0):
        """tokens -> uint8 (n, height, width, 3).

        frames: (offset, count) like coordtokdec's frame-offset/frame-count
        (count 0: to the end of the window); region: (left, top, width,
        height) in pixels, aligned to the decoder's patch (0 sizes: to the
        edge); slice: queries per decoder sequence (0: the model's default).
        """
        if not isinstance(tokens, Tokens):
            raise InvalidInputError("decode takes a coordtok.Tokens")
        if tokens.model_id != self.model_id:
            raise InvalidInputError(f"tokens of model {tokens.model_id}, this is {self.model_id}")
        t0, nt = frames if frames is not None else (0, 0)
        left, top, width, height = region if region is not None else (0, 0, 0, 0)
        pixels, _ = self._m.decode(np.ascontiguousarray(tokens.planes()), tokens.width,
                                   tokens.height, tokens.n_frames,
                                   int(t0), int(nt), int(top), int(height), int(left),
                                   int(width), int(slice))
        return pixels

    def __repr__(self):
        return (f"<coordtok.Model {self.model_id} T={self.T} {self.width}x{self.height}"
                f" on {self.device}>")


def unpack(record):
    """One whole token record (bytes-like) -> Tokens (CRCs and sizes checked)."""
    h, z, fpts, fdur = _coordtok.unpack(record)
    if len(record) != h["record_size"]:
        raise InvalidInputError(f"{len(record)} bytes, the record is {h['record_size']}")
    return Tokens._from_planes(z, h["rxy"], h["rt"], h["channels"],
                               n_frames=h["n_frames"], model_id=h["model_id"], T=h["T"],
                               height=h["height"], width=h["width"], fps=h["fps"],
                               pts=h["pts"], duration=h["duration"], frame_pts=fpts,
                               frame_duration=fdur, dtype=h["dtype"],
                               tiles_x=h["tiles_x"], tiles_y=h["tiles_y"],
                               tile_width=h["tile_width"], tile_height=h["tile_height"],
                               par=h["par"])


def pack(tokens, dtype=None):
    """Tokens -> one token record (bytes), dtype f32 / f16 / bf16 (default:
    the tokens' own)."""
    fpts, fdur = tokens.frame_pts, tokens.frame_duration
    if (fpts is None) != (fdur is None):
        raise InvalidInputError("frame_pts and frame_duration go together")
    if fpts is not None:
        fpts = np.ascontiguousarray(fpts, dtype=np.uint64)
        fdur = np.ascontiguousarray(fdur, dtype=np.uint64)
    return _coordtok.pack(np.ascontiguousarray(tokens.planes()), tokens.T, tokens.n_frames,
                          tokens.height, tokens.width, tokens.rxy, tokens.rt,
                          tokens.channels, tokens.model_id, dtype or tokens.dtype,
                          int(tokens.fps[0]), int(tokens.fps[1]), tokens.pts,
                          tokens.duration, fpts, fdur, tokens.tiles_x, tokens.tiles_y,
                          tokens.tile_width, tokens.tile_height, int(tokens.par[0]),
                          int(tokens.par[1]))


def _read_exact(f, n, what):
    data = f.read(n)
    if len(data) != n:
        raise InvalidInputError(f"token file truncated: {what} needs {n} bytes, {len(data)} left")
    return data


def read_tokens(path_or_file):
    """Iterates the records of a token file (as `coordtokenc ! filesink`
    writes it) as Tokens.  A damaged or truncated record raises
    InvalidInputError (a CoordTokError and a ValueError) naming what is
    wrong."""
    f = open(path_or_file, "rb") if isinstance(path_or_file, (str, os.PathLike)) \
        else path_or_file
    try:
        index = 0
        while True:
            head = f.read(FIXED_HEADER_SIZE)
            if not head:
                return
            if len(head) < FIXED_HEADER_SIZE:
                raise InvalidInputError(f"record {index}: token file truncated in the header "
                                    f"({len(head)} of {FIXED_HEADER_SIZE} bytes)")
            try:
                size = _coordtok.record_size(head)
                record = head + _read_exact(f, size - FIXED_HEADER_SIZE, "the record")
                yield unpack(record)
            except InvalidInputError as e:
                raise InvalidInputError(f"record {index}: {e}") from None
            index += 1
    finally:
        if f is not path_or_file:
            f.close()


class TokenWriter:
    """Writes Tokens as records that `filesrc ! coordtokparse ! coordtokdec`
    reads: TokenWriter(path_or_file, dtype=None), then write(tokens)."""

    def __init__(self, path_or_file, dtype=None):
        self._own = isinstance(path_or_file, (str, os.PathLike))
        self._f = open(path_or_file, "wb") if self._own else path_or_file
        self.dtype = dtype

    def write(self, tokens):
        self._f.write(pack(tokens, self.dtype))

    def close(self):
        if self._own and not self._f.closed:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_tokens(path_or_file, tokens, dtype=None):
    """Writes one Tokens, or every Tokens of an iterable, as one token file;
    returns the number of records.  A path is written whole or not at all
    (a temporary file beside it, renamed at the end)."""
    if isinstance(tokens, Tokens):
        tokens = (tokens,)
    elif isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__"):
        raise InvalidInputError(f"write_tokens takes a coordtok.Tokens or an iterable of "
                                f"them, not {type(tokens).__name__}")
    if not isinstance(path_or_file, (str, os.PathLike)):
        return _write_all(path_or_file, tokens, dtype)
    tmp = f"{os.fspath(path_or_file)}.tmp{os.getpid()}"
    try:
        n = _write_all(tmp, tokens, dtype)
        os.replace(tmp, path_or_file)
        return n
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_all(path_or_file, tokens, dtype):
    n = 0
    with TokenWriter(path_or_file, dtype) as w:
        for t in tokens:
            if not isinstance(t, Tokens):
                raise InvalidInputError(f"record {n}: a {type(t).__name__}, not a "
                                        f"coordtok.Tokens")
            w.write(t)
            n += 1
    return n
