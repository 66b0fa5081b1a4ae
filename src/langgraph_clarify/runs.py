"""Run directories shared by ``clarify eval`` and ``clarify collect``: durable, resumable, exclusive.

- **Nothing lost on kill.** Each finished episode is one line appended (and flushed) to the results
  file the moment it is done; a line cut short by a kill is dropped on resume and its episode reruns.
- **One run per directory.** The directory is locked (``flock`` on ``DIR/.lock``) for as long as the run
  or any of its workers lives; a second run on it fails at once, naming the process that holds it.
- **Workers die with their parent.** Forked workers ask the kernel for SIGKILL when the parent dies
  (Linux ``PR_SET_PDEATHSIG``) and also watch their parent id, so a killed run leaves no orphan that
  finishes its share unseen and races a later ``--resume``.
- **Pinned settings.** What scores depend on is written to ``DIR/run.json``; resuming with different
  settings is refused rather than mixing incomparable episodes.
- **Bounded memory.** The run keeps only the keys of finished episodes; rows are read back from disk
  one at a time (the last row of a key wins, so ``--retry-failed`` replaces a failed episode).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import json
import multiprocessing
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from queue import Empty
from typing import Any, BinaryIO, TypeVar

T = TypeVar("T")
Row = dict[str, Any]


class RunLocked(RuntimeError):
    """Another live process holds the run directory."""


class RunDir:
    """An append-only results file in a locked directory; use as a context manager.

    Args:
        path: the directory (created if missing).
        results: file name of the JSON Lines results.
        resume: continue an existing results file (else it must not exist).
        pinned: settings the rows depend on; must match ``run.json`` when resuming.
        retry_failed: rows with an ``error`` do not count as done, so their episodes run again.
    """

    def __init__(
        self,
        path: Path,
        *,
        results: str = "results.jsonl",
        resume: bool = False,
        pinned: dict[str, Any] | None = None,
        retry_failed: bool = False,
    ):
        self.path = Path(path)
        self.results = self.path / results
        self.resume = resume
        self.pinned = pinned or {}
        self.retry_failed = retry_failed
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self._lock_fd: int | None = None
        self._fh: Any = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> RunDir:
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            if self.results.exists() and not self.resume:
                raise FileExistsError(f"{self.results} exists: pass --resume to continue it, or choose another --out")
            self._pin()
            self._load()
            self._fh = self.results.open("a", encoding="utf-8")
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._unlock()

    def _lock(self) -> None:
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLocked(
                f"{self.path} is in use by {holder}: wait for that run to finish or stop it "
                "(its workers stop with it), or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        info["command"] = " ".join(sys.argv)[:300]
        os.write(fd, json.dumps(info).encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)  # closing the last descriptor releases the flock
            self._lock_fd = None

    def _pin(self) -> None:
        path = self.path / "run.json"
        if path.exists():
            before = json.loads(path.read_text(encoding="utf-8"))
            changed = [f"{k} was {before.get(k)!r}, now {v!r}" for k, v in self.pinned.items() if before.get(k) != v]
            if changed:
                raise ValueError(
                    f"{path}: cannot resume with different settings ({'; '.join(changed)}); use another --out"
                )
        else:
            path.write_text(json.dumps(self.pinned, indent=1) + "\n", encoding="utf-8")

    def _load(self) -> None:
        """Record finished keys; rewrite the file without a torn last line so appends start clean."""
        if not self.results.exists():
            return
        status: dict[str, bool] = {}
        tmp = self.results.with_suffix(".tmp")
        with self.results.open(encoding="utf-8") as src, tmp.open("w", encoding="utf-8") as dst:
            for line in src:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                dst.write(line if line.endswith("\n") else line + "\n")
                status[row["key"]] = not row.get("error")
        os.replace(tmp, self.results)
        for key, ok in status.items():
            if ok or not self.retry_failed:
                self.done.add(key)
            if not ok:
                self.failed.add(key)

    # ---- rows ---------------------------------------------------------------------------------

    def append(self, row: Row) -> None:
        assert self._fh is not None, "RunDir is not open"
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        self.done.add(row["key"])
        if row.get("error"):
            self.failed.add(row["key"])
        else:
            self.failed.discard(row["key"])


def iter_rows(path: Path) -> Iterator[tuple[int, Row]]:
    """The rows of a results file with the byte offset of each (for :func:`row_at`), one at a time, the
    last row of each key only (a retried episode replaces its failure); a line cut short by a kill is
    skipped. Two passes, constant memory per row."""
    if not path.exists():
        return
    last: dict[str, int] = {}
    with path.open("rb") as fh:
        offset = 0
        for line in fh:
            key = _key_of(line)
            if key is not None:
                last[key] = offset
            offset += len(line)
    keep = set(last.values())
    del last
    with path.open("rb") as fh:
        offset = 0
        for line in fh:
            if offset in keep:
                yield offset, json.loads(line)
            offset += len(line)


def read_rows(path: Path) -> Iterator[Row]:
    """The rows of :func:`iter_rows`, without their offsets."""
    return (row for _, row in iter_rows(path))


def row_at(fh: BinaryIO, offset: int) -> Row:
    """The row starting at ``offset`` of a results file opened in binary mode: a pass that needs a few
    rows again (pairwise judging) re-reads them instead of keeping them all."""
    fh.seek(offset)
    row: Row = json.loads(fh.readline())
    return row


_KEY = re.compile(rb'^\{"key": ("(?:[^"\\]|\\.)*")')


def _key_of(line: bytes) -> str | None:
    """The row's key, read from the line's start (rows are written key first) without parsing the whole
    row; a line cut short by a kill has no closing brace and counts as no row."""
    if not line.rstrip().endswith(b"}"):
        return None
    match = _KEY.match(line)
    if match is not None:
        return str(json.loads(match.group(1)))
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    key = row.get("key") if isinstance(row, dict) else None
    return key if isinstance(key, str) else None


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096) or b"{}")
    except (OSError, ValueError):
        return "another process"
    if not info:
        return "another process"
    return f"PID {info.get('pid')} on {info.get('host')} since {info.get('started')} ({info.get('command')})"


# ---- worker processes --------------------------------------------------------------------------


def die_with_parent(parent: int) -> None:
    """Make this (forked) process die when ``parent`` does: the kernel's parent-death signal where
    available, and a watchdog thread polling the parent id everywhere."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child(
    work: Callable[[Sequence[T], Callable[[Row], None]], None], shard: Sequence[T], queue: Any, parent: int
) -> None:
    die_with_parent(parent)
    work(shard, queue.put)
    queue.put(None)


