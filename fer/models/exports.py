"""A model written to a file of the user's (``python -m fer model export``): an ONNX file checked
against PyTorch, or a model zip, written atomically; nothing in the store changes but the ONNX
cache."""
from __future__ import annotations

from pathlib import Path

from fer import store
from fer.store import ModelVersion


def export_file(version: ModelVersion, fmt: str, out: Path) -> tuple[int, dict | None]:
    """Write ``version`` as ``fmt`` (``onnx`` or ``zip``) to ``out``; (bytes written, the ONNX
    export's check against PyTorch, or None for a zip)."""
    if fmt == "onnx":
        from fer.models import onnx

        data, parity = onnx.onnx_bytes(version)
    else:
        from fer.models import model_zip

        data, parity = model_zip.zip_bytes(version), None
    store.write_bytes(Path(out), data)
    return len(data), parity
