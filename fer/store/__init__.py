"""The store: where everything FER Studio makes lives, and the only code that knows its layout.

``fer.store.layout`` spells every folder and file name; ``fer.store.io`` writes atomically (files
through a temporary file, folders through ``replace_folder`` / ``remove_folder``);
``fer.store.locks`` is every lock; one module per record gives it a typed record with one way to
list, open and read it: ``names`` (names, ids, errors), ``datasets`` (``Dataset``), ``jobs``
(``Job``), ``runs`` (``Run``), ``models`` (``Model`` with versions, ``ModelVersion``, promotion)
and ``evaluations`` (``Evaluation``). The store is ``$FER_ARTIFACTS``, else ``artifacts/`` in the
working folder.
"""
from fer.store import layout, locks  # noqa: F401
from fer.store.datasets import Dataset, image_id_of  # noqa: F401
from fer.store.evaluations import EVAL_SPLITS, Evaluation  # noqa: F401
from fer.store.io import (  # noqa: F401
    append_line, atomic_write, disk_usage, file_version, move_folder, new_folder_beside, read_json, remove_folder,
    replace_file, replace_folder, write_bytes, write_json, write_parquet, write_text,
)
from fer.store.jobs import ACTIVE, DONE, HOST, STALE_SECONDS, Job, jobs_lock  # noqa: F401
from fer.store.layout import root, settings_path  # noqa: F401
from fer.store.models import (  # noqa: F401
    DEFAULT, SHIPPED_VERSION, Model, ModelVersion, add_version, figures_of, promote, resolve_model,
)
from fer.store.names import (  # noqa: F401
    NAME_RE, ModelNotFound, NotFound, RunError, StoreError, check_name, new_id, now,
)
from fer.store.runs import Run  # noqa: F401


def datasets_dir():
    return layout.datasets_dir()


def dataset_dir(name: str):
    """The folder of dataset ``name`` (checked), whether or not it exists yet."""
    return layout.datasets_dir() / check_name(name, "dataset name")


def models_dir():
    return layout.models_dir()
