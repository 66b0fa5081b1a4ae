"""SFT baseline: emulated dialogues become training sequences in exactly the policy protocol (token for token
what an hf: policy sees and generates in the graph), the loss covers the assistant's replies only, and a
trained checkpoint plugs back in as an hf: asker."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

pytest.importorskip("trl")

from langgraph_clarify import create_clarify_graph, run_episode
from langgraph_clarify.llm import Component, message_dicts, resolve_model
from langgraph_clarify.oracle import OracleReply
from langgraph_clarify.rewards import RewardConfig
from langgraph_clarify.rl.emulate import EmulatedDialogue, OfflineEmulator
from langgraph_clarify.rl.rollouts import decisions, episode_tensors
from langgraph_clarify.rl.sft import SFTScriptArgs, build_trainer, protocol_chat, tokenize_chat
from langgraph_clarify.rl.tokens import TokenChat
from langgraph_clarify.tasks import load_bundled
from test_policy import scripted

ROOT = Path(__file__).resolve().parents[1]
TASK = load_bundled()[0]
DIALOGUE = OfflineEmulator(questions=3).dialogue(TASK, 5)


class DialogueOracle(Component):
    """Answers each emulated question with the emulated answer (what the SFT data says the user said)."""

    name = "offline-dialogue-oracle"

    def __init__(self, dialogue: EmulatedDialogue):
        self.answers = {t.question: t for t in dialogue.turns}

    def run(self, question, explicit, hidden):
        turn = self.answers[question]
        return OracleReply(answer=turn.answer, evidence=turn.target), []


def tokenizer(tiny_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_dir))


def test_sft_sequence_is_what_the_policy_sees_and_generates_in_the_graph(tiny_dir, monkeypatch) -> None:
    ids, mask = tokenize_chat(protocol_chat(TASK, DIALOGUE, 5), TokenChat(tokenizer(tiny_dir)))
    scripted(monkeypatch, [t.question for t in DIALOGUE.turns] + ["STOP"])
    graph = create_clarify_graph(resolve_model(f"hf:{tiny_dir}"), "offline", DialogueOracle(DIALOGUE), max_turns=5)
    episode = run_episode(graph, TASK)
    assert episode.stop_reason == "asker_stop" and len(episode.turns) == 3
    played_ids, played_mask, _ = episode_tensors(decisions(episode, TASK, RewardConfig()))
    assert ids == episode.token_ids == played_ids and mask == played_mask


def test_masks_are_those_of_assistant_only_loss_on_a_generation_template(tiny_dir) -> None:
    tok = tokenizer(tiny_dir)
    chat = protocol_chat(TASK, DIALOGUE, 5)
    ids, mask = tokenize_chat(chat, TokenChat(tok))
    rendered = tok.apply_chat_template(message_dicts(chat), return_dict=True, return_assistant_tokens_mask=True)
    assert rendered["input_ids"][: len(ids)] == ids and rendered["assistant_masks"][: len(ids)] == mask
    assert tok.decode(rendered["input_ids"][len(ids) :]) == "\n"  # the template's newline after the last turn


def test_a_used_up_budget_ends_on_the_last_question_without_stop(tiny_dir) -> None:
    tok = tokenizer(tiny_dir)
    chat = protocol_chat(TASK, DIALOGUE, 3)
    assert [m.type for m in chat][-2:] == ["ai", "human"] and "(0 questions left" in chat[-1].text
    ids, mask = tokenize_chat(chat, TokenChat(tok))
    spans = tok.decode([t for t, m in zip(ids, mask, strict=True) if m], skip_special_tokens=False)
    assert spans == "".join(f"{t.question}<|im_end|>" for t in DIALOGUE.turns) and ids[-1] == tok.eos_token_id


def sft_config(out: Path, **kw):
    from trl import SFTConfig

    base = dict(
        output_dir=str(out),
        per_device_train_batch_size=2,
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        report_to="none",
        seed=0,
    )
    return SFTConfig(**(base | kw))


def test_loss_is_on_assistant_replies_only(tiny_dir, tmp_path) -> None:
    from trl import ModelConfig

    trainer = build_trainer(
        SFTScriptArgs(task_limit=3), sft_config(tmp_path), ModelConfig(model_name_or_path=str(tiny_dir))
    )
    tok = trainer.processing_class
    dialogues = [json.loads(line) for line in (tmp_path / "dialogues.jsonl").read_text().splitlines()]
    assert len(trainer.train_dataset) == len(dialogues) == 3
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(3)])
    for row, labels, dialogue in zip(batch["input_ids"], batch["labels"], dialogues, strict=True):
        trained = [int(t) for t, label in zip(row, labels, strict=True) if label != -100]
        assert all(int(label) in (-100, int(t)) for t, label in zip(row, labels, strict=True))
        replies = [m["content"] for m in dialogue["messages"] if m["role"] == "assistant"]
        assert replies[-1] == "STOP" and len(replies) == 4
        assert tok.decode(trained, skip_special_tokens=False) == "".join(f"{r}<|im_end|>" for r in replies)


def test_script_trains_and_its_checkpoint_is_an_hf_asker(tiny_dir, tmp_path) -> None:
    out = tmp_path / "run"
    script = runpy.run_path(str(ROOT / "training" / "sft.py"))
    argv = ["--config", str(ROOT / "training/configs/sft_tiny.yaml"), "--output_dir", str(out), "--max_steps", "2"]
    script["main"]([*argv, "--model_name_or_path", str(tiny_dir), "--task_limit", "4", "--save_steps", "1"])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(r["loss"] > 0 for r in rows)
    assert {p.name for p in out.glob("checkpoint-*")} == {"checkpoint-1", "checkpoint-2"}
    checkpoint = out / "checkpoint-2"
    assert (checkpoint / "tokenizer.json").is_file() and (checkpoint / "chat_template.jinja").is_file()
    graph = create_clarify_graph(f"hf:{checkpoint}?max_new_tokens=8", max_turns=2)
    result = run_episode(graph, TASK)
    assert result.error is None and result.calls[0]["model"] == f"hf:{checkpoint}"
