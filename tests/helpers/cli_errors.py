"""A step refused with exit 2 and one error line, no traceback."""

from __future__ import annotations

from lensfinder.cli import main


def one_error_line(capsys, argv, *needles) -> str:
    """Run ``lensfinder ARGV``; assert exit 2, one ``error:`` line holding every needle and no traceback."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "error:" in x]
    assert "Traceback" not in err and len(lines) == 1, err
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]
