"""Summaries, plots and the markdown report of an evaluation, computed in one streaming pass over its rows.

Memory does not grow with the number of episodes: each (dataset, policy, budget) group keeps running
sums and counts, its judge scores as a count per distinct value (all the bootstrap needs) and the cited
positions as histogram bins; pairwise judging re-reads from disk the two rows each comparison needs.
Sums are exact (:class:`ExactSum`), so a summary does not depend on the order its rows were written in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..runs import RunDir, read_rows, row_at
from ..tasks import MaskedTask

Row = dict[str, Any]

#: Bins of the relative position of cited hidden sentences (0 = the task's first hidden sentence).
POSITION_BINS = 10
#: Distinct error reasons kept per group; beyond that they are counted together, so a run whose every
#: episode fails with its own message cannot grow the summary without bound.
MAX_REASONS = 1000
OTHER_REASONS = "(other reasons)"


class ExactSum:
    """A float sum whose value does not depend on the order of its terms (Shewchuk's exact partials, as
    :func:`math.fsum`, kept incrementally in a few floats)."""

    __slots__ = ("n", "partials")

    def __init__(self) -> None:
        self.partials: list[float] = []
        self.n = 0

    def add(self, x: float) -> None:
        self.n += 1
        i = 0
        for y in self.partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                self.partials[i] = lo
                i += 1
            x = hi
        self.partials[i:] = [x]

    def mean(self) -> float | None:
        return math.fsum(self.partials) / self.n if self.n else None


def bootstrap_ci(values: Iterable[float], *, seed: int = 0, resamples: int = 1000) -> list[float] | None:
    """95% percentile bootstrap interval of the mean (seeded, so reruns agree)."""
    return bootstrap_ci_counts(Counter(values), seed=seed, resamples=resamples)


def bootstrap_ci_counts(counts: Mapping[float, int], *, seed: int = 0, resamples: int = 1000) -> list[float] | None:
    """:func:`bootstrap_ci` of values kept as a count per distinct value. They are resampled in sorted order,
    so the interval depends on the values only, not on the order they were seen in; the sorted list exists
    only while one group is resampled (a pointer per value: drawing from the counts directly by bisection
    took 2.7x as long)."""
    if not counts:
        return None
    rng = random.Random(seed)
    values = [v for v in sorted(counts) for _ in range(counts[v])]
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    return [means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]]


def _score(row: Row) -> float | None:
    judge = row.get("judge") or {}
    return judge.get("score")


def _order(key: tuple[Any, ...]) -> tuple[str, ...]:
    """Groups in (dataset, policy, budget, ...) order, budgets numerically."""
    return tuple(str(k) if not isinstance(k, int) else f"{k:06d}" for k in key)


class _Group:
    """Running statistics of one (dataset, policy, budget) group."""

    def __init__(self) -> None:
        self.n = self.errors = self.repeated = self.llm_calls = self.tokens = self.questions = 0
        self.scores: Counter[float] = Counter()
        self.score, self.evidence, self.novelty, self.coverage = ExactSum(), ExactSum(), ExactSum(), ExactSum()
        self.reasons: Counter[str] = Counter()
        self.judges: Counter[str] = Counter()
        self.turn_evidence: list[ExactSum] = []
        self.turn_novelty: list[ExactSum] = []

    def add(self, row: Row) -> None:
        self.n += 1
        self.judges[(row.get("judge") or {}).get("method") or "none"] += 1
        if (score := _score(row)) is not None:
            self.scores[score] += 1
            self.score.add(score)
        self.repeated += row.get("repeated", 0)
        self.llm_calls += row.get("llm_calls", 0)
        self.tokens += row.get("tokens", 0)
        turns = row["turns"]
        for i, t in enumerate(turns):
            if i == len(self.turn_evidence):
                self.turn_evidence.append(ExactSum())
                self.turn_novelty.append(ExactSum())
            if t["evidence_reward"] is not None:
                self.turn_evidence[i].add(t["evidence_reward"])
            if t["novelty_reward"] is not None:
                self.turn_novelty[i].add(t["novelty_reward"])
        if row.get("error"):
            self.errors += 1
            reason = str(row["error"])[:200]
            if reason not in self.reasons and len(self.reasons) >= MAX_REASONS:
                reason = OTHER_REASONS
            self.reasons[reason] += 1
            return
        for acc, key in ((self.evidence, "evidence_mean"), (self.novelty, "novelty_mean")):
            if row.get(key) is not None:
                acc.add(row[key])
        self.coverage.add(row["coverage"])
        self.questions += len(turns)

    def stats(self, seed: int) -> dict[str, Any]:
        ok = self.n - self.errors
        return {
            "n": self.n,
            "score": self.score.mean(),
            "score_ci": bootstrap_ci_counts(self.scores, seed=seed),
            "judged": self.score.n,
            "judge_missing": self.n - self.score.n,
            "evidence": self.evidence.mean(),
            "novelty": self.novelty.mean(),
            "coverage": self.coverage.mean(),
            "questions": self.questions / ok if ok else None,
            "repeated": self.repeated,
            "errors": self.errors,
            "error_reasons": sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:3],
            "llm_calls": self.llm_calls,
            "tokens": self.tokens,
            "judges": dict(sorted(self.judges.items())),
        }


class _Regions:
    """Where the cited hidden sentences of one (dataset, policy) come from: regions and position bins."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.bins = [0] * POSITION_BINS

    def add(self, row: Row) -> None:
        regions = row.get("regions", [])
        for t in row["turns"]:
            for i in t["cited"]:
                if i < len(regions):
                    self.counts[regions[i]] += 1
                    self.bins[POSITION_BINS * i // len(regions)] += 1


class Summarizer:
    """Feed results rows one at a time (:meth:`add`), in any order; :meth:`summary` gives what
    :func:`summarize` gives for the same rows."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.groups: dict[tuple[str, str, int], _Group] = defaultdict(_Group)
        self.fields: dict[tuple[str, str, int, str], ExactSum] = defaultdict(ExactSum)
        self.field_n: Counter[tuple[str, str, int, str]] = Counter()
        self.regions: dict[tuple[str, str], _Regions] = defaultdict(_Regions)

    def add(self, row: Row) -> None:
        d, p, b = row["dataset"], row["policy"], row["max_turns"]
        self.groups[(d, p, b)].add(row)
        field = (d, p, b, row["field"])
        self.field_n[field] += 1
        if (score := _score(row)) is not None:
            self.fields[field].add(score)
        self.regions[(d, p)].add(row)

    def summary(self) -> dict[str, Any]:
        groups = sorted(self.groups.items(), key=lambda kv: _order(kv[0]))
        return {
            "groups": [{"dataset": d, "policy": p, "max_turns": b, **g.stats(self.seed)} for (d, p, b), g in groups],
            "fields": [
                {
                    "dataset": d,
                    "policy": p,
                    "max_turns": b,
                    "field": f or "(none)",
                    "n": n,
                    "score": self.fields[(d, p, b, f)].mean() if (d, p, b, f) in self.fields else None,
                }
                for (d, p, b, f), n in sorted(self.field_n.items(), key=lambda kv: _order(kv[0]))
            ],
            "per_turn": [
                {
                    "dataset": d,
                    "policy": p,
                    "max_turns": b,
                    "evidence": [s.mean() for s in g.turn_evidence],
                    "novelty": [s.mean() for s in g.turn_novelty],
                }
                for (d, p, b), g in groups
            ],
            "regions": [
                {"dataset": d, "policy": p, "counts": dict(sorted(r.counts.items())), "position_bins": r.bins}
                for (d, p), r in sorted(self.regions.items(), key=lambda kv: _order(kv[0]))
            ],
        }


def summarize(rows: Iterable[Row], *, seed: int = 0) -> dict[str, Any]:
    """Per (dataset, policy, budget) statistics, per-field scores, per-turn rewards, evidence regions.

    One pass, in any order: the summary (bootstrap included) does not depend on the order in which
    concurrent episodes happened to finish, and ``rows`` may be a generator over a file of any size.
    """
    summarizer = Summarizer(seed)
    for row in rows:
        summarizer.add(row)
    return summarizer.summary()


# ---- pairwise ----------------------------------------------------------------------------------

PAIRWISE = "pairwise.jsonl"
KINDS = ("questions", "draft")


class PairIndex:
    """Where, in the results file, each episode of a compared policy starts: what pairwise judging needs
    to re-read two rows, without keeping rows (fed row by row alongside :class:`Summarizer`)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]):
        self.policies = {p for pair in pairs for p in pair}
        self.offsets: dict[tuple[str, int], dict[tuple[str, str], int]] = defaultdict(dict)

    def add(self, offset: int, row: Row) -> None:
        if row["policy"] in self.policies:
            self.offsets[(row["policy"], row["max_turns"])][(row["dataset"], row["task_id"])] = offset

    def budget(self, policy: str) -> int | None:
        """The largest budget the policy ran (what a pair compares), or None if it never ran."""
        return max((b for p, b in self.offsets if p == policy), default=None)


