"""Judges: score a draft against its task's checklist or gold answer, and compare two policies.

- :class:`LLMChecklistJudge` follows the paper: a frozen LLM marks each checklist item met (1) or
  not (0); score = mean. It must reply ``{"grade", "out_of", "items", "comments"}`` with
  ``out_of`` equal to the number of items, else it is asked again; a judge that still fails leaves
  the score *missing* with the reason, never zero.
- :class:`OfflineChecklistJudge` needs no LLM. An item is met when some window of one or two draft
  sentences is close to it: cosine >= ``EMBED_THRESHOLD`` with the packaged MiniLM embeddings, or,
  without the ``embeddings`` extra, at least ``LEXICAL_THRESHOLD`` of the item's content words.
  It is built not to be fooled by two cheap drafts (validity suite, ``clarify validity``):

  * *Restating the input*: the lexical judge ignores the explicit part's words (an item made only
    of them, e.g. "Book title" when the prompt gives the title, needs a window that covers them and
    adds a word of its own); the embedding judge meets an item only with a window closer to it, by
    ``EMBED_MARGIN``, than anything in the explicit part. On DOLOMITES the direct draft (objective
    and input) fell from 0.43 to 0.00 on the embedding judge.
  * *Negating the checklist*: a draft sentence that negates ("Do not include: <item>", "Avoid ...", "we never ...",
    "the report does not cover ...", or a list under a "Do not include:" line) meets only items that
    negate too ("Never name individuals"); such drafts fell from 1.00 to 0.00 on both judges.

  Blind spots that remain, each with a draft that fools it:

  * It measures *coverage*, not correctness or quality: "Timeline: a table with UTC timestamps" is
    met by a draft that says so over a wrong or empty table. The offline writer's full-information
    draft (the requirements restated as sections) scores ~1.0 without doing the task.
  * Negation it does not parse: "The timeline was left out." or "Skip the action items." are read
    as positive and can meet the item they name; "Do not include: never name individuals" (a double
    negative) meets the item "Never name individuals".
  * Items the input already satisfies can never be met by the embedding judge, even by a correct
    draft: for "Book title: a title that reflects the content" when the input gives the title, the
    explicit part is as close to the item as any draft can be.
  * The lexical judge misses paraphrases ("an executive overview" for "Summary for executives").
  * A draft that pastes another task's requirements of the same kind (another report's "Summary:
    three sentences for executives") meets the items they share.
  It measures whether the draft *covers* each requirement, not whether it is correct or well written.
- :class:`AnswerJudge` scores tasks with a gold answer (MediQ, AskBench) by exact option letter,
  read from replies like "The answer is B." or "**Answer: (b)**".
- :class:`PairwiseJudge` compares two policies' questions and drafts for the same task, judged in
  both orders to cancel position bias (win/tie/lose for the first policy).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from . import prompts
from .llm import Check, Component, LLMComponent, LLMError, ModelCall, messages, offline_call
from .oracle import terms
from .state import render_task
from .tasks import MaskedTask, split_sentences

EMBED_THRESHOLD = 0.6
EMBED_MARGIN = 0.05
LEXICAL_THRESHOLD = 0.5


class JudgeResult(BaseModel):
    """A judged draft. ``score`` is None when it could not be judged; ``error`` says why."""

    method: str
    score: float | None = None
    met: list[int] | None = None
    out_of: int = 0
    comments: str = ""
    error: str | None = None
    calls: list[ModelCall] = Field(default_factory=list)


class ChecklistVerdict(BaseModel):
    grade: int
    out_of: int
    items: list[int]
    comments: str = ""


class LLMChecklistJudge(LLMComponent):
    role = "judge"
    schema = ChecklistVerdict

    def prompt(self, task: MaskedTask, draft: str) -> list[BaseMessage]:
        items = "\n".join(f"{i + 1}. {c}" for i, c in enumerate(task.checklist))
        user = prompts.CHECKLIST_USER.format(objective=task.objective, n=len(task.checklist), items=items, draft=draft)
        return messages(prompts.CHECKLIST_SYSTEM, user)

    def check(self, task: MaskedTask, draft: str) -> Check:
        n = len(task.checklist)

        def valid(v: ChecklistVerdict) -> None:
            if v.out_of != n:
                raise ValueError(f"out_of is {v.out_of} but the checklist has {n} items")
            if len(v.items) != n or any(x not in (0, 1) for x in v.items):
                raise ValueError(f"items must be {n} values of 0 or 1")
            if v.grade != sum(v.items):
                raise ValueError(f"grade {v.grade} differs from the {sum(v.items)} items marked 1")

        return valid

    def finish(self, verdict: ChecklistVerdict, task: MaskedTask, draft: str) -> JudgeResult:
        return JudgeResult(
            method=f"llm:{self.name}",
            score=verdict.grade / verdict.out_of,
            met=verdict.items,
            out_of=verdict.out_of,
            comments=verdict.comments,
        )


# A sentence that tells what the output must NOT have: a directive at its start ("Do not include: ...",
# "Avoid ...", "No ...") or a negated verb of containing ("the report does not cover ...").
_NEGATED = re.compile(
    r"^\W*(?:do not|don't|does not|doesn't|never|avoid|omit|exclude|leave out|without|no|not|nor|none of)\b"
    r"|\bnever\b"
    r"|\b(?:must|should|shall|will|does|do|is|are|need|needs) ?(?:not|n't) (?:be |been )?"
    r"(?:include|included|contain|contained|cover|covered|have|mention|mentioned|provide|provided|discuss|list|state)",
    re.I,
)


# A negating lead-in ("Do not include:", "Avoid the following:") negates all that follows it on its line.
_NEGATED_LEAD = re.compile(r"^\W*(?:do not|don't|never|avoid|omit|exclude|leave out|without)\b[^:.]{0,40}:", re.I)


def negated(text: str) -> bool:
    return _NEGATED.search(text) is not None


def _sentences(text: str) -> list[tuple[str, bool]]:
    """The draft's sentences with their polarity. A negating lead-in ("Do not include: ...") negates
    the rest of its line; on a line of its own it negates the list under it, up to the next blank
    line or heading."""
    out: list[tuple[str, bool]] = []
    block = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            block = False
        lead = _NEGATED_LEAD.match(stripped) is not None
        if lead and stripped.endswith(":"):
            block = True
        out += [(s, block or lead or negated(s)) for s in split_sentences(line)]
    return out


def _windows(sentences: list[tuple[str, bool]], polarity: bool) -> list[str]:
    """Sentences of one polarity, alone and as consecutive pairs."""
    same = [s for s, neg in sentences if neg == polarity]
    return same + [f"{a} {b}" for a, b in itertools.pairwise(same)]


class OfflineChecklistJudge(Component):
    """Checklist coverage without an LLM (embedding if installed, else lexical); see module doc."""

    def __init__(self, method: Literal["auto", "embedding", "lexical"] = "auto"):
        if method == "auto":
            from .embeddings import embeddings_available

            method = "embedding" if embeddings_available() else "lexical"
        self.method = method
        self.name = f"offline-{method}-judge"

    def _met_lexical(self, task: MaskedTask, sentences: list[tuple[str, bool]]) -> list[int]:
        explicit = set(terms(task.explicit_text))
        met = []
        for item in task.checklist:
            windows = [set(terms(w)) for w in _windows(sentences, negated(item))]
            own = set(terms(item)) - explicit
            # an item made only of the prompt's words is met by a window that covers them AND adds something
            wanted, adds = (own, False) if own else (set(terms(item)), True)
            best = (
                max((len(wanted & w) / len(wanted) for w in windows if not adds or w - explicit), default=0.0)
                if wanted
                else 0.0
            )
            met.append(int(best >= LEXICAL_THRESHOLD))
        return met

    def _met_embedding(self, task: MaskedTask, sentences: list[tuple[str, bool]]) -> list[int]:
        """An item is met by a window of its polarity that is close to it AND closer than anything the
        explicit part says (by ``EMBED_MARGIN``): restating the input earns nothing. A two-sentence
        window is the normalised sum of its sentences' vectors, so each sentence is encoded once
        (encoding the concatenations too cost 2-4 s per long DOLOMITES draft)."""
        from .embeddings import get_encoder

        encoder = get_encoder()
        items = encoder.encode(task.checklist)
        given = self._best(encoder, items, [(s, False) for s in _explicit_sentences(task)], False)
        best = {p: self._best(encoder, items, sentences, p) for p in (False, True)}
        return [
            int(best[negated(item)][k] >= max(EMBED_THRESHOLD, given[k] + EMBED_MARGIN))
            for k, item in enumerate(task.checklist)
        ]

    @staticmethod
    def _best(encoder: Any, items: Any, sentences: list[tuple[str, bool]], polarity: bool) -> Any:
        """Each item's best cosine over the windows of one polarity (-1 when there is none)."""
        import numpy as np

        same = [s for s, neg in sentences if neg == polarity]
        if not same:
            return np.full(len(items), -1.0)
        vectors = encoder.encode(same)
        pairs = vectors[:-1] + vectors[1:]
        windows = np.vstack([vectors, pairs / np.linalg.norm(pairs, axis=1, keepdims=True)])
        return (items @ windows.T).max(axis=1)

    def run(self, task: MaskedTask, draft: str) -> tuple[JudgeResult, list[ModelCall]]:
        sentences = _sentences(draft)
        met = (self._met_embedding if self.method == "embedding" else self._met_lexical)(task, sentences)
        result = JudgeResult(method=self.name, score=sum(met) / len(met), met=met, out_of=len(met))
        return result, [offline_call("judge", self.name, draft, str(met))]


