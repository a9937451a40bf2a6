"""The host CPU as LLVM sees it (llvmlite): its features, read once, and the instruction sets lensfinder asks about.

LLVM names the features the same way on Linux, macOS and Windows, so these
answers hold everywhere; the simulator's compiled kernels
(:mod:`lensfinder.simulation.fastmath`: 512-bit vectors), the training's
precision hints (:mod:`lensfinder.learning.runtime`: bfloat16) and
``lensfinder info`` (:mod:`lensfinder.sysinfo`) share them.
"""

from __future__ import annotations

import functools
import platform

__all__ = ["X86_MACHINES", "LLVM_BF16_FEATURES", "is_x86", "host_features", "host_name", "has_avx512",
           "has_bfloat16"]

#: ``platform.machine()`` names of x86 CPUs
X86_MACHINES = ("x86_64", "amd64", "x64", "i386", "i686", "x86")
#: AVX-512 BF16 and AMX as LLVM names them: the instructions that compute in bfloat16
LLVM_BF16_FEATURES = ("avx512bf16", "amx-bf16")


def is_x86(machine: str | None = None) -> bool:
    """Whether ``machine`` (default ``platform.machine()``) is an x86 CPU."""
    return (machine if machine is not None else platform.machine()).lower() in X86_MACHINES


@functools.cache
def host_features():
    """LLVM's feature map of the host CPU (``llvmlite.binding.get_host_cpu_features``), or None where LLVM
    cannot tell."""
    try:
        import llvmlite.binding as llvm

        return llvm.get_host_cpu_features()
    except (ImportError, RuntimeError):
        return None


def host_name() -> str | None:
    """LLVM's name of the host CPU (e.g. ``znver4``), or None."""
    try:
        import llvmlite.binding as llvm

        return llvm.get_host_cpu_name()
    except (ImportError, RuntimeError):
        return None


def has_avx512(features) -> bool:
    """AVX-512 F and DQ: what the simulator's kernels need before they take 512-bit vectors."""
    return bool(features.get("avx512f") and features.get("avx512dq"))


def has_bfloat16(features) -> bool:
    """AVX-512 BF16 or AMX (:data:`LLVM_BF16_FEATURES`)."""
    return any(features.get(name, False) for name in LLVM_BF16_FEATURES)