def _sides(row: Row) -> dict[str, Any]:
    """What the pairwise judge reads of an episode (its questions and its draft)."""
    return {"questions": [t["question"] for t in row.get("turns", [])], "draft": row.get("draft")}


def _cache_key(pair: Sequence[Any], dataset: str, task_id: str, kind: str, judge: str, a: Row, b: Row) -> str:
    """A verdict's key: the pair (with budgets), the task, the kind, the judge, and a digest of what was
    compared (a retried episode with another draft is judged again)."""
    digest = hashlib.sha256(json.dumps([_sides(a)[kind], _sides(b)[kind]]).encode()).hexdigest()[:16]
    return json.dumps([*pair, dataset, task_id, kind, judge, digest])


async def _verdict(judge: Any, kind: str, task: MaskedTask, first: Row, second: Row) -> tuple[str | None, list[Any]]:
    """One order's preference ("A", "B" or "tie"; None when the judge failed) and the calls it cost."""
    from ..llm import LLMError

    try:
        verdict, calls = await judge.arun(kind, task, first, second)
    except LLMError as exc:
        return None, exc.calls
    return verdict.better, calls


async def _judge_pair(judge: Any, kind: str, task: MaskedTask, a: Row, b: Row) -> dict[str, Any]:
    """Both orders, so position bias cancels (:func:`~langgraph_clarify.judge.reconcile`); the outcome is
    None when either order failed."""
    from ..judge import reconcile

    (forward, calls_f), (backward, calls_b) = await asyncio.gather(
        _verdict(judge, kind, task, a, b), _verdict(judge, kind, task, b, a)
    )
    calls = [*calls_f, *calls_b]
    return {
        "outcome": reconcile(forward, backward) if forward is not None and backward is not None else None,
        "verdicts": [forward, backward],
        "llm_calls": len(calls),
        "tokens": sum(c["input_tokens"] + c["output_tokens"] for c in calls),
    }


