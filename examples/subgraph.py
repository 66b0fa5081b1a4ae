"""Add clarification to a hand-built StateGraph: the clarify graph as one node of a parent with its own state.

The parent (a ticket: request → report → review) shares no keys with the clarify graph, so one node maps
between them: ``clarify_input`` turns the ticket into the clarify input, ``ticket_update`` turns the clarify
output into the ticket's fields. The parent's checkpointer serves the subgraph too, so each question is an
interrupt of the *parent* run, resumed on the parent with ``Command(resume=...)``; the node re-runs from its
top on resume and the subgraph continues where it paused. Pass the clarify graph its own ``context``: a
subgraph otherwise inherits the parent's runtime context, which need not be a ClarifyContext.

Run: python examples/subgraph.py   (offline)
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from typing_extensions import TypedDict

from langgraph_clarify import HUMAN, ClarifyContext, create_clarify_graph

clarify = create_clarify_graph(asker="offline", writer="offline", user=HUMAN)


class Ticket(TypedDict, total=False):
    id: str
    request: str
    budget: int
    report: str
    questions: list[str]
    stop_reason: str
    approved: bool


def clarify_input(ticket: Ticket) -> dict[str, Any]:
    return {"explicit": {"objective": ticket["request"]}, "task_id": ticket["id"]}


def clarify_context(ticket: Ticket) -> ClarifyContext:
    return ClarifyContext(max_turns=ticket.get("budget", 3))


def ticket_update(out: dict[str, Any]) -> dict[str, Any]:
    questions = [t["question"] for t in out["turns"]]
    return {"report": out["draft"], "questions": questions, "stop_reason": out["stop_reason"]}


def gather(ticket: Ticket) -> dict[str, Any]:
    return ticket_update(clarify.invoke(clarify_input(ticket), context=clarify_context(ticket)))


def review(ticket: Ticket) -> dict[str, Any]:
    return {"approved": bool(ticket["report"])}


def build(gather_node: Any = gather) -> Any:
    builder = StateGraph(Ticket)
    builder.add_node("gather", gather_node)
    builder.add_node("review", review)
    builder.add_edge(START, "gather")
    builder.add_edge("gather", "review")
    builder.add_edge("review", END)
    return builder.compile(checkpointer=InMemorySaver())


def main() -> None:
    answers: list[Any] = ["Blameless, with a five-whys analysis.", "Summary, timeline, action items.", {"stop": True}]
    tickets = build()
    config: Any = {"configurable": {"thread_id": "ticket-42"}}
    out = tickets.invoke({"id": "ticket-42", "request": "Write a postmortem for the checkout outage"}, config)
    while out.get("__interrupt__"):
        question = out["__interrupt__"][0].value
        answer = answers.pop(0)
        print(f"Q{question['turn']}/{question['budget']}: {question['question']}\nA: {answer}")
        out = tickets.invoke(Command(resume=answer), config)
    print(f"\n{len(out['questions'])} questions, ended by {out['stop_reason']}; approved: {out['approved']}\n")
    print(out["report"])


if __name__ == "__main__":
    main()
