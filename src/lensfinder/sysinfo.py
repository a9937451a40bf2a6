"""What this machine offers lensfinder: versions, CPU, memory, and the settings that change a run.

``lensfinder info`` prints it, for bug reports and before a long run: which
package versions are installed (read from their metadata, nothing imported)
and, in a checkout, which of them differ from the versions CI tests
(``envs/constraints.txt``, what ``make setup`` installs),
the CPU as LLVM sees it (the simulator's 512-bit kernels, bfloat16
instructions for ``training.precision: mixed_bfloat16``), the cores and
memory this process may use, the environment variables lensfinder and its
libraries read (credentials only as set or not, never their values), and,
with ``device=True``, what TensorFlow finds (GPUs, the Keras backend) and the
precision ``training.precision: auto`` trains in here. Only ``device=True``
imports TensorFlow.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["ENVIRONMENT_VARIABLES", "SECRET_VARIABLES", "system_info", "format_info"]

#: environment variables that change what a run does or how fast (shown with their values)
ENVIRONMENT_VARIABLES = (
    "KERAS_BACKEND", "CUDA_VISIBLE_DEVICES", "TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA",
    "TF_CPP_MIN_LOG_LEVEL", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "NUMBA_CPU_FEATURES",
    "NUMBA_NUM_THREADS", "LENSFINDER_PREFER_256_BIT", "LENSFINDER_TEMPLATE_TABLE",
    "LENSFINDER_GPU_PARTITION", "LENSFINDER_SLURM_GRES",
)
#: credentials: reported as set or not, never their values
SECRET_VARIABLES = ("LENSFINDER_ESO_TOKEN",)

#: installed but not required: other Keras backends, and the optional extras
_OPTIONAL = ("jax", "jaxlib", "torch", "lenscat", "selenium")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _package_versions() -> dict[str, str | None]:
    """lensfinder's requirements (its installed metadata), then the optional packages that are installed."""
    try:
        requires = metadata.requires("lensfinder") or []
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        requires = []
    names = [re.match(r"[A-Za-z0-9_.\-]+", r).group(0) for r in requires if "extra ==" not in r]
    versions = {name: _version(name) for name in dict.fromkeys(names)}
    versions.update({name: v for name in _OPTIONAL if name not in versions and (v := _version(name))})
    return versions


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _constraints_file() -> Path | None:
    """The checkout's ``envs/constraints.txt`` when lensfinder runs from one (an editable install)."""
    root = Path(__file__).resolve().parents[2]
    path = root / "envs" / "constraints.txt"
    return path if (root / "pyproject.toml").is_file() and path.is_file() else None


def pin_report(packages: dict, constraints: Path | None, installed=_version) -> dict:
    """How the installed versions compare with ``constraints`` (``name==version`` lines): ``file``,
    ``pinned`` (how many pinned packages are installed), ``differ`` (those of ``packages``, name ->
    installed version, at another version: name -> pinned version) and ``others`` (the other
    installed pinned packages at another version: name -> (installed, pinned))."""
    if constraints is None:
        return {"file": None, "pinned": 0, "differ": {}, "others": {}}
    pins = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)\s*(#.*)?", line)
        if match:
            pins[match.group(1)] = match.group(2)
    listed = {_canonical(name): name for name in packages}
    report = {"file": str(constraints), "pinned": 0, "differ": {}, "others": {}}
    for name, pinned in pins.items():
        mine = listed.get(_canonical(name))  # the name info's package list uses, if it lists it
        version = packages[mine] if mine else installed(name)
        if version is None:
            continue  # not installed here (another platform's dependency)
        report["pinned"] += 1
        if version != pinned:
            if mine:
                report["differ"][mine] = pinned
            else:
                report["others"][name] = (version, pinned)
    return report


def _cpu() -> dict:
    from lensfinder.hostcpu import has_avx512, host_features, host_name, is_x86
    from lensfinder.learning.runtime import cpu_computes_bfloat16

    features = host_features()
    return {"machine": platform.machine(), "name": host_name(),
            "avx512": has_avx512(features) if features is not None and is_x86() else None,
            "bfloat16_instructions": cpu_computes_bfloat16()}


def _cores_and_memory() -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows; a platform without the names
        memory = None
    return {"cores_usable": cores, "cores_machine": os.cpu_count(),
            "memory_gib": round(memory / 2**30, 1) if memory else None}


def _keras_backend_configured() -> str:
    """The backend lensfinder's Keras loads: ``$KERAS_BACKEND``, else ``models.import_keras``'s default."""
    from lensfinder.learning.models import DEFAULT_KERAS_BACKEND

    return os.environ.get("KERAS_BACKEND") or DEFAULT_KERAS_BACKEND


def _device() -> dict:
    """What TensorFlow finds (imports it): its GPUs, Keras's backend, the precision ``auto`` picks here."""
    from lensfinder.learning.models import import_keras
    from lensfinder.learning.runtime import precision_policy

    keras = import_keras()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = []
    for gpu in gpus:
        try:
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
        except (RuntimeError, ValueError):
            names.append(gpu.name)
    return {"tensorflow": tf.__version__, "keras": keras.__version__, "keras_backend": keras.backend.backend(),
            "built_with_cuda": bool(tf.test.is_built_with_cuda()), "gpus": names,
            "auto_precision": precision_policy("auto", bool(gpus))}


def system_info(device: bool = False) -> dict:
    """A mapping of what this machine offers lensfinder (module docstring); ``device`` imports TensorFlow."""
    from lensfinder import __version__

    info = {
        "lensfinder": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})",
        "platform": platform.platform(),
        "cpu": _cpu(),
        **_cores_and_memory(),
        "keras_backend_configured": _keras_backend_configured(),
        "packages": (packages := _package_versions()),
        "pins": pin_report(packages, _constraints_file()),
        "environment": {name: os.environ[name] for name in ENVIRONMENT_VARIABLES if name in os.environ},
        "credentials": {name: ("set" if os.environ.get(name) else "not set") for name in SECRET_VARIABLES}
        | {"~/.netrc": "present" if (Path.home() / ".netrc").is_file() else "absent"},
    }
    if device:
        info["device"] = _device()
    return info


