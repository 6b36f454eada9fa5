"""The stored benchmark figures notebook 07 shows: read back with their schema checked."""

import json

import pytest

from course_tools import results


# ------------------------------------------------------------------ stored benchmark
def _bench():
    return {"device": "NVIDIA H100 80GB HBM3", "torch": "2.14.1", "date": "2026-11-27",
            "command": "python benchmarks/bench_transfer.py --cuda",
            "rows": [{"size": 512, "variant": "engine", "ms_per_step": 1.1, "peak_mem_mb": 900.0,
                      "tflops": 340.0, "ratio_vs_baseline": 6.5, "note": "bf16"},
                     {"size": 512, "variant": "baseline", "ms_per_step": 7.2, "peak_mem_mb": 1400.0,
                      "tflops": None, "ratio_vs_baseline": None, "note": ""}]}


def test_load_benchmark_missing_file_is_none(tmp_path):
    assert results.load_benchmark(tmp_path / "nothing.json") is None


def test_load_benchmark_and_its_table(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(_bench()))
    bench = results.load_benchmark(path)
    md = results.benchmark_markdown(bench, path)
    assert "Stored benchmark figures" in md and "NVIDIA H100" in md and "--cuda" in md
    assert str(path) in md
    assert md.count("\n| 512 |") == 2 and "| – |" in md


def test_load_benchmark_rejects_a_broken_file(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not readable JSON"):
        results.load_benchmark(path)
    broken = _bench()
    del broken["rows"][0]["ms_per_step"]
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="row 0 lacks"):
        results.load_benchmark(path)
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="lacks 'device'"):
        results.load_benchmark(path)


def test_the_default_benchmark_path_is_in_the_project():
    assert results.BENCH_CUDA_JSON.parts[-3:] == ("benchmarks", "results", "bench_transfer_cuda.json")


def test_the_table_refuses_what_is_not_a_stored_benchmark(tmp_path):
    with pytest.raises(ValueError, match="got NoneType; load_benchmark returns None when no GPU run was recorded"):
        results.benchmark_markdown(results.load_benchmark(tmp_path / "nothing.json"))
