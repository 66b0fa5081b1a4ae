"""Summaries, plots and the markdown report of an evaluation, all computed from its results rows."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..tasks import MaskedTask

Row = dict[str, Any]


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def bootstrap_ci(values: Sequence[float], *, seed: int = 0, resamples: int = 1000) -> list[float] | None:
    """95% percentile bootstrap interval of the mean (seeded, so reruns agree)."""
    if not values:
        return None
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    return [means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]]


def _score(row: Row) -> float | None:
    judge = row.get("judge") or {}
    return judge.get("score")


def _group(rows: Iterable[Row], key: Callable[[Row], tuple[Any, ...]]) -> dict[tuple[Any, ...], list[Row]]:
    out: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for r in rows:
        out[key(r)].append(r)
    return dict(
        sorted(out.items(), key=lambda kv: tuple(str(k) if not isinstance(k, int) else f"{k:06d}" for k in kv[0]))
    )


def group_stats(rows: Sequence[Row], seed: int) -> dict[str, Any]:
    ok = [r for r in rows if not r.get("error")]
    scores = [s for r in rows if (s := _score(r)) is not None]
    return {
        "n": len(rows),
        "score": mean(scores),
        "score_ci": bootstrap_ci(scores, seed=seed),
        "judged": len(scores),
        "judge_missing": len(rows) - len(scores),
        "evidence": mean([r["evidence_mean"] for r in ok if r.get("evidence_mean") is not None]),
        "novelty": mean([r["novelty_mean"] for r in ok if r.get("novelty_mean") is not None]),
        "coverage": mean([r["coverage"] for r in ok]),
        "questions": mean([len(r["turns"]) for r in ok]),
        "repeated": sum(r.get("repeated", 0) for r in rows),
        "errors": len(rows) - len(ok),
        "error_reasons": Counter(str(r["error"])[:200] for r in rows if r.get("error")).most_common(3),
        "llm_calls": sum(r.get("llm_calls", 0) for r in rows),
        "tokens": sum(r.get("tokens", 0) for r in rows),
    }


def _turn_means(rows: Sequence[Row], key: str, depth: int) -> list[float | None]:
    """Mean of one reward at each turn index, over the episodes that reached that turn."""
    return [
        mean([r["turns"][i][key] for r in rows if len(r["turns"]) > i and r["turns"][i][key] is not None])
        for i in range(depth)
    ]


def summarize(rows: Sequence[Row], *, seed: int = 0) -> dict[str, Any]:
    """Per (dataset, policy, budget) statistics, per-field scores, per-turn rewards, evidence regions.

    Rows are put in key order first, so the summary (bootstrap included) does not depend on the
    order in which concurrent episodes happened to finish.
    """
    rows = sorted(rows, key=lambda r: (r["dataset"], r["policy"], r["max_turns"], r["task_id"]))
    groups = [
        {"dataset": d, "policy": p, "max_turns": b, **group_stats(rs, seed)}
        for (d, p, b), rs in _group(rows, lambda r: (r["dataset"], r["policy"], r["max_turns"])).items()
    ]
    fields = [
        {
            "dataset": d,
            "policy": p,
            "max_turns": b,
            "field": f or "(none)",
            "n": len(rs),
            "score": mean([s for r in rs if (s := _score(r)) is not None]),
        }
        for (d, p, b, f), rs in _group(rows, lambda r: (r["dataset"], r["policy"], r["max_turns"], r["field"])).items()
    ]
    per_turn = []
    for (d, p, b), rs in _group(rows, lambda r: (r["dataset"], r["policy"], r["max_turns"])).items():
        depth = max((len(r["turns"]) for r in rs), default=0)
        evidence, novelty = (_turn_means(rs, key, depth) for key in ("evidence_reward", "novelty_reward"))
        per_turn.append({"dataset": d, "policy": p, "max_turns": b, "evidence": evidence, "novelty": novelty})
    regions = []
    for (d, p), rs in _group(rows, lambda r: (r["dataset"], r["policy"])).items():
        counts: dict[str, int] = defaultdict(int)
        positions: list[float] = []
        for r in rs:
            for t in r["turns"]:
                for i in t["cited"]:
                    if i < len(r.get("regions", [])):
                        counts[r["regions"][i]] += 1
                        positions.append(i / max(len(r["regions"]), 1))
        regions.append({"dataset": d, "policy": p, "counts": dict(sorted(counts.items())), "positions": positions})
    return {"groups": groups, "fields": fields, "per_turn": per_turn, "regions": regions}


def pairwise_outcomes(
    rows: Sequence[Row],
    tasks: dict[tuple[str, str], MaskedTask],
    pairs: Sequence[tuple[str, str]],
    judge_model: str | None,
) -> list[dict[str, Any]]:
    """Win/tie/lose of policy A against B on the same tasks at the largest budget both ran."""
    from ..judge import PairwiseJudge, compare, tally

    judge = PairwiseJudge(judge_model) if judge_model else None
    by_key = {(r["dataset"], r["policy"], r["task_id"], r["max_turns"]): r for r in rows}
    out = []
    for a, b in pairs:
        budgets_a = {r["max_turns"] for r in rows if r["policy"] == a}
        budgets_b = {r["max_turns"] for r in rows if r["policy"] == b}
        if not budgets_a or not budgets_b:
            raise ValueError(f"pairwise {a}:{b}: both policies must be in this evaluation")
        ba, bb = max(budgets_a), max(budgets_b)
        result: dict[str, Any] = {"a": a, "b": b, "max_turns": [ba, bb]}
        for kind in ("questions", "draft"):
            outcomes = []
            for (d, p, tid, budget), ra in sorted(by_key.items()):
                rb = by_key.get((d, b, tid, bb))
                if p == a and budget == ba and rb is not None and (d, tid) in tasks:
                    outcomes.append(compare(judge, kind, tasks[(d, tid)], ra, rb))
            result[kind] = tally(outcomes)
        out.append(result)
    return out


# ---- plots and markdown ------------------------------------------------------------------------


def wtl(counts: dict[str, int]) -> str:
    """``win/tie/lose``, plus the pairs a failing LLM judge left unjudged."""
    text = f"{counts['win']}/{counts['tie']}/{counts['lose']}"
    return text + (f" ({counts['missing']} unjudged)" if counts.get("missing") else "")


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _legend(ax: Any, size: int) -> None:
    """A legend only where something is labelled (an empty one makes matplotlib warn)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=size)


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_scores(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    groups = summary["groups"]
    datasets = sorted({g["dataset"] for g in groups})
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.6), squeeze=False)
    for ax, d in zip(axes[0], datasets, strict=True):
        best: dict[str, dict[str, Any]] = {}
        for g in groups:
            if (
                g["dataset"] == d
                and g["score"] is not None
                and g["max_turns"] >= best.get(g["policy"], {}).get("max_turns", -1)
            ):
                best[g["policy"]] = g
        names = list(best)
        values = [best[n]["score"] for n in names]
        errs = [
            [v - (best[n]["score_ci"] or [v, v])[0] for n, v in zip(names, values, strict=True)],
            [(best[n]["score_ci"] or [v, v])[1] - v for n, v in zip(names, values, strict=True)],
        ]
        ax.bar(names, values, yerr=errs, capsize=4, color="#7b6cf6")
        ax.set_title(d)
        ax.set_ylabel("score")
        ax.set_ylim(0, 1)
    _save(fig, path)


