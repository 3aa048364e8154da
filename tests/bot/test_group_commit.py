"""The dispatcher's group commit (``bot.grouping.Batches``): what is submitted while a batch
is written goes in the next; with a linger, a small batch waits a little for more, a full one
does not wait, and a lone item is written after the linger."""

from __future__ import annotations

import asyncio

import pytest

from bot.grouping import Batches


class Writer:
    """Records each batch it is given; answers each item with its double."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def write(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(0)
        return [item * 2 for item in items]


async def _submit_spaced(batches: Batches[int, int], items: list[int],
                         gap: float) -> list[int]:
    async def one(index: int, item: int) -> int:
        await asyncio.sleep(index * gap)
        return await batches.submit(item)
    return list(await asyncio.gather(*(one(i, item) for i, item in enumerate(items))))


def test_without_a_linger_items_arriving_apart_are_written_apart() -> None:
    writer = Writer()

    async def scenario() -> list[int]:
        return await _submit_spaced(Batches(writer.write, 28), [1, 2, 3], 0.02)

    assert asyncio.run(scenario()) == [2, 4, 6]
    assert writer.batches == [[1], [2], [3]]


def test_a_linger_gathers_items_arriving_within_it() -> None:
    writer = Writer()

    async def scenario() -> list[int]:
        return await _submit_spaced(Batches(writer.write, 28, linger=0.5, enough=10),
                                    [1, 2, 3], 0.02)

    assert asyncio.run(scenario()) == [2, 4, 6]
    assert writer.batches == [[1, 2, 3]]


def test_enough_items_are_written_at_once_without_waiting_the_linger() -> None:
    writer = Writer()

    async def scenario() -> tuple[list[int], float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        batches = Batches(writer.write, 28, linger=30.0, enough=3)
        answers = await asyncio.wait_for(_submit_spaced(batches, [1, 2, 3], 0.01), 5.0)
        return answers, loop.time() - start

    answers, took = asyncio.run(scenario())
    assert answers == [2, 4, 6]
    assert writer.batches == [[1, 2, 3]]
    assert took < 5.0  # not the 30 s linger


def test_a_lone_item_is_written_after_the_linger() -> None:
    writer = Writer()

    async def scenario() -> int:
        return await asyncio.wait_for(
            Batches(writer.write, 28, linger=0.05, enough=14).submit(7), 5.0)

    assert asyncio.run(scenario()) == 14
    assert writer.batches == [[7]]


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_no_batch_exceeds_the_limit(limit: int) -> None:
    writer = Writer()

    async def scenario() -> list[int]:
        batches = Batches(writer.write, limit, linger=0.05, enough=limit)
        return list(await asyncio.gather(*(batches.submit(i) for i in range(12))))

    assert asyncio.run(scenario()) == [i * 2 for i in range(12)]
    assert all(len(batch) <= limit for batch in writer.batches)
    assert sorted(i for batch in writer.batches for i in batch) == list(range(12))


def test_a_failed_write_fails_its_batch_only() -> None:
    seen: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        seen.append(list(items))
        if 1 in items:
            raise RuntimeError("database down")
        return items

    async def scenario() -> list[object]:
        batches = Batches(write, 28, linger=0.2, enough=2)
        first = await asyncio.gather(batches.submit(1), batches.submit(2),
                                     return_exceptions=True)
        second = await batches.submit(3)
        return [*first, second]

    first, second, third = asyncio.run(scenario())
    assert isinstance(first, RuntimeError) and isinstance(second, RuntimeError)
    assert third == 3
    assert seen == [[1, 2], [3]]
