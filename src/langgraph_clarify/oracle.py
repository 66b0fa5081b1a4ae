"""Oracles play the user in training and evaluation: they answer from the hidden sentences only.

Every oracle returns the answer and the indices of the hidden sentences it cites, in one call,
which is what the per-turn rewards are computed from.

Rewards get gamed (BRIEF section 3): a lexical oracle paid the fixed question "What should the
<objective> include?" on 88% of real tasks, because procedures restate the objective. So the
offline oracles, by default, give no credit for words of the question that the explicit part
already contains (``strict=True``); only what the explicit part does not say counts as evidence.

``make_oracle("offline")`` is :class:`HybridOracle` (MiniLM cosine plus squashed BM25, with a
calibrated abstain rule): on the validity suite (``clarify validity``, figures in evals/README.md)
it cites a right sentence for more labelled clinical questions than either part alone, at a
citation precision above 0.8, and still abstains on questions whose answer is not hidden.
``lexical`` (BM25) and ``embedding`` (cosine) stay available by name.

The LLM oracle may cite at most ``max_cited`` sentences per answer (default
:data:`MAX_CITED`, 3): an obedient model told by the question to "cite everything" credited 23
sentences to one question before the cap. The reward caps what it *credits* separately
(``RewardConfig.max_cited``).
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from . import prompts
from .llm import Component, LLMComponent, ModelCall, messages, offline_call
from .state import Explicit, Hidden, render_task

ABSTAIN = "I have nothing to add on that."
#: Most hidden sentences one LLM-oracle answer may cite (more are dropped, in the model's order).
MAX_CITED = 3

# Function words plus the scaffolding every question shares: none of them is evidence.
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be been before being below between both
    but by can could did do does doing down during each either few for from further had has have having
    he her here hers him his how i if in into is it its itself just let like me more most my no nor not
    now of off on once only or other our ours out over own please same she should so some such than
    that the their theirs them then there these they this those through to too under until up us very
    was we were what when where which while who whom why will with would you your yours
    tell know want include included including need needs needed give make use used using get
    kind sort thing things specific particular exactly way ways anything something there's it's""".split()
)


def terms(text: str) -> list[str]:
    """Lowercase content words, plural 's' folded, stopwords dropped."""
    out = []
    for word in re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower()):
        if word in STOPWORDS or len(word) < 2:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


@lru_cache(maxsize=4096)
def _known_terms(text: str) -> frozenset[str]:
    return frozenset(terms(text))


def explicit_terms(explicit: Explicit) -> frozenset[str]:
    """Content words of the explicit part (cached: every question of an episode needs them)."""
    return _known_terms(render_task(explicit))


@lru_cache(maxsize=4096)
def _bm25_index(sentences: tuple[str, ...]) -> tuple[list[Counter[str]], float, Counter[str]]:
    docs = [Counter(terms(s)) for s in sentences]
    avg = sum(sum(d.values()) for d in docs) / len(docs) or 1.0
    return docs, avg, Counter(t for d in docs for t in d)


def bm25_scores(question: str, explicit: Explicit, hidden: Sequence[Hidden], *, strict: bool = True) -> list[float]:
    """BM25 (k1=1.2, b=0.75) of the question against each hidden sentence; with ``strict`` the
    question's terms that occur in the explicit part are ignored."""
    query = set(terms(question))
    if strict:
        query -= explicit_terms(explicit)
    docs, avg, df = _bm25_index(tuple(h["text"] for h in hidden))
    n = len(docs)
    out = []
    for doc in docs:
        length = sum(doc.values())
        score = 0.0
        for t in query & doc.keys():
            idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
            tf = doc[t]
            score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / avg))
        out.append(score)
    return out


def oracle_prompt(
    question: str, explicit: Explicit, hidden: Sequence[Hidden], max_cited: int = MAX_CITED
) -> list[BaseMessage]:
    """What the LLM oracle reads: instructions, the task and the numbered hidden sentences (one system
    message, the same for every question of an episode), then the question."""
    listed = "\n".join(f"[{h['index']}] {h['text']}" for h in hidden) or "(none)"
    context = prompts.ORACLE_CONTEXT.format(task=render_task(explicit), hidden=listed)
    system = prompts.ORACLE_SYSTEM.format(max_cited=max_cited) + "\n\n" + context
    return messages(system, prompts.ORACLE_QUESTION.format(question=question))


class OracleReply(BaseModel):
    """The oracle's structured output: the answer and the hidden sentences it used."""

    answer: str
    evidence: list[int] = Field(default_factory=list)
    can_answer: bool = True


