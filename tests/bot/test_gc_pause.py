"""The collector pause of the reports (``bot.reports.gc_pause``): off inside, as it was after,
however the blocks overlap."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from bot.reports.gc_pause import cyclic_gc_paused


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_off_inside_and_on_again_after_even_after_an_error() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("the export failed")
    assert gc.isenabled()


def test_nested_blocks_turn_it_on_only_at_the_end() -> None:
    gc.enable()
    with cyclic_gc_paused():
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off() -> None:
    gc.disable()
    with cyclic_gc_paused():
        pass
    assert not gc.isenabled()


def test_overlapping_threads() -> None:
    """Two exports at once: the first to finish leaves it off for the other."""
    gc.enable()
    inside, first_done, second_done = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def second() -> None:
        with cyclic_gc_paused():
            inside.set()
            first_done.wait(5)
            seen.append(gc.isenabled())
        second_done.set()

    worker = threading.Thread(target=second)
    with cyclic_gc_paused():
        worker.start()
        assert inside.wait(5)
    first_done.set()
    assert second_done.wait(5)
    worker.join(5)
    assert seen == [False]
    assert gc.isenabled()
