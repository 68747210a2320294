"""A safetensors file's header, read without loading a tensor: the names and shapes of its
weights, so that a model folder can be judged against the network it names before either is
allocated (``fer.models.folder.load``).

The format: 8 bytes (little-endian) giving the header's length, the header (JSON: name →
``{"dtype", "shape", "data_offsets"}``, and an optional ``__metadata__``), then the data.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

HEADER_MAX_BYTES = 100 << 20  # safetensors' own bound on a header
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


class WeightsFileError(ValueError):
    """Not a readable safetensors file: one line saying why."""


def header(path: Path) -> dict[str, tuple[int, ...]]:
    """name → shape of every tensor in the safetensors file ``path``; ``WeightsFileError`` when
    the header is missing, torn, or its tensors do not fit the file."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsFileError(f"{size} bytes: too short for a safetensors header")
        n = int.from_bytes(head, "little")
        if n > min(HEADER_MAX_BYTES, size - 8):
            raise WeightsFileError(f"its header claims {n:,} bytes of a {size:,}-byte file")
        try:
            entries = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise WeightsFileError(f"its header is not JSON ({type(e).__name__})") from None
    if not isinstance(entries, dict):
        raise WeightsFileError("its header is not a JSON object")
    data, out = size - 8 - n, {}
    for name, spec in entries.items():
        if name == "__metadata__":
            continue
        try:
            shape = tuple(int(d) for d in spec["shape"])
            start, end = (int(o) for o in spec["data_offsets"])
            width = DTYPE_BYTES[spec["dtype"]]
        except (KeyError, TypeError, ValueError):
            raise WeightsFileError(f"its header's entry {name!r} is not a tensor") from None
        if min(shape, default=0) < 0 or not 0 <= start <= end <= data or end - start != math.prod(shape) * width:
            raise WeightsFileError(f"tensor {name!r} does not fit the file (shape {list(shape)}, bytes {start}-{end} "
                                   f"of {data})")
        out[name] = shape
    return out
