"""gpunet.data: shipped digits, MNIST IDX reader, generators, TensorDataset and DataLoader."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import gpunet as gn
from gpunet.data import (DataLoader, IDXFormatError, TensorDataset, load_digits, load_mnist, make_spiral,
                         make_xor, train_test_split)
from gpunet.data.digits import digits_raw

from conftest import to_numpy, torch_or_skip


# ----------------------------------------------------------------- digits
def test_digits_raw_file_is_the_uci_set():
    images, labels = digits_raw()
    assert images.shape == (1797, 64) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 16
    assert labels.shape == (1797,) and set(np.unique(labels)) == set(range(10))


def test_load_digits_split_is_stratified_deterministic_and_disjoint():
    a = load_digits(seed=3)
    b = load_digits(seed=3)
    c = load_digits(seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    X_train, y_train, X_test, y_test = load_digits(test_size=0.2, seed=0, standardize=False)
    assert len(X_train) + len(X_test) == 1797 and len(X_test) == pytest.approx(0.2 * 1797, abs=10)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    share = np.bincount(y_test, minlength=10) / np.bincount(y_train, minlength=10)
    np.testing.assert_allclose(share, 0.25, atol=0.03)  # every class keeps its 20 % share
    images, _ = digits_raw()
    rows = {r.tobytes() for r in images.astype(np.float32)}
    assert all(r.tobytes() in rows for r in X_test)  # raw values, untouched


def test_load_digits_standardises_with_train_statistics_only():
    Xr_tr, _, Xr_te, _ = load_digits(seed=1, standardize=False, dtype=np.float64)
    X_tr, _, X_te, _ = load_digits(seed=1, dtype=np.float64)
    mu, sd = Xr_tr.mean(0), Xr_tr.std(0)
    sd[sd == 0] = 1
    np.testing.assert_allclose(X_tr, (Xr_tr - mu) / sd, atol=1e-12)
    np.testing.assert_allclose(X_te, (Xr_te - mu) / sd, atol=1e-12)  # test set uses TRAIN μ, σ
    varying = Xr_tr.std(0) > 0
    np.testing.assert_allclose(X_tr.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(X_tr.std(0)[varying], 1, atol=1e-9)


def test_load_digits_rejects_bad_test_size():
    with pytest.raises(ValueError, match="test_size"):
        load_digits(test_size=1.5)


# ----------------------------------------------------------------- MNIST IDX files
def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_mnist(folder, n_train=6, n_test=4, gz=False, **override):
    rng = np.random.default_rng(0)
    data = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8)}
    for name, arr in data.items():
        raw = override.get(name, _idx(arr))
        if raw is None:
            continue
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return data


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_reads_idx_files(tmp_path, gz):
    data = _write_mnist(tmp_path, gz=gz)
    X_train, y_train, X_test, y_test = load_mnist(tmp_path, standardize=False)
    assert X_train.shape == (6, 784) and X_test.shape == (4, 784) and X_train.dtype == np.float32
    np.testing.assert_allclose(X_train, data["train-images-idx3-ubyte"].reshape(6, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_test, data["t10k-labels-idx1-ubyte"])
    assert y_train.dtype == np.int64
    X3 = load_mnist(tmp_path, flatten=False)[0]
    assert X3.shape == (6, 28, 28)


def test_load_mnist_names_the_missing_file(tmp_path):
    _write_mnist(tmp_path, **{"t10k-labels-idx1-ubyte": None})
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_mnist(tmp_path / "nowhere")


def test_load_mnist_bad_magic_number(tmp_path):
    _write_mnist(tmp_path, **{"train-images-idx3-ubyte": b"\x12\x34\x56\x78" + bytes(100)})
    with pytest.raises(IDXFormatError, match=r"train-images-idx3-ubyte.*bad magic number 12345678"):
        load_mnist(tmp_path)


def test_load_mnist_truncated_data(tmp_path):
    imgs = np.zeros((6, 28, 28), np.uint8)
    _write_mnist(tmp_path, **{"train-images-idx3-ubyte": _idx(imgs)[:-10]})
    with pytest.raises(IDXFormatError, match=r"train-images-idx3-ubyte: truncated.*4704 bytes.*4694"):
        load_mnist(tmp_path)


def test_load_mnist_swapped_or_mismatched_files(tmp_path):
    labels = np.zeros(6, np.uint8)
    _write_mnist(tmp_path, **{"train-images-idx3-ubyte": _idx(labels)})
    with pytest.raises(IDXFormatError, match="dimension"):
        load_mnist(tmp_path)
    _write_mnist(tmp_path, **{"train-images-idx3-ubyte": _idx(np.zeros((5, 28, 28), np.uint8))})
    with pytest.raises(IDXFormatError, match="5 images.*6 labels"):
        load_mnist(tmp_path)


def test_load_mnist_corrupt_gzip(tmp_path):
    _write_mnist(tmp_path, gz=True)
    p = tmp_path / "train-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes()[:12])
    with pytest.raises(IDXFormatError, match="train-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path)


# ----------------------------------------------------------------- generators
def test_make_xor_labels_and_determinism():
    X, y = make_xor(n=500, noise=0.0, seed=1)
    assert X.shape == (500, 2) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(np.int64))
    np.testing.assert_array_equal(make_xor(n=50, seed=2)[0], make_xor(n=50, seed=2)[0])


def test_make_spiral_shapes_and_radius():
    X, y = make_spiral(n_per_class=40, classes=4, noise=0.1, seed=0)
    assert X.shape == (160, 2) and np.bincount(y).tolist() == [40] * 4
    r = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(r, np.tile(np.linspace(0, 1, 40), 4), atol=1e-6)
    with pytest.raises(ValueError, match="classes"):
        make_spiral(10, classes=1)


def test_train_test_split_stratified():
    X, y = make_spiral(50, classes=3, seed=0)
    X_tr, y_tr, X_te, y_te = train_test_split(X, y, test_size=0.2, seed=0)
    assert np.bincount(y_te).tolist() == [10, 10, 10] and len(X_tr) == 120
    with pytest.raises(ValueError, match="X has 150 samples but y has 3"):
        train_test_split(X, y[:3])


# ----------------------------------------------------------------- TensorDataset / DataLoader
def test_tensor_dataset_checks_first_dims():
    ds = TensorDataset(np.zeros((5, 3)), np.arange(5))
    assert len(ds) == 5 and ds[2][1] == 2
    with pytest.raises(ValueError, match=r"same first dimension.*\[5, 4\]"):
        TensorDataset(np.zeros((5, 3)), np.arange(4))
    ds = TensorDataset(gn.tensor(np.ones((2, 2))), [0, 1])
    assert isinstance(ds.arrays[0], np.ndarray)


@pytest.mark.parametrize("n,bs,drop_last,expected", [(10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]),
                                                      (9, 3, False, [3, 3, 3]), (2, 5, False, [2])])
def test_loader_batches_without_replacement(n, bs, drop_last, expected):
    X = np.arange(n, dtype=np.float32)[:, None]
    loader = DataLoader(TensorDataset(X, np.arange(n)), batch_size=bs, shuffle=True, drop_last=drop_last, seed=0)
    assert len(loader) == len(expected)
    seen = []
    for xb, yb in loader:
        assert isinstance(xb, gn.Tensor) and isinstance(yb, gn.Tensor)
        np.testing.assert_array_equal(to_numpy(xb)[:, 0], to_numpy(yb))
        seen.append(to_numpy(yb))
    assert [len(s) for s in seen] == expected
    flat = np.concatenate(seen).astype(int)
    assert len(set(flat.tolist())) == len(flat)  # no sample twice in one epoch
    if not drop_last:
        assert sorted(flat.tolist()) == list(range(n))


def test_loader_new_permutation_each_epoch_and_seeded():
    ds = TensorDataset(np.arange(50))
    a = DataLoader(ds, batch_size=50, shuffle=True, seed=7)
    b = DataLoader(ds, batch_size=50, shuffle=True, seed=7)
    e1 = to_numpy(next(iter(a))[0])
    e2 = to_numpy(next(iter(a))[0])
    assert not np.array_equal(e1, e2)
    np.testing.assert_array_equal(e1, to_numpy(next(iter(b))[0]))
    assert a.epoch == 2
    ordered = DataLoader(ds, batch_size=50, shuffle=False)
    np.testing.assert_array_equal(to_numpy(next(iter(ordered))[0]), np.arange(50))


def test_loader_default_keeps_dataset_order():
    """As torch.utils.data.DataLoader: shuffle=False by default (a test loader's predictions line up with the
    dataset, epoch after epoch); shuffle=True still draws a permutation."""
    ds = TensorDataset(np.arange(40), np.arange(40) * 2)
    loader = DataLoader(ds, batch_size=12, seed=7)
    assert loader.shuffle is False
    for _ in range(2):
        xs, ys = zip(*[(to_numpy(x), to_numpy(y)) for x, y in loader])
        np.testing.assert_array_equal(np.concatenate(xs), np.arange(40))
        np.testing.assert_array_equal(np.concatenate(ys), np.arange(40) * 2)
    shuffled = np.concatenate([to_numpy(x) for x, _ in DataLoader(ds, batch_size=12, shuffle=True, seed=7)])
    assert not np.array_equal(shuffled, np.arange(40))
    assert sorted(shuffled.tolist()) == list(range(40))


def test_loader_seed_none_follows_manual_seed():
    ds = TensorDataset(np.arange(30))
    gn.manual_seed(5)
    a = to_numpy(next(iter(DataLoader(ds, batch_size=30, shuffle=True)))[0])
    gn.manual_seed(5)
    b = to_numpy(next(iter(DataLoader(ds, batch_size=30, shuffle=True)))[0])
    np.testing.assert_array_equal(a, b)


def test_loader_state_dict_resumes_same_batches():
    ds = TensorDataset(np.arange(20))
    full = DataLoader(ds, batch_size=6, shuffle=True, seed=3)
    epochs = [[to_numpy(b[0]) for b in full] for _ in range(4)]
    first = DataLoader(ds, batch_size=6, shuffle=True, seed=3)
    for _ in range(2):
        list(first)
    state = first.state_dict()
    resumed = DataLoader(ds, batch_size=6, shuffle=True, seed=99)
    resumed.load_state_dict(state)
    assert resumed.epoch == 2
    for e in (2, 3):
        got = [to_numpy(b[0]) for b in resumed]
        for x, y in zip(got, epochs[e]):
            np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="rng_state"):
        resumed.load_state_dict({"epoch": 1})


def test_loader_state_survives_checkpoint(tmp_path):
    ds = TensorDataset(np.arange(20))
    a = DataLoader(ds, batch_size=20, shuffle=True, seed=11)
    list(a)
    gn.save({"loader": a.state_dict()}, tmp_path / "ck.npz")
    b = DataLoader(ds, batch_size=20, shuffle=True, seed=0)
    b.load_state_dict(gn.load(tmp_path / "ck.npz")["loader"])
    np.testing.assert_array_equal(to_numpy(next(iter(a))[0]), to_numpy(next(iter(b))[0]))


def test_loader_batches_land_on_current_backend(backend):
    X = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    loader = DataLoader(TensorDataset(X, np.arange(10)), batch_size=4, seed=0)
    xb, yb = next(iter(loader))
    assert xb.device == backend.device and yb.device == backend.device
    assert xb.dtype == np.float32 and yb.dtype == np.int64
    assert isinstance(xb.data, backend.xp.ndarray)


def test_loader_generic_dataset_and_bad_batch_size():
    class Squares:
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.array([i], np.float32), i * i

    loader = DataLoader(Squares(), batch_size=3, shuffle=False)
    xb, yb = next(iter(loader))
    np.testing.assert_array_equal(to_numpy(yb), [0, 1, 4])
    assert xb.shape == (3, 1)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(Squares(), batch_size=0)


# ---------------------------------------------------------------------------------------------- datasets, collation
def test_subset_concat_and_random_split():
    from gpunet.data import ConcatDataset, Subset, random_split

    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = TensorDataset(X, np.arange(10))
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and int(sub[1][1]) == 2
    both = ConcatDataset([sub, ds])
    assert len(both) == 13 and int(both[3][1]) == 0 and int(both[-1][1]) == 9
    assert len(sub + ds) == 13
    a, b, c = random_split(ds, [0.5, 0.3, 0.2], generator=0)
    assert (len(a), len(b), len(c)) == (5, 3, 2)
    seen = sorted(int(s[1]) for part in (a, b, c) for s in part)
    assert seen == list(range(10))                      # a partition
    again = random_split(ds, [5, 3, 2], generator=np.random.default_rng(0))
    assert [int(s[1]) for s in again[0]] == [int(s[1]) for s in a]
    with pytest.raises(ValueError, match="add up to 11, but the dataset has 10"):
        random_split(ds, [5, 4, 2])
    with pytest.raises(TypeError, match="numpy.random.Generator or an int seed"):
        random_split(ds, [5, 5], generator="x")
    with pytest.raises(IndexError, match="Subset"):
        Subset(ds, [10])


@pytest.mark.torch
@pytest.mark.parametrize("n,fracs", [(10, [0.5, 0.3, 0.2]), (7, [0.34, 0.33, 0.33]), (11, [0.25, 0.75])])
def test_random_split_fraction_lengths_as_torch(n, fracs):
    torch = torch_or_skip()
    from gpunet.data import random_split

    want = [len(p) for p in torch.utils.data.random_split(range(n), fracs)]
    got = [len(p) for p in random_split(TensorDataset(np.zeros((n, 1))), fracs, generator=0)]
    assert got == want


def test_loader_sampler_collate_fn_dicts_and_workers(backend):
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    ds = TensorDataset(X, np.arange(6))
    got = [to_numpy(yb).tolist() for _, yb in DataLoader(ds, batch_size=2, sampler=[5, 0, 3, 1])]
    assert got == [[5, 0], [3, 1]]
    assert len(DataLoader(ds, batch_size=3, sampler=[1, 2, 3, 4])) == 2

    class Dicts:
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {"x": np.full(3, i, np.float32), "y": i, "name": f"s{i}"}

    batch = next(iter(DataLoader(Dicts(), batch_size=4, num_workers=2)))
    assert set(batch) == {"x", "y", "name"} and batch["x"].shape == (4, 3) and batch["name"][3] == "s3"
    assert isinstance(batch["y"], gn.Tensor) and batch["y"].dtype == np.int64
    assert batch["x"].device == backend.device
    summed = next(iter(DataLoader(ds, batch_size=3, collate_fn=lambda s: np.stack([x for x, _ in s]).sum(0))))
    np.testing.assert_array_equal(to_numpy(summed), X[:3].sum(0))
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(NotImplementedError, match="batch_sampler"):
        DataLoader(ds, batch_sampler=[[0, 1]])


def test_loader_generator_argument():
    ds = TensorDataset(np.arange(40, dtype=np.float32).reshape(20, 2), np.arange(20))
    order = lambda loader: [int(v) for _, yb in loader for v in to_numpy(yb)]  # noqa: E731
    a = order(DataLoader(ds, batch_size=5, shuffle=True, generator=3))
    b = order(DataLoader(ds, batch_size=5, shuffle=True, generator=np.random.default_rng(3)))
    assert a == b and a != list(range(20))
    with pytest.raises(ValueError, match="generator or seed"):
        DataLoader(ds, generator=1, seed=1)
