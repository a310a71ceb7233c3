"""Rows, table, files and plot."""

from __future__ import annotations

import csv
import json
import math

import numpy as np

from scripts.loadtest.report import plot, step_row, table, warnings_for, write_csv, write_json
from scripts.loadtest.stats import StepStats


def _row(level, mode="closed", cpu=0.3, late=0):
    s = StepStats(latencies=np.linspace(0.001, 0.002, 100), window_start=0, window_end=1, nominal_s=1,
                  cpu_s=[cpu], wall_s=[1.0])
    s.outcomes.update({"200": 100, "503": 2, "connect_error": 1})
    s.late = late
    server = {"server_queue_ms": 0.1, "server_compute_ms": math.nan, "mean_batch_size": 1.5}
    return step_row(s, server, model="m", mode=mode, level=level, rate=level if mode == "open" else None)


def test_row_has_percentiles_errors_and_server_figures():
    row = _row(4)
    assert row["throughput_rps"] == 100 and row["p50_ms"] > 0 and row["p99.9_ms"] <= row["max_ms"]
    assert row["errors"] == {"503": 2, "connect_error": 1} and row["errors_total"] == 3
    assert row["mean_batch_size"] == 1.5


def test_open_loop_rows_report_offered_and_achieved():
    row = _row(200, mode="open")
    assert (row["offered_rps"], row["achieved_rps"]) == (200, 100)
    assert "offered" in table([row]).splitlines()[0]


def test_table_lists_every_step():
    lines = table([_row(1), _row(16)]).splitlines()
    assert len(lines) == 4 and "p99.9" in lines[0] and lines[3].split()[0] == "16"


def test_busy_client_and_late_sends_are_warned_about():
    assert any("bottleneck" in w for w in warnings_for(_row(1, cpu=0.95)))
    assert any("later than planned" in w for w in warnings_for(_row(100, mode="open", late=5)))
    assert warnings_for(_row(1)) == []


def test_files_are_valid_json_csv_and_png(tmp_path):
    rows = [_row(1), _row(4)]
    write_json(tmp_path / "r.json", {"model": "m"}, rows)
    doc = json.loads((tmp_path / "r.json").read_text())  # strict JSON: NaN became null
    assert doc["steps"][0]["server_compute_ms"] is None
    write_csv(tmp_path / "r.csv", rows)
    got = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert got[1]["level"] == "4" and got[0]["errors"] == "503=2;connect_error=1"
    plot(tmp_path / "r.png", rows, "m")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
