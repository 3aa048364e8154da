"""The Bot API stand-in in a process of its own, driven through a pipe.

The fan-out and reply benchmarks measure the bot's CPU time and memory: the fake Telegram must
not share its process (nor its GIL). :class:`RemoteStandIn` spawns a child that runs
:class:`bot_api_standin.BotApiStandIn` on its own event loop; :meth:`RemoteStandIn.call` runs a
method of it there (``add_bot``, ``add_user``, ``send_command``...) or one of the helpers below,
which work on the stand-in's records in the child and send back only what the benchmark needs.
Times in the answers are the stand-in's ``time.monotonic()``, the same clock as the parent's on
Linux.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from bot_api_standin import BotApiStandIn, RateLimits

SENDS = ("sendMessage", "sendDocument", "sendPhoto")


# -- helpers that run in the child, on the stand-in ---------------------------------------------
def _add_users(api: BotApiStandIn, ids: Sequence[int], language: str = "zh-hans") -> int:
    for user_id in ids:
        api.add_user(user_id, f"联络员{user_id}", language)
    return len(ids)


def _set_limits(api: BotApiStandIn, enforce: bool) -> bool:
    api.enforce_limits = enforce
    return enforce


def _mark(api: BotApiStandIn) -> int:
    """How many calls are logged so far (a bookmark for :func:`_sends_since`)."""
    return len(api.calls())


def _sends_since(api: BotApiStandIn, mark: int, token: str) -> dict[str, Any]:
    """The sends of bot ``token`` logged after ``mark``: successful send times per chat, 429s,
    other errors, and the most successful sends within any one second."""
    ok: dict[int, list[float]] = {}
    too_many = 0
    errors: Counter[str] = Counter()
    times: list[float] = []
    for call in api.calls()[mark:]:
        if call.token != token or call.method not in SENDS:
            continue
        if call.status == 200:
            chat = int(call.params["chat_id"])
            ok.setdefault(chat, []).append(call.at)
            times.append(call.at)
        elif call.status == 429:
            too_many += 1
        else:
            errors[f"{call.status} {call.description}"] += 1
    times.sort()
    best = start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return {"ok": ok, "too_many": too_many, "errors": dict(errors), "max_in_1s": best,
            "first": times[0] if times else None, "last": times[-1] if times else None}


def _messages_since(api: BotApiStandIn, mark: int, token: str) -> list[tuple[int, str, Any]]:
    """The messages bot ``token`` sent successfully after ``mark``: (chat, text, the
    ``reply_markup`` as sent: a JSON string or None), in the order they were logged."""
    return [(int(call.params["chat_id"]), str(call.params.get("text", "")),
             call.params.get("reply_markup"))
            for call in api.calls()[mark:]
            if call.token == token and call.method == "sendMessage" and call.status == 200]


def _inject(api: BotApiStandIn, messages: Sequence[tuple[int, str]], token: str | None = None
            ) -> list[tuple[int, int, float]]:
    """Each ``(user, text)`` sent by that user now; ``(chat, message id, time)`` of each."""
    sent = []
    for user_id, text in messages:
        message = api.send_text(user_id, text, token=token)
        sent.append((user_id, message["message_id"], time.monotonic()))
    return sent


async def _inject_paced(api: BotApiStandIn, messages: Sequence[tuple[int, str]], rate: float,
                        token: str | None = None) -> list[tuple[int, int, float]]:
    """Like :func:`_inject`, ``rate`` messages a second (an open loop: no waiting for answers)."""
    sent = []
    start = time.monotonic()
    for index, (user_id, text) in enumerate(messages):
        wait = start + index / rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        message = api.send_text(user_id, text, token=token)
        sent.append((user_id, message["message_id"], time.monotonic()))
    return sent


def _reply_to(params: Any) -> int | None:
    """The message id a send quotes (``reply_parameters`` or ``reply_to_message_id``)."""
    quoted = params.get("reply_parameters")
    if isinstance(quoted, str):
        quoted = json.loads(quoted)
    if isinstance(quoted, dict) and "message_id" in quoted:
        return int(quoted["message_id"])
    if params.get("reply_to_message_id") is not None:
        return int(params["reply_to_message_id"])
    return None


def _answers(api: BotApiStandIn, sent: Sequence[tuple[int, int, float]], token: str
             ) -> list[float | None]:
    """For each injected ``(chat, message id, time)``: when the bot's first successful send
    quoting it was logged (None if none yet)."""
    first: dict[tuple[int, int], float] = {}
    for call in api.calls():
        if call.token == token and call.method in SENDS and call.status == 200:
            quoted = _reply_to(call.params)
            if quoted is not None:
                first.setdefault((int(call.params["chat_id"]), quoted), call.at)
    return [first.get((chat, message_id)) for chat, message_id, _ in sent]


def _answered_count(api: BotApiStandIn, token: str) -> int:
    """Successful sends of bot ``token`` so far."""
    return sum(1 for call in api.calls() if call.token == token and call.method in SENDS
               and call.status == 200)


def _forget(api: BotApiStandIn) -> int:
    """Drop the logs and transcripts kept so far (memory), keep the world."""
    count = len(api._calls)
    api._calls.clear()
    api._transcript.clear()
    return count


HELPERS: dict[str, Callable[..., Any]] = {
    "add_users": _add_users, "set_limits": _set_limits, "mark": _mark,
    "sends_since": _sends_since, "messages_since": _messages_since, "inject": _inject,
    "inject_paced": _inject_paced, "answers": _answers, "answered_count": _answered_count,
    "forget": _forget}


# -- the child ---------------------------------------------------------------------------------
def _serve(connection: Connection, enforce: bool, limits: RateLimits | None) -> None:
    async def main() -> None:
        api = BotApiStandIn(enforce_limits=enforce, limits=limits)
        await api.start()
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()

        async def execute(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            helper = HELPERS.get(name)
            result = helper(api, *args, **kwargs) if helper else getattr(api, name)(*args,
                                                                                       **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        def read() -> None:
            while True:
                try:
                    message = connection.recv()
                except EOFError:
                    message = None
                if message is None:
                    loop.call_soon_threadsafe(stopped.set)
                    return
                future = asyncio.run_coroutine_threadsafe(execute(*message), loop)
                try:
                    connection.send(("ok", future.result()))
                except Exception as exc:  # sent back to the caller, who raises it
                    connection.send(("error", f"{type(exc).__name__}: {exc}"))

        connection.send(("ok", (api.base_url, api.base_file_url)))
        threading.Thread(target=read, daemon=True).start()
        await stopped.wait()
        await api.stop()

    asyncio.run(main())


class RemoteStandIn:
    """:class:`BotApiStandIn` in a spawned child process; use as a context manager."""

    def __init__(self, *, enforce_limits: bool = False, limits: RateLimits | None = None) -> None:
        self._enforce = enforce_limits
        self._limits = limits
        self._connection: Connection | None = None
        self._process: Any = None
        self._lock = threading.Lock()
        self.base_url = ""
        self.base_file_url = ""

    def __enter__(self) -> RemoteStandIn:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(target=_serve, args=(theirs, self._enforce,
                                                             self._limits), daemon=True)
        self._process.start()
        self._connection = ours
        _, urls = ours.recv()
        self.base_url, self.base_file_url = urls
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._connection is not None:
            self._connection.send(None)
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.kill()
            self._connection = None

    @property
    def pid(self) -> int:
        """The child's process id."""
        return int(self._process.pid)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``name`` (a stand-in method or a helper of this module) in the child."""
        assert self._connection is not None, "not started"
        with self._lock:
            self._connection.send((name, args, kwargs))
            status, result = self._connection.recv()
        if status != "ok":
            raise RuntimeError(f"stand-in {name}: {result}")
        return result

    async def acall(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """:meth:`call` from a thread, so that the caller's event loop keeps running."""
        return await asyncio.to_thread(self.call, name, *args, **kwargs)