def _plot_budget(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    groups = summary["groups"]
    datasets = sorted({g["dataset"] for g in groups})
    fig, axes = plt.subplots(2, len(datasets), figsize=(4.5 * len(datasets), 6.4), squeeze=False)
    for col, d in enumerate(datasets):
        for metric, row in (("score", 0), ("coverage", 1)):
            ax = axes[row][col]
            for policy in sorted({g["policy"] for g in groups if g["dataset"] == d}):
                pts = sorted(
                    (g["max_turns"], g[metric])
                    for g in groups
                    if g["dataset"] == d and g["policy"] == policy and g[metric] is not None
                )
                if len(pts) == 1:  # a fixed-budget policy (direct): a dashed level, as in the paper
                    ax.axhline(pts[0][1], linestyle="--", color="grey", label=f"{policy} ({pts[0][0]} turns)")
                elif pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=policy)
            ax.set_xlabel("turn budget")
            ax.set_ylabel(metric)
            ax.set_title(d)
            _legend(ax, 7)
    _save(fig, path)


def _plot_regions(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    entries = [r for r in summary["regions"] if r["positions"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    names = [f"{r['dataset']}\n{r['policy']}" for r in entries]
    region_names = sorted({k for r in entries for k in r["counts"]})
    bottom = [0.0] * len(entries)
    for region in region_names:
        shares = [r["counts"].get(region, 0) / max(sum(r["counts"].values()), 1) for r in entries]
        axes[0].bar(names, shares, bottom=bottom, label=region)
        bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
    axes[0].set_ylabel("share of cited hidden sentences")
    _legend(axes[0], 7)
    axes[0].tick_params(axis="x", labelsize=7)
    for r, name in zip(entries, names, strict=True):
        axes[1].hist(r["positions"], bins=10, range=(0, 1), histtype="step", label=name.replace("\n", " / "))
    _legend(axes[1], 6)
    axes[1].set_xlabel("relative position in hidden text (0 = first procedure sentence)")
    axes[1].set_ylabel("cited sentences")
    _save(fig, path)


def _plot_turns(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves = [c for c in summary["per_turn"] if c["evidence"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for c in curves:
        label = f"{c['dataset']} / {c['policy']} / {c['max_turns']}"
        for ax, key in zip(axes, ("evidence", "novelty"), strict=True):
            ys = [y if y is not None else float("nan") for y in c[key]]
            ax.plot(range(1, len(ys) + 1), ys, marker="o", label=label)
    for ax, key in zip(axes, ("evidence", "novelty"), strict=True):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("turn")
        ax.set_ylabel(f"mean {key} reward")
        ax.set_ylim(0, 1.05)
        _legend(ax, 6)
    _save(fig, path)


PLOTS = {
    "scores.png": _plot_scores,
    "turn_budget.png": _plot_budget,
    "evidence_regions.png": _plot_regions,
    "reward_per_turn.png": _plot_turns,
}


def render_markdown(summary: dict[str, Any], plots: Sequence[str]) -> str:
    lines = ["# Clarify evaluation report", ""]
    lines += [
        "Scores are checklist coverage (tasks with an output specification) or answer accuracy (tasks",
        "with a gold answer), as judged by the judge named in each row of results.jsonl.",
        "",
    ]
    lines += [
        "## Policies and turn budgets",
        "",
        "| dataset | policy | turns | n | score | 95% CI | evidence | novelty | coverage | questions | "
        "repeated | errors | judge missing | LLM calls | tokens |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for g in summary["groups"]:
        ci = f"[{_fmt(g['score_ci'][0])}, {_fmt(g['score_ci'][1])}]" if g["score_ci"] else "–"
        lines.append(
            f"| {g['dataset']} | {g['policy']} | {g['max_turns']} | {g['n']} | {_fmt(g['score'])} | {ci} | "
            f"{_fmt(g['evidence'])} | {_fmt(g['novelty'])} | {_fmt(g['coverage'])} | {_fmt(g['questions'])} | "
            f"{g['repeated']} | {g['errors']} | {g['judge_missing']} | {g['llm_calls']} | {g['tokens']} |"
        )
    lines += [
        "",
        "## Score per field (Table 1)",
        "",
        "| dataset | policy | turns | field | n | score |",
        "|---|---|---:|---|---:|---:|",
    ]
    for f in summary["fields"]:
        lines.append(
            f"| {f['dataset']} | {f['policy']} | {f['max_turns']} | {f['field']} | {f['n']} | {_fmt(f['score'])} |"
        )
    lines += [
        "",
        "## Where cited evidence falls (Figure 5)",
        "",
        "| dataset | policy | cited by region |",
        "|---|---|---|",
    ]
    for r in summary["regions"]:
        lines.append(
            f"| {r['dataset']} | {r['policy']} | "
            + (", ".join(f"{k} {v}" for k, v in r["counts"].items()) or "none")
            + " |"
        )
    if summary.get("pairwise"):
        lines += [
            "",
            "## Pairwise (A vs B, both orders)",
            "",
            "| A | B | questions W/T/L | draft W/T/L |",
            "|---|---|---|---|",
        ]
        for p in summary["pairwise"]:
            q, d = p["questions"], p["draft"]
            lines.append(f"| {p['a']} | {p['b']} | {wtl(q)} | {wtl(d)} |")
    lines += ["", "## Plots", ""]
    lines += [f"![{name}]({name})" for name in plots]
    return "\n".join(lines) + "\n"


def write_report(rows: Sequence[Row], summary: dict[str, Any], out: Path) -> list[Path]:
    """Write the PNG plots (if matplotlib is installed) and ``report.md``; return the files written."""
    written: list[Path] = []
    try:
        import matplotlib

        matplotlib.use("Agg")
        for name, plot in PLOTS.items():
            plot(summary, out / name)
            written.append(out / name)
    except ImportError:
        pass
    report = out / "report.md"
    report.write_text(render_markdown(summary, [p.name for p in written]), encoding="utf-8")
    return [*written, report]
