"""langgraph-clarify: ask the few questions whose answers change the result, then draft.

The public API is small: the graph factory and the nouns its users handle. Components (askers,
writers, oracles, judges) live in their modules.
"""

from .context import ClarifyContext
from .episodes import EpisodeResult, arun_episode, episode_input, run_episode
from .graph import HUMAN, HumanQuestion, HumanReply, create_clarify_graph
from .llm import LLMError, ModelCall, resolve_model
from .middleware import ClarifyMiddleware
from .rewards import RewardConfig
from .state import Turn
from .tasks import MaskedTask, TaskFileError, load_tasks
from .tools import ask_user

__all__ = [
    "HUMAN",
    "ClarifyContext",
    "ClarifyMiddleware",
    "EpisodeResult",
    "HumanQuestion",
    "HumanReply",
    "LLMError",
    "MaskedTask",
    "ModelCall",
    "RewardConfig",
    "TaskFileError",
    "Turn",
    "arun_episode",
    "ask_user",
    "create_clarify_graph",
    "episode_input",
    "load_tasks",
    "resolve_model",
    "run_episode",
]