Verdict = tuple[str, dict[str, Any]]  # (kind, {"outcome", "llm_calls", "tokens", ...})
Common = list[tuple[tuple[str, str], int, int]]  # ((dataset, task id), offset of A's row, offset of B's row)


async def _judge_all(
    judge: Any,
    judge_name: str,
    pair: tuple[str, int, str, int],
    common: Common,
    fh: Any,
    tasks: dict[tuple[str, str], MaskedTask],
    cache: RunDir,
    known: dict[str, Row],
    concurrency: int,
) -> list[Verdict]:
    gate = asyncio.Semaphore(max(concurrency, 1))

    async def one(dataset: str, task_id: str, kind: str, off_a: int, off_b: int) -> Verdict:
        async with gate:  # rows are read inside the gate: at most ``concurrency`` pairs of rows in memory
            ra, rb = row_at(fh, off_a), row_at(fh, off_b)
            key = _cache_key(pair, dataset, task_id, kind, judge_name, ra, rb)
            if key in known:
                return kind, known[key]
            verdict = await _judge_pair(judge, kind, tasks[(dataset, task_id)], ra, rb)
        if verdict["outcome"] is not None:  # a failure is asked again next time
            cache.append({"key": key, **verdict})
        return kind, verdict

    return await asyncio.gather(*(one(d, t, kind, oa, ob) for (d, t), oa, ob in common for kind in KINDS))


