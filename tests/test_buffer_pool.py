"""The NumPy backend's pool of large buffers (backend/_malloc.py): a buffer is handed out again only when nothing
refers to it, the pool stays within its cap, and results are the same with it as without it."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from gpunet.backend import _malloc


@pytest.fixture
def small_pool(monkeypatch):
    """The pool for arrays of 1 KiB and up (so tests stay small), on, and empty before and after."""
    monkeypatch.setattr(_malloc, "POOL_MIN_BYTES", 1024)
    monkeypatch.setattr(_malloc, "_pool_on", True)
    monkeypatch.setattr(_malloc, "_pool", [])
    yield _malloc
    _malloc.release()


def test_small_arrays_bypass_the_pool(small_pool):
    a = _malloc.empty((8,), np.float32)
    assert a.base is None and not _malloc._pool


def test_a_buffer_in_use_is_never_handed_out(small_pool):
    a = _malloc.empty((16, 32), np.float32)
    v = a[3:]  # a view keeps the buffer in use after a is gone
    del a
    b = _malloc.empty((16, 32), np.float32)
    assert not np.shares_memory(v, b)
    held = b.reshape(-1)
    del b, v
    c = _malloc.empty((512,), np.float32)  # the same size, another shape and nothing referring to the first
    assert len(_malloc._pool) == 2 and not np.shares_memory(c, held)
    assert c.shape == (512,) and c.dtype == np.float32 and c.flags.c_contiguous


def test_reuse_with_another_dtype_and_shape(small_pool):
    a = _malloc.empty((4, 256), np.float64)
    addr = a.__array_interface__["data"][0]
    del a
    b = _malloc.empty((2, 1024), np.float32)
    assert b.__array_interface__["data"][0] == addr
    assert b.shape == (2, 1024) and b.dtype == np.float32


def test_cap_drops_the_oldest_free_buffers(small_pool, monkeypatch):
    monkeypatch.setattr(_malloc, "POOL_MAX_BYTES", 3 * 4096)
    _malloc.empty((1024,), np.float32)
    _malloc.empty((2048,), np.float32)
    assert [b.nbytes for b in _malloc._pool] == [4096, 8192]  # within the cap with the new one: both kept
    held = _malloc.empty((512,), np.float64)  # 4 KiB: the free one of that size
    _malloc.empty((3072,), np.float32)  # 12 KiB more than fits: the oldest free one (8 KiB) goes
    assert [b.nbytes for b in _malloc._pool] == [4096, 12288] and held.base is _malloc._pool[0]
    del held
    _malloc.empty((4096,), np.float32)  # 16 KiB: nothing free may stay
    assert [b.nbytes for b in _malloc._pool] == [16384]


def test_release(small_pool):
    keep = _malloc.empty((2048,), np.float32)
    _malloc.empty((4096,), np.float32)
    assert _malloc.release() == 4096 * 4
    assert len(_malloc._pool) == 1 and keep.base is _malloc._pool[0]


def test_off_switch(small_pool, monkeypatch):
    monkeypatch.setattr(_malloc, "_pool_on", False)
    a = _malloc.empty((4096,), np.float32)
    assert a.base is None and not _malloc._pool


def test_threads_never_share_a_live_buffer(small_pool):
    errors = []
    live = {}
    lock = threading.Lock()

    def work(seed):
        try:
            rng = np.random.default_rng(seed)
            for _ in range(200):
                a = _malloc.empty((int(rng.integers(1, 4)) * 1024,), np.float32)
                a.fill(seed)
                with lock:
                    if any(np.shares_memory(a, b) for b in live.values()):
                        errors.append(f"thread {seed}: handed out a buffer in use")
                    live[id(a)] = a
                if not np.all(a == seed):
                    errors.append(f"thread {seed}: its buffer was overwritten")
                if rng.random() < 0.8:
                    with lock:
                        del live[id(a)]
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def _train_lm(steps=3):
    import gpunet as gn
    import gpunet.functional as F
    from gpunet import nn, optim

    gn.use("numpy")
    gn.manual_seed(0)
    emb, rnn, out = nn.Embedding(50, 8), nn.LSTM(8, 16, batch_first=True), nn.Linear(16, 50)
    params = list(emb.parameters()) + list(rnn.parameters()) + list(out.parameters())
    opt = optim.Adam(params, lr=1e-2)
    rng = np.random.default_rng(0)
    x = gn.tensor(rng.integers(0, 50, (4, 7)))
    y = gn.tensor(rng.integers(0, 50, 28))
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        h, _ = rnn(emb(x))
        logits = out(h).reshape(-1, 50)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses, [p.numpy().copy() for p in params]


def test_training_is_bitwise_the_same_with_the_pool(small_pool, monkeypatch):
    """Embedding's weight gradient, the softmax and its gradient all come from the pool here."""
    pooled = _train_lm()
    assert len(_malloc._pool) >= 2
    monkeypatch.setattr(_malloc, "_pool_on", False)
    plain = _train_lm()
    assert pooled[0] == plain[0]
    for a, b in zip(pooled[1], plain[1]):
        np.testing.assert_array_equal(a, b)


def test_matmul_output_from_the_pool(small_pool):
    from gpunet.backend import _numpy_gemm

    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 200), dtype=np.float32)
    b = rng.standard_normal((200, 400), dtype=np.float32)
    first = _numpy_gemm.matmul(a, b)
    assert any(first.base is buf for buf in _malloc._pool)
    np.testing.assert_allclose(first, a @ b, rtol=1e-5, atol=1e-4)
    again = _numpy_gemm.matmul(b.T, a.T)  # another product, while the first is still in use
    assert not np.shares_memory(first, again)
    np.testing.assert_allclose(again, (a @ b).T, rtol=1e-5, atol=1e-4)
