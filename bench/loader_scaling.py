"""Loader scaling: time of the splitters and of load_tasks against input size, on pathological shapes.

Every loader and splitter must be linear in its input (issue 6: 100 k spaces in a field took 23 s,
10,000 "A. " option markers 19 s). For each shape the input grows 10x per size step, so the ratio
between successive times is about 10 for linear code and about 100 for quadratic code. Prints a
table of CPU times; ``--sizes`` picks the sizes in characters (default 10000,100000,1000000). A
benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph_clarify.tasks import load_tasks, split_items, split_options, split_sentences


def _fill(unit: str, size: int) -> str:
    """``unit`` repeated to exactly ``size`` characters."""
    return (unit * (size // len(unit) + 1))[:size]


# Shapes of one text field of a given size.
TEXT_SHAPES: dict[str, Callable[[int], str]] = {
    "space run": lambda n: "Start." + " " * n + "End.",
    "blank run + bullet": lambda n: "Start:" + _fill(" \t", n) + "• End",
    "inline bullets": lambda n: _fill(" • item", n),
    "star bullets": lambda n: _fill(" * Item", n),
    "numbers after sentences": lambda n: _fill("Done. 1. ", n),
    "soft-wrapped lines": lambda n: _fill("word\n", n),
    "sub-bullets": lambda n: "- Parent\n" + _fill("   - child\n", n),
    "one long line": lambda n: _fill("word ", n),
    "short sentences": lambda n: _fill("It is. ", n),
}
OPTION_SHAPES: dict[str, Callable[[int], str]] = {
    "A. markers": lambda n: "Which? " + _fill("A. ", n),
    "A./B. pairs": lambda n: "Which? " + _fill("A. x B. y ", n),
    "(A) markers": lambda n: "Which? " + _fill("(A) ", n),
    "A-Z runs": lambda n: "Which? " + _fill(" ".join(f"{chr(65 + k)}. o" for k in range(26)) + " ", n),
    "space run": lambda n: "Which?" + " " * n + "A. x B. y",
    "blank lines + heading": lambda n: "Which?" + " \n" * (n // 2) + "Options:\nA. x\nB. y",
}


def _one_row_per_format(text: str) -> list[list[dict[str, Any]]]:
    """Four files, one row each (a file holds one format), with ``text`` in the free-text fields."""
    return [
        [{"id": "n", "objective": "Write it.", "procedure": text, "output_spec": text, "notes": "Keep it short."}],
        [{"example_id": 1, "example_input": text, "task": {"task_objective": "Write it.", "task_output": text}}],
        [{"id": 2, "question": "Which?", "context": ["Patient says.", text]}],
        [{"degraded_question": "Which?" + text, "ori_question": "Which? Known." + text, "degraded_info": text}],
    ]


def _sentences(size: int, word: str) -> str:
    return " ".join(f"{word} number {k} holds." for k in range(size // 24))


# Shapes of task files of a given size: a list of files, each a list of rows.
LOAD_SHAPES: dict[str, Callable[[int], list[list[dict[str, Any]]]]] = {
    f"4 formats, {name}": (lambda make: lambda n: _one_row_per_format(make(n)))(TEXT_SHAPES[name])
    for name in ("space run", "inline bullets", "numbers after sentences", "one long line")
}
LOAD_SHAPES["askbench, disjoint questions"] = lambda n: [
    [{"degraded_question": _sentences(n, "Claim"), "ori_question": _sentences(n, "Fact"), "degraded_info": "Gone."}]
]
LOAD_SHAPES["askbench, every other sentence kept"] = lambda n: [
    [
        {
            "degraded_question": ". ".join(_sentences(n, "Fact").split(". ")[::2]),
            "ori_question": _sentences(n, "Fact"),
            "degraded_info": "Half of it.",
        }
    ]
]
LOAD_SHAPES["native, many small rows"] = lambda n: [
    [{"id": f"t{k}", "objective": "Write it.", "procedure": "Step one. Step two."} for k in range(n // 80)]
]

Prepare = Callable[[int, Path], Callable[[], object]]  # (size, scratch folder) -> the call to time


def _text_case(fn: Callable[[str], object], make: Callable[[int], str]) -> Prepare:
    def prepare(size: int, _folder: Path) -> Callable[[], object]:
        text = make(size)
        return lambda: fn(text)

    return prepare


def _load_case(make_files: Callable[[int], list[list[dict[str, Any]]]]) -> Prepare:
    def prepare(size: int, folder: Path) -> Callable[[], object]:
        paths = []
        for k, rows in enumerate(make_files(size)):
            path = folder / f"tasks{k}.jsonl"
            path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
            paths.append(path)
        return lambda: [load_tasks(path) for path in paths]

    return prepare


def _seconds(run: Callable[[], object], size: int) -> float:
    """CPU seconds of ``run``, best of three below a million characters, one run at and above.

    CPU time, as the machine is shared (wall time would measure the neighbours too); garbage
    collection off while timing, as timeit does (its passes over every live object blur the ratios).
    """
    best = float("inf")
    for _ in range(3 if size < 1_000_000 else 1):
        gc.collect()
        gc.disable()
        try:
            started = time.process_time()
            run()
            best = min(best, time.process_time() - started)
        finally:
            gc.enable()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="input sizes in characters, comma-separated")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    cases: list[tuple[str, str, Prepare]] = [
        (fn.__name__, shape, _text_case(fn, make))
        for fn in (split_sentences, split_items)
        for shape, make in TEXT_SHAPES.items()
    ]
    cases += [("split_options", shape, _text_case(split_options, make)) for shape, make in OPTION_SHAPES.items()]
    cases += [("load_tasks", shape, _load_case(make)) for shape, make in LOAD_SHAPES.items()]

    head = f"{'function':<16} {'shape':<36}" + "".join(f"{f'{s:,} ch':>13}" for s in sizes)
    head += "".join(f"{f'ratio {k + 1}':>9}" for k in range(len(sizes) - 1))
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape, prepare in cases:
            times = [_seconds(prepare(size, Path(tmp)), size) for size in sizes]
            ratios = [later / max(earlier, 1e-9) for earlier, later in itertools.pairwise(times)]
            row = f"{name:<16} {shape:<36}" + "".join(f"{t * 1000:>10.1f} ms" for t in times)
            print(row + "".join(f"{r:>9.1f}" for r in ratios), flush=True)
    print("\nratio k = time at size k+1 / time at size k; for 10x sizes about 10 is linear, about 100 quadratic")


if __name__ == "__main__":
    main()