def pairwise_outcomes(
    results: Path,
    index: PairIndex,
    tasks: dict[tuple[str, str], MaskedTask],
    pairs: Sequence[tuple[str, str]],
    judge_model: Any,
    *,
    concurrency: int = 8,
) -> list[dict[str, Any]]:
    """Win/tie/lose of policy A against B on the same tasks at the largest budget both ran.

    Each comparison re-reads its two rows from ``results`` (offsets from ``index``). LLM verdicts are
    kept in ``pairwise.jsonl`` beside the results, so a resumed run asks only what it has not asked
    before. Each pair counts the calls and tokens of its verdicts (``llm_calls``, ``tokens``; a cached
    verdict's calls were made when it was first asked), so the summary is the same however often the run
    was resumed. ``judge_model`` is a model string or a chat model (None: the offline comparison).
    """
    from ..judge import PairwiseJudge, compare_offline, tally
    from ..llm import model_name

    judge = PairwiseJudge(judge_model) if judge_model else None
    name = "offline" if judge is None else judge_model if isinstance(judge_model, str) else model_name(judge_model)
    out = []
    with results.open("rb") as fh, contextlib.ExitStack() as stack:
        cache = stack.enter_context(RunDir(results.parent, results=PAIRWISE, resume=True)) if judge else None
        known = {r["key"]: r for r in read_rows(cache.results)} if cache is not None else {}
        for a, b in pairs:
            ba, bb = index.budget(a), index.budget(b)
            if ba is None or bb is None:
                raise ValueError(f"pairwise {a}:{b}: both policies must be in this evaluation")
            rows_a, rows_b = index.offsets[(a, ba)], index.offsets[(b, bb)]
            common = [(k, rows_a[k], rows_b[k]) for k in sorted(rows_a) if k in rows_b and k in tasks]
            verdicts: list[Verdict] = []
            if cache is None:
                for _, off_a, off_b in common:
                    ra, rb = row_at(fh, off_a), row_at(fh, off_b)
                    verdicts += [(kind, {"outcome": compare_offline(kind, ra, rb)}) for kind in KINDS]
            else:
                pair = (a, ba, b, bb)
                verdicts = asyncio.run(_judge_all(judge, name, pair, common, fh, tasks, cache, known, concurrency))
            result: dict[str, Any] = {"a": a, "b": b, "max_turns": [ba, bb], "judge": name}
            for kind in KINDS:
                result[kind] = tally([v["outcome"] for k, v in verdicts if k == kind])
            result["llm_calls"] = sum(v.get("llm_calls", 0) for _, v in verdicts)
            result["tokens"] = sum(v.get("tokens", 0) for _, v in verdicts)
            out.append(result)
    return out


# ---- plots and markdown ------------------------------------------------------------------------

PAPER = "Huang et al. 2025, arXiv 2507.21389"


def wtl(counts: dict[str, int]) -> str:
    """``win/tie/lose``, plus the pairs a failing LLM judge left unjudged."""
    text = f"{counts['win']}/{counts['tie']}/{counts['lose']}"
    return text + (f" ({counts['missing']} unjudged)" if counts.get("missing") else "")


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def describe_judge(method: str) -> str:
    """What a judge's score means, for the report's reader (``method`` as results rows record it)."""
    from ..judge import EMBED_THRESHOLD, LEXICAL_THRESHOLD

    if method == "offline-embedding-judge":
        return (
            "checklist coverage without an LLM: an item is met when a window of one or two draft sentences is "
            f"close to it (MiniLM embeddings, cosine >= {EMBED_THRESHOLD}); score = share of items met"
        )
    if method == "offline-lexical-judge":
        return (
            "checklist coverage without an LLM: an item is met when a window of one or two draft sentences holds "
            f"at least {LEXICAL_THRESHOLD:.0%} of its content words (the prompt's own words excluded); score = "
            "share of items met"
        )
    if method == "answer-judge":
        return "exact match of the draft's final answer (option letter or answer text) with the gold answer: 1 or 0"
    if method.startswith("llm:"):
        return f"the LLM {method[4:]} marks each checklist item met or not, as in the paper; score = share met"
    if method == "none":
        return "not judged: the episode left no draft, or its task has neither a checklist nor a gold answer"
    return "a custom judge"


COLUMNS = (
    ("turns", "the turn budget: the most questions the policy may ask"),
    ("n", "episodes in the group (one per task)"),
    ("score", "mean judge score over the judged episodes (an episode the judge could not score is left out, not 0)"),
    ("95% CI", "percentile bootstrap interval of that mean (1,000 resamples, seeded)"),
    ("evidence", "mean per-turn evidence reward, the paper's: 1 when the answer cites any hidden sentence"),
    ("novelty", "mean per-turn novelty reward: 1 only when the answer cites a hidden sentence no earlier turn cited"),
    ("coverage", "share of the task's hidden sentences cited by the end of the episode"),
    ("questions", "questions asked per episode"),
    ("repeated", "questions that repeat an earlier one of the same episode (up to case and punctuation)"),
    ("errors", "episodes that failed (a component raised, or a model call failed after its retries)"),
    ("judge missing", "episodes without a score (no draft, an LLM judge that failed, or nothing to judge against)"),
    ("LLM calls", "calls to LLMs, judge included (offline components make none)"),
    ("tokens", "prompt + completion tokens of those calls, as the backends reported them"),
)


