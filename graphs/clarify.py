"""``clarify`` for ``langgraph dev`` / ``clarify studio``: the clarify graph, answered by a person.

Input ``{"explicit": {"objective": "...", "input": "..."}, "task_id": "..."}``; each question is an interrupt
resumed with a plain string (or ``{"stop": true}``); the context form chooses asker, writer and budget.
"""

from langgraph_clarify.studio import clarify as graph

__all__ = ["graph"]
