"""Add clarification to an agent you already have: two lines (the import and the middleware).

The agent below is an ordinary ``create_agent`` agent with a tool. With ``ClarifyMiddleware`` it first asks
the few questions whose answers change the result: each question is an interrupt (``{"question", "turn",
"budget", "task_id"}``) that a person answers with ``Command(resume="...")`` or ``{"stop": True}``; then the
model works with the answers. The offline model drafts deterministically; pass any chat model instead (e.g.
``MODEL=openai:gpt-4o-mini``, which needs ``OPENAI_API_KEY``), and ``asker=`` the same or a trained policy.

Run: python examples/agent_middleware.py
"""

from __future__ import annotations

import os
from typing import Any

from langchain.agents import create_agent
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from langgraph_clarify import ClarifyMiddleware  # (1) the import
from langgraph_clarify.studio import OfflineAgentModel

REQUEST = "Write a postmortem for last week's checkout outage."
ANSWERS = ["Blameless, with a five-whys analysis.", "Summary: three sentences for executives.", "Engineering."]


@tool
def incident_facts(service: str) -> str:
    """What the incident tracker knows about an outage of ``service``."""
    return f"{service}: 47 minutes of failed payments after deploy 2031; rolled back at 14:52 UTC."


def build_agent(model: Any = None) -> Any:
    """The existing agent, plus clarification."""
    return create_agent(
        model or os.environ.get("MODEL") or OfflineAgentModel(),
        tools=[incident_facts],
        system_prompt="You write clear engineering documents.",
        middleware=[ClarifyMiddleware(max_turns=3)],  # (2) the middleware
        checkpointer=InMemorySaver(),  # interrupts need one (the LangGraph server brings its own)
    )


def build_offline_agent() -> Any:
    """A zero-argument factory: ``agent:agent_middleware:build_offline_agent`` for evaluation."""
    return build_agent(OfflineAgentModel())


def main() -> None:
    agent = build_agent()
    config: Any = {"configurable": {"thread_id": "example"}}
    answers = list(ANSWERS)
    out = agent.invoke({"messages": [{"role": "user", "content": REQUEST}]}, config)
    while out.get("__interrupt__"):
        question = out["__interrupt__"][0].value
        answer = answers.pop(0)
        print(f"Q{question['turn']}/{question['budget']}: {question['question']}\nA: {answer}")
        out = agent.invoke(Command(resume=answer), config)
    print(f"\n(questions ended: {out['clarify_stop_reason']})\n")
    print(out["messages"][-1].text)


if __name__ == "__main__":
    main()