def clean_evidence(reply: OracleReply, n_hidden: int, max_cited: int | None = None) -> OracleReply:
    """Drop out-of-range and duplicate indices, keep at most ``max_cited``; 'cannot answer' cites nothing.

    A reply that cited only out-of-range indices cannot answer from the hidden sentences: it is
    marked so (an answer that cites nothing at all keeps the model's own ``can_answer``).
    """
    if not reply.can_answer:
        return OracleReply(answer=reply.answer or ABSTAIN, evidence=[], can_answer=False)
    seen: list[int] = []
    for i in reply.evidence:
        if 0 <= i < n_hidden and i not in seen:
            seen.append(i)
    if max_cited is not None:
        seen = seen[:max_cited]
    can_answer = bool(seen) or not reply.evidence
    return OracleReply(answer=reply.answer or ("" if can_answer else ABSTAIN), evidence=seen, can_answer=can_answer)


class RetrievalOracle(Component):
    """Cites the top-k hidden sentences whose score clears a threshold; answers with them verbatim."""

    def __init__(self, *, top_k: int = 2, threshold: float = 1.0, strict: bool = True):
        self.top_k = top_k
        self.threshold = threshold
        self.strict = strict

    def scores(self, question: str, explicit: Explicit, hidden: Sequence[Hidden]) -> list[float]:
        raise NotImplementedError

    def run(self, question: str, explicit: Explicit, hidden: list[Hidden]) -> tuple[OracleReply, list[ModelCall]]:
        return self.reply(question, explicit, hidden, self.scores(question, explicit, hidden) if hidden else [])

    def select(self, scores: Sequence[float]) -> list[int]:
        """The sentences to cite: the top-k at or above the threshold."""
        ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return [i for i in ranked[: self.top_k] if scores[i] >= self.threshold]

    def reply(
        self, question: str, explicit: Explicit, hidden: list[Hidden], scores: list[float]
    ) -> tuple[OracleReply, list[ModelCall]]:
        """Cite what :meth:`select` picks; answer with those sentences verbatim. The call is recorded with
        the prompt an LLM oracle in its place would get."""
        cited = sorted(self.select(scores))
        answer = " ".join(hidden[i]["text"] for i in cited) or ABSTAIN
        reply = OracleReply(answer=answer, evidence=cited, can_answer=bool(cited))
        prompt = oracle_prompt(question, explicit, hidden)
        return reply, [offline_call("oracle", self.name, prompt, reply.model_dump_json(), reply)]


class LexicalOracle(RetrievalOracle):
    """BM25 over the task's hidden sentences (k1=1.2, b=0.75), abstaining below ``threshold``.

    With ``strict`` (default) the question's terms that occur in the explicit part are ignored.
    """

    name = "offline-lexical-oracle"

    def scores(self, question: str, explicit: Explicit, hidden: Sequence[Hidden]) -> list[float]:
        return bm25_scores(question, explicit, hidden, strict=self.strict)


def strip_explicit(question: str, explicit: Explicit) -> str:
    """The question without the content words the explicit part already contains."""
    known = explicit_terms(explicit)
    kept = [w for w in re.findall(r"\S+", question) if not (set(terms(w)) and set(terms(w)) <= known)]
    return " ".join(kept)


class EmbeddingOracle(RetrievalOracle):
    """Cosine similarity of packaged MiniLM embeddings (``embeddings`` extra), abstaining below ``threshold``.

    Paraphrases defeat lexical match (BRIEF: hit@1 0.88 vs 0.29 for BM25). With ``strict`` the words
    of the question that the explicit part already contains are removed before embedding. Hidden
    sentence embeddings are cached per task (keyed by its sentences), so a question costs one encode.
    """

    name = "offline-embedding-oracle"

    def __init__(self, *, top_k: int = 2, threshold: float = 0.35, strict: bool = True, cache_size: int = 4096):
        super().__init__(top_k=top_k, threshold=threshold, strict=strict)
        from .embeddings import get_encoder

        self.encoder = get_encoder()
        self._cache: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def cached_matrix(self, hidden: Sequence[Hidden]) -> Any | None:
        key = tuple(h["text"] for h in hidden)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def hidden_matrix(self, hidden: Sequence[Hidden]) -> Any:
        """Embeddings of a task's hidden sentences, encoded once per task and kept (LRU)."""
        matrix = self.cached_matrix(hidden)
        if matrix is None:
            matrix = self.encoder.encode([h["text"] for h in hidden])
            with self._lock:
                self._cache[tuple(h["text"] for h in hidden)] = matrix
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return matrix

    def query(self, question: str, explicit: Explicit) -> str | None:
        """The text to embed, or None when nothing of the question is left to match."""
        text = strip_explicit(question, explicit) if self.strict else question
        return text if terms(text) else None

    def combine(self, question: str, explicit: Explicit, hidden: Sequence[Hidden], cosines: Any) -> list[float]:
        """The sentence scores from their cosines to the question (here: the cosines themselves)."""
        return [float(x) for x in cosines]

    def scores(self, question: str, explicit: Explicit, hidden: Sequence[Hidden]) -> list[float]:
        text = self.query(question, explicit)
        if text is None:
            return [0.0] * len(hidden)
        return self.combine(question, explicit, hidden, self.hidden_matrix(hidden) @ self.encoder.encode([text])[0])

    async def arun(
        self, question: str, explicit: Explicit, hidden: list[Hidden]
    ) -> tuple[OracleReply, list[ModelCall]]:
        """Like :meth:`run`, but questions of concurrent episodes are encoded in one batch, off the loop."""
        text = self.query(question, explicit)
        if text is None or not hidden:
            return self.reply(question, explicit, hidden, [0.0] * len(hidden))
        loop = asyncio.get_running_loop()
        if (batcher := self._batchers.get(loop)) is None:
            from .embeddings import MicroBatcher

            batcher = self._batchers[loop] = MicroBatcher(self.encoder)
        matrix = self.cached_matrix(hidden)
        if matrix is None:  # first question of a task: encode its sentences off the loop
            matrix, vector = await asyncio.gather(
                loop.run_in_executor(None, self.hidden_matrix, hidden), batcher.encode(text)
            )
        else:
            vector = await batcher.encode(text)
        return self.reply(question, explicit, hidden, self.combine(question, explicit, hidden, matrix @ vector))


