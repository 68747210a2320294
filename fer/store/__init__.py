"""The store: where everything FER Studio makes lives, and the only code that knows its layout.

``fer.store.layout`` spells every folder and file name; ``fer.store.io`` writes atomically (files
through a temporary file, folders through ``replace_folder`` / ``remove_folder``);
``fer.store.records`` gives each thing a typed record with one way to list, open and read it:
``Dataset``, ``Run``, ``Job``, ``Model`` (a name with versions), ``ModelVersion``, ``Evaluation``.
The store is ``$FER_ARTIFACTS``, else ``artifacts/`` in the working folder.
"""
from fer.store import layout  # noqa: F401
from fer.store.io import (  # noqa: F401
    append_line, atomic_write, disk_usage, file_version, move_folder, new_folder_beside, read_json, remove_folder,
    replace_file, replace_folder, write_bytes, write_json, write_parquet, write_text,
)
from fer.store.layout import root, settings_path  # noqa: F401
from fer.store.records import (  # noqa: F401
    ACTIVE, DEFAULT, DONE, EVAL_SPLITS, HOST, NAME_RE, SHIPPED_VERSION, STALE_SECONDS, Dataset, Evaluation, Job, Model,
    ModelNotFound, ModelVersion, NotFound, Run, RunError, StoreError, check_name, figures_of, image_id_of,
    add_version, jobs_lock, new_id, now, promote, resolve_model,
)


def datasets_dir():
    return layout.datasets_dir()


def dataset_dir(name: str):
    """The folder of dataset ``name`` (checked), whether or not it exists yet."""
    return layout.datasets_dir() / check_name(name, "dataset name")


def models_dir():
    return layout.models_dir()
