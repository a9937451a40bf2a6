"""Copy a Snakemake profile, capping every memory request at one node's memory.

Usage: python fit_profile.py PROFILE_DIR OUT_DIR MAX_MEM_MB

The Slurm profile asks for the memory real KiDS tiles need (32 GB for
training); the one-node test cluster may have less, and Slurm rejects a job
asking for more than any node has. Every other entry is copied unchanged, so
the test still runs the real profile's keys, resources and expressions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def cap_memory(resources: dict, max_mem_mb: int) -> dict:
    """`mem_mb` expressions of one resources mapping, each capped at `max_mem_mb`."""
    capped = {}
    for key, value in resources.items():
        if key == "mem_mb":
            value = f"min({value}, {max_mem_mb})"
        elif isinstance(value, dict):  # YTE `?if ...:` blocks
            value = cap_memory(value, max_mem_mb)
        capped[key] = value
    return capped


def main(argv: list[str]) -> int:
    profile_dir, out_dir, max_mem_mb = Path(argv[1]), Path(argv[2]), int(argv[3])
    profile = yaml.safe_load((profile_dir / "config.yaml").read_text())
    if "default-resources" in profile:
        profile["default-resources"] = cap_memory(profile["default-resources"], max_mem_mb)
    for rule, resources in profile.get("set-resources", {}).items():
        profile["set-resources"][rule] = cap_memory(resources, max_mem_mb)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = f"# {profile_dir}/config.yaml with mem_mb capped at {max_mem_mb} MB (tests/slurm/fit_profile.py)\n"
    (out_dir / "config.yaml").write_text(header + yaml.safe_dump(profile, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
