"""The graphs ``clarify studio`` (``langgraph dev``) serves, compiled without a checkpointer (the server brings one).

- ``clarify``: the clarify graph answered by a person. Input ``{"explicit": {"objective": ..., "input": ...},
  "task_id": ...}``; each question is an interrupt (:class:`~langgraph_clarify.graph.HumanQuestion`) resumed
  with a plain string or ``{"stop": true}``; models and budget come from the run's context
  (:class:`~langgraph_clarify.context.ClarifyContext`), offline by default.
- ``agent``: an example ``create_agent`` agent with :class:`~langgraph_clarify.middleware.ClarifyMiddleware`,
  runnable offline: its model is :class:`OfflineAgentModel`. Input ``{"messages": [...]}``; the context form's
  ``asker``, ``max_turns`` and ``temperature`` apply (its writer is the agent's own model).

The repository's ``langgraph.json`` points at ``graphs/*.py``, which re-export these; an installed wheel has no
``langgraph.json``, so ``clarify studio`` writes one that names this module. Importing it only compiles the
graphs: offline components load nothing, and LLM askers chosen in the context are built off the event loop.
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from .context import ClarifyContext
from .graph import HUMAN, create_clarify_graph
from .middleware import ClarifyMiddleware
from .state import DialogueView, Explicit, turns_from_messages
from .writer import ExtractiveWriter


class OfflineAgentModel(BaseChatModel):
    """A deterministic stand-in for the agent's LLM: drafts with the offline extractive writer from the chat
    (the first human message is the request; each question and its answer is a turn)."""

    @property
    def _llm_type(self) -> str:
        return "offline-agent"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chat = [m for m in messages if m.type != "system"]
        request = next((m.text for m in chat if m.type == "human"), "")
        view = DialogueView(explicit=Explicit(objective=request), turns=turns_from_messages(chat))
        draft, _ = ExtractiveWriter().run(view)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(draft))])

    def bind_tools(self, tools: Any, **kwargs: Any) -> OfflineAgentModel:
        """Tools are accepted and never called (the offline model only drafts)."""
        return self


clarify = create_clarify_graph(user=HUMAN, name="clarify")
agent = create_agent(
    OfflineAgentModel(),
    tools=[],
    middleware=[ClarifyMiddleware()],
    context_schema=ClarifyContext,
    name="agent",
)
