"""Deterministic OpenAI-compatible stub server for tests (stdlib only).

Run as a script::

    python tests/stub_openai.py --port 8123 [--host 127.0.0.1] [--verbose]

It binds a loopback address only, prints ``READY <port>`` (flushed) once it is listening and exits
cleanly (status 0) on SIGTERM / SIGINT.

Endpoints
---------
``POST /v1/chat/completions``
    Answers from a FIFO queue of scripted replies. A scripted reply is a JSON object:

    * ``{"content": "..."}`` -- a normal 200 ``chat.completion``;
    * ``{"status": 500, "body": "..."}`` -- an HTTP error with that status and an OpenAI-style
      ``{"error": {...}}`` JSON (a dict ``body`` is sent verbatim instead);
    * optional ``"logprobs": true`` adds ``choices[0].logprobs.content``, one entry per whitespace
      token ``{"token", "logprob": -0.1 * i, "bytes", "top_logprobs": []}``;
    * optional ``"delay": seconds`` sleeps before answering;
    * ``{"raw": "<html>...", "status": 200}`` -- that body verbatim as ``text/html`` (a malformed reply);
    * ``{"drop": true}`` -- the connection is closed without a response (a dropped connection).

    A bare string in the queue is shorthand for ``{"content": string}``. When the queue is empty the
    ``default`` reply is used if set, else HTTP 500 ``stub queue empty``. ``"stream": true`` requests
    get SSE ``chat.completion.chunk`` events then ``data: [DONE]`` (plus a usage chunk when
    ``stream_options.include_usage`` is set). Every request body (parsed JSON) is recorded.
    Token counts are whitespace tokens: ``prompt_tokens`` over all request message texts,
    ``completion_tokens`` over the reply content.
``POST /v1/completions``
    vLLM's completions endpoint as a token-in/token-out policy server uses it: ``prompt`` may be a list
    of token ids; scripted replies are ``{"content": text, "token_ids": [...], "finish_reason": ...}``.
    With ``return_token_ids`` the choice carries ``prompt_token_ids`` (the request's ids) and
    ``token_ids``; with ``logprobs`` it carries vLLM's legacy logprobs object (``tokens`` as
    ``token_id:N``, ``token_logprobs`` -0.1 * i). Usage counts are token-id counts. A reply may
    override the echoed ``prompt_token_ids`` (a server that re-tokenised) or send ``no_token_ids``.
``GET /v1/models``
    ``{"object": "list", "data": [{"id": "stub", ...}]}``.
``POST /_script``
    ``{"replies": [...], "default": {...} | null}`` replaces the queue and the default.
``GET /_requests``
    The recorded chat-completion request bodies, as a JSON list.
``POST /_reset``
    Clears the queue, the default, the recorded requests and the id counter.
``GET /health``
    ``{"ok": true}``.

Test helpers (import with ``tests/`` on ``sys.path``): :func:`free_port` and :class:`StubServer`,
which launches this file in a subprocess and drives the control endpoints over urllib.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CREATED = 1_700_000_000  # fixed timestamp: responses are deterministic
EMPTY_QUEUE_MESSAGE = "stub queue empty"
SCRIPT_PATH = os.path.abspath(__file__)


# --------------------------------------------------------------------------------------------------
# Server side
# --------------------------------------------------------------------------------------------------


def _count_tokens(text: str | None) -> int:
    return len(text.split()) if text else 0


def _message_text(content: Any) -> str:
    """Text of a chat message ``content``: a string, a list of parts, or None."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return " ".join(parts)
    return ""


def _prompt_tokens(body: dict) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    return sum(_count_tokens(_message_text(m.get("content"))) for m in messages if isinstance(m, dict))


def _logprob_entry(token: str, i: int) -> dict:
    return {
        "token": token,
        "logprob": round(-0.1 * i, 6) + 0.0,  # + 0.0 turns -0.0 into 0.0
        "bytes": list(token.encode("utf-8")),
        "top_logprobs": [],
    }


