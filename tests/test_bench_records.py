"""Benchmark records (bench/common.py): two runs that start in the same second keep both."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import Record


def test_runs_started_in_the_same_second_write_separate_records(tmp_path: Path) -> None:
    options = argparse.Namespace(results=tmp_path, quick=True)
    first, second = Record("bench_demo", options), Record("bench_demo", options)
    second.started = first.started
    paths = [first.write([]), second.write([]), second.write([])]
    assert len(set(paths)) == 3 and all(p.exists() for p in paths)
    assert [p.name for p in paths][1:] == [paths[0].stem + "-2.json", paths[0].stem + "-3.json"]
    assert all(json.loads(p.read_text())["benchmark"] == "bench_demo" for p in paths)
