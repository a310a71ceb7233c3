"""The soak drill, short: 20 s of steady load, RSS each second, no growth after warm-up."""

from __future__ import annotations

import pytest

from scripts.reliability import soak


def test_drift_is_growth_and_slope_after_warmup():
    mb = 1024 * 1024
    samples = [(float(t), (100 + (50 if t < 5 else t - 5)) * mb) for t in range(11)]
    d = soak.drift(samples, warmup_s=5)
    assert d["warm_mb"] == 101.0 and d["end_mb"] == 104.0
    assert d["growth_mb"] == 3.0
    assert d["slope_mb_per_min"] == pytest.approx(60.0)


@pytest.mark.slow
def test_short_soak_has_no_rss_drift():
    args = soak.parse_args(["--tiny", "--minutes", "0.33", "--warmup-s", "6", "--rate", "10"])
    report = soak.run(args)
    assert report["server_alive"]
    assert report["load"]["accepted"] == report["load"]["sent"] > 150, report["load"]
    assert report["drift"]["growth_mb"] < 20, report["drift"]
    assert report["passed"], report["checks"]
