"""Validity suite: does the reward pay specific questions, does the oracle find answers, are the judges fooled?

Shared by ``clarify validity``, ``evals/validity.py`` and the tests, so the figures in
evals/README.md and the targets the tests check come from the same code:

- **templates**: every question of a bank (task-agnostic: the offline asker's facet questions,
  "What are the steps?", facet stuffing, an off-domain question, questions that only restate the
  objective) is asked as the first question of an episode on every task: the share of tasks where
  the reward is > 0 and its mean.
- **targeted**: per task, one question built from one hidden sentence (:func:`targeted_question`):
  the same figures, plus how often the answer cites that source sentence.
- **oracle**: on questions with marked answers (``{"task_id", "question", "gold"}``; ``gold: []``
  when the answer is not hidden): hit rate, citation precision, abstention.
- **judges**: each judge's scores on full-information, direct, negated-checklist and off-topic
  drafts, and the AUC of full against direct.
- **episodes**: mean episode return (:func:`episode_return`) of the offline asker, of `direct` and of
  an asker of targeted questions, over whole episodes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..asker import CASE_FACETS, FACETS, HeuristicAsker
from ..episodes import episode_input
from ..judge import judge_draft
from ..llm import Component
from ..oracle import explicit_terms, terms
from ..rewards import RewardConfig, combine, ending_components, score_turn, turn_components
from ..state import DialogueView, Turn
from ..tasks import MaskedTask
from ..writer import ExtractiveWriter

Kind = Literal["generic", "stuffing", "off_domain", "objective", "custom"]


@dataclass(frozen=True)
class TemplateQuestion:
    """A task-agnostic question; ``{objective}`` is replaced by each task's objective."""

    question: str
    kind: Kind = "custom"

    def on(self, task: MaskedTask) -> str:
        return self.question.replace("{objective}", task.objective)


STUFFING = (
    "Please share every detail you have about the procedure, the output sections, the format, the audience, "
    "the length, the style, the constraints, the criteria and the sources."
)

QUESTION_BANK: tuple[TemplateQuestion, ...] = (
    *(TemplateQuestion(q, "generic") for _f, _w, q in FACETS),
    *(TemplateQuestion(q, "generic") for _f, _w, q in CASE_FACETS),
    TemplateQuestion("What are the steps?", "generic"),
    TemplateQuestion("Is there anything else I should know?", "generic"),
    TemplateQuestion(STUFFING, "stuffing"),
    TemplateQuestion(
        "What is the patient's blood pressure, and which medications is the patient taking?", "off_domain"
    ),
    TemplateQuestion("What should the {objective} include?", "objective"),
    TemplateQuestion("Can you tell me more about the {objective}?", "objective"),
)

#: Mean-reward ceilings relative to the targeted mean, by kind (the issue's targets).
CEILINGS: dict[str, float] = {"generic": 0.2, "stuffing": 0.05, "off_domain": 0.05, "objective": 0.05}

_WORD = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


def targeted_candidates(task: MaskedTask) -> list[tuple[int, str]]:
    """For every hidden sentence with at least three words the explicit part lacks, a question made of
    three of them: the rarest among the task's hidden sentences (longer first on ties), so they point
    at that sentence."""
    known = explicit_terms(task.explicit)
    df = Counter(t for h in task.hidden for t in set(terms(h.text)))
    out = []
    for h in task.hidden:
        words: dict[str, str] = {}
        for word in _WORD.findall(h.text):
            found = terms(word)
            if found and found[0] not in known:
                words.setdefault(found[0], word.lower())
        if len(words) < 3:
            continue
        order = list(words.values())
        picked = sorted(words.items(), key=lambda tw: (df[tw[0]], -len(tw[1]), order.index(tw[1])))[:3]
        a, b, c = sorted((w for _t, w in picked), key=order.index)
        out.append((h.index, f"Could you tell me more about {a}, {b} and {c}?"))
    return out


def _start(task: MaskedTask, n: int) -> int:
    return int(hashlib.sha256(task.id.encode()).hexdigest(), 16) % n


