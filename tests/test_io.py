"""gn.save / gn.load: pickle-free npz checkpoints, atomic writes, clear errors."""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import gpunet as gn
from gpunet import io
from gpunet.io import CheckpointError

from conftest import to_numpy


def _sample(backend=None):
    return {
        "model": {"0.weight": gn.randn(4, 3), "0.bias": np.arange(4, dtype=np.float64)},
        "optimizer": {"state": {0: {"step": np.int64(7), "exp_avg": np.ones((2, 2), np.float32)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False}]},
        "epoch": 3, "name": "mlp", "none": None, "flags": [True, False], "inf": float("inf"),
        "big": 2**100, "nested": [[1, [2.5, "x"]], ()], "mask": np.array([True, False]),
        "labels": np.array(["a", "bc"]),
    }


def test_round_trip_keeps_structure_types_and_values(tmp_path, backend):
    obj = _sample()
    path = tmp_path / "ck.npz"
    gn.save(obj, path)
    got = gn.load(path)
    assert set(got) == set(obj)
    w = got["model"]["0.weight"]
    assert isinstance(w, gn.Tensor) and w.device == backend.device and w.dtype == np.float32
    np.testing.assert_array_equal(to_numpy(w), to_numpy(obj["model"]["0.weight"]))
    b = got["model"]["0.bias"]
    assert type(b) is np.ndarray and b.dtype == np.float64
    st = got["optimizer"]["state"][0]  # int keys stay int
    assert st["step"] == 7 and isinstance(st["step"], np.int64)
    assert st["exp_avg"].dtype == np.float32
    assert got["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    for k in ("epoch", "name", "none", "flags", "inf", "big", "nested"):
        assert got[k] == obj[k] and type(got[k]) is type(obj[k])
    np.testing.assert_array_equal(got["mask"], obj["mask"])
    np.testing.assert_array_equal(got["labels"], obj["labels"])


def test_nan_and_top_level_list(tmp_path):
    gn.save([float("nan"), 1], tmp_path / "x.ckpt")
    got = gn.load(tmp_path / "x.ckpt")
    assert np.isnan(got[0]) and got[1] == 1


def test_file_is_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "ck.npz"
    gn.save(_sample(), path)
    with np.load(path, allow_pickle=False) as f:
        header = json.loads(str(f["__gpunet__"][()]))
        assert header["format"] == io.FORMAT and header["version"] == io.VERSION
        assert all(f[n].dtype != object for n in f.files)


def test_unsupported_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store set at obj\['a'\]"):
        gn.save({"a": {1, 2}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="dtype object"):
        gn.save({"a": np.array([object()])}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="key"):
        gn.save({(1, 2): 1}, tmp_path / "x.npz")
    assert not list(tmp_path.iterdir())


def test_interrupted_save_keeps_previous_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    gn.save({"epoch": 1, "w": np.zeros(3)}, path)
    before = path.read_bytes()

    def crashing_writer(fileobj, arrays):
        fileobj.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(io, "_write_npz", crashing_writer)
    with pytest.raises(KeyboardInterrupt):
        gn.save({"epoch": 2, "w": np.ones(3)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]
    assert gn.load(path)["epoch"] == 1


def test_save_replaces_atomically_and_fsyncs(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    gn.save({"a": 1}, tmp_path / "ck.npz")
    assert calls == ["fsync", "replace", "fsync"]  # file, rename, folder
    umask = os.umask(0)
    os.umask(umask)
    if os.name == "posix":  # the mode a new file gets, not mkstemp's private 0600
        assert (tmp_path / "ck.npz").stat().st_mode & 0o777 == 0o666 & ~umask


def test_missing_folder_and_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        gn.save({}, tmp_path / "no" / "ck.npz")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        gn.load(tmp_path / "missing.npz")


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "ck.npz"
    gn.save({"w": np.arange(1000.0)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"ck.npz is truncated or corrupt.*earlier checkpoint"):
        gn.load(path)


def test_foreign_files(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    with pytest.raises(CheckpointError, match="not a gpunet checkpoint"):
        gn.load(p)
    p = tmp_path / "arr.npy"
    np.save(p, np.zeros(3))
    with pytest.raises(CheckpointError, match="not a gpunet checkpoint"):
        gn.load(p)
    p = tmp_path / "plain.npz"
    np.savez(p, w=np.zeros(3))
    with pytest.raises(CheckpointError, match="no '__gpunet__' entry"):
        gn.load(p)
    p = tmp_path / "zip.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("readme.txt", "not numpy")
    with pytest.raises(CheckpointError):
        gn.load(p)
    p = tmp_path / "empty.npz"
    p.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        gn.load(p)


def test_newer_version_is_refused(tmp_path):
    p = tmp_path / "future.npz"
    header = json.dumps({"format": io.FORMAT, "version": io.VERSION + 1, "tree": None})
    np.savez(p, __gpunet__=np.array(header))
    with pytest.raises(CheckpointError, match=r"newer gpunet.*version 2.*upgrade"):
        gn.load(p)


def test_map_location_cpu(tmp_path):
    gn.save({"w": gn.ones(2)}, tmp_path / "ck.npz")
    w = gn.load(tmp_path / "ck.npz", map_location="cpu")["w"]
    assert w.device == "cpu" and isinstance(w.data, np.ndarray)


def test_save_and_load_through_file_objects(backend, tmp_path):
    import io

    state = {"w": gn.tensor(np.arange(6.0).reshape(2, 3)), "step": 3, "arr": np.ones(2)}
    buf = io.BytesIO()
    gn.save(state, buf)
    buf.seek(0)
    back = gn.load(buf)
    np.testing.assert_array_equal(back["w"].numpy(), np.arange(6.0).reshape(2, 3))
    assert back["step"] == 3 and isinstance(back["arr"], np.ndarray)
    with open(tmp_path / "ck.npz", "wb") as f:
        gn.save(state, f)
    with open(tmp_path / "ck.npz", "rb") as f:
        assert gn.load(f)["step"] == 3
    with pytest.raises(gn.io.CheckpointError, match="not a gpunet checkpoint"):
        gn.load(io.BytesIO(b"not a zip at all"))
