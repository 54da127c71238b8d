"""Full training step (forward, cross-entropy, backward, Adam) of the four benchmark MLPs: gpunet, PyTorch on
the same device, and the GEMM-only floor, in one run."""
import pytest

from gpunet._bench import MODELS, gemm_floor_step, gpunet_step, torch_step

from .conftest import DEVICES, backend_name, run, torch_device


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", list(MODELS))
def test_step_gpunet(benchmark, model, device):
    benchmark.group = f"step-{model}-{device}"
    sizes, batch = MODELS[model]
    step, sync = gpunet_step(sizes, batch, backend_name(device))
    run(benchmark, step, sync)
    benchmark.extra_info["samples"] = batch


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", list(MODELS))
def test_step_torch(benchmark, model, device):
    benchmark.group = f"step-{model}-{device}"
    _, dev = torch_device(device)
    sizes, batch = MODELS[model]
    step, sync = torch_step(sizes, batch, dev)
    run(benchmark, step, sync)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", list(MODELS))
def test_step_gemm_floor(benchmark, model, device):
    benchmark.group = f"step-{model}-{device}"
    sizes, batch = MODELS[model]
    step, sync = gemm_floor_step(sizes, batch, backend_name(device))
    run(benchmark, step, sync)