def _explicit_sentences(task: MaskedTask) -> list[str]:
    return [s for s, _neg in _sentences(task.explicit_text)]


# A letter is an upper-case A-J, or any case inside brackets: "answer is a bit unclear" is no "A".
_LETTER = r"(?:[(\[]([A-Ja-j])[)\]]|([A-J])(?![\w'-]))"
_LETTER_PATTERNS = (
    re.compile(r"(?i:answer)\s*(?i:is|:|would be|=)?\s*(?i:option\s*)?" + _LETTER),
    re.compile(r"^\s*" + _LETTER + r"[.:]?\s*$", re.M),
    re.compile(r"(?i:option)\s*" + _LETTER),
)


def extract_choice(text: str, options: dict[str, str] | None = None) -> str | None:
    """The option letter a reply commits to (its last explicit statement wins), else None."""
    cleaned = text.replace("*", "")
    allowed = {k.upper() for k in options} if options else None
    for pattern in _LETTER_PATTERNS:
        found = [letter for groups in pattern.findall(cleaned) if (letter := "".join(groups).upper())]
        found = [letter for letter in found if allowed is None or letter in allowed]
        if found:
            return found[-1]
    if options:
        lowered = cleaned.lower()
        hits = [k for k, v in options.items() if v and v.lower() in lowered]
        if len(hits) == 1:
            return hits[0]
    return None