class HybridOracle(EmbeddingOracle):
    """MiniLM cosine plus ``bm25_weight`` x squashed BM25 (b / (b + 1)), with a calibrated abstain rule.

    Cosine finds paraphrases, BM25 rare exact terms (drug names, lab tests, "CYP450") that MiniLM
    blurs. Abstain rule: cite the best sentence when its score reaches ``threshold``, or when it
    reaches ``floor`` and leads the runner-up by ``margin`` (a true answer stands out from a task's
    other sentences; a question whose answer is not hidden scores them all alike); cite the
    runner-up too when it is within ``second_within`` of the best and reaches ``threshold``.
    Calibrated on the labelled MediQ questions and the targeted and template questions of the
    validity suite (``evaluation.validity``): a plateau, not a knife edge (evals/README.md).
    Both parts are strict: words of the explicit part are dropped first.
    """

    name = "offline-hybrid-oracle"

    def __init__(
        self,
        *,
        bm25_weight: float = 0.6,
        threshold: float = 0.57,
        floor: float = 0.3,
        margin: float = 0.12,
        second_within: float = 0.1,
        strict: bool = True,
        cache_size: int = 4096,
    ):
        super().__init__(top_k=2, threshold=threshold, strict=strict, cache_size=cache_size)
        self.bm25_weight, self.floor, self.margin, self.second_within = bm25_weight, floor, margin, second_within

    def combine(self, question: str, explicit: Explicit, hidden: Sequence[Hidden], cosines: Any) -> list[float]:
        lexical = bm25_scores(question, explicit, hidden, strict=self.strict)
        return [float(c) + self.bm25_weight * b / (b + 1.0) for c, b in zip(cosines, lexical, strict=True)]

    def select(self, scores: Sequence[float]) -> list[int]:
        ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        if not ranked:
            return []
        best = scores[ranked[0]]
        runner_up = scores[ranked[1]] if len(ranked) > 1 else 0.0
        if best < self.threshold and not (best >= self.floor and best - runner_up >= self.margin):
            return []
        second = len(ranked) > 1 and runner_up >= max(best - self.second_within, self.threshold)
        return ranked[:2] if second else ranked[:1]


class LLMOracle(LLMComponent):
    """The paper's oracle: an LLM sees E and I, answers from I, and cites indices in the same call.

    The prompt asks for at most ``max_cited`` sentences and :func:`clean_evidence` enforces it, so
    a question that tells the model to "cite everything" cannot be credited the whole task.
    """

    role = "oracle"
    schema = OracleReply

    def __init__(self, model: BaseChatModel | str, *, max_cited: int = MAX_CITED, **options: Any):
        super().__init__(model, **options)
        if max_cited < 1:
            raise ValueError(f"max_cited must be at least 1, got {max_cited}")
        self.max_cited = max_cited

    def prompt(self, question: str, explicit: Explicit, hidden: list[Hidden]) -> list[BaseMessage]:
        return oracle_prompt(question, explicit, hidden, self.max_cited)

    def finish(self, reply: OracleReply, question: str, explicit: Explicit, hidden: list[Hidden]) -> OracleReply:
        return clean_evidence(reply, len(hidden), self.max_cited)


OFFLINE_ORACLES = ("offline", "hybrid", "lexical", "embedding")


def make_oracle(spec: Component | BaseChatModel | str | None) -> Component:
    """``offline``/``hybrid`` → :class:`HybridOracle`; ``lexical`` → BM25; ``embedding`` → MiniLM cosine;
    a model or model string → :class:`LLMOracle`."""
    if isinstance(spec, Component):
        return spec
    if spec is None or spec in ("offline", "hybrid"):
        return HybridOracle()
    if spec == "lexical":
        return LexicalOracle()
    if spec == "embedding":
        return EmbeddingOracle()
    return LLMOracle(spec)
