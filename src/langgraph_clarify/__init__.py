"""langgraph-clarify: ask the few questions whose answers change the result, then draft."""

from .asker import AskDecision, HeuristicAsker, LLMAsker
from .episodes import EpisodeResult, arun_episode, episode_input, run_episode
from .graph import HUMAN, HumanQuestion, HumanReply, create_clarify_graph
from .llm import LLMError, ModelCall, resolve_model
from .oracle import LexicalOracle, LLMOracle, OracleReply
from .state import ClarifyState, DialogueView, Turn
from .tasks import MaskedTask, TaskFileError, load_tasks
from .writer import ExtractiveWriter, LLMWriter

__all__ = [
    "HUMAN",
    "AskDecision",
    "ClarifyState",
    "DialogueView",
    "EpisodeResult",
    "ExtractiveWriter",
    "HeuristicAsker",
    "HumanQuestion",
    "HumanReply",
    "LLMAsker",
    "LLMError",
    "LLMOracle",
    "LLMWriter",
    "LexicalOracle",
    "MaskedTask",
    "ModelCall",
    "OracleReply",
    "TaskFileError",
    "Turn",
    "arun_episode",
    "create_clarify_graph",
    "episode_input",
    "load_tasks",
    "resolve_model",
    "run_episode",
]
