"""``lensfinder info``: what this machine offers lensfinder (:mod:`lensfinder.sysinfo`), for bug reports."""

from __future__ import annotations

import argparse

__all__ = ["add_info_arguments", "run_info"]


def add_info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", action="store_true",
                        help="also import TensorFlow: its GPUs, Keras's backend and the precision "
                        "`training.precision: auto` trains in here (a few seconds)")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of text")


def run_info(args) -> int:
    import json

    from lensfinder.sysinfo import format_info, system_info

    info = system_info(device=args.device)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0
