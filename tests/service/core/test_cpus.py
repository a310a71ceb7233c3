from __future__ import annotations

import os

from service.core.cpus import Layout, cgroup_quota, plan, usable_cpus


def test_cgroup_v2_quota_is_quota_over_period(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota(tmp_path) is None


def test_cgroup_v1_quota_and_unlimited(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_quota(tmp_path) == 3.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_quota(tmp_path) is None
    assert cgroup_quota(tmp_path / "absent") is None


def test_usable_cpus_is_the_affinity_mask_capped_by_the_rounded_up_quota(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path) == affinity  # no quota files: the mask alone
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU still needs one worker
    assert usable_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text(f"{(affinity + 8) * 100000} 100000\n")
    assert usable_cpus(tmp_path) == affinity


def test_plan_shares_the_cpus_between_workers_by_default():
    assert plan("auto", 0, 8) == Layout(8, 1, 8)
    assert plan(2, 0, 8) == Layout(2, 4, 8)
    assert plan(3, 0, 2) == Layout(3, 1, 2)  # never below one thread
    assert plan(1, 0, 8) == Layout(1, 0, 8)  # one worker: ORT's own choice, as before


def test_only_explicit_settings_can_oversubscribe():
    assert not plan(2, 0, 2).oversubscribed
    assert plan(2, 2, 2).oversubscribed
    assert plan(1, 4, 2).oversubscribed
    assert not plan(2, 1, 2).oversubscribed
    assert plan(2, 4, 8).describe() == "2 worker(s) x 4 ORT intra-op thread(s) on 8 usable CPU(s)"
