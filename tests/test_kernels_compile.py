"""Every CUDA kernel source compiles with NVRTC, for float32 and float64, on Maxwell, Ampere and Hopper targets.

Needs no GPU: NVRTC (shipped with CuPy's ``nvidia-cuda-nvrtc-cu12`` wheel) compiles to PTX on any machine. The
options mirror what ``cupy.RawModule`` passes (its include paths, a ``-std`` default, ``-ftz=true``,
``--device-as-default-execution-space``, ``-arch=compute_XX``), and the template instances are requested through
name expressions exactly as ``gpunet.backend._kernels`` asks RawModule for them. Skipped when CuPy or NVRTC is
missing.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from gpunet.backend import _kernels as K


def _nvrtc():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from cupy_backends.cuda.libs import nvrtc
        except Exception as e:  # ImportError, or a broken install
            pytest.skip(f"CuPy's NVRTC bindings are not importable ({type(e).__name__}: {e}); install "
                        f"cupy-cuda12x and nvidia-cuda-nvrtc-cu12 to compile the kernels without a GPU")
    try:
        nvrtc.getVersion()
    except Exception as e:
        pytest.skip(f"the NVRTC library could not be loaded ({type(e).__name__}: {e}); install "
                    f"nvidia-cuda-nvrtc-cu12 (or a CUDA toolkit)")
    return nvrtc


def _cupy_options(std: str) -> list[str]:
    """The options RawModule compiles with (CuPy's include paths when it can assemble them), with ``std``."""
    opts: tuple = K.NVRTC_OPTIONS + (f"--std={std}",)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from cupy._core import core
            opts = tuple(core.assemble_cupy_compiler_options(opts))
    except Exception:  # private CuPy API, or no CUDA path: the sources need no include path anyway
        pass
    return list(opts) + ["-ftz=true", "--device-as-default-execution-space"]


def _compile(nvrtc, module: str, dtype, arch: str, std: str) -> tuple[str, dict]:
    prog = nvrtc.createProgram(K.module_source(module), f"{module}.cu", [], [])
    exprs = K.name_expressions(module, dtype)
    try:
        for e in exprs:
            nvrtc.addNameExpression(prog, e)
        try:
            nvrtc.compileProgram(prog, _cupy_options(std) + [f"-arch=compute_{arch}"])
        except Exception as e:
            pytest.fail(f"{module}.cu ({np.dtype(dtype)}, compute_{arch}, {std}) does not compile: {e}\n"
                        f"{nvrtc.getProgramLog(prog)}")
        log = nvrtc.getProgramLog(prog)
        lowered = {e: nvrtc.getLoweredName(prog, e) for e in exprs}
        ptx = nvrtc.getPTX(prog)
    finally:
        nvrtc.destroyProgram(prog)
    # CUDA 12 warns that targets before compute_75 are deprecated: a note about the target, not the source
    src_log = "\n".join(line for line in log.splitlines() if "are deprecated and may be removed" not in line)
    assert "warning" not in src_log.lower(), f"{module}.cu compiles with warnings:\n{log}"
    ptx = ptx.decode("utf-8", "replace") if isinstance(ptx, bytes) else ptx
    return ptx, lowered


@pytest.mark.parametrize("std", ["c++14", "c++17"])
@pytest.mark.parametrize("arch", ["52", "80", "90"])  # 52: before native atomicAdd on double (CAS loop)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("module", sorted(K.MODULES))
def test_kernel_module_compiles(module, dtype, arch, std):
    nvrtc = _nvrtc()
    ptx, lowered = _compile(nvrtc, module, dtype, arch, std)
    for expr, name in lowered.items():
        assert f".entry {name}" in ptx, f"{expr} ({name}) is not an entry point of the PTX of {module}.cu"


def _global_templates(src: str) -> set[str]:
    return set(re.findall(r"template\s*<\s*typename\s+T\s*>\s*__global__\s+void\s+(\w+)\s*\(", src))


def test_every_kernel_file_and_template_is_listed():
    from importlib.resources import files

    kdir = files("gpunet.backend").joinpath("kernels")
    on_disk = {p.name[:-3] for p in kdir.iterdir() if p.name.endswith(".cu")} - {K.PRELUDE}
    assert on_disk == set(K.MODULES), "kernels/*.cu and _kernels.MODULES disagree"
    for module, names in K.MODULES.items():
        src = kdir.joinpath(f"{module}.cu").read_text("utf-8")
        assert _global_templates(src) == set(names), f"__global__ templates of {module}.cu vs MODULES"
        assert "__global__" not in src.replace("template <typename T>\n__global__", ""), \
            f"{module}.cu: every kernel must be a template over T (instantiated per dtype)"
    assert "__global__" not in K.module_source("linear_act").split("// ---- linear_act.cu")[0]


def test_sources_need_no_system_headers():
    for module in K.MODULES:
        src = K.module_source(module)
        assert not re.search(r"^\s*#\s*include", src, re.M), f"{module}: NVRTC would need the CUDA headers"


def test_activation_codes_are_defined_for_every_fused_activation():
    from gpunet.backend.base import Backend

    src = K.module_source("linear_act")
    for i, act in enumerate(Backend.FUSED_ACTIVATIONS):
        assert f"#define GN_ACT_{act.upper()} {i}\n" in src
        if act != "identity":
            assert f"case GN_ACT_{act.upper()}:" in src, f"the kernels do not handle activation {act!r}"


def test_lazy_kernel_rejects_unknown_names_and_dtypes():
    with pytest.raises(KeyError, match="no kernel named"):
        K.kernel("nope")
    with pytest.raises(KeyError, match="not listed"):
        K.LazyKernel("optim", "bn_stats")
    with pytest.raises(TypeError, match="float16"):
        K.kernel("sgd_update")(np.float16)
    assert K.name_expressions("optim", np.float64)[0] == "sgd_update<double>"
