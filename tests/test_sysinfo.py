"""`lensfinder info`: what the machine offers, for bug reports, without leaking credentials."""

import json
import os
import subprocess
import sys
from importlib import metadata

from lensfinder.sysinfo import format_info, system_info

from helpers.early_runs import early_test


def _info(*args, env=None):
    code = ("import sys\nfrom lensfinder.cli import main\ncode = main(['info', *sys.argv[1:]])\n"
            "print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr)\nsys.exit(code)\n")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return result


def test_info_reports_versions_cpu_and_settings_without_importing_tensorflow_or_leaking_tokens():
    from lensfinder.learning.runtime import cpu_computes_bfloat16

    secret = "do-not-print-me-0123456789"
    result = _info("--json", env={"LENSFINDER_ESO_TOKEN": secret, "OMP_NUM_THREADS": "3"})
    assert "tensorflow imported: False" in result.stderr
    assert secret not in result.stdout + result.stderr
    info = json.loads(result.stdout)
    assert info["credentials"]["LENSFINDER_ESO_TOKEN"] == "set"
    assert info["environment"]["OMP_NUM_THREADS"] == "3"
    assert "LENSFINDER_ESO_TOKEN" not in info["environment"]
    # every requirement of the installed package, at the version installed
    required = [r.split(";")[0].split(">")[0].split("=")[0].split("[")[0].strip()
                for r in metadata.requires("lensfinder") if "extra ==" not in r]
    assert set(required) <= set(info["packages"]) and {"tensorflow", "keras", "snakemake"} <= set(required)
    for name in required:
        assert info["packages"][name] == metadata.version(name), name
    assert info["cpu"]["bfloat16_instructions"] == cpu_computes_bfloat16()
    assert 1 <= info["cores_usable"] <= info["cores_machine"]
    assert info["keras_backend_configured"] == os.environ.get("KERAS_BACKEND", "tensorflow")
    assert "device" not in info

    text = _info(env={"LENSFINDER_ESO_TOKEN": ""}).stdout
    assert "LENSFINDER_ESO_TOKEN not set" in text
    assert f"tensorflow{' ' * 2}" in text and metadata.version("tensorflow") in text
    assert "GPUs: not checked" in text


def test_a_missing_package_is_named():
    info = system_info()
    info["packages"]["galsim"] = None
    lines = format_info(info).splitlines()
    assert [line.split() for line in lines if line.strip().startswith("galsim")] == [["galsim", "NOT", "INSTALLED"]]


@early_test(10)
def test_info_device_says_what_auto_trains_in_here(_workdir):
    from lensfinder.learning.runtime import precision_policy

    result = _info("--device", "--json", env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert "tensorflow imported: True" in result.stderr
    device = json.loads(result.stdout)["device"]
    assert device["tensorflow"] == metadata.version("tensorflow")
    assert device["keras"] == metadata.version("keras")
    assert device["keras_backend"] == os.environ.get("KERAS_BACKEND", "tensorflow")
    assert device["auto_precision"] == precision_policy("auto", bool(device["gpus"]))


def test_info_names_the_packages_that_differ_from_the_pins(tmp_path):
    from lensfinder.sysinfo import pin_report

    constraints = tmp_path / "constraints.txt"
    constraints.write_text("# pins\nnumpy==2.4.6\nfoo-bar==1.1\nidna==0.1\nnot-here==1.0\n")
    installed = {"idna": "3.21"}.get
    report = pin_report({"numpy": "2.4.6", "Foo_Bar": "1.0"}, constraints, installed=installed)
    assert report["pinned"] == 3  # not-here is pinned but not installed
    assert report["differ"] == {"Foo_Bar": "1.1"} and report["others"] == {"idna": ("3.21", "0.1")}
    info = system_info()
    info.update(packages={"numpy": "2.4.6", "Foo_Bar": "1.0"}, pins=report)
    text = format_info(info)
    assert "2 of the 3 pinned ones installed differ" in text
    assert [line.split() for line in text.splitlines() if "Foo_Bar" in line] == [["Foo_Bar", "1.0", "(pinned", "1.1)"]]
    assert "and: idna 3.21 (pinned 0.1)" in text
    assert pin_report({"numpy": "2.4.6"}, None)["file"] is None
    # run from this checkout: compared with its envs/constraints.txt
    here = system_info()["pins"]
    assert here["file"].endswith("envs/constraints.txt") and here["pinned"] >= len(
        [v for v in system_info()["packages"].values() if v])
