"""Runtime configuration of the clarify graph (its ``context_schema``).

One compiled graph serves every model choice: pass ``context={"asker": "openai:gpt-4o", "max_turns": 3}``
to ``invoke``/``stream`` (LangGraph Studio shows these fields as a form). Precedence, per episode: the
input's ``max_turns`` wins over the context, the context over the factory's arguments. Runtime context
is not persisted, so the graph copies what an episode runs with into its state (``settings``) when it
starts: a resume without ``context=`` continues with the same models and budget.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .llm import MODEL_SPECS

_MODELS = ", ".join(MODEL_SPECS)


class ClarifyContext(BaseModel):
    """Per-run choices: models (as model strings), turn budget and sampling temperature."""

    model_config = ConfigDict(extra="forbid")

    asker: str | None = Field(
        None, description=f"Who asks the questions: a model string ({_MODELS}). Empty: the graph's default."
    )
    writer: str | None = Field(None, description="Who drafts the result: a model string. Empty: the graph's default.")
    oracle: str | None = Field(
        None,
        description="Who answers in oracle-answered graphs: offline, lexical, embedding, or a model string "
        "(an LLM playing the user). Ignored when a person answers. Empty: the graph's default.",
    )
    max_turns: int | None = Field(None, ge=0, le=100, description="Most questions to ask before drafting.")
    temperature: float | None = Field(
        None, ge=0.0, le=2.0, description="Sampling temperature of the LLM components. Empty: each model's own."
    )
