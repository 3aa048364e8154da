"""Telegram's flood limits kept per chat, and updates handled per chat in order.

Telegram asks bots to send at most about one message a second to one private chat, twenty a
minute to one group, and thirty a second overall; beyond that it answers 429 "retry after N"
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
PTB's own ``AIORateLimiter`` keeps the overall and group limits, but a 429 halts *every* request
for N seconds, so one busy group made an unrelated contact's ``/mytasks`` wait a minute.
:class:`ChatPacer` (a ``BaseRateLimiter``) keeps a limit per chat and makes only the chat that
drew a 429 wait. The overall, bulk and per-chat limits are sliding windows of our own
(:class:`SendWindow`, :class:`ChatWindow`), because a leaky bucket (``aiolimiter``, PTB's
``AIORateLimiter``) lets a burst of N and then N more through within one period: twice what
Telegram allows. Bulk sends (the reminder dispatcher passes ``rate_limit_args=BULK``) have a
budget of their own just below the overall one, and replies to people go ahead of them in the
overall window, so a reply is answered within a second while a fan-out runs at close to
Telegram's 30 a second.

:class:`PerChatUpdates` (a ``BaseUpdateProcessor``) handles the updates of one chat one after
another, in order, and those of different chats at the same time, so that one chat's wait never
holds up another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter, BaseUpdateProcessor

log = logging.getLogger(__name__)

BULK = "bulk"
"""``rate_limit_args`` of a bulk send (reminders, digests)."""

JSON = bool | dict[str, Any] | list[dict[str, Any]]


class ChatWindow:
    """At most ``limit`` sends to one chat in any ``period`` seconds, one at a time.

    A send counts from when it finished (what Telegram saw, however late the request left);
    sends to the chat wait their turn in order.
    """

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._finished: deque[float] = deque(maxlen=limit)
        self._turn = asyncio.Lock()

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing within the last period."""
        loop = asyncio.get_running_loop()
        return not self._turn.locked() and (
            not self._finished or loop.time() - self._finished[-1] >= self.period)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait until the chat may take one more message, and hold it while it is sent."""
        loop = asyncio.get_running_loop()
        async with self._turn:
            if len(self._finished) == self.limit:
                wait = self._finished[0] + self.period - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._finished.append(loop.time())


class SendWindow:
    """At most ``limit`` sends in flight or finished within the last ``period`` seconds.

    A send counts from its start until ``period`` seconds after it *finished*, so that however
    the requests are delayed on their way (a busy event loop, a slow connection), Telegram
    never sees more than ``limit`` of them in any ``period``. Waiters with a higher
    ``priority`` go first (the pacer puts replies to people ahead of bulk sends; the
    dispatcher, without a pacer, chats with more messages still to send); equal priorities go
    in arrival order.
    """

    def __init__(self, limit: int, period: float = 1.0) -> None:
        self._limit = limit
        self._period = period
        self._finished: deque[float] = deque()
        self._in_flight = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    @contextlib.asynccontextmanager
    async def slot(self, priority: int = 0) -> AsyncIterator[None]:
        """Hold a place in the window for the duration of one send."""
        if self._limit <= 0:
            yield
            return
        admitted = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (-priority, next(self._arrivals), admitted))
        self._admit()
        try:
            await admitted
        except asyncio.CancelledError:
            if admitted.done() and not admitted.cancelled():  # admitted, then cancelled
                self._release()
            raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        self._in_flight -= 1
        self._finished.append(asyncio.get_running_loop().time())
        self._admit()

    def _admit(self) -> None:
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = loop.time()
        while self._finished and now - self._finished[0] >= self._period:
            self._finished.popleft()
        while self._waiting and self._in_flight + len(self._finished) < self._limit:
            _, _, admitted = heapq.heappop(self._waiting)
            if not admitted.done():  # else its task was cancelled while waiting
                self._in_flight += 1
                admitted.set_result(None)
        if self._waiting and self._finished:  # (if all are in flight, a release admits)
            self._timer = loop.call_at(self._finished[0] + self._period, self._admit)


REPLY_PRIORITY = 1
"""The overall window's priority of a send that is not bulk (a reply to a person)."""


