"""langgraph-clarify."""
