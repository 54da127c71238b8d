"""The layer-family workloads of ``gpunet bench`` (CNN, residual block, LSTM, GRU, transformer layer, LayerNorm,
Embedding; defined in ``gpunet/_bench_<family>.py``): one training step each of gpunet and of PyTorch on the same
device, run once per test by default (``--benchmark-enable`` to time them)."""
import pytest

from gpunet import _bench_registry as R

from .conftest import DEVICES, run, torch_device

WORKLOADS = list(R.family_workloads())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", WORKLOADS)
def test_layer_step_gpunet(benchmark, name, device):
    benchmark.group = f"step-{name}-{device}"
    step, sync = R.make(name, "gpunet", device)
    run(benchmark, step, sync)
    benchmark.extra_info["samples"] = R.batch(name)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", WORKLOADS)
def test_layer_step_torch(benchmark, name, device):
    benchmark.group = f"step-{name}-{device}"
    torch_device(device)
    step, sync = R.make(name, "torch", device)
    run(benchmark, step, sync)


def test_every_family_module_has_its_workloads():
    names = set(WORKLOADS)
    for w in R.family_workloads().values():
        assert {"batch", "describe", "gpunet", "torch"} <= set(w)
    assert names <= set(R.names())


def test_pool_workloads_run_once():
    """``python -m gpunet._bench_pool``: the pooling + BatchNorm2d micro-workloads (not in the default table)."""
    from gpunet import _bench_pool

    for name, w in _bench_pool.WORKLOADS.items():
        step, sync = w["gpunet"]("numpy")
        step()
        sync()
