"""Answer the clarify graph's questions from a web page, through the served API.

``clarify studio`` serves the graph; ``web/index.html`` is a static page whose plain ``fetch`` calls create a
thread, run it to each question (an interrupt), resume it with the person's answer and show the draft.
:func:`answer_with_sdk` makes the same calls with ``langgraph_sdk``, for a backend instead of a browser.

Run: clarify studio --port 2024   (another terminal)
     python examples/web_answer.py --api http://127.0.0.1:2024   then open the printed URL
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from langgraph_sdk import get_client

PAGE_DIR = Path(__file__).resolve().parent / "web"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_page(port: int = 0) -> ThreadingHTTPServer:
    """Serve ``web/`` on a loopback port, in a daemon thread; ``shutdown()`` stops it."""
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Quiet, directory=str(PAGE_DIR)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def answer_with_sdk(api: str, request: str, answers: list[Any]) -> dict[str, Any]:
    """The page's calls with the SDK: start a thread, answer each question in turn, return the final values."""
    client = get_client(url=api)
    thread = (await client.threads.create())["thread_id"]
    await client.runs.wait(thread, "clarify", input={"explicit": {"objective": request}, "task_id": "sdk"})
    for answer in answers:
        interrupts = (await client.threads.get_state(thread))["interrupts"]
        if not interrupts:
            break
        print(f"Q: {interrupts[0]['value']['question']}\nA: {answer}")
        await client.runs.wait(thread, "clarify", command={"resume": answer})
    values = (await client.threads.get_state(thread))["values"]
    assert isinstance(values, dict)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="the LangGraph server, e.g. http://127.0.0.1:2024")
    parser.add_argument("--port", type=int, default=0, help="port for the page (default: a free one)")
    parser.add_argument("--sdk", action="store_true", help="answer with the SDK instead of serving the page")
    args = parser.parse_args()
    if args.sdk:
        values = asyncio.run(answer_with_sdk(args.api, "Write an incident postmortem", ["Executives.", {"stop": True}]))
        print(values["draft"])
        return
    server = serve_page(args.port)
    print(f"open http://127.0.0.1:{server.server_address[1]}/index.html?api={args.api}  (Ctrl-C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
