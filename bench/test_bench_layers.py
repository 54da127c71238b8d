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


def test_family_main_times_gpunet_next_to_torch(capsys):
    calls = {"gpunet": 0, "torch": 0}

    def maker(impl):
        def make(_device):
            def step():
                calls[impl] += 1
            return step, (lambda: None)
        return make

    fake = {"w": {"batch": 1, "describe": "a fake workload", "gpunet": maker("gpunet"), "torch": maker("torch")}}
    R.family_main(fake, ["--rounds", "1", "--min-time", "0.001"])
    out = capsys.readouterr().out
    assert out.startswith("w ") and "gpunet/torch" in out and "a fake workload" in out
    assert calls["gpunet"] > 0 and calls["torch"] > 0
