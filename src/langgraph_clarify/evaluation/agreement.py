"""How far two oracles agree, and whether an oracle cites the facts that really answer a question.

Both checks replay the offline asker's full question sequence on each task (every facet it would
ask, not only the first five) so the figures cover the questions the loop actually asks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..asker import CASE_FACETS, FACETS, HeuristicAsker
from ..episodes import episode_input
from ..llm import Component
from ..oracle import terms
from ..rewards import score_turn
from ..state import DialogueView, Turn
from ..tasks import MaskedTask


def question_sequence(task: MaskedTask) -> list[str]:
    """Every question the heuristic asker would ask on this task, in order."""
    asker, turns = HeuristicAsker(), list[Turn]()
    while True:
        decision, _ = asker.run(DialogueView(explicit=task.explicit, turns=turns))
        if decision.action == "stop":
            return [t["question"] for t in turns]
        turns.append(score_turn(len(turns), decision.question, "", [], turns, 1))


def oracle_agreement(tasks: Sequence[MaskedTask], a: Component, b: Component) -> dict[str, Any]:
    """Cite/abstain agreement (with Cohen's kappa) and Jaccard overlap of the cited sentences."""
    both = only_a = only_b = neither = overlapping = 0
    jaccard: list[float] = []
    for task in tasks:
        inp = episode_input(task)
        for question in question_sequence(task):
            ra, _ = a.run(question, inp["explicit"], inp["hidden"])
            rb, _ = b.run(question, inp["explicit"], inp["hidden"])
            sa, sb = set(ra.evidence), set(rb.evidence)
            if sa and sb:
                both += 1
                overlapping += bool(sa & sb)
                jaccard.append(len(sa & sb) / len(sa | sb))
            elif sa:
                only_a += 1
            elif sb:
                only_b += 1
            else:
                neither += 1
    n = both + only_a + only_b + neither
    observed = (both + neither) / n if n else 0.0
    pa, pb = (both + only_a) / n if n else 0.0, (both + only_b) / n if n else 0.0
    expected = pa * pb + (1 - pa) * (1 - pb)
    return {
        "questions": n,
        "cite_rate_a": pa,
        "cite_rate_b": pb,
        "cite_agreement": observed,
        "kappa": (observed - expected) / (1 - expected) if expected < 1 else 1.0,
        "both_cite_overlap": overlapping / both if both else None,
        "mean_jaccard_when_both_cite": sum(jaccard) / len(jaccard) if jaccard else None,
    }


# Keyword labeller for MediQ atomic facts, one lexicon per case facet of the heuristic asker. It is
# independent of every oracle (it reads facts, not questions) and approximate by design.
FACT_LEXICON: dict[str, tuple[str, ...]] = {
    "history": ("history", "previous", "prior", "past", "medication", "taking", "family", "diagnosed"),
    "timeline": ("day", "week", "month", "ago", "since", "onset", "began", "started", "hour"),
    "findings": ("examination", "exam", "reveal", "show", "palpation", "auscultation", "tender", "appear"),
    "measurements": ("temperature", "°", "blood pressure", "mm hg", "pulse", "/min", "respiration", "saturation"),
    "tests": (
        "laboratory",
        "serum",
        "level",
        "count",
        "culture",
        "x-ray",
        "ct ",
        "mri",
        "biopsy",
        "ecg",
        "ultrasound",
        "urinalysis",
        "test",
    ),
    "person": ("year-old", "age", "male", "female", "woman", "man ", "boy", "girl"),
    "exposures": ("travel", "smok", "alcohol", "drug", "sexual", "occupation", "works", "exposure"),
}
_FACET_BY_QUESTION = {q: facet for facet, _, q in CASE_FACETS + FACETS}


def _sentence_of(fact: str, hidden: Sequence[str]) -> int | None:
    """The hidden sentence a fact was extracted from (largest share of the fact's words), if any."""
    words = set(terms(re.sub(r"^\d+\.\s*", "", fact)))
    if not words:
        return None
    shares = [len(words & set(terms(s))) / len(words) for s in hidden]
    best = max(range(len(shares)), key=shares.__getitem__, default=None)
    return best if best is not None and shares[best] >= 0.6 else None


def mediq_fact_overlap(path: Path, oracle: Component, *, limit: int | None = None) -> dict[str, Any]:
    """On MediQ cases: share of questions whose cited sentences hold a fact that answers them.

    A fact answers a question when it matches the question's facet lexicon; it is located in the
    hidden sentence it was extracted from. Only questions with at least one such hidden fact count.
    """
    from ..tasks import load_tasks

    tasks = {t.id: t for t in load_tasks(path, "mediq").tasks}
    answerable = hits = cited_total = cited_relevant = 0
    with Path(path).open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    for row in rows[:limit] if limit else rows:
        task = tasks.get(f"mediq-{row.get('id')}")
        if task is None or not task.hidden:
            continue
        hidden = [h.text for h in task.hidden]
        facts = row.get("atomic_facts") or row.get("facts") or []
        located = [(f.lower(), _sentence_of(f, hidden)) for f in facts]
        inp = episode_input(task)
        for question in question_sequence(task):
            lexicon = FACT_LEXICON.get(_FACET_BY_QUESTION.get(question, ""), ())
            relevant = {i for fact, i in located if i is not None and any(k in fact for k in lexicon)}
            reply, _ = oracle.run(question, inp["explicit"], inp["hidden"])
            cited = set(reply.evidence)
            cited_total += len(cited)
            cited_relevant += len(cited & relevant)
            if relevant:
                answerable += 1
                hits += bool(cited & relevant)
    return {
        "answerable_questions": answerable,
        "cited_an_answering_fact": hits / answerable if answerable else None,
        "citation_precision": cited_relevant / cited_total if cited_total else None,
        "citations": cited_total,
    }
