"""Training the asker: token-exact policy backends (``hf:`` in process, ``vllm:`` served), rollouts with
per-turn rewards exported from graph traces, and the trainers. torch is imported only where a model is
built or trained, so ``import langgraph_clarify.rl`` costs nothing without the ``train`` extra."""