def _judges(summary: dict[str, Any]) -> list[str]:
    methods: Counter[str] = Counter()
    for g in summary["groups"]:
        methods.update(g.get("judges", {}))
    return [f"- `{m}` ({n} episodes): {describe_judge(m)}." for m, n in sorted(methods.items())]


def render_markdown(summary: dict[str, Any], plots: Sequence[str]) -> str:
    lines = ["# Clarify evaluation report", ""]
    lines += ["Drafts were scored by:", "", *_judges(summary), ""]
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
    lines += ["", "What the columns mean (a dash: nothing was measured):", ""]
    lines += [f"- **{name}**: {text}." for name, text in COLUMNS]
    lines += [
        "",
        f"## Score per field (Table 1 of the paper, {PAPER})",
        "",
        "The judge score of each group split by the task's field (domain), as the paper's Table 1 reports it.",
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
        f"## Where cited evidence falls (Figure 5 of the paper, {PAPER})",
        "",
        "How many of the hidden sentences the oracle cited came from each region of the task (procedure,",
        "output specification, notes, ...), over every turn of every episode of the policy, all budgets together.",
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
            "A against B on the same tasks, each at the largest budget it ran. *questions*: whose questions were",
            "better; *draft*: whose draft was. W/T/L counts tasks A won, tied and lost. The `offline` comparison",
            "counts hidden sentences newly uncovered (questions) and compares judge scores (drafts); an LLM judge",
            "is asked in both orders and a disagreement is a tie (position bias cancels); *unjudged* are pairs it",
            "failed on. *LLM calls* and *tokens* are what its verdicts cost (kept in pairwise.jsonl, not re-asked).",
            "",
            "| A | B | budgets | judge | questions W/T/L | draft W/T/L | LLM calls | tokens |",
            "|---|---|---|---|---|---|---:|---:|",
        ]
        for p in summary["pairwise"]:
            budgets = "{} vs {}".format(*p["max_turns"])
            lines.append(
                f"| {p['a']} | {p['b']} | {budgets} | {p['judge']} | {wtl(p['questions'])} | {wtl(p['draft'])} | "
                f"{p['llm_calls']} | {p['tokens']} |"
            )
    lines += ["", "## Plots", ""]
    lines += [f"![{name}]({name})" for name in plots]
    return "\n".join(lines) + "\n"


def _legend(ax: Any, size: int, outside: bool = False) -> None:
    """A legend only where something is labelled (an empty one makes matplotlib warn); ``outside`` puts it
    right of the axes, where it cannot cover what is plotted."""
    if ax.get_legend_handles_labels()[0]:
        if outside:
            ax.legend(fontsize=size, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        else:
            ax.legend(fontsize=size)


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # "tight" keeps legends placed outside the axes
    plt.close(fig)


def _plot_scores(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    groups = summary["groups"]
    datasets = sorted({g["dataset"] for g in groups})
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.8), squeeze=False)
    for ax, d in zip(axes[0], datasets, strict=True):
        best: dict[str, dict[str, Any]] = {}
        for g in groups:
            if (
                g["dataset"] == d
                and g["score"] is not None
                and g["max_turns"] >= best.get(g["policy"], {}).get("max_turns", -1)
            ):
                best[g["policy"]] = g
        names = [f"{n}\n({best[n]['max_turns']} turns)" for n in best]
        values = [best[n]["score"] for n in best]
        errs = [
            [v - (best[n]["score_ci"] or [v, v])[0] for n, v in zip(best, values, strict=True)],
            [(best[n]["score_ci"] or [v, v])[1] - v for n, v in zip(best, values, strict=True)],
        ]
        bars = ax.bar(names, values, yerr=errs, capsize=4, color="#7b6cf6")
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
        ax.set_title(f"{d}: judge score at each policy's\nlargest turn budget (95% CI)", fontsize=9)
        ax.set_ylabel("score")
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", labelsize=7)
    _save(fig, path)