class ChatPacer(BaseRateLimiter[str]):
    """Flood limits per chat, overall, and for bulk sends; a 429 pauses only its chat.

    The overall and bulk budgets are :class:`SendWindow` s: a send holds its place from its
    start until a second after its answer, so Telegram never sees more than the budget in any
    second, however the requests bunch on the way. In the overall window replies to people
    (every send that is not ``BULK``) go ahead of bulk sends waiting there: a reply waits at
    most for the sends already under way, never behind a fan-out, and the fan-out may use all
    the budget replies leave (the bulk window only keeps a little room free for them).

    Args:
        overall_rate: requests per second to all chats together (Telegram: 30).
        bulk_rate: of those, how many bulk sends per second at most.
        private_rate: messages per ``private_period`` seconds to one private chat.
        private_period: see ``private_rate``.
        group_rate: messages per ``group_period`` seconds to one group (Telegram: 20 a minute).
        group_period: see ``group_rate``.
        max_retries: how often one request is retried after a 429 before the error is raised.
    """

    def __init__(self, overall_rate: float = 30, bulk_rate: float = 28,
                 private_rate: float = 1, private_period: float = 1,
                 group_rate: float = 20, group_period: float = 60,
                 max_retries: int = 2) -> None:
        self._overall = SendWindow(int(overall_rate)) if overall_rate else None
        self._bulk = SendWindow(int(bulk_rate)) if bulk_rate else None
        self._private = (private_rate, private_period)
        self._group = (group_rate, group_period)
        self._chats: dict[int | str, ChatWindow] = {}
        self._paused_until: dict[int | str, float] = {}
        self._max_retries = max_retries

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    def _chat_window(self, chat: int | str) -> ChatWindow | None:
        is_group = isinstance(chat, str) or chat < 0
        rate, period = self._group if is_group else self._private
        if not rate or not period:
            return None
        if chat not in self._chats:
            if len(self._chats) > 1024:  # forget idle chats
                for key, window in list(self._chats.items()):
                    if window.idle:
                        del self._chats[key]
            self._chats[chat] = ChatWindow(max(1, int(rate)), period)
        return self._chats[chat]

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSON]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: str | None,
    ) -> JSON:
        """Wait for the chat's, the bulk and the overall budget, then send; retry a 429 later."""
        chat: int | str | None = data.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            chat = int(chat)  # type: ignore[arg-type]
        for attempt in range(self._max_retries + 1):
            try:
                if chat is None:  # getUpdates, answerCallbackQuery...: no chat to pace
                    return await callback(*args, **kwargs)
                await self._wait_pause(chat)
                window = self._chat_window(chat)
                bulk = rate_limit_args == BULK
                async with (window.slot() if window else contextlib.nullcontext()), \
                        (self._bulk.slot() if bulk and self._bulk
                         else contextlib.nullcontext()), \
                        (self._overall.slot(0 if bulk else REPLY_PRIORITY) if self._overall
                         else contextlib.nullcontext()):
                    return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == self._max_retries or chat is None:
                    raise
                delay = exc._retry_after.total_seconds() + 0.1  # the property warns
                log.warning("Telegram asks to wait %.0f s before writing to chat %s (%s)",
                            delay, chat, endpoint)
                loop = asyncio.get_running_loop()
                self._paused_until[chat] = max(self._paused_until.get(chat, 0.0),
                                               loop.time() + delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait_pause(self, chat: int | str) -> None:
        until = self._paused_until.get(chat)
        if until is None:
            return
        delay = until - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            self._paused_until.pop(chat, None)


class PerChatUpdates(BaseUpdateProcessor):
    """Updates of one chat one after another, in order; different chats at the same time.

    Args:
        max_concurrent_updates: updates handled at once, all chats together.
    """

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}  # updates holding or awaiting each chat's lock

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Await ``coroutine`` once the update's chat has no other update in hand."""
        key = 0
        if isinstance(update, Update):
            if update.effective_chat is not None:
                key = update.effective_chat.id
            elif update.effective_user is not None:
                key = update.effective_user.id
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""