_FINAL = re.compile(r"answer\s*(?:is|:)\s*(.+?)\s*(?:\.\s*$|$)", re.I | re.M)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


class AnswerJudge(Component):
    """Exact match with the gold answer: an option letter, or (AskBench's free-form golds) the
    normalised text after the reply's last "answer is"."""

    name = "answer-judge"

    def run(self, task: MaskedTask, draft: str) -> tuple[JudgeResult, list[ModelCall]]:
        gold = (task.gold_answer or "").strip()
        if re.fullmatch(r"[A-Ja-j]", gold):
            choice = extract_choice(draft, task.options)
            ok = choice is not None and choice == gold.upper()
        else:
            finals = _FINAL.findall(draft.replace("*", ""))
            choice = finals[-1] if finals else None
            ok = choice is not None and _norm(choice) == _norm(gold)
        comment = f"chose {choice}" if choice is not None else "no final answer found"
        return JudgeResult(method=self.name, score=float(ok), met=[int(ok)], out_of=1, comments=comment), []


def judge_draft(task: MaskedTask, draft: str | None, checklist_judge: Component) -> JudgeResult:
    """Score one draft: checklist if the task has one, else gold answer; failures leave it missing."""
    if draft is None:
        return JudgeResult(method="none", error="no draft")
    judge: Component = checklist_judge if task.checklist else AnswerJudge()
    if not task.checklist and task.gold_answer is None:
        return JudgeResult(method="none", error="task has neither checklist nor gold answer")
    try:
        result, calls = judge.run(task, draft)
    except LLMError as exc:
        return JudgeResult(method=f"llm:{judge.name}", error=str(exc), calls=exc.calls)
    result.calls = calls
    return result


