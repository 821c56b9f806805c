"""safetensors files with numpy alone: the format pcchip's command line reads
(weights ``W1`` … ``WL`` [n_out, n_in], batches ``x`` [B, D] and ``y``
[B, n_out]) and writes (gradients, activities, a run's weights).

A file is an 8-byte little-endian header length, a JSON header naming each
tensor's dtype, shape and byte range, then the tensors' bytes in C order.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Mapping

import numpy as np

_DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4")}
_NAMES = {np.dtype("<f8"): "F64", np.dtype("<f4"): "F32"}


def save(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> None:
    """Writes float32/float64 arrays (any shape, 0-D for scalars) to ``path``."""
    header: dict[str, object] = {}
    blobs = []
    offset = 0
    for name, a in arrays.items():
        arr = np.asarray(a)
        dt = arr.dtype.newbyteorder("<")
        if dt not in _NAMES:
            raise ValueError(f"{name}: dtype {arr.dtype} is not float32 or float64")
        data = np.ascontiguousarray(arr, dtype=dt).tobytes()
        header[name] = {"dtype": _NAMES[dt], "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Reads every tensor of a safetensors file (float32/float64) as numpy arrays."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dt = _DTYPES[info["dtype"]]
        out[name] = np.frombuffer(body[start:end], dtype=dt).reshape(info["shape"]).copy()
    return out


def metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The file's ``__metadata__`` (e.g. grads' ``solver`` and ``stop``)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return dict(header.get("__metadata__", {}))