def run_in_workers(
    shards: Sequence[Sequence[T]],
    work: Callable[[Sequence[T], Callable[[Row], None]], None],
    emit: Callable[[Row], None],
) -> list[str]:
    """Run ``work(shard, emit)`` in one forked process per shard, passing each row to ``emit`` here as
    it arrives; return a line per worker that died early (its unfinished items run again on resume)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(work, shard, queue, os.getpid()), daemon=True) for shard in shards if shard
    ]
    for proc in procs:
        proc.start()
    finished, problems, live = 0, [], list(procs)
    try:
        while finished < len(procs):
            try:
                row = queue.get(timeout=1.0)
            except Empty:
                dead = [p for p in live if p.exitcode not in (None, 0)]
                if dead and queue.empty():
                    problems += [f"worker {p.pid} exited with code {p.exitcode}" for p in dead]
                    finished += len(dead)
                    live = [p for p in live if p not in dead]
                continue
            if row is None:
                finished += 1
            else:
                emit(row)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    return problems


def default_workers() -> int:
    """Worker processes by default: the cores this process may use (the event loop is CPU-bound)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def fewer_collections(gen0: int = 50_000) -> Iterator[None]:
    """Run many short-lived episodes with fewer garbage collections.

    Every LangGraph step and chat-model call allocates thousands of container objects, so CPython's
    default (a young collection every 700 allocations, and older ones that walk every live object,
    some 120,000 left by importing langchain and langgraph) took about 40% of an episode's CPU. Objects
    alive when the block starts (modules, compiled graphs, tasks) are frozen out of collection and the
    young generation is collected every ``gen0`` allocations; both are undone on exit. Episodes free
    almost everything by reference counting, so memory stays bounded (``bench/memory.py``).
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(gen0, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


# ---- progress ---------------------------------------------------------------------------------


class _NoBar:
    def update(self, n: int) -> None: ...

    def set_postfix_str(self, text: str) -> None: ...

    def close(self) -> None: ...


def progress(total: int, initial: int, enabled: bool, desc: str = "episodes", unit: str = "ep") -> Any:
    """A tqdm bar on stderr (or nothing, when disabled or tqdm is missing); ``total`` counts what is left."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total + initial, initial=initial, desc=desc, unit=unit, file=sys.stderr)