def _yes_no(value) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def format_info(info: dict) -> str:
    """``system_info``'s mapping as the text ``lensfinder info`` prints."""
    cpu = info["cpu"]
    memory = f"{info['memory_gib']} GiB" if info["memory_gib"] is not None else "unknown"
    lines = [
        f"lensfinder {info['lensfinder']}",
        f"Python     {info['python']}",
        f"platform   {info['platform']}",
        f"CPU        {cpu['name'] or 'unknown'} ({cpu['machine']}); cores usable {info['cores_usable']} "
        f"of {info['cores_machine']}; memory {memory}",
        f"  AVX-512 (512-bit simulation kernels): {_yes_no(cpu['avx512'])}",
        f"  bfloat16 instructions (training.precision, inference.precision mixed_bfloat16 fast): "
        f"{_yes_no(cpu['bfloat16_instructions'])}",
        f"Keras backend (configured): {info['keras_backend_configured']}",
    ]
    if "device" in info:
        d = info["device"]
        lines += [
            f"TensorFlow {d['tensorflow']} (built with CUDA: {_yes_no(d['built_with_cuda'])}), "
            f"Keras {d['keras']} on {d['keras_backend']}",
            f"  GPUs: {', '.join(d['gpus']) if d['gpus'] else 'none'}",
            f"  training.precision auto trains in: {d['auto_precision']}",
        ]
    else:
        lines.append("GPUs: not checked (`lensfinder info --device` imports TensorFlow to look)")
    pins = info.get("pins") or {"file": None, "differ": {}, "others": {}}
    if pins["file"]:
        n_differ = len(pins["differ"]) + len(pins["others"])
        lines.append(f"packages ({n_differ} of the {pins['pinned']} pinned ones installed differ from the versions CI "
                     f"tests, {pins['file']}; `make setup` installs those):")
    else:
        lines.append("packages (not run from a checkout: no envs/constraints.txt to compare with):")
    width = max((len(n) for n in info["packages"]), default=0)
    lines += [f"  {name:<{width}}  {version or 'NOT INSTALLED'}"
              + (f"  (pinned {pins['differ'][name]})" if name in pins["differ"] else "")
              for name, version in info["packages"].items()]
    if pins["others"]:
        lines.append("  and: " + ", ".join(f"{name} {have} (pinned {want})"
                                           for name, (have, want) in pins["others"].items()))
    lines.append("environment:" + ("" if info["environment"] else " (none of the variables lensfinder reads is set)"))
    lines += [f"  {name}={value}" for name, value in info["environment"].items()]
    lines.append("credentials: " + ", ".join(f"{k} {v}" for k, v in info["credentials"].items()))
    return "\n".join(lines)
