"""Deterministic stand-in chat models for tests and benchmarks (subclassing langchain-core's fakes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

Reply = str | Exception | Callable[[list[BaseMessage]], str]


class ScriptedChatModel(FakeMessagesListChatModel):
    """Replies from a script (strings, exceptions to raise, or functions of the prompt), recording
    every prompt it receives. The last entry repeats when the script runs out."""

    script: list[Any]
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    responses: list[BaseMessage] = Field(default_factory=list)
    latency: float = 0.0
    model: str = "scripted"

    def _next(self, messages: list[BaseMessage]) -> ChatResult:
        self.prompts.append(list(messages))
        reply = self.script[min(len(self.prompts) - 1, len(self.script) - 1)]
        if isinstance(reply, Exception):
            raise reply
        text = reply(messages) if callable(reply) else reply
        usage = {"input_tokens": sum(len(m.text.split()) for m in messages), "output_tokens": len(text.split())}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text, usage_metadata=usage))])  # type: ignore[arg-type]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            time.sleep(self.latency)
        return self._next(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._next(messages)

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


# ---- tiny transformers policies (train extra) ---------------------------------------------------------

#: A Qwen-style chat template (ChatML), with ``{% generation %}`` markers for assistant masks.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny_policy(path: str | Path, *, vocab_size: int = 600, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Build and save a tiny random Qwen2 chat model with a BPE tokenizer trained inline on the project's
    own prompts and bundled tasks: a real ``hf:`` policy for tests and CPU smoke runs, downloading nothing.

    Returns ``path``; loading it with ``hf:<path>`` gives a model that generates (gibberish) in seconds.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from . import prompts
    from .tasks import bundled_tasks_path

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    corpus = [
        prompts.ASKER_SYSTEM,
        prompts.ASKER_FIRST,
        prompts.ASKER_NEXT,
        "STOP",
        "What format should it take? Who is the audience? How long should it be?",
        *bundled_tasks_path().read_text(encoding="utf-8").splitlines(),
    ]
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        padding_side="left",
        chat_template=CHATML_TEMPLATE,
    )
    tokenizer.save_pretrained(out)
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    return out
