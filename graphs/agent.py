"""``agent`` for ``langgraph dev`` / ``clarify studio``: a ``create_agent`` agent with ``ClarifyMiddleware``.

Offline (a deterministic drafting model). Input ``{"messages": [{"role": "user", "content": "..."}]}``; each
clarifying question is an interrupt resumed with a plain string (or ``{"stop": true}``).
"""

from langgraph_clarify.studio import agent as graph

__all__ = ["graph"]
