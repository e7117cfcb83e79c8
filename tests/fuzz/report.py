"""Write every crash class the fuzzer finds, each with its smallest input, as Markdown.

    python -m tests.fuzz.report OUT.md [--scale N] [--target NAME ...]

``--scale`` multiplies the test budgets (more inputs, more classes); each class is reduced by chunk deletion
to a small input that still shows it. Run it under a memory limit (``ulimit -v``): some inputs ask the code
under test for gigabytes.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from . import harness
from .test_fuzz import BUDGET


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--target", action="append", default=None)
    args = parser.parse_args()
    targets = harness.targets()
    names = args.target or list(BUDGET)
    sections: list[str] = []
    total = 0
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for name in names:
            target = targets[name]
            report = harness.run(target, range(int(BUDGET[name] * args.scale)), work)
            total += report.inputs
            for key, (failure, index, data) in sorted(report.classes.items()):
                small = harness.reduce(target, work / f"reduce{target.suffix}", data, key)
                sections.append(_section(key, failure, index, report.counts[key], report.inputs, small))
            print(f"{name}: {report.inputs} inputs, {len(report.classes)} classes", flush=True)
    header = (f"# Fuzz crash classes\n\n{total} inputs ({', '.join(names)}), scale {args.scale:g}. Each class: the "
              "reader, what escaped, where, how often, and a reduced input (`python -m tests.fuzz.report`).\n")
    args.out.write_text(header + "\n".join(sections), encoding="utf-8")


def _section(key: tuple[str, ...], failure: harness.Failure, index: int, count: int, inputs: int,
             data: bytes) -> str:
    shown = data.decode("utf-8", errors="backslashreplace")
    if len(shown) > 1500:
        shown = shown[:1500] + f"\n... ({len(data)} bytes in all)"
    return "\n".join([
        f"## {' | '.join(key)}",
        f"- reader: `{key[0]}`; kind: {failure.kind}; seen {count} times in {inputs} inputs (first reduced from "
        f"input #{index})",
        f"- what: `{failure.detail[:400]}`",
        f"- top frame: `{failure.top_frame}`" if failure.top_frame else "- top frame: (returned error)",
        "- reduced input:",
        "```",
        shown,
        "```",
        "",
    ])


if __name__ == "__main__":
    main()
