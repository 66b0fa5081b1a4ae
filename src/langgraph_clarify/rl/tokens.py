"""Token-exact chat prompts: a policy's episode as one token sequence that is never re-tokenised.

Re-applying the chat template to the final messages gives ids that differ from the generated ones
(spaces merge differently, a model may emit a token the tokenizer would never produce), and PPO on
such ids trains on sequences the policy did not sample. So a policy's prompt for its next reply is
built token-in/token-out: the ids of its previous prompt, the ids it generated (end-of-turn token
included when generated), then the **environment segment** -- the template's text after the
assistant's reply (its end-of-turn delimiter when the model did not generate one, the next user
message, the generation prompt) tokenised on its own. Only environment text is ever tokenised.

An AI message carries its ids in ``response_metadata`` (``prompt_ids``, ``completion_ids``); a chat
whose last AI message has them continues from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from ..llm import Message, message_dicts

_SENTINEL = "\u2063CLARIFY\u2063SENTINEL\u2063"


class TokenChat:
    """Builds prompt ids for a chat tokenizer (a transformers tokenizer with a chat template)."""

    def __init__(self, tokenizer: Any):
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no chat template")
        self.tokenizer = tokenizer
        self.eos_ids = _eos_ids(tokenizer)
        self._eos_texts = {tokenizer.convert_ids_to_tokens(i) for i in self.eos_ids}

    # ---- rendering ----------------------------------------------------------------------------

    def _render(self, messages: Sequence[Message], generation_prompt: bool) -> str:
        text = self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=generation_prompt
        )
        return text if isinstance(text, str) else str(text)

    def encode(self, text: str) -> list[int]:
        """Environment text to ids: special-token markers in it become their ids, nothing is added."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def start(self, messages: Sequence[Message]) -> list[int]:
        """Prompt ids of a chat no policy has replied in yet."""
        return self.encode(self._render(messages, generation_prompt=True))

    def environment(self, following: Sequence[Message], *, after_eos: bool) -> list[int]:
        """Ids of what the template puts after an assistant reply: the rest of its turn, ``following``
        (user messages), and the next generation prompt. ``after_eos``: the reply ended with a generated
        end-of-turn token, so that token is not repeated."""
        stub = [Message(role="user", content="."), Message(role="assistant", content=_SENTINEL)]
        text = self._render([*stub, *following], generation_prompt=True)
        tail = text[text.index(_SENTINEL) + len(_SENTINEL) :]
        if after_eos:
            for eos in sorted(self._eos_texts, key=len, reverse=True):
                if tail.startswith(eos):
                    tail = tail[len(eos) :]
                    break
        return self.encode(tail)

    # ---- chats ----------------------------------------------------------------------------------

    def prompt_ids(self, messages: Sequence[BaseMessage]) -> list[int]:
        """Prompt ids for the next reply: continue from the last AI message that carries its ids, else
        render the chat from the start."""
        records = message_dicts(messages)
        for k in range(len(messages) - 1, -1, -1):
            meta = messages[k].response_metadata if messages[k].type == "ai" else {}
            prompt, completion = meta.get("prompt_ids"), meta.get("completion_ids")
            if prompt is not None and completion is not None:
                following = records[k + 1 :]
                if not following:
                    raise ValueError("the chat ends with an assistant reply: nothing to reply to")
                after_eos = bool(completion) and completion[-1] in self.eos_ids
                return [*prompt, *completion, *self.environment(following, after_eos=after_eos)]
        return self.start(records)

    def split(self, completion: Sequence[int]) -> tuple[list[int], str]:
        """The generated ids up to and including the first end-of-turn token, and whether it ended there
        (``stop``) or ran out of tokens (``length``)."""
        ids = list(completion)
        for n, token in enumerate(ids):
            if token in self.eos_ids:
                return ids[: n + 1], "stop"
        return ids, "length"

    def decode(self, completion: Sequence[int]) -> str:
        """The reply text of generated ids (end-of-turn token and other special tokens dropped)."""
        return str(self.tokenizer.decode(list(completion), skip_special_tokens=True))


def _eos_ids(tokenizer: Any) -> set[int]:
    ids = set()
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    for token in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
        found = tokenizer.convert_tokens_to_ids(token)
        if isinstance(found, int) and found != getattr(tokenizer, "unk_token_id", None) and found >= 0:
            ids.add(found)
    if not ids:
        raise ValueError("tokenizer has no end-of-sequence token")
    return ids