def targeted_question(task: MaskedTask) -> tuple[int, str] | None:
    """A question aimed at one hidden sentence (its index and the question), picked among
    :func:`targeted_candidates` by a stable hash of the task id; None when no sentence qualifies."""
    candidates = targeted_candidates(task)
    return candidates[_start(task, len(candidates))] if candidates else None


def first_turn(question: str, task: MaskedTask, oracle: Component, cfg: RewardConfig) -> tuple[float, list[int]]:
    """The reward and the citations of ``question`` asked as the first question on ``task``."""
    inp = episode_input(task)
    reply, _ = oracle.run(question, inp["explicit"], inp.get("hidden", []))
    parts = turn_components(question, reply.evidence, [], inp.get("hidden", []), inp["explicit"], cfg=cfg)
    return combine(parts, cfg), list(reply.evidence)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def template_figures(
    tasks: Sequence[MaskedTask], bank: Sequence[TemplateQuestion], oracle: Component, cfg: RewardConfig
) -> list[dict[str, Any]]:
    out = []
    for template in bank:
        rewards = [first_turn(template.on(t), t, oracle, cfg)[0] for t in tasks]
        out.append(
            {
                "question": template.question,
                "kind": template.kind,
                "rewarded_share": _mean([float(r > 0) for r in rewards]),
                "mean_reward": _mean(rewards),
            }
        )
    return out


def targeted_figures(tasks: Sequence[MaskedTask], oracle: Component, cfg: RewardConfig) -> dict[str, Any]:
    rewards, sourced = [], []
    for task in tasks:
        built = targeted_question(task)
        if built is None:
            continue
        reward, cited = first_turn(built[1], task, oracle, cfg)
        rewards.append(reward)
        sourced.append(float(built[0] in cited))
    return {
        "tasks": len(rewards),
        "rewarded_share": _mean([float(r > 0) for r in rewards]),
        "source_cited_share": _mean(sourced),
        "mean_reward": _mean(rewards),
    }


