"""Datasets: source adapters, the manifest, quality checks, splits and user decisions."""
from fer.data.dataset import (  # noqa: F401
    COLUMNS, DatasetError, ImportResult, SourceError, SourceSpec, import_dataset, info, load_image,
    manifest, names, near_pairs, read_bytes, record, summary, summary_text,
)
from fer.data.formats import FORMATS, detect  # noqa: F401
