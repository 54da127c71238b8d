"""Checkpoints without pickle: ``save(obj, path)`` / ``load(path)``.

A checkpoint is one ``.npz`` file. Arrays (NumPy, CuPy, Tensors) are stored as host arrays under the names
``a0, a1, ...``; the structure around them (dicts, lists, tuples, Python scalars, strings, None, bools) is a JSON
document stored in the entry ``__gpunet__`` together with a format version. Loading uses ``allow_pickle=False``,
so a checkpoint cannot run code.

Writes are atomic: the file is written to a temporary file in the same folder, flushed and fsynced, renamed over
the target (``os.replace``) and the folder fsynced, so a crash mid-save leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from . import backend as _backend
from .autograd import Tensor

__all__ = ["save", "load", "CheckpointError", "FORMAT", "VERSION"]

FORMAT = "gpunet-checkpoint"
VERSION = 1
HEADER = "__gpunet__"


class CheckpointError(ValueError):
    """A file is not a readable gpunet checkpoint (truncated, foreign, or from a newer gpunet)."""


# ----------------------------------------------------------------- encoding the structure
def _encode(obj, arrays: dict, where: str):
    """A JSON-able description of ``obj``; arrays are moved into ``arrays`` and referenced by name."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)):
        return obj if not isinstance(obj, float) or np.isfinite(obj) else {"t": "float", "v": repr(obj)}
    if isinstance(obj, np.generic):
        return _array_ref(np.asarray(obj), arrays, "scalar", where)
    if isinstance(obj, Tensor):
        return _array_ref(obj.numpy(), arrays, "tensor", where)
    if isinstance(obj, np.ndarray) or hasattr(obj, "__cuda_array_interface__"):
        return _array_ref(_backend.backend_of((obj,)).to_host(obj), arrays, "array", where)
    if isinstance(obj, dict):
        return {"t": "dict", "items": [[_key(k, where), _encode(v, arrays, f"{where}[{k!r}]")]
                                       for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"t": type(obj).__name__,
                "items": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(f"gn.save: cannot store {type(obj).__name__} at {where}; checkpoints hold (nested) dicts, "
                    f"lists and tuples of arrays, Tensors, Python numbers, strings, bools and None (no pickle). "
                    f"Convert it first, e.g. to a dict of arrays.")


def _key(k, where: str):
    if isinstance(k, str) or (isinstance(k, (int, np.integer)) and not isinstance(k, bool)):
        return k if isinstance(k, str) else int(k)
    raise TypeError(f"gn.save: dict key {k!r} at {where} is a {type(k).__name__}; only str and int keys can be "
                    f"stored")


def _array_ref(a: np.ndarray, arrays: dict, kind: str, where: str) -> dict:
    if a.dtype.hasobject or a.dtype.kind == "V":
        raise TypeError(f"gn.save: the array at {where} has dtype {a.dtype}, which needs pickle; store numeric, "
                        f"bool or string arrays only")
    name = f"a{len(arrays)}"
    arrays[name] = a
    return {"t": kind, "ref": name}


def _decode(node, arrays, device):
    if not isinstance(node, dict):
        return node
    t = node["t"]
    if t == "dict":
        return {k: _decode(v, arrays, device) for k, v in node["items"]}
    if t in ("list", "tuple"):
        items = [_decode(v, arrays, device) for v in node["items"]]
        return items if t == "list" else tuple(items)
    if t == "float":
        return float(node["v"])
    a = arrays[node["ref"]]
    if t == "scalar":
        return a[()]
    if t == "tensor":
        return Tensor._make(_backend.current().asarray(a) if device is None else _backend.get(device).asarray(a),
                            False, None)
    if t == "array":
        return a
    raise KeyError(f"unknown node type {t!r}")


# ----------------------------------------------------------------- writing
def _write_npz(fileobj, arrays: dict) -> None:
    """Write ``arrays`` as an (uncompressed) npz into the open binary ``fileobj``."""
    np.savez(fileobj, **arrays)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a directory; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _chmod_like_new_file(tmp: str) -> None:
    """mkstemp makes the file private (0600); give it the mode ``open()`` would (0666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
    except OSError:
        pass


def save(obj, path) -> None:
    """Write ``obj`` (a state dict or any nesting of dicts/lists/tuples of arrays, Tensors and Python values)
    to ``path`` as one ``.npz`` checkpoint, atomically (see the module docstring). No pickle is used. ``path``
    may also be a binary file object (written at its position; atomicity is then the caller's).

    Tensors and CuPy arrays are copied to the host; ``load`` gives Tensors back as Tensors and arrays as NumPy
    arrays. Dict keys must be str or int.
    """
    arrays: dict = {}
    tree = _encode(obj, arrays, "obj")
    header = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    arrays[HEADER] = np.array(header)
    if hasattr(path, "write"):  # a file object (io.BytesIO, an open file): written at its position, as torch
        _write_npz(path, arrays)
        return
    path = Path(os.fspath(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"gn.save: the folder {folder} does not exist; create it first "
                                f"(os.makedirs({str(folder)!r}, exist_ok=True))")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        _chmod_like_new_file(tmp)
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


# ----------------------------------------------------------------- reading
def _fail(path: Path, what: str, cause=None):
    raise CheckpointError(f"gn.load: {path} {what}") from cause


def _read_header(npz, path: Path) -> dict:
    if HEADER not in npz.files:
        _fail(path, "is an .npz file but not a gpunet checkpoint (it has no '__gpunet__' entry); load it with "
                    "numpy.load, or write checkpoints with gn.save")
    try:
        header = json.loads(str(npz[HEADER][()]))
    except (ValueError, TypeError) as e:
        _fail(path, f"has a damaged header ({e}); the file is corrupt, use an earlier checkpoint", e)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        _fail(path, "has a '__gpunet__' entry that is not a gpunet checkpoint header")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION:
        _fail(path, f"was written by a newer gpunet (checkpoint format version {version}; this gpunet "
                    f"reads up to version {VERSION}); upgrade gpunet: pip install -U gpunet")
    return header


def load(path, map_location: str | None = None):
    """Read a checkpoint written by :func:`save` (``allow_pickle=False``) from a path or a binary file object.

    Tensors come back as Tensors on ``map_location`` ("cpu"/"cuda", default: the current backend); arrays as
    NumPy arrays. Raises :class:`CheckpointError` for a truncated, foreign or newer-version file.
    """
    if hasattr(path, "read"):  # a file object positioned at the checkpoint
        start = path.tell() if hasattr(path, "tell") else None
        magic = path.read(4)
        if start is not None:
            path.seek(start)
        source, path = path, Path(getattr(path, "name", "<file object>") or "<file object>")
    else:
        path = Path(os.fspath(path))
        if not path.is_file():
            raise FileNotFoundError(f"gn.load: no checkpoint at {path} (the file does not exist); check the path")
        with open(path, "rb") as f:
            magic = f.read(4)
        source = path
    if magic != b"PK\x03\x04":
        what = "is empty" if not magic else "is not a gpunet checkpoint (not an .npz/zip file)"
        _fail(path, f"{what}; pass a file written by gn.save")
    try:
        with np.load(source, allow_pickle=False) as npz:
            header = _read_header(npz, path)
            arrays = {name: npz[name] for name in npz.files if name != HEADER}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        _fail(path, f"is truncated or corrupt ({type(e).__name__}: {e}); the save was probably interrupted "
                    f"or the copy is incomplete: use an earlier checkpoint or save again", e)
    try:
        return _decode(header["tree"], arrays, map_location)
    except (KeyError, TypeError, ValueError) as e:
        _fail(path, f"has an inconsistent structure ({type(e).__name__}: {e}); the file is corrupt", e)
