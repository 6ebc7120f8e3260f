"""Where data files are: the bundled ``data/`` folder, and Keras's cache folder for the files
the user provides (pyseq downloads nothing)."""

from __future__ import annotations

import gzip
import os

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def keras_datasets_dir():
    """Keras's cache folder for data sets: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets")


def user_file(caller, path, default_name, origin):
    """The file for ``path``: as given when it exists, else under Keras's datasets folder (where
    ``keras.utils.get_file`` keeps it). A missing file raises FileNotFoundError that says which
    file to put where."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"[{caller}] path must be a str or path-like, got {type(path).__name__}")
    path = os.path.expanduser(os.fspath(path))
    candidates = [path]
    if not os.path.isabs(path):
        candidates.append(os.path.join(keras_datasets_dir(), path))
    for c in candidates:
        if os.path.isfile(c):
            return c
    looked = " or ".join(repr(os.path.abspath(c)) for c in candidates)
    raise FileNotFoundError(
        f"[{caller}] no file at {looked}. pyseq downloads nothing: get Keras's {default_name} "
        f"({origin}) and put it at {os.path.join(keras_datasets_dir(), default_name)!r} "
        f"(or pass path=...). A copy downloaded by keras.datasets is already there.")


def bundled_text(name):
    """The text of a bundled gzip file data/<name>.gz (UTF-8)."""
    with gzip.open(os.path.join(DATA_DIR, name + ".gz"), "rt", encoding="utf-8", newline="") as fh:
        return fh.read()
