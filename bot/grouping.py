"""Concurrent requests of one kind gathered into one storage call (a group commit).

Many people answer a reminder within the same minutes. Each report is its own short
transaction; made one at a time, every one pays for a worker thread's hand-over, a pooled
connection, the facts' lock (which serialises them: ``storage.Store.add_reports_once``) and a
commit. :class:`Gathered` lets every handler await its own request while the requests that
arrive while a call is running wait for the next call and go together: the first request goes
at once (no lingering, so one person alone waits no longer than before), the rest share a
call. The same for reading who sent an update (``storage.Store.callers``).

``aiodataloader`` (DataLoader) gathers reads the same way, by key within one turn of the loop,
with a cache; it does not fit appending reports, where each request has its own outcome and
order matters, and one small mechanism serves both here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
Q = TypeVar("Q")
R = TypeVar("R")


class Gathered(Generic[Q, R]):
    """Requests of one kind, gathered into calls of ``run`` of at most ``most`` requests.

    ``run(requests)`` returns one outcome per request, in order: a result, or the exception
    that request alone raised (raised to its caller). An exception from ``run`` itself
    (the database failed) is raised to every caller of that call. A caller cancelled before
    its call started is left out of it (nothing is done for it); one cancelled later is done
    and its outcome dropped, as a cancelled ``asyncio.to_thread`` is.

    One calling task runs at a time, so calls never overlap: ``run`` may take a lock that
    would serialise them anyway (the facts' revision) without two of its calls waiting on
    each other.
    """

    def __init__(self, run: Callable[[list[Q]], Awaitable[Sequence[R | Exception]]],
                 most: int) -> None:
        if most < 1:
            raise ValueError(f"most must be at least 1, not {most}")
        self._run = run
        self._most = most
        self._waiting: list[tuple[Q, asyncio.Future[R]]] = []
        self._calling: asyncio.Task[None] | None = None

    async def __call__(self, request: Q) -> R:
        """``request``'s outcome, from a call it shares with the requests waiting with it."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._calling is None or self._calling.done():
            self._calling = asyncio.create_task(self._call_all(), name="duban-gathered")
        return await future

    @property
    def waiting(self) -> int:
        """Requests not yet in a call."""
        return len(self._waiting)

    async def _call_all(self) -> None:
        """Call ``run`` for the waiting requests, ``most`` at a time, until none wait."""
        while self._waiting:
            group = [(q, f) for q, f in self._waiting[:self._most] if not f.done()]
            del self._waiting[:self._most]
            if not group:
                continue
            try:
                outcomes = await self._run([q for q, _ in group])
            except asyncio.CancelledError:  # the loop is shutting down: nobody is left out
                self._fail([*group, *self._waiting], asyncio.CancelledError())
                self._waiting.clear()
                raise
            except Exception as exc:
                self._fail(group, exc)
                continue
            if len(outcomes) != len(group):
                self._fail(group, RuntimeError(
                    f"{len(outcomes)} outcomes for {len(group)} requests"))
                continue
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    @staticmethod
    def _fail(group: Sequence[tuple[Q, asyncio.Future[R]]], error: BaseException) -> None:
        for _, future in group:
            if not future.done():
                if isinstance(error, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(error)
