"""Token-exact policy backends: the in-process ``hf:`` model and a vLLM-style server (the loopback stub).

What a policy generated must reach the trainer token for token: each prompt is the previous prompt, the
ids the policy generated, and the tokenised environment segment (the answer in the template's
delimiters); generated text is never re-tokenised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

pytest.importorskip("torch")

from langgraph_clarify import create_clarify_graph, run_episode
from langgraph_clarify.episodes import arun_episode
from langgraph_clarify.llm import Message, resolve_model
from langgraph_clarify.rl.hf import Generator, Sampling
from langgraph_clarify.rl.served import ServedPolicyError
from langgraph_clarify.tasks import load_bundled

TASK = load_bundled()[0]


def scripted(monkeypatch: pytest.MonkeyPatch, replies: Sequence[str], *, eos: bool = True) -> None:
    """Make ``hf:`` generation return ``replies[k]`` for the policy's k-th reply of an episode (k = number of
    assistant turns already in the prompt), as ids the policy "generated" (end-of-turn token included)."""

    def generate(self: Generator, prompts: list[list[int]], sampling: Sampling):
        out = []
        for prompt in prompts:
            k = self.chat.tokenizer.decode(prompt).count("<|im_start|>assistant") - 1
            ids = self.chat.encode(replies[min(k, len(replies) - 1)])
            if eos:
                ids += [self.chat.tokenizer.eos_token_id]
            out.append((ids, [-0.5] * len(ids), "stop" if eos else "length"))
        return out

    monkeypatch.setattr(Generator, "generate", generate)


def test_hf_episode_is_one_token_sequence_built_from_generated_ids(tiny_dir, monkeypatch) -> None:
    scripted(monkeypatch, ["Who will read the postmortem?", "How long should it be?", "STOP"])
    policy = resolve_model(f"hf:{tiny_dir}")
    result = run_episode(create_clarify_graph(policy, max_turns=4), TASK)
    assert result.error is None and result.stop_reason == "asker_stop"
    chat = policy.engine.chat
    calls = [c for c in result.calls if c["role"] == "asker"]
    assert len(calls) == 3 and all(c.get("completion_ids") for c in calls)
    # decoding each generated span gives the recorded reply
    assert [chat.decode(c["completion_ids"]) for c in calls] == [
        result.turns[0]["question"],
        result.turns[1]["question"],
        result.ending["reply"],
    ]
    # each prompt = previous prompt + generated ids + the tokenised answer segment
    first = result.call_prompt_ids(calls[0])
    assert first == chat.start(result.call_messages(calls[0]))
    expected = list(first)
    for k in (1, 2):
        answer = result.call_messages(calls[k])[-1]
        env = chat.environment([answer], after_eos=True)
        expected += calls[k - 1]["completion_ids"] + env
        assert result.call_prompt_ids(calls[k]) == expected
        assert result.turns[k - 1]["answer"] in chat.tokenizer.decode(env)
    expected += calls[2]["completion_ids"]
    assert result.token_ids == expected
    # the stored episode keeps the sequence once: later prompts are prefix lengths into it
    assert all(c.get("prompt_len") and "prompt_ids" not in c for c in calls)
    # where the generated text happens to tokenise canonically, the sequence is what the template renders
    rendered = chat.tokenizer.apply_chat_template(
        [*result.call_messages(calls[2]), Message(role="assistant", content="STOP")], tokenize=False
    )
    assert chat.tokenizer.decode(result.token_ids) == rendered.rstrip("\n")


def test_a_reply_cut_off_at_the_token_limit_gets_the_delimiter_from_the_environment(tiny_dir, monkeypatch) -> None:
    scripted(monkeypatch, ["Who reads it?"], eos=False)
    policy = resolve_model(f"hf:{tiny_dir}")
    result = run_episode(create_clarify_graph(policy, max_turns=3), TASK)
    # finish_reason=length: a format failure (recorded, not a crash) that ends the questions
    assert result.stop_reason == "invalid_reply" and result.ending["reason"] == "cut off at the token limit"
    chat = policy.engine.chat
    env = chat.environment([Message(role="user", content="x")], after_eos=False)
    assert chat.tokenizer.decode(env).startswith("<|im_end|>")


def test_hf_generation_batches_concurrent_requests_and_logprobs_match_a_forward_pass(tiny_dir) -> None:
    import torch

    policy = resolve_model(f"hf:{tiny_dir}?max_new_tokens=12&seed=3")
    graph = create_clarify_graph(policy, max_turns=2)
    tasks = load_bundled()[:6]

    async def many():
        return await asyncio.gather(*[arun_episode(graph, t) for t in tasks])

    results = asyncio.run(many())
    assert all(r.error is None for r in results)
    # six concurrent first questions ran as left-padded batches, not one sequence at a time
    assert policy.engine.batches < 6 and policy.engine.largest_batch >= 3
    call = next(c for c in results[0].calls if c["role"] == "asker")
    assert call["sampling"] == {"temperature": 1.0, "top_p": 1.0, "max_tokens": 12, "seed": 3}
    assert all(isinstance(x, float) for x in call["logprobs"]) and len(call["logprobs"]) == len(call["completion_ids"])
    model = policy.engine.model
    prompt, completion = results[0].call_prompt_ids(call), call["completion_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + completion])).logits[0, len(prompt) - 1 : -1]
    recomputed = torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(completion)[:, None]).squeeze(-1)
    assert torch.allclose(recomputed, torch.tensor(call["logprobs"]), atol=1e-3)


def test_hf_model_strings(tiny_dir) -> None:
    with pytest.raises(ValueError, match="unknown option 'tempo'"):
        resolve_model(f"hf:{tiny_dir}?tempo=1")
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_model("hf:/nonexistent/model")
    one, two = resolve_model(f"hf:{tiny_dir}"), resolve_model(f"hf:{tiny_dir}?temperature=0.5")
    assert one.engine.model is two.engine.model and two.temperature == 0.5  # weights loaded once


# ---- the served backend: token-id prompts to a vLLM-style completions endpoint ----------------------


def _ids(policy, text: str) -> list[int]:
    return [*policy.chat.encode(text), policy.chat.tokenizer.eos_token_id]


def test_vllm_backend_sends_token_ids_and_continues_from_the_generated_ones(tiny_dir, stub_openai) -> None:
    policy = resolve_model(f"vllm:{tiny_dir}@{stub_openai.base_url}")
    q1, stop = _ids(policy, "Who will read it?"), _ids(policy, "STOP")
    stub_openai.script(
        [
            {"content": "Who will read it?", "token_ids": q1},
            {"content": "STOP", "token_ids": stop},
        ]
    )
    result = run_episode(create_clarify_graph(policy, max_turns=3), TASK)
    assert result.error is None and [t["question"] for t in result.turns] == ["Who will read it?"]
    first, second = stub_openai.requests()
    assert all(isinstance(x, int) for x in first["prompt"]) and first["return_token_ids"] is True
    answer = Message(role="user", content=result.call_messages(result.calls[2])[-1]["content"])
    assert second["prompt"] == first["prompt"] + q1 + policy.chat.environment([answer], after_eos=True)
    assert result.token_ids == second["prompt"] + stop
    asker = [c for c in result.calls if c["role"] == "asker"]
    assert asker[0]["logprobs"] == [round(-0.1 * i, 6) for i in range(len(q1))]
    assert asker[0]["finish_reason"] == "stop" and asker[0]["sampling"]["temperature"] == 1.0


def test_vllm_backend_refuses_replies_it_cannot_trust(tiny_dir, stub_openai, monkeypatch) -> None:
    monkeypatch.setattr("langgraph_clarify.llm.RETRY_BACKOFF_S", 0.001)
    policy = resolve_model(f"vllm:{tiny_dir}@{stub_openai.base_url}")
    stub_openai.script([], default={"content": "STOP", "token_ids": [1], "prompt_token_ids": [9, 9]})
    result = run_episode(create_clarify_graph(policy), TASK)
    assert result.stop_reason == "error" and "other prompt ids" in (result.error or "")
    stub_openai.script([], default={"content": "STOP", "no_token_ids": True})
    result = run_episode(create_clarify_graph(policy), TASK)
    assert "returned no token ids" in (result.error or "")
    with pytest.raises(ServedPolicyError):
        policy.invoke("hello")


def test_a_checkpoint_is_an_asker_for_run_and_eval(tiny_dir, tmp_path) -> None:
    """Closing the loop: a saved policy directory plugs in wherever a model string is accepted."""
    import io
    import json

    from langgraph_clarify.cli import main

    out = io.StringIO()
    assert main(["run", "--limit", "1", "--asker", f"hf:{tiny_dir}?max_new_tokens=8", "--json"], out=out) == 0
    (result,) = json.loads(out.getvalue())
    assert result["calls"][0]["model"] == f"hf:{tiny_dir}" and result["calls"][0]["completion_ids"]
    argv = [
        "eval",
        "--policy",
        f"rft=hf:{tiny_dir}?max_new_tokens=8",
        "direct",
        "--limit",
        "2",
        "--max-turns",
        "2",
        "--out",
        str(tmp_path / "ev"),
        "--no-progress",
        "--workers",
        "1",
    ]
    assert main(argv, out=io.StringIO()) == 0
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert {g["policy"] for g in summary["groups"]} == {"rft", "direct"}