def _logprobs(content: str) -> dict:
    return {"content": [_logprob_entry(tok, i) for i, tok in enumerate(content.split())], "refusal": None}


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _error_json(status: int, body: Any) -> Any:
    if isinstance(body, dict | list):
        return body
    return {
        "error": {
            "message": "stub error" if body is None else str(body),
            "type": "server_error" if status >= 500 else "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


class StubState:
    """Scripted replies, default reply and recorded requests, shared by all handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.replies: list[dict] = []
        self.default: dict | None = None
        self.requests: list[Any] = []
        self.counter = 0

    def reset(self) -> None:
        with self.lock:
            self.replies = []
            self.default = None
            self.requests = []
            self.counter = 0

    def script(self, replies: list[dict], default: dict | None) -> None:
        with self.lock:
            self.replies = list(replies)
            self.default = default

    def take(self, body: Any) -> tuple[dict | None, int]:
        """Record ``body`` and pop the next reply (None when nothing is scripted)."""
        with self.lock:
            self.requests.append(body)
            self.counter += 1
            if self.replies:
                return self.replies.pop(0), self.counter
            return self.default, self.counter

    def recorded(self) -> list[Any]:
        with self.lock:
            return list(self.requests)


def _normalize_reply(reply: Any) -> dict:
    if isinstance(reply, str):
        return {"content": reply}
    if not isinstance(reply, dict):
        raise ValueError(f"a scripted reply must be an object or a string, got {type(reply).__name__}")
    return reply


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "StubOpenAI/1.0"
    server: StubHTTPServer

    # -- plumbing --------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _path(self) -> str:
        path = self.path.split("?", 1)[0]
        return path.rstrip("/") or "/"

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error_json(self, status: int, message: str) -> None:
        self._send_json(status, _error_json(status, message))

    # -- routing ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self._path()
        if path == "/health":
            self._send_json(200, {"ok": True})
        elif path == "/_requests":
            self._send_json(200, self.server.state.recorded())
        elif path in ("/v1/models", "/models"):
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [{"id": "stub", "object": "model", "created": CREATED, "owned_by": "stub"}],
                },
            )
        else:
            self._send_error_json(404, f"no route GET {path}")

    def do_POST(self) -> None:
        path = self._path()
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            self._send_error_json(400, f"invalid JSON body: {exc}")
            return
        if path in ("/v1/chat/completions", "/chat/completions"):
            self._chat_completions(body)
        elif path in ("/v1/completions", "/completions"):
            self._completions(body)
        elif path == "/_script":
            self._script(body)
        elif path == "/_reset":
            self.server.state.reset()
            self._send_json(200, {"ok": True})
        else:
            self._send_error_json(404, f"no route POST {path}")

    # -- control ---------------------------------------------------------------------------------

    def _script(self, body: Any) -> None:
        if not isinstance(body, dict):
            self._send_error_json(400, "/_script expects a JSON object")
            return
        try:
            replies = [_normalize_reply(r) for r in body.get("replies") or []]
            default = body.get("default")
            default = None if default is None else _normalize_reply(default)
        except ValueError as exc:
            self._send_error_json(400, str(exc))
            return
        self.server.state.script(replies, default)
        self._send_json(200, {"ok": True, "queued": len(replies)})

    # -- chat completions ------------------------------------------------------------------------

    def _chat_completions(self, body: Any) -> None:
        reply, n = self.server.state.take(body)
        if not isinstance(body, dict):
            self._send_error_json(400, "request body must be a JSON object")
            return
        if reply is None:
            self._send_error_json(500, EMPTY_QUEUE_MESSAGE)
            return
        if self._faulty(reply):
            return

        content = str(reply.get("content") or "")
        model = body.get("model") or "stub"
        completion_id = f"chatcmpl-stub-{n}"
        usage = _usage(_prompt_tokens(body), _count_tokens(content))
        logprobs = _logprobs(content) if reply.get("logprobs") else None
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(completion_id, model, content, logprobs, usage if include_usage else None)
            return
        self._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": CREATED,
                "model": model,
                "system_fingerprint": None,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": logprobs,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            },
        )

    def _faulty(self, reply: dict) -> bool:
        """Delay, then send a scripted fault (HTTP error, raw body, dropped connection); True if sent."""
        delay = reply.get("delay")
        if delay:
            time.sleep(float(delay))
        status = int(reply.get("status") or 200)
        if reply.get("drop"):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if "raw" in reply:
            data = str(reply["raw"]).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return True
        if status >= 400:
            self._send_json(status, _error_json(status, reply.get("body")))
            return True
        return False

    def _completions(self, body: Any) -> None:
        reply, n = self.server.state.take(body)
        if not isinstance(body, dict):
            self._send_error_json(400, "request body must be a JSON object")
            return
        if reply is None:
            self._send_error_json(500, EMPTY_QUEUE_MESSAGE)
            return
        if self._faulty(reply):
            return
        prompt = body.get("prompt")
        prompt_ids = prompt if isinstance(prompt, list) and all(isinstance(x, int) for x in prompt) else None
        ids = [int(x) for x in reply.get("token_ids") or []]
        choice: dict[str, Any] = {
            "index": 0,
            "text": str(reply.get("content") or ""),
            "logprobs": None,
            "finish_reason": reply.get("finish_reason") or "stop",
            "stop_reason": None,
        }
        if body.get("logprobs") is not None:
            choice["logprobs"] = {
                "tokens": [f"token_id:{t}" for t in ids],
                "token_logprobs": [round(-0.1 * i, 6) for i in range(len(ids))],
                "top_logprobs": [{} for _ in ids],
                "text_offset": list(range(len(ids))),
            }
        if body.get("return_token_ids") and not reply.get("no_token_ids"):
            choice["prompt_token_ids"] = reply.get("prompt_token_ids", prompt_ids)
            choice["token_ids"] = ids
        n_prompt = len(prompt_ids) if prompt_ids is not None else _count_tokens(str(prompt))
        self._send_json(
            200,
            {
                "id": f"cmpl-stub-{n}",
                "object": "text_completion",
                "created": CREATED,
                "model": body.get("model") or "stub",
                "choices": [choice],
                "usage": _usage(n_prompt, len(ids)),
            },
        )

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, completion_id: str, model: str, content: str, logprobs: dict | None, usage: dict | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(choices: list[dict], chunk_usage: dict | None = None) -> None:
            chunk: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "system_fingerprint": None,
                "choices": choices,
            }
            if chunk_usage is not None:
                chunk["usage"] = chunk_usage
            self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())

        def choice(delta: dict, lp: dict | None = None, finish: str | None = None) -> dict:
            return {"index": 0, "delta": delta, "logprobs": lp, "finish_reason": finish}

        event([choice({"role": "assistant", "content": ""})])
        # Pieces keep their trailing whitespace so that they concatenate back to ``content``.
        pieces = re.findall(r"^\s+|\S+\s*", content)
        token_index = 0
        for piece in pieces:
            lp = None
            if logprobs is not None and piece.strip():
                lp = {"content": [_logprob_entry(piece.strip(), token_index)], "refusal": None}
                token_index += 1
            event([choice({"content": piece}, lp)])
        event([choice({}, None, "stop")])
        if usage is not None:
            event([], usage)
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")  # terminating zero-length chunk


class StubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], verbose: bool = False) -> None:
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__(address, StubHandler)
        self.state = StubState()
        self.verbose = verbose


def _check_loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise SystemExit(f"stub_openai: refusing to bind non-loopback host {host!r}")


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deterministic OpenAI-compatible stub server.")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    host = _check_loopback(args.host)
    server = StubHTTPServer((host, args.port), verbose=args.verbose)
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGINT, _raise_exit)
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
    return 0


# --------------------------------------------------------------------------------------------------
# Test-side helpers
# --------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# urllib without any proxy from the environment: control calls always go straight to loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StubServer:
    """Runs ``stub_openai.py`` in a subprocess and drives it over HTTP.

    >>> stub = StubServer(); stub.start()
    >>> stub.script([{"content": "hello"}]); ...; stub.requests(); stub.stop()
    """

    READY_TIMEOUT = 10.0

    def __init__(self, port: int | None = None, path: str = SCRIPT_PATH) -> None:
        self._fixed_port = port
        self.port: int = port or 0
        self.path = path
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("stub server not started")
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StubServer:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("stub server already running")
        # A port picked by free_port() could be taken before the child binds it: retry then.
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            self.port = self._fixed_port or free_port()
            try:
                self._launch()
                return self
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
        return self

    def _launch(self) -> None:
        # Kept open for the child's lifetime (closed in stop()); a file, unlike a pipe, never fills up.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, self.path, "--port", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.proc = proc
        lines: queue.Queue[bytes] = queue.Queue()

        def pump() -> None:  # keeps draining stdout so the child can never block on it
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            proc.stdout.close()

        threading.Thread(target=pump, name=f"stub-openai-stdout-{proc.pid}", daemon=True).start()

        deadline = time.monotonic() + self.READY_TIMEOUT
        while True:
            try:
                line = lines.get(timeout=0.05)
            except queue.Empty:
                line = None
            if line is not None and line.startswith(b"READY"):
                return
            if proc.poll() is not None:
                err = self._read_stderr()
                self._stderr.close()
                self._stderr = None
                self.proc = None
                raise RuntimeError(f"stub server exited with {proc.returncode} before READY:\n{err}")
            if time.monotonic() > deadline:
                err = self._read_stderr()
                self.stop()
                self.proc = None
                raise RuntimeError(f"stub server not READY within {self.READY_TIMEOUT} s:\n{err}")

    def _read_stderr(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the server by its own PID, wait, SIGKILL if it does not go."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        proc.wait()  # reap
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control calls ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with _OPENER.open(req, timeout=10) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise RuntimeError(f"stub control call {method} {path} failed: {exc.code} {detail}") from exc

    def script(self, replies: list[dict | str], default: dict | str | None = None) -> None:
        """Replace the reply queue (FIFO) and the default reply."""
        self._call("POST", "/_script", {"replies": list(replies), "default": default})

    def requests(self) -> list[dict]:
        """Every chat-completion request body received since the last reset."""
        return self._call("GET", "/_requests")

    def reset(self) -> None:
        self._call("POST", "/_reset", {})

    def health(self) -> bool:
        return bool(self._call("GET", "/health").get("ok"))


if __name__ == "__main__":
    sys.exit(main())
