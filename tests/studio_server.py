"""``clarify studio`` for tests: its own process group on a free loopback port, ready on ``/ok``, stopped by its
PID (SIGINT like Ctrl-C, SIGKILL if that fails); it dies with the test process (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from stub_openai import free_port

SRC = Path(__file__).resolve().parents[1] / "src"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def die_with_parent() -> None:
    """For preexec_fn: the child gets SIGKILL when the process that started it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def loopback_env(pythonpath: Path = SRC) -> dict[str, str]:
    """The environment for child processes: this tree's package first, analytics and proxies off."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(LANGGRAPH_CLI_NO_ANALYTICS="1", LANGGRAPH_NO_VERSION_CHECK="true", LANGSMITH_TRACING="false")
    return env


class StudioServer:
    def __init__(self, *, pythonpath: Path = SRC, cwd: Path | None = None):
        self.pythonpath, self.cwd = pythonpath, cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self.startup_s = 0.0

    def start(self, timeout: float = 90.0) -> StudioServer:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (a file never fills up like a pipe)
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "langgraph_clarify.cli", "studio", "--port", str(self.port)],
            cwd=self.cwd,
            env=loopback_env(self.pythonpath),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"clarify studio exited with {self.proc.returncode}:\n{self.output}")
            with contextlib.suppress(OSError), _OPENER.open(f"{self.url}/ok", timeout=2) as response:
                if response.status == 200:
                    self.startup_s = time.perf_counter() - started
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"clarify studio not ready on {self.url}/ok within {timeout} s:\n{self.output}")

    @property
    def output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")  # type: ignore[no-any-return]

    def stop(self, timeout: float = 20.0) -> int | None:
        """Ctrl-C (SIGINT to the process group), then SIGKILL; the exit code of a clean stop."""
        proc = self.proc
        if proc is None:
            return None
        code: int | None = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
        return code