def _json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of each non-blank line; invalid JSON is an error naming file and line."""
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from None


def load_labelled(path: str | Path) -> list[dict[str, Any]]:
    """Questions with marked answers; each line ``{"task_id", "question", "gold": [indices]}``."""
    rows = []
    for lineno, row in _json_lines(path):
        ok = isinstance(row, dict) and isinstance(row.get("task_id"), str) and isinstance(row.get("question"), str)
        gold = row.get("gold") if isinstance(row, dict) else None
        if not ok or not isinstance(gold, list) or not all(isinstance(i, int) for i in gold):
            raise ValueError(f'{path}:{lineno}: expected {{"task_id": str, "question": str, "gold": [int, ...]}}')
        rows.append(row)
    return rows


def load_bank(path: str | Path) -> list[TemplateQuestion]:
    """Template questions, one ``{"question": "..."}`` per line (optional ``"kind"``)."""
    out = []
    for lineno, row in _json_lines(path):
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise ValueError(f'{path}:{lineno}: expected {{"question": "..."}}')
        kind = row.get("kind", "custom")
        if kind not in (*CEILINGS, "custom"):
            raise ValueError(f"{path}:{lineno}: field 'kind': expected one of {[*CEILINGS, 'custom']}, got {kind!r}")
        out.append(TemplateQuestion(row["question"], kind))
    return out


def oracle_figures(
    labelled: Iterable[dict[str, Any]], tasks: Sequence[MaskedTask], oracle: Component
) -> dict[str, Any]:
    """Hit (a gold sentence cited), precision (cited sentences that are gold) on answerable questions;
    abstain (nothing cited) on questions whose answer is not hidden. Rows of unknown tasks are skipped."""
    by_id = {t.id: t for t in tasks}
    hits, cited, good, abstained, answerable, unanswerable = 0, 0, 0, 0, 0, 0
    for row in labelled:
        task = by_id.get(row["task_id"])
        if task is None:
            continue
        inp = episode_input(task)
        reply, _ = oracle.run(row["question"], inp["explicit"], inp.get("hidden", []))
        got, gold = set(reply.evidence), set(row["gold"])
        if gold:
            answerable += 1
            hits += bool(got & gold)
            cited += len(got)
            good += len(got & gold)
        else:
            unanswerable += 1
            abstained += not got
    return {
        "questions": answerable + unanswerable,
        "hit": hits / answerable if answerable else None,
        "precision": good / cited if cited else None,
        "abstain": abstained / unanswerable if unanswerable else None,
    }


# ---- judges ----------------------------------------------------------------------------------------


def _draft(task: MaskedTask, answers: Sequence[str]) -> str:
    turns = [score_turn(i, "?", a, [], [], 1) for i, a in enumerate(answers)]
    draft, _ = ExtractiveWriter().run(DialogueView(explicit=task.explicit, turns=turns))
    return str(draft)


def full_draft(task: MaskedTask) -> str:
    """What the offline writer drafts once every hidden sentence has been told."""
    return _draft(task, [h.text for h in task.hidden])


def direct_draft(task: MaskedTask) -> str:
    """What the offline writer drafts without asking anything."""
    return _draft(task, [])


def negated_draft(task: MaskedTask) -> str:
    """The direct draft plus every checklist item, each negated ("Do not include: ...")."""
    return direct_draft(task) + "\n\n" + "\n".join(f"Do not include: {item}" for item in task.checklist)


def off_topic_pairs(tasks: Sequence[MaskedTask]) -> list[tuple[MaskedTask, MaskedTask]]:
    """Each task with another task half the list away whose objective and hidden text differ
    (never an example of its own template), whose full draft serves as the off-topic draft."""
    out = []
    n = len(tasks)
    for k, task in enumerate(tasks):
        for step in range(n // 2, n // 2 + n):
            other = tasks[(k + step) % n]
            if other.objective != task.objective and {h.text for h in other.hidden} != {h.text for h in task.hidden}:
                out.append((task, other))
                break
    return out


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """Probability that a positive scores above a negative (ties count half)."""
    if not positives or not negatives:
        return None
    wins = sum((p > q) + 0.5 * (p == q) for p in positives for q in negatives)
    return wins / (len(positives) * len(negatives))


def judge_figures(tasks: Sequence[MaskedTask], judge: Component) -> dict[str, Any]:
    """Scores of one checklist judge on the four kinds of draft (tasks without a checklist are left out)."""
    with_items = [t for t in tasks if t.checklist]
    others = {task.id: other for task, other in off_topic_pairs(with_items)}

    def scores(make: Any) -> list[float]:
        out = []
        for task in with_items:
            draft = make(task)
            if draft is None:
                continue
            result = judge_draft(task, draft, judge)
            if result.score is not None:
                out.append(result.score)
        return out

    full, direct = scores(full_draft), scores(direct_draft)
    return {
        "tasks": len(with_items),
        "auc_full_vs_direct": auc(full, direct),
        "mean_full": _mean(full),
        "mean_direct": _mean(direct),
        "mean_negated": _mean(scores(negated_draft)),
        "mean_off_topic": _mean(scores(lambda t: full_draft(others[t.id]) if t.id in others else None)),
    }


# ---- whole episodes ----------------------------------------------------------------------------------


def episode_return(
    questions: Sequence[str], task: MaskedTask, oracle: Component, cfg: RewardConfig, *, stopped: bool = False
) -> float:
    """Sum of the rewards of asking ``questions`` in order, plus the STOP term when the asker
    ``stopped`` after them (an empty list without STOP is `direct`: nothing earned, nothing lost)."""
    inp = episode_input(task)
    hidden, explicit = inp.get("hidden", []), inp["explicit"]
    turns: list[Turn] = []
    total = 0.0
    for question in questions:
        reply, _ = oracle.run(question, explicit, hidden)
        total += combine(turn_components(question, reply.evidence, turns, hidden, explicit, cfg=cfg), cfg)
        turns.append(score_turn(len(turns), question, reply.answer, reply.evidence, turns, len(hidden)))
    if stopped:
        total += combine(ending_components("stop", turns, hidden, explicit, cfg=cfg), cfg)
    return total


def offline_questions(task: MaskedTask, budget: int) -> tuple[list[str], bool]:
    """The heuristic asker's questions within ``budget``, and whether it chose to STOP before it."""
    asker, turns = HeuristicAsker(), list[Turn]()
    while len(turns) < budget:
        decision, _ = asker.run(DialogueView(explicit=task.explicit, turns=turns))
        if decision.action == "stop":
            return [t["question"] for t in turns], True
        turns.append(score_turn(len(turns), decision.question, "", [], turns, 1))
    return [t["question"] for t in turns], False


