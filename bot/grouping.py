"""Group commit: concurrent requests of one kind gathered into one storage call.

Many people answer a reminder within the same minutes, and a fan-out claims and records
dozens of messages a second. Made one at a time, every storage call pays for a worker
thread's hand-over, a pooled connection, a lock that serialises the calls anyway (the facts'
revision, SQLite's write lock) and a commit. :class:`Batches` lets every caller await its own
request while the requests that arrive while a call is running go together in the next one:
reports (``storage.Store.add_reports_once``), the callers of updates (``Store.callers``), the
dispatcher's claims and records (``bot.reminders``).

``aiodataloader`` (DataLoader) gathers reads the same way, by key within one turn of the loop,
with a cache; it does not fit appends, where each request has its own outcome and order
matters, nor the dispatcher's linger, and one small mechanism serves all of them here.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import Generic, TypeVar

Item = TypeVar("Item")
R = TypeVar("R")


class Batches(Generic[Item, R]):
    """What callers submit while one batch is being written goes in the next.

    ``write(items)`` returns one outcome per item, in order: a result, or the exception that
    item alone raised (raised to its caller only). An exception from ``write`` itself (the
    database failed) is raised to every caller of that batch; so is a ``RuntimeError`` when it
    returns a wrong number of outcomes. At most ``limit`` items a batch, and one batch at a
    time, so batches never overlap (each may take a lock that would serialise them anyway).

    The first batch takes the callers ready at the instant it starts (no waiting), so one
    caller alone waits no longer than a call of its own. With a ``linger``, a batch smaller
    than ``enough`` waits up to that many seconds for more (as PostgreSQL's ``commit_delay``
    does): a fast fan-out then writes its records a dozen at a time rather than two or three,
    and a lone item waits at most the linger.

    A caller cancelled before its batch is written is left out of it (nothing is done for it);
    one cancelled later is written and its outcome dropped, as a cancelled
    ``asyncio.to_thread`` is. When the task writing the batches is cancelled (the loop shutting
    down), every caller still waiting is cancelled too.
    """

    def __init__(self, write: Callable[[list[Item]], Awaitable[Sequence[R | Exception]]],
                 limit: int, linger: float = 0.0, enough: int = 1) -> None:
        if limit < 1:
            raise ValueError(f"a batch's limit must be at least 1, not {limit}")
        self._write = write
        self._limit = limit
        self._linger = linger
        self._enough = max(1, min(enough, self._limit))
        self._queue: list[tuple[Item, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._full = asyncio.Event()

    async def submit(self, item: Item) -> R:
        """Queue ``item`` and wait for its batch: its own outcome, or the batch's exception."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if len(self._queue) >= self._enough:
            self._full.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="duban-batches")
        return await future

    @property
    def waiting(self) -> int:
        """Items queued, not yet in a batch."""
        return len(self._queue)

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # the callers ready at this instant join the first batch
            while self._queue:
                if self._linger and len(self._queue) < self._enough:
                    self._full.clear()
                    with suppress(TimeoutError):  # the linger ran out: what came, goes
                        await asyncio.wait_for(self._full.wait(), self._linger)
                self._queue = [(item, future) for item, future in self._queue
                               if not future.done()]  # cancelled while queued: left out
                batch, self._queue = self._queue[:self._limit], self._queue[self._limit:]
                if batch:
                    await self._write_batch(batch)
        except asyncio.CancelledError:
            for _, future in self._queue:
                future.cancel()
            self._queue.clear()
            raise

    async def _write_batch(self, batch: list[tuple[Item, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._write([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} outcomes for a batch of {len(batch)}")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except BaseException as exc:  # each caller raises its own copy: see _own
            for _, future in batch:
                if not future.done():
                    future.set_exception(_own(exc))
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: not ours
                raise
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


def _own(error: BaseException) -> BaseException:
    """A copy of a batch's ``error`` for one of its callers, with the same traceback: each
    caller's handling (its ``raise``, the ``__context__`` its ``except`` block sets) then
    touches its own exception, not the one another caller is logging. The error itself when it
    cannot be copied."""
    try:
        mine = copy.copy(error)
    except Exception:
        return error
    if type(mine) is not type(error):
        return error
    mine.__cause__, mine.__context__ = error.__cause__, error.__context__
    mine.__suppress_context__ = error.__suppress_context__
    return mine.with_traceback(error.__traceback__)
