"""``vllm:`` policies: a vLLM server driven token-in/token-out, as a LangChain chat model.

The prompt is sent as token ids to vLLM's completions endpoint (``prompt: [ids]``), built locally with
the policy's own tokenizer (:class:`~langgraph_clarify.rl.tokens.TokenChat`), so the server never
re-applies a chat template to text the policy generated; the reply carries the completion's token ids
and logprobs (``return_token_ids``, ``logprobs``), checked against what was sent. langchain-openai's
``ChatOpenAI`` drops those fields, which is why this client exists.

Model string: ``vllm:<model-dir>@<base_url>`` (e.g. ``vllm:runs/ppo/checkpoint-30@http://gpu1:8000/v1``):
the served model's name is the directory as given (start the server with ``vllm serve <model-dir>``),
its tokenizer is read from the directory. vLLM returns the model's raw logprobs unless started with
``--logprobs-mode processed_logprobs``; the trainers recompute the behaviour logprobs on their own
model either way (they are recorded for inspection).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from .tokens import TokenChat


class ServedPolicyError(RuntimeError):
    """The server's reply cannot be trusted token for token (no ids, or ids of another prompt)."""


class VLLMChatModel(BaseChatModel):
    """Token-exact chat model over a vLLM completions endpoint; see the module docstring."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str
    base_url: str
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    timeout: float | None = 120.0
    _chat: TokenChat = PrivateAttr()

    def __init__(self, *, chat: TokenChat, **data: Any):
        super().__init__(**data)
        self._chat = chat

    @property
    def _llm_type(self) -> str:
        return "vllm-token-exact"

    @property
    def chat(self) -> TokenChat:
        return self._chat

    def _request(self, prompt: list[int], kwargs: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "prompt": prompt,
            "max_tokens": int(kwargs.get("max_tokens", kwargs.get("max_new_tokens", self.max_new_tokens))),
            "temperature": float(kwargs.get("temperature", self.temperature)),
            "top_p": float(kwargs.get("top_p", self.top_p)),
            "logprobs": 1,
            "return_token_ids": True,
            "skip_special_tokens": True,
        }
        seed = kwargs.get("seed", self.seed)
        if seed is not None:
            body["seed"] = int(seed)
        return body

    def _result(self, prompt: list[int], body: dict[str, Any], data: dict[str, Any]) -> ChatResult:
        try:
            choice = data["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"malformed completions reply from {self.base_url}: {str(data)[:200]}") from None
        completion = choice.get("token_ids")
        if completion is None:
            raise ServedPolicyError(
                f"{self.base_url} returned no token ids: serve the policy with vLLM >= 0.10.2, which honours "
                "return_token_ids"
            )
        echoed = choice.get("prompt_token_ids")
        if echoed is not None and list(echoed) != prompt:
            raise ServedPolicyError(f"{self.base_url} generated from other prompt ids than those sent")
        lp = (choice.get("logprobs") or {}).get("token_logprobs")
        logprobs = [float(x) if x is not None else 0.0 for x in lp] if isinstance(lp, list) else None
        usage = data.get("usage") or {}
        sampling = {k: body[k] for k in ("temperature", "top_p", "max_tokens", "seed") if k in body}
        message = AIMessage(
            str(choice.get("text") or self._chat.decode(completion)),
            response_metadata={
                "model_name": self.model_name,
                "prompt_ids": prompt,
                "completion_ids": list(completion),
                "logprobs": logprobs,
                "finish_reason": choice.get("finish_reason"),
                "sampling": sampling,
            },
            usage_metadata={
                "input_tokens": int(usage.get("prompt_tokens", len(prompt))),
                "output_tokens": int(usage.get("completion_tokens", len(completion))),
                "total_tokens": int(usage.get("prompt_tokens", len(prompt)))
                + int(usage.get("completion_tokens", len(completion))),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _url(self) -> str:
        return self.base_url.rstrip("/") + "/completions"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        import httpx

        prompt = self._chat.prompt_ids(messages)
        body = self._request(prompt, kwargs)
        response = httpx.post(self._url(), json=body, timeout=self.timeout)
        response.raise_for_status()
        return self._result(prompt, body, response.json())

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        import httpx

        prompt = self._chat.prompt_ids(messages)
        body = self._request(prompt, kwargs)
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.post(self._url(), json=body)
        response.raise_for_status()
        return self._result(prompt, body, response.json())


def load_tokenizer(path: str) -> Any:
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise ImportError("vllm: policies need a tokenizer: pip install 'langgraph-clarify[train]'") from exc
    return AutoTokenizer.from_pretrained(path, padding_side="left")


def load_vllm_chat_model(name: str, base_url: str, *, timeout: float | None = 120.0, **options: Any) -> VLLMChatModel:
    """``vllm:<model-dir>@<base_url>``: the tokenizer comes from ``<model-dir>``, the weights live on the server."""
    return VLLMChatModel(
        chat=TokenChat(load_tokenizer(name)), model_name=name, base_url=base_url, timeout=timeout, **options
    )