async def ajudge_draft(task: MaskedTask, draft: str | None, checklist_judge: Component) -> JudgeResult:
    """Async :func:`judge_draft`: LLM judges are awaited, offline ones run off the event loop."""
    if draft is None or not task.checklist or not isinstance(checklist_judge, LLMComponent):
        return await asyncio.get_running_loop().run_in_executor(None, judge_draft, task, draft, checklist_judge)
    try:
        result, calls = await checklist_judge.arun(task, draft)
    except LLMError as exc:
        return JudgeResult(method=f"llm:{checklist_judge.name}", error=str(exc), calls=exc.calls)
    result.calls = calls
    return result


def make_judge(spec: Component | BaseChatModel | str | None) -> Component:
    """``offline`` (auto), ``embedding``, ``lexical``, or a model / model string for the LLM judge."""
    if isinstance(spec, Component):
        return spec
    if spec is None or spec == "offline":
        return OfflineChecklistJudge()
    if spec in ("embedding", "lexical"):
        return OfflineChecklistJudge(spec)  # type: ignore[arg-type]
    return LLMChecklistJudge(spec)


# ---- pairwise ----------------------------------------------------------------------------------

Outcome = Literal["win", "tie", "lose"]


class PairVerdict(BaseModel):
    better: Literal["A", "B", "tie"]
    reason: str = ""


def _side(kind: str, episode: dict[str, Any]) -> str:
    if kind == "questions":
        return "\n".join(f"- {t['question']}" for t in episode.get("turns", [])) or "(asked nothing)"
    return episode.get("draft") or "(no output)"


class PairwiseJudge(LLMComponent):
    """LLM pairwise preference; :func:`compare` asks it in both orders and reconciles the two."""

    role = "judge"
    schema = PairVerdict

    def prompt(self, kind: str, task: MaskedTask, first: dict[str, Any], second: dict[str, Any]) -> list[BaseMessage]:
        what, criterion = prompts.PAIR_CRITERIA[kind]
        user = f"{render_task(task.explicit)}\n\nA:\n{_side(kind, first)}\n\nB:\n{_side(kind, second)}"
        return messages(prompts.PAIR_SYSTEM.format(what=what, criterion=criterion), user)


def reconcile(forward: str, backward: str) -> Outcome:
    """Combine A-vs-B and B-vs-A verdicts for the first policy; disagreement is a tie."""
    first = {"A": 1, "B": -1, "tie": 0}[forward] - {"A": 1, "B": -1, "tie": 0}[backward]
    return "win" if first > 0 else "lose" if first < 0 else "tie"


def compare_offline(kind: str, a: dict[str, Any], b: dict[str, Any]) -> Outcome:
    """Without an LLM: questions by hidden sentences newly uncovered, drafts by judge score."""
    sa: float
    sb: float
    if kind == "questions":
        sa = sum(len(t["new_cited"]) for t in a.get("turns", []))
        sb = sum(len(t["new_cited"]) for t in b.get("turns", []))
    else:
        sa = (a.get("judge") or {}).get("score") or 0.0
        sb = (b.get("judge") or {}).get("score") or 0.0
    return "win" if sa > sb else "lose" if sa < sb else "tie"


def compare(
    judge: PairwiseJudge | None, kind: str, task: MaskedTask, a: dict[str, Any], b: dict[str, Any]
) -> Outcome | None:
    """Outcome for policy ``a``; None when the LLM judge failed on this pair (it is not counted)."""
    if judge is None:
        return compare_offline(kind, a, b)
    try:
        forward, _ = judge.run(kind, task, a, b)
        backward, _ = judge.run(kind, task, b, a)
    except LLMError:
        return None
    return reconcile(forward.better, backward.better)


def tally(outcomes: Sequence[Outcome | None]) -> dict[str, int]:
    counts = {k: sum(o == k for o in outcomes) for k in ("win", "tie", "lose")}
    missing = sum(o is None for o in outcomes)
    return {**counts, "missing": missing} if missing else counts
