"""The Bot API stand-in on a thread of its own, for tests that run ``duban`` as a subprocess.

Usage::

    with running_standin() as api:
        api.add_bot(TOKEN, "some_bot", 1)
        duban("invite", ..., env=clean_env(TELEGRAM_API_BASE_URL=api.base_url))

The stand-in's registration methods are plain synchronous calls on its state, so the test can
call them from its own thread while the stand-in's event loop serves HTTP on the other.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from bot_api_standin import BotApiStandIn


@contextmanager
def running_standin() -> Iterator[BotApiStandIn]:
    """A started :class:`BotApiStandIn` serving from a background thread; stopped on exit."""
    loop = asyncio.new_event_loop()
    api = BotApiStandIn()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(api.start(), loop).result(timeout=30)
        yield api
    finally:
        asyncio.run_coroutine_threadsafe(api.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
