"""SFT on emulated conversations (the paper's baseline), with TRL's ``SFTTrainer``.

An emulator (:mod:`.emulate`) writes, per training task, the dialogue an ideal asker would have had. Each
dialogue becomes one training sequence **in the policy protocol the graph uses**: the chat is
``asker.asker_chat`` of that dialogue (system; user = task + instruction; assistant = question; user =
answer + "(k questions left...)"; ...; assistant = STOP when the budget is not used up), and its ids are
built by :class:`~langgraph_clarify.rl.tokens.TokenChat` exactly as an ``hf:`` policy's prompts are built
at inference (each reply's ids continued by the environment segment), so a checkpoint is prompted as it
was trained. Loss is on the assistant's replies only, end-of-turn token included: the mask is the
construction's own (1 on each reply's ids), which is what ``assistant_only_loss`` computes from
``{% generation %}`` markers where a template has them (checked in the tests), and it also works for
templates without markers (SmolLM2's), which TRL cannot patch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from ..asker import asker_chat
from ..llm import message_dicts
from ..rewards import score_turn
from ..state import DialogueView, Turn
from ..tasks import MaskedTask
from .baselines import TaskArgs, callbacks, check_model_args, load_trainable, save_final
from .emulate import EmulatedDialogue, emulate, make_emulator
from .rollouts import Decision, episode_tensors
from .tokens import TokenChat

DIALOGUES = "dialogues.jsonl"


@dataclass
class SFTScriptArgs(TaskArgs):
    """``training/sft.py`` arguments beside TRL's ``SFTConfig`` and ``ModelConfig``."""

    emulator: str = field(default="offline", metadata={"help": "offline, or a model string (the paper's LLM)"})
    questions: int = field(default=3, metadata={"help": "offline emulator: questions per dialogue"})
    emulator_concurrency: int = field(default=8, metadata={"help": "LLM emulator: tasks emulated at once"})


def protocol_chat(task: MaskedTask, dialogue: EmulatedDialogue, budget: int) -> list[BaseMessage]:
    """The dialogue as the policy's chat, ending with its STOP unless the budget is used up (then the graph
    drafts without asking the policy again)."""
    turns: list[Turn] = []
    for t in dialogue.turns[:budget]:
        turns.append(score_turn(len(turns), t.question, t.answer, t.target, turns, len(task.hidden)))
    chat = asker_chat(DialogueView(explicit=task.explicit, turns=turns, max_turns=budget))
    if len(turns) < budget:
        chat.append(AIMessage("STOP"))
    return chat


def tokenize_chat(chat: Sequence[BaseMessage], tokens: TokenChat) -> tuple[list[int], list[int]]:
    """(input_ids, assistant_masks) of a chat, through its last assistant reply: token for token what the
    policy sees and generates at inference, each reply being its text's ids plus the template's end-of-turn token."""
    closing = tokens.environment([], after_eos=False)  # what the template puts after a reply: end-of-turn first
    eos = closing[0] if closing and closing[0] in tokens.eos_ids else tokens.tokenizer.eos_token_id
    chat = list(chat)
    steps = []
    for k, message in enumerate(chat):
        if message.type != "ai":
            continue
        prompt = tokens.prompt_ids(chat[:k])
        completion = [*tokens.encode(str(message.content)), eos]
        chat[k] = AIMessage(message.content, response_metadata={"prompt_ids": prompt, "completion_ids": completion})
        steps.append(Decision(prompt, completion, [0.0] * len(completion), 0.0))
    ids, mask, _ = episode_tensors(steps)
    return ids, mask


def build_rows(
    tasks: Sequence[MaskedTask], args: SFTScriptArgs, tokenizer: Any, max_length: int | None
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Emulate every task and tokenize its dialogue; return the rows and counts (kept, failed, too long)."""
    emulator = make_emulator(args.emulator, questions=args.questions)
    played = asyncio.run(emulate(emulator, tasks, args.max_turns, concurrency=args.emulator_concurrency))
    tokens = TokenChat(tokenizer)
    rows: list[dict[str, Any]] = []
    counts = {"dialogues": 0, "emulator_failed": 0, "too_long": 0}
    for task, dialogue, _ in played:
        if dialogue is None:
            counts["emulator_failed"] += 1
            continue
        chat = protocol_chat(task, dialogue, args.max_turns)
        ids, mask = tokenize_chat(chat, tokens)
        if max_length is not None and len(ids) > max_length:
            counts["too_long"] += 1  # truncating would cut off the replies (and STOP) at the end
            continue
        rows.append({"task_id": task.id, "messages": message_dicts(chat), "input_ids": ids, "assistant_masks": mask})
        counts["dialogues"] += 1
    if not rows:
        raise ValueError(f"no usable emulated dialogue ({counts})")
    return rows, counts


def build_trainer(args: SFTScriptArgs, config: Any, model_args: Any) -> Any:
    """An ``SFTTrainer`` on the emulated dialogues; writes them to ``OUTPUT_DIR/dialogues.jsonl`` for reading."""
    from datasets import Dataset
    from trl import SFTTrainer

    check_model_args(model_args)
    if config.assistant_only_loss:
        raise ValueError("leave assistant_only_loss false: the rows carry their own assistant masks (see rl/sft.py)")
    model, tokenizer = load_trainable(model_args.model_name_or_path, config.output_dir, model_args.dtype)
    rows, counts = build_rows(args.load_tasks(), args, tokenizer, config.max_length)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / DIALOGUES).open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"task_id": row["task_id"], "messages": row["messages"]}) + "\n")
    (out / "sft_data.json").write_text(json.dumps(counts) + "\n", encoding="utf-8")
    dataset = Dataset.from_list([{"input_ids": r["input_ids"], "assistant_masks": r["assistant_masks"]} for r in rows])
    return SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks(config.output_dir, args.time_budget_s),
    )


def train(args: SFTScriptArgs, config: Any, model_args: Any) -> Path:
    """Train and return the last checkpoint (``OUTPUT_DIR/checkpoint-STEP``, an ``hf:`` policy directory)."""
    trainer = build_trainer(args, config, model_args)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    return save_final(trainer)
