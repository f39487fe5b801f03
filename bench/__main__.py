"""Run every benchmark in ``bench/`` and print one table.

Each benchmark module exposes ``run() -> list[dict[str, object]]`` (or names another function after a
``:``); a row's keys become columns.
``python -m bench [NAME...]`` runs only the named ones.
"""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS: list[tuple[str, str]] = [
    ("triage", "bench.triage_throughput"),
    ("triage_hostile", "bench.triage_throughput:run_hostile"),
    ("store", "bench.store_ops"),
    ("check_vs_skopeo", "bench.check_vs_skopeo"),
    ("cache", "bench.cache_and_single_flight"),
    ("slack", "bench.slack_latency"),
]


def _format_table(name: str, rows: list[dict[str, object]]) -> str:
    if not rows:
        return f"== {name}: no rows\n"
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    out = [f"== {name}", "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join(out) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return "" if value is None else str(value)


def main(argv: list[str]) -> int:
    wanted = set(argv)
    failures = 0
    for name, target in BENCHMARKS:
        if wanted and name not in wanted:
            continue
        module_name, _, function = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            print(f"== {name}: not available ({exc})\n")
            continue
        started = time.perf_counter()
        try:
            rows = getattr(module, function or "run")()
        except Exception as exc:  # a broken benchmark must not hide the others' numbers
            failures += 1
            print(f"== {name}: FAILED: {exc!r}\n")
            continue
        print(_format_table(name, rows))
        print(f"({name} took {time.perf_counter() - started:.1f} s)\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
