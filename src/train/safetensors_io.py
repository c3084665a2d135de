"""Minimal safetensors reader/writer in pure Python + numpy.

Debian ships no ``safetensors`` package, so the training tools use this.
Format (https://github.com/huggingface/safetensors): an 8-byte little-endian
header length N, N bytes of JSON ``{name: {"dtype", "shape", "data_offsets":
[begin, end]}, "__metadata__": {str: str}}``, then the raw little-endian
tensor bytes (offsets relative to the end of the header).

    tensors, metadata = load("weights.safetensors")      # dict name -> ndarray
    save("out.safetensors", tensors, {"coordtok.T": "128"})

BF16 has no numpy dtype: it is read as float32 (exact) and written from
float32 by rounding to nearest even.
"""

import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def _bf16_to_f32(raw):
    u16 = np.frombuffer(raw, dtype="<u2")
    return (u16.astype(np.uint32) << 16).view(np.float32)


def _f32_to_bf16(a):
    u32 = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounding = ((u32 >> 16) & 1) + 0x7FFF
    return ((u32 + rounding) >> 16).astype("<u2")


def read_header(path):
    """Returns (header dict without __metadata__, metadata dict, data start)."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", head)
        header = json.loads(f.read(n).decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    return header, meta, 8 + n


def load(path, names=None):
    """Loads tensors (all, or those in ``names``) as numpy arrays.

    Returns (dict name -> ndarray, metadata dict)."""
    header, meta, start = read_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, info in header.items():
            if names is not None and name not in names:
                continue
            b, e = info["data_offsets"]
            f.seek(start + b)
            raw = f.read(e - b)
            if len(raw) != e - b:
                raise ValueError(f"{path}: tensor {name} truncated")
            dt = info["dtype"]
            if dt == "BF16":
                arr = _bf16_to_f32(raw)
            elif dt in _DTYPES:
                arr = np.frombuffer(raw, dtype=_DTYPES[dt]).copy()
            else:
                raise ValueError(f"{path}: tensor {name}: unsupported dtype {dt}")
            out[name] = arr.reshape(info["shape"])
    return out, meta


def save(path, tensors, metadata=None, dtype=None):
    """Writes ``tensors`` (name -> ndarray or torch tensor).

    ``dtype``: None keeps each array's dtype; "F32", "F16" or "BF16" converts
    floating-point tensors.  Metadata values must be strings."""
    items = []
    for name in sorted(tensors):
        a = tensors[name]
        if hasattr(a, "detach"):  # torch tensor
            a = a.detach().cpu().numpy()
        a = np.asarray(a)
        if dtype is not None and a.dtype.kind == "f":
            if dtype == "BF16":
                items.append((name, "BF16", list(a.shape), _f32_to_bf16(a).tobytes()))
                continue
            a = a.astype(_DTYPES[dtype])
        a = np.ascontiguousarray(a)
        le = a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype
        a = a.astype(le, copy=False)
        key = np.dtype(a.dtype.str.replace(">", "<").replace("=", "<").replace("|", ""))
        dname = _NAMES.get(key) or _NAMES.get(a.dtype)
        if dname is None:
            raise ValueError(f"tensor {name}: unsupported dtype {a.dtype}")
        items.append((name, dname, list(a.shape), a.tobytes()))
    header = {}
    off = 0
    for name, dname, shape, raw in items:
        header[name] = {"dtype": dname, "shape": shape,
                        "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    if metadata:
        for k, v in metadata.items():
            if not isinstance(v, str):
                raise TypeError(f"metadata {k}: values must be str")
        header["__metadata__"] = dict(metadata)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)  # align tensor data to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for _, _, _, raw in items:
            f.write(raw)