def targeted_questions(task: MaskedTask, budget: int) -> list[str]:
    """``budget`` targeted questions on distinct sentences, from :func:`targeted_question`'s on."""
    candidates = targeted_candidates(task)
    start = _start(task, len(candidates)) if candidates else 0
    return [q for _i, q in (candidates[start:] + candidates[:start])[:budget]]


def episode_figures(
    tasks: Sequence[MaskedTask], oracle: Component, cfg: RewardConfig, budget: int = 5
) -> dict[str, float | None]:
    """Mean episode return of `direct`, the offline asker and a targeted asker at ``budget`` turns."""
    offline, targeted = [], []
    for task in tasks:
        questions, stopped = offline_questions(task, budget)
        offline.append(episode_return(questions, task, oracle, cfg, stopped=stopped))
        targeted.append(episode_return(targeted_questions(task, budget), task, oracle, cfg))
    return {"direct": 0.0 if tasks else None, "offline": _mean(offline), "targeted": _mean(targeted)}


def run_validity(
    tasks: Sequence[MaskedTask],
    *,
    oracle: Component,
    judges: dict[str, Component],
    cfg: RewardConfig,
    bank: Sequence[TemplateQuestion] = QUESTION_BANK,
    labelled: Sequence[dict[str, Any]] | None = None,
    episodes: bool = True,
) -> dict[str, Any]:
    """Every figure of the suite, as ``clarify validity --json`` prints it."""
    return {
        "tasks": len(tasks),
        "templates": template_figures(tasks, bank, oracle, cfg),
        "targeted": targeted_figures(tasks, oracle, cfg),
        "oracle": oracle_figures(labelled, tasks, oracle) if labelled is not None else None,
        "judges": {name: judge_figures(tasks, judge) for name, judge in judges.items()},
        "episodes": episode_figures(tasks, oracle, cfg) if episodes else None,
    }


#: The judges the suite checks by default: both offline ones.
OFFLINE_JUDGES = ("lexical", "embedding")


def _f(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_report(result: dict[str, Any]) -> list[str]:
    """The suite's figures as markdown tables, each template's mean also as a share of the targeted mean."""
    targeted = result["targeted"]
    base = targeted["mean_reward"] or 0.0
    lines = [
        f"{result['tasks']} tasks",
        "",
        "| question | kind | rewarded | mean reward | / targeted |",
        "|---|---|---:|---:|---:|",
    ]
    for row in result["templates"]:
        ratio = row["mean_reward"] / base if base and row["mean_reward"] is not None else None
        lines.append(
            f"| {row['question']} | {row['kind']} | {_f(row['rewarded_share'])} | {_f(row['mean_reward'])} "
            f"| {_f(ratio)} |"
        )
    lines.append(
        f"| targeted ({targeted['tasks']} tasks; source cited {_f(targeted['source_cited_share'])}) | targeted "
        f"| {_f(targeted['rewarded_share'])} | {_f(targeted['mean_reward'])} | 1.000 |"
    )
    if result["oracle"] is not None:
        o = result["oracle"]
        lines += [
            "",
            f"oracle on {o['questions']} labelled questions: hit {_f(o['hit'])}, "
            f"precision {_f(o['precision'])}, abstain {_f(o['abstain'])}",
        ]
    lines += [
        "",
        "| judge | AUC full vs direct | full | direct | negated | off-topic |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, j in result["judges"].items():
        lines.append(
            f"| {name} | {_f(j['auc_full_vs_direct'])} | {_f(j['mean_full'])} | {_f(j['mean_direct'])} "
            f"| {_f(j['mean_negated'])} | {_f(j['mean_off_topic'])} |"
        )
    if result.get("episodes"):
        e = result["episodes"]
        lines += [
            "",
            f"episode return at 5 turns: direct {_f(e['direct'])}, offline {_f(e['offline'])}, "
            f"targeted {_f(e['targeted'])}",
        ]
    return lines
