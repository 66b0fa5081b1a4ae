"""Per-turn rewards from the oracle's citations: the paper's, and a default that pays for task-specific information.

All weights live in :class:`RewardConfig`; this docstring is the one place the design is written down.

Components of one answered question (:func:`turn_components`, computed on the oracle side, which may
read the hidden sentences):

- ``evidence`` (the paper's): 1 if the answer cites any hidden sentence, else 0.
- ``novelty``: 1 if it cites a hidden sentence no earlier turn cited, else 0; a repeated question
  earns none, whatever the oracle cites.
- ``information`` (the default reward): ``specificity(question) x sum of w_i`` over the newly cited
  sentences i, at most ``max_cited`` of them (the heaviest) credited, where

  * ``w_i`` (sentence specificity, 0..1) = ``1 - exp(-S_i / 2)``, ``S_i`` the sum over the sentence's
    distinct content terms of ``g(t)``: 0 for a term of the explicit part (words the user already
    said earn nothing), else ``1 / (1 + df)`` with ``df`` the number of documents of a FIXED
    background that use it (a term the background never uses weighs 1). The background is
    the project's own material: the bundled tasks (``data/tasks.jsonl``) and :data:`GENERIC_SPEC`,
    sentences of generic writing-specification vocabulary written for this purpose. So "Use a formal
    tone." weighs 0.30 and "List each drug's CYP450 pathway." 0.70, on any task, whatever other tasks
    are loaded. Weights depend only on the task's own explicit part and hidden sentences plus this
    background, and are cached by them.
  * ``specificity(question)`` (``generic_floor``..1) contrasts the question's match on this task with
    its match on other tasks: ``c`` = the best score the default offline oracle
    (:class:`~.oracle.HybridOracle`) gives the question on this task's hidden sentences, minus the mean
    of its best scores on the 4 background tasks it fits best (the words of this task's explicit part
    removed from the question first), and ``specificity = floor + (1 - floor) * clip(c / 0.4, 0, 1)``.
    "What format should it take?" fits a format sentence of many tasks alike (c < 0 on DOLOMITES:
    paid ``generic_floor`` = 0.1 per unit of information); a question aimed at one hidden sentence
    of this task fits it far better than anything in the background (c ~0.4: paid in full). The floor
    keeps a gradient toward asking: a generic question that uncovers hidden information still earns
    more than one that uncovers nothing. The oracle that answers may be an LLM; the contrast is
    always measured with the offline scorer, so it costs no LLM call.

  Stuffing many facets into one question cannot raise it: the stuffed question is generic (floor),
  at most ``max_cited`` sentences are credited, and a question about "A, B, C and D" (a
  conjunctive list of four or more generic facets, not examples after "such as") counts as that
  many questions, so it pays the format penalty.
- ``repeat``: 1 if the question was asked before (case and punctuation aside).
- ``format``: 1 unless the reply asks exactly one question (:func:`count_questions`; Learn2Ask's
  one-question-per-turn rule): a draft, a statement or three questions in one turn pay it.
- ``late_ask``: 1 if the question was asked when little was left to find (remaining information,
  below, at or under ``stop_threshold`` before the question): asking past that point costs a little.

Components of the asker's final decision (:func:`ending_components`):

- ``stop`` (STOP-aware term, -1..1): with ``R`` the remaining information, the share of the task's
  total sentence specificity (sum of ``w_i``) not yet cited by any turn, and ``tau = stop_threshold``:
  ``1 - R / tau`` when ``R <= tau`` (stopping once further questions would find little is rewarded,
  fully when nothing is left), else ``-(R - tau) / (1 - tau)`` (stopping while much relevant hidden
  information remains is penalised, fully at the start). ``R`` reads the hidden sentences, so only
  the oracle side computes it; the asker cannot, and need not: what it sees is the oracle abstaining
  ("I have nothing to add on that.") or repeating itself, which is what a falling ``R`` looks like
  from its side. A budget stop is no decision of the asker's and gets no term.
- ``format``: 1 for ``kind="invalid"`` (the asker replied with neither a question nor STOP).

A terminal ``judge`` component (the judge's draft score, 0..1) may be added by the caller.

:func:`combine` is the weighted sum; penalties are subtracted::

    reward = information*c.information + evidence*c.evidence + novelty*c.novelty + stop*c.stop
             + judge*c.judge - repeat_penalty*c.repeat - format_penalty*c.format
             - late_ask_penalty*c.late_ask

``max_cited``, ``stop_threshold`` and ``generic_floor`` shape the components, so
:func:`turn_components` and :func:`ending_components` take the config as ``cfg=`` (default
``RewardConfig()``); the weights apply in :func:`combine`.

Measured with ``clarify validity`` on the 309 DOLOMITES examples (evals/README.md): a question
built from one hidden sentence earns 0.74 on average; every task-agnostic template at most 0.08 of
that, facet stuffing and questions that restate the objective nothing (or the format penalty).

Defaults (``RewardConfig()``): information 1.0, evidence 0, novelty 0, stop 0.5, repeat_penalty 0.5,
format_penalty 0.5, late_ask_penalty 0.1, judge 0, max_cited 2, stop_threshold 0.25,
generic_floor 0.1. ``RewardConfig.paper()`` is the paper's evidence reward alone.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from .oracle import HybridOracle, explicit_terms, strip_explicit, terms
from .state import Explicit, Hidden, Turn, render_task


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class RewardConfig:
    """Weights of every reward term (see the module docstring for what each component measures)."""

    information: float = field(default=1.0, metadata=_help("weight of the specificity-aware information reward"))
    evidence: float = field(default=0.0, metadata=_help("weight of the paper's evidence reward (1 if anything cited)"))
    novelty: float = field(default=0.0, metadata=_help("weight of the novelty reward (1 if a new sentence cited)"))
    stop: float = field(default=0.5, metadata=_help("weight of the STOP-aware term on the asker's STOP decision"))
    repeat_penalty: float = field(default=0.5, metadata=_help("subtracted when a question repeats an earlier one"))
    format_penalty: float = field(
        default=0.5, metadata=_help("subtracted when a reply asks no question or several (or is invalid)")
    )
    late_ask_penalty: float = field(
        default=0.1, metadata=_help("subtracted per question asked once remaining information <= stop_threshold")
    )
    judge: float = field(default=0.0, metadata=_help("weight of a terminal draft score from a judge (0..1)"))
    max_cited: int = field(default=2, metadata=_help("most newly cited sentences credited to one question (>= 1)"))
    stop_threshold: float = field(
        default=0.25, metadata=_help("remaining-information share under which stopping is rewarded (0 < x < 1)")
    )
    generic_floor: float = field(
        default=0.1, metadata=_help("specificity paid to a question every task answers (0..1)")
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"{f.name}: expected an integer, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{f.name}: expected a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"{f.name}: must not be negative, got {value!r}")
        if self.max_cited < 1:
            raise ValueError(f"max_cited: must be at least 1, got {self.max_cited}")
        if not 0 < self.stop_threshold < 1:
            raise ValueError(f"stop_threshold: must be between 0 and 1 (exclusive), got {self.stop_threshold}")
        if self.generic_floor > 1:
            raise ValueError(f"generic_floor: must be at most 1, got {self.generic_floor}")

    @classmethod
    def paper(cls) -> RewardConfig:
        """The paper's reward: 1 per question whose answer cites any hidden sentence, nothing else."""
        return cls(
            information=0.0, evidence=1.0, stop=0.0, repeat_penalty=0.0, format_penalty=0.0, late_ask_penalty=0.0
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> RewardConfig:
        """Build from a mapping; any problem is a ValueError naming ``source`` and the field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a mapping of reward fields, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                raise ValueError(f"{source}: unknown reward field {key!r} (expected one of: {', '.join(names)})")
        try:
            return cls(**dict(data))
        except ValueError as exc:
            raise ValueError(f"{source}: field {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> RewardConfig:
        """Read a YAML mapping of fields (an empty file gives the defaults)."""
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"{path}: cannot read reward config: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: invalid YAML: {exc}") from None
        return cls.from_dict(data or {}, source=str(path))


# ---- the fixed background ------------------------------------------------------------------------

#: Generic writing-specification vocabulary: what specs of every kind say. Written for the
#: background of the specificity weights; no sentence comes from a benchmark.
GENERIC_SPEC = """The output should be clear, concise and well organised.
Use a formal and professional tone throughout the document.
Write in plain language that a general audience can understand.
The intended audience is the reader who will make a decision based on the document.
Start with a short introduction that states the purpose and scope.
End with a conclusion that summarises the main points and recommendations.
Include a summary at the beginning.
Use headings and subheadings to structure the sections.
Each section should have a title and a short description.
Use bullet points or numbered lists where appropriate.
Present the information in a table if it helps comparison.
The document should be between one and two pages long.
Keep the length to about 500 words.
Each paragraph should focus on one main idea.
Provide examples to support each point.
Cite all sources and references in a consistent citation style.
Include a list of references at the end.
Use evidence and data to support the claims.
Describe the background and context of the topic.
State the objectives and goals clearly.
Explain the methodology and the steps followed.
Follow the standard procedure and best practices of the field.
Identify the key issues, risks and challenges.
Analyse the strengths and weaknesses.
Discuss the implications and limitations.
Make specific recommendations and next steps.
Define any technical terms and avoid unnecessary jargon.
Check the document for accuracy, grammar and spelling before submitting it.
Review and revise the draft based on feedback.
Research the topic thoroughly using reliable sources.
Gather the relevant information and requirements first.
Consider the needs and expectations of the stakeholders.
Organise the content in a logical order.
The format should follow the template provided.
Use a consistent style and formatting.
Include the date, the author and the title.
Highlight the most important findings.
Provide a brief overview of the project.
Describe the results and what they mean.
Explain the reasons behind each decision.
List the required resources, the timeline and the budget.
Assign responsibilities and deadlines for each task.
Include an appendix for additional details.
The report should be written in the third person.
Avoid bias and present a balanced view.
Make sure the document meets the requirements and criteria.
Evaluate the options against clear criteria.
Describe the current situation and the desired outcome.
The analysis should be detailed and thorough.
Use charts, graphs or figures to illustrate the data.
Keep sentences short and the language simple.
The document will be reviewed by experts in the field.
Provide a rationale for the approach taken.
Summarise the key points in a few sentences.
Mention any assumptions and constraints.
Explain how success will be measured.
Include a section on future work.
The tone should be persuasive but respectful.
Write for readers with no technical background.
The proposal should explain the problem, the solution and the benefits.
Describe each step of the process in order.
Use the information provided by the client.
Address the questions the reader is likely to ask.
The final output should be ready to share with the team.
Note any open questions or uncertainties.
Relate the work to previous studies and current practice.
Identify the target group and their characteristics.
Give a clear answer at the start, then the details.
Use active voice where possible.
Include contact information and any relevant links.
Each section should be one or two paragraphs long.
This section should contain the main information the reader needs.
Describe what each part of the document should include.
Provide enough detail for the reader to act on it.
The content should be accurate and up to date.
Write a short paragraph for each point.
The structure should be easy to follow.
Explain the key terms and concepts.
"""

GENERIC_TASK_SIZE = 8  # GENERIC_SPEC is also tried as generic pseudo-tasks of this many sentences each


CACHE_SIZE = 65536  # entries per Background cache (weights per task, background fit per question)
SATURATION = 2.0  # S_i at which a sentence reaches 1 - 1/e of full weight
CONTRAST_SCALE = 0.4  # contrast at which a question counts as fully specific
BACKGROUND_TOP = 4  # the contrast subtracts the mean best score on the 4 background tasks the question fits best


class Background:
    """The fixed reference that specificity is measured against: document frequencies of terms, and
    tasks on which a question is tried to see whether every task would answer it. Per-task weights
    and per-question answer rates are cached here (keyed by the texts they depend on)."""

    def __init__(self, documents: Sequence[str], tasks: Sequence[tuple[Explicit, list[Hidden]]]):
        """``documents`` give the term frequencies; ``tasks`` (explicit part, hidden sentences) are tried
        with each question. A background task's own sentences never count against itself."""
        self.df = Counter(t for d in documents for t in set(terms(d)))
        self.tasks = list(tasks)
        self._own = {
            tuple(h["text"] for h in hidden): Counter(t for h in hidden for t in set(terms(h["text"])))
            for _e, hidden in self.tasks
        }
        self._oracle: HybridOracle | None = None
        self._weights: dict[tuple[tuple[str, ...], str], list[float]] = {}
        self._fits: dict[tuple[str, tuple[str, ...]], float] = {}
        self._lock = threading.Lock()

    def term_weight(self, term: str, own: Counter[str] | None = None) -> float:
        """``1 / (1 + df)``: 1 for a term no background document uses, 1/2 for one that one uses, ...
        (``own``: the counts of the task's own sentences when it is itself a background task)."""
        return 1.0 / (1 + self.df[term] - (own[term] if own else 0))

    def sentence_weights(self, hidden: Sequence[Hidden], explicit: Explicit) -> list[float]:
        """Specificity ``w_i`` of each hidden sentence (module docstring)."""
        key = (tuple(h["text"] for h in hidden), render_task(explicit))
        if (cached := self._weights.get(key)) is None:
            known, own = explicit_terms(explicit), self._own.get(key[0])
            cached = [
                1.0 - math.exp(-sum(self.term_weight(t, own) for t in set(terms(text)) - known) / SATURATION)
                for text in key[0]
            ]
            with self._lock:
                if len(self._weights) >= CACHE_SIZE:
                    self._weights.clear()
                self._weights[key] = cached
        return cached

    def contrast(self, question: str, explicit: Explicit, hidden: Sequence[Hidden]) -> float:
        """The question's best score on this task minus the mean of its best scores on the
        :data:`BACKGROUND_TOP` background tasks it fits best (default offline oracle's scores; the
        words of this task's explicit part removed first; the task itself never in the background)."""
        query = strip_explicit(question, explicit)
        if not terms(query) or not hidden:
            return 0.0  # nothing left but what the user said: nothing specific to ask about
        texts = tuple(h["text"] for h in hidden)
        return max(self._scorer().scores(query, explicit, hidden)) - self._fit(query, texts)

    def _scorer(self) -> HybridOracle:
        if self._oracle is None:
            self._oracle = HybridOracle()
        return self._oracle

    def _fit(self, query: str, own: tuple[str, ...]) -> float:
        """Mean best score of ``query`` on the background tasks it fits best (cached: it does not
        depend on the task asking, unless that task is itself a background task)."""
        key = (query, own if own in self._own else ())
        if (value := self._fits.get(key)) is None:
            best = sorted(
                (
                    max(self._scorer().scores(query, e, h), default=0.0)
                    for e, h in self.tasks
                    if tuple(t["text"] for t in h) != own
                ),
                reverse=True,
            )[:BACKGROUND_TOP]
            value = sum(best) / len(best) if best else 0.0
            with self._lock:
                if len(self._fits) >= CACHE_SIZE:
                    self._fits.clear()
                self._fits[key] = value
        return value


@lru_cache(maxsize=1)
def default_background() -> Background:
    """The bundled tasks (hidden sentences and objectives) plus :data:`GENERIC_SPEC`, whose sentences
    are also tried with each question as generic pseudo-tasks of :data:`GENERIC_TASK_SIZE` sentences."""
    from .episodes import episode_input
    from .tasks import load_bundled

    tasks = load_bundled()
    generic = [s for s in GENERIC_SPEC.splitlines() if s.strip()]
    documents = generic + [t.objective for t in tasks] + [h.text for t in tasks for h in t.hidden]
    pairs = [(inp["explicit"], inp.get("hidden", [])) for inp in map(episode_input, tasks)]
    for start in range(0, len(generic), GENERIC_TASK_SIZE):
        chunk = generic[start : start + GENERIC_TASK_SIZE]
        pairs.append(
            (
                Explicit(objective="Write the document."),
                [Hidden(index=i, text=t, region="output") for i, t in enumerate(chunk)],
            )
        )
    return Background(documents, pairs)


# A forked worker must not reuse the parent's scorer: its onnxruntime session did not survive the fork
# (embeddings._forget_encoder_in_child); the child builds its own background on first use.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=default_background.cache_clear)


def sentence_weights(hidden: Sequence[Hidden], explicit: Explicit, background: Background | None = None) -> list[float]:
    """Specificity ``w_i`` of each hidden sentence against ``background`` (default: the fixed one)."""
    return (background or default_background()).sentence_weights(hidden, explicit)


def question_specificity(
    question: str,
    explicit: Explicit,
    hidden: Sequence[Hidden],
    floor: float = 0.1,
    background: Background | None = None,
) -> float:
    """``floor + (1 - floor) * clip(contrast / 0.4, 0, 1)``: 1 for a question that fits this task far
    better than the background tasks, ``floor`` for one that fits every task alike."""
    contrast = (background or default_background()).contrast(question, explicit, hidden)
    return floor + (1.0 - floor) * min(max(contrast / CONTRAST_SCALE, 0.0), 1.0)


def remaining(covered: set[int], weights: Sequence[float]) -> float:
    """Share of the task's total sentence specificity not yet cited (0 when the task has none)."""
    total = sum(weights)
    return sum(w for i, w in enumerate(weights) if i not in covered) / total if total > 0 else 0.0


# ---- components --------------------------------------------------------------------------------------

_SENTENCE = re.compile(r"[^.?!\n]+[.?!]*")
_REQUEST = re.compile(
    r"^\s*(?:please\b|(?:tell|describe|explain|list|share|specify|clarify|give|provide|confirm|let)\s+(?:me|us)?\b"
    r"|i(?:'d| would) like to know\b)",
    re.I,
)
# "A, B, C, D and E": a conjunctive list asks for each item ("or" lists offer alternatives: one ask).
_AND_LIST = re.compile(r"(?:[^,;:?]+,\s*){2,}[^,;:?]+?,?\s+and\s+[^,;:?]+")
_EXAMPLES = re.compile(r"\b(?:such as|for example|for instance|e\.g|including|like)\b", re.I)
STUFFED_ITEMS = 4  # a conjunctive list of this many generic facets or more counts as that many questions


@lru_cache(maxsize=1)
def _spec_vocabulary() -> frozenset[str]:
    return frozenset(terms(GENERIC_SPEC))


def _facets(match: str) -> int:
    """How many facets a conjunctive list asks about, when 3 in 4 of its items are generic (their
    words all in :data:`GENERIC_SPEC`; of the first item, which carries the lead-in, its last two):
    "the format, the audience, the length and the style" asks four things, "the drug, dose, route
    and CYP450 enzyme" one specific thing."""
    items = [terms(i) for i in re.split(r",\s*(?:and\s+)?|\s+and\s+", match)]
    items = [t for t in items if t]
    if items:
        items[0] = items[0][-2:]
    vocabulary = _spec_vocabulary()
    generic = sum(set(t) <= vocabulary for t in items)
    return len(items) if len(items) >= STUFFED_ITEMS and 4 * generic >= 3 * len(items) else 1


def count_questions(text: str) -> int:
    """Distinct questions a reply asks: sentences ending in '?' plus requests ("Please share ...",
    "Tell me ..."); a draft or a statement asks none, "What format? And how long?" asks two, and a
    question about four or more generic facets at once ("the procedure, the sections, the format and
    the audience"; not examples after "such as", not alternatives joined by "or") asks one per facet."""
    asked: dict[str, int] = {}
    for piece in _SENTENCE.findall(text):
        body = piece.strip()
        if body.endswith("?") or (_REQUEST.match(body) and terms(body)):
            lists = [m.group(0) for m in _AND_LIST.finditer(body) if not _EXAMPLES.search(m.group(0))]
            asked[normalize_question(body)] = max(map(_facets, lists), default=1)
    asked.pop("", None)
    return sum(asked.values())


def normalize_question(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def is_repeat(question: str, previous: Sequence[Turn]) -> bool:
    """Asked before, up to case and punctuation."""
    return normalize_question(question) in {normalize_question(t["question"]) for t in previous}


def turn_components(
    question: str,
    cited: Sequence[int],
    previous: Sequence[Turn],
    hidden: Sequence[Hidden],
    explicit: Explicit,
    *,
    cfg: RewardConfig | None = None,
    background: Background | None = None,
) -> dict[str, float]:
    """Every reward component of one answered question (module docstring). ``cfg`` supplies the
    structural settings (``max_cited``, ``stop_threshold``, ``generic_floor``); weights apply in
    :func:`combine`; ``background`` defaults to the fixed one (tests pass their own)."""
    cfg = cfg or RewardConfig()
    seen = {i for t in previous for i in t["cited"]}
    cited_set = {i for i in cited if 0 <= i < len(hidden)}
    repeated = is_repeat(question, previous)
    new = [] if repeated else sorted(cited_set - seen)
    weights = sentence_weights(hidden, explicit, background)
    credited = sorted(new, key=lambda i: (-weights[i], i))[: cfg.max_cited]
    information = 0.0
    if credited:
        specificity = question_specificity(question, explicit, hidden, cfg.generic_floor, background)
        information = specificity * sum(weights[i] for i in credited)
    return {
        "evidence": 1.0 if cited_set else 0.0,
        "novelty": 1.0 if new else 0.0,
        "information": information,
        "repeat": 1.0 if repeated else 0.0,
        "format": 0.0 if count_questions(question) == 1 else 1.0,
        "late_ask": 1.0 if hidden and remaining(seen, weights) <= cfg.stop_threshold else 0.0,
    }


def ending_components(
    kind: Literal["stop", "invalid"],
    turns: Sequence[Turn],
    hidden: Sequence[Hidden],
    explicit: Explicit,
    *,
    cfg: RewardConfig | None = None,
    background: Background | None = None,
) -> dict[str, float]:
    """Components of the asker's last decision: ``stop`` (STOP-aware term) and ``format`` (invalid reply)."""
    if kind == "invalid":
        return {"stop": 0.0, "format": 1.0}
    if kind != "stop":
        raise ValueError(f"kind must be 'stop' or 'invalid', got {kind!r}")
    tau = (cfg or RewardConfig()).stop_threshold
    left = remaining({i for t in turns for i in t["cited"]}, sentence_weights(hidden, explicit, background))
    stop = 1.0 - left / tau if left <= tau else -(left - tau) / (1.0 - tau)
    return {"stop": stop, "format": 0.0}


_WEIGHTS: dict[str, tuple[str, float]] = {
    "information": ("information", 1.0),
    "evidence": ("evidence", 1.0),
    "novelty": ("novelty", 1.0),
    "stop": ("stop", 1.0),
    "judge": ("judge", 1.0),
    "repeat": ("repeat_penalty", -1.0),
    "format": ("format_penalty", -1.0),
    "late_ask": ("late_ask_penalty", -1.0),
}


def combine(components: Mapping[str, float], cfg: RewardConfig) -> float:
    """The scalar reward: weighted sum of the components, penalties subtracted (module docstring)."""
    total = 0.0
    for key, value in components.items():
        if key not in _WEIGHTS:
            raise ValueError(f"unknown reward component {key!r} (expected one of: {', '.join(_WEIGHTS)})")
        name, sign = _WEIGHTS[key]
        total += sign * getattr(cfg, name) * value
    return total


# ---- turn records (what the graph stores) ------------------------------------------------------------


def score_turn(
    index: int, question: str, answer: str, cited: Sequence[int], previous: Sequence[Turn], n_hidden: int
) -> Turn:
    """Build the turn record with its rewards; ``previous`` are the earlier turns of the episode."""
    seen = {i for t in previous for i in t["cited"]}
    cited_sorted = sorted(set(cited))
    repeated = is_repeat(question, previous)
    new = [] if repeated else [i for i in cited_sorted if i not in seen]
    covered = seen | set(cited_sorted)
    return Turn(
        index=index,
        question=question,
        answer=answer,
        cited=cited_sorted,
        new_cited=new,
        repeated=repeated,
        evidence_reward=1.0 if cited_sorted else 0.0,
        novelty_reward=1.0 if new else 0.0,
        coverage=len(covered) / n_hidden if n_hidden else 0.0,
    )


def human_turn(index: int, question: str, answer: str, previous: Sequence[Turn]) -> Turn:
    """A turn answered by a person: no hidden sentences, so no rewards."""
    repeated = is_repeat(question, previous)
    return Turn(
        index=index,
        question=question,
        answer=answer,
        cited=[],
        new_cited=[],
        repeated=repeated,
        evidence_reward=None,
        novelty_reward=None,
        coverage=None,
    )
