"""The weight-sync seam: after each PPO update, the generator must sample from the new weights.

One protocol, three existing mechanisms behind it (none hand-written):

- :class:`InProcessSync` -- ``hf:`` generation shares the trained module; the update already happened in
  place (the trainer holds ``Generator.lock`` while it steps), so pushing only records the version.
- :class:`LoRAAdapterSync` -- a vLLM server in its own environment, LoRA training: the adapter is saved to a
  directory both sides can read and loaded with vLLM's runtime LoRA endpoint ``POST /v1/load_lora_adapter``
  (``load_inplace``: the same adapter name now points at the new weights), then ``POST /reset_prefix_cache``
  so no cached prefix computed with the old adapter is reused. Needs only HTTP and a shared filesystem,
  so the two environments never share a Python package.
- :class:`NCCLSync` -- full fine-tuning: TRL's ``VLLMClient`` over vLLM's native weight-transfer engine
  (NCCL broadcast, ``/init_weight_transfer_engine`` ... ``/finish_weight_update``). Its trainer side imports
  vLLM, so it works only where vLLM imports next to the ``train`` extra (see training/README.md).
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class WeightSync(Protocol):
    """Makes the generator use ``model``'s current weights; called once after every update."""

    def push(self, model: Any, step: int) -> None: ...


@dataclass
class InProcessSync:
    """``hf:`` generation: the generator holds the trained module itself."""

    pushed: list[int] = field(default_factory=list)
    """The steps pushed so far."""

    def push(self, model: Any, step: int) -> None:
        self.pushed.append(step)


def post_json(url: str, body: dict[str, Any], timeout: float) -> Any:
    """POST ``body`` as JSON; the decoded reply (None when empty). HTTP errors raise with the server's text."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"POST {url} failed: {exc.code} {exc.read().decode(errors='replace')[:300]}") from exc
    return json.loads(raw) if raw.strip() else None


@dataclass
class LoRAAdapterSync:
    """vLLM runtime LoRA loading (serve with ``--enable-lora`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=1``;
    ``VLLM_SERVER_DEV_MODE=1`` for the prefix-cache reset)."""

    base_url: str
    """The server's OpenAI base URL, e.g. ``http://127.0.0.1:8000/v1``."""
    adapter_name: str
    """The name requests use as ``model``; the adapter behind it is replaced at every push."""
    directory: Path
    """Where adapters are written; the server must read the same path."""
    keep: int = 2
    """Adapter directories kept (older ones are deleted once a newer one is loaded)."""
    reset_prefix_cache: bool = True
    timeout: float = 300.0
    pushed: list[tuple[int, Path, float]] = field(default_factory=list)
    """(step, adapter directory, time.time() when loaded) of every push."""

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/").removesuffix("/v1")

    def push(self, model: Any, step: int) -> None:
        path = (self.directory / f"step-{step}").resolve()
        model.save_pretrained(str(path))
        body = {"lora_name": self.adapter_name, "lora_path": str(path), "load_inplace": True}
        post_json(self.root + "/v1/load_lora_adapter", body, self.timeout)
        if self.reset_prefix_cache:
            post_json(self.root + "/reset_prefix_cache", {}, self.timeout)
        self.pushed.append((step, path, time.time()))
        for old, old_path, _ in self.pushed[: -self.keep]:
            if old != step:
                shutil.rmtree(old_path, ignore_errors=True)


@dataclass
class NCCLSync:
    """Full weights over NCCL with TRL's ``VLLMClient`` (serve with ``VLLM_SERVER_DEV_MODE=1`` and
    ``--weight-transfer-config '{"backend": "nccl"}'``); ``device`` is this trainer's CUDA device."""

    base_url: str
    device: Any = 0
    connection_timeout: float = 240.0
    pushed: list[int] = field(default_factory=list)
    _client: Any = None

    def push(self, model: Any, step: int) -> None:
        if self._client is None:
            from trl.generation.vllm_client import VLLMClient

            self._client = VLLMClient(
                base_url=self.base_url.rstrip("/").removesuffix("/v1"), connection_timeout=self.connection_timeout
            )
            self._client.init_communicator(device=self.device)
        self._client.update_model_params(model)
        self._client.reset_prefix_cache()
        self.pushed.append(step)
