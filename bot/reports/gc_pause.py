"""Pausing Python's cyclic garbage collector while a report is built.

A year's ledger at 1,000 units makes some hundreds of thousands of lists and tuples that live
until the workbook is written (a row per report, a row per unit and task). Each lot of them
made the collector walk the whole heap again: about a second of a four-second export, spent
finding no garbage (the rows hold strings, numbers and dates, never a cycle). Reference
counting frees everything as before; only the search for cycles waits until the report is
built, and the collector runs again as usual afterwards.

The switch is the whole process's (``gc.disable``): while a report is built, the bot's other
work (the event loop, a fan-out, other threads) runs without the cycle search too; its cyclic
garbage waits for the end of the pause (a few seconds at most). Code that turns the collector
off or on by itself meanwhile is not tracked: the pause restores what it found at its start.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0  # how many blocks (in any thread) are inside cyclic_gc_paused
_enabled_before = False


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Inside the block, automatic cyclic garbage collection is off; after the last of
    overlapping blocks (threads building reports at once) it is as it was before the first."""
    global _holders, _enabled_before
    with _lock:
        if _holders == 0:
            _enabled_before = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _enabled_before:
                gc.enable()