def _plot_budget(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    groups = summary["groups"]
    datasets = sorted({g["dataset"] for g in groups})
    fig, axes = plt.subplots(2, len(datasets), figsize=(4.5 * len(datasets), 6.6), squeeze=False)
    titles = {"score": "judge score vs turn budget", "coverage": "hidden sentences uncovered vs turn budget"}
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
            ax.set_title(f"{d}: {titles[metric]}", fontsize=9)
            _legend(ax, 7)
    _save(fig, path)


def _plot_regions(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    entries = [r for r in summary["regions"] if any(r["position_bins"])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0))
    names = [f"{r['dataset']}\n{r['policy']}" for r in entries]
    region_names = sorted({k for r in entries for k in r["counts"]})
    bottom = [0.0] * len(entries)
    for region in region_names:
        shares = [r["counts"].get(region, 0) / max(sum(r["counts"].values()), 1) for r in entries]
        axes[0].bar(names, shares, bottom=bottom, label=region)
        bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
    axes[0].set_ylabel("share of cited hidden sentences")
    axes[0].set_title("Which region the cited hidden sentences come from", fontsize=9)
    axes[0].set_ylim(0, 1)
    _legend(axes[0], 7, outside=True)
    axes[0].tick_params(axis="x", labelsize=7)
    edges = [k / POSITION_BINS for k in range(POSITION_BINS + 1)]
    for r, name in zip(entries, names, strict=True):
        axes[1].stairs(r["position_bins"], edges, label=name.replace("\n", " / "))
    _legend(axes[1], 6, outside=True)
    axes[1].set_xlabel("relative position in the hidden text (0 = its first sentence)")
    axes[1].set_ylabel("cited sentences")
    axes[1].set_title("Where in the hidden text the cited sentences sit", fontsize=9)
    _save(fig, path)


#: Line styles and markers that tell apart curves drawn on top of each other (budgets of one policy ask the
#: same first questions, so their per-turn rewards coincide): each curve also sits slightly to one side.
STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _plot_turns(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves = [c for c in summary["per_turn"] if c["evidence"]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.3  # the spread of the side offsets, in turns
    for k, c in enumerate(curves):
        label = f"{c['dataset']} / {c['policy']} / {c['max_turns']} turns"
        shift = (k - (len(curves) - 1) / 2) * width / max(len(curves) - 1, 1)
        style = {"linestyle": STYLES[k % len(STYLES)], "marker": MARKERS[k % len(MARKERS)], "markersize": 5}
        for ax, key in zip(axes, ("evidence", "novelty"), strict=True):
            ys = [y if y is not None else float("nan") for y in c[key]]
            ax.plot([i + 1 + shift for i in range(len(ys))], ys, label=label, alpha=0.85, **style)
    for ax, key in zip(axes, ("evidence", "novelty"), strict=True):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("turn (curves offset sideways so equal values stay visible)")
        ax.set_ylabel(f"mean {key} reward")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"Mean {key} reward at each turn, over the episodes that reached it", fontsize=9)
    _legend(axes[1], 6, outside=True)
    _save(fig, path)


PLOTS = {
    "scores.png": _plot_scores,
    "turn_budget.png": _plot_budget,
    "evidence_regions.png": _plot_regions,
    "reward_per_turn.png": _plot_turns,
}


def write_report(summary: dict[str, Any], out: Path) -> list[Path]:
    """Write the PNG plots (if matplotlib is installed) and ``report.md``; return the files written. A plot
    this report does not have is removed, so the plots in ``out`` are always this report's."""
    written: list[Path] = []
    try:
        import matplotlib

        matplotlib.use("Agg")
        for name, plot in PLOTS.items():
            plot(summary, out / name)
            written.append(out / name)
    except ImportError:
        for name in PLOTS:
            (out / name).unlink(missing_ok=True)
    report = out / "report.md"
    report.write_text(render_markdown(summary, [p.name for p in written]), encoding="utf-8")
    return [*written, report]


def report_files(out: Path) -> list[Path]:
    """What an evaluation leaves in ``out``: results, summary, report and the plots :func:`write_report` made."""
    from .runner import RESULTS

    return [out / RESULTS, out / "summary.json", out / "report.md", *(out / n for n in PLOTS if (out / n).exists())]
