"""The per-device plan: which runs, their specs, and which files each must fetch."""

from __future__ import annotations

from analysis.dump_names import DumpRecord
from controller import plan
from controller.campaign import Campaign
from controller.store import RunRecord


def rec(role: str, digests: dict) -> RunRecord:
    files = [DumpRecord.of(n, 10, d) for n, d in digests.items()] + [DumpRecord("io.txt", 5, "t")]
    return RunRecord(f"dev.{role}", "dev", role, manifest=tuple(files))


def camp(**kw) -> Campaign:
    return Campaign(name="c", model="m.mge", **kw)


def test_default_run_is_shared_and_naive_uses_megdnn_dbg_2() -> None:
    roles = [p.role for p in plan.base_runs(camp(checks=["naive", "shake", "cross"], repeats=3))]
    assert roles == ["default", "naive", "repeat-2", "repeat-3"]
    naive = next(p for p in plan.base_runs(camp(checks=["naive"])) if p.role == "naive")
    spec = plan.build_spec(camp(checks=["naive"], multithread=2), naive, "lite", "m" * 64, {}, "dev")
    assert spec.megdnn_dbg == 2 and spec.bin_io_dump and spec.io_dump and spec.multithread == 2
    lar = plan.build_spec(camp(), plan.PlannedRun("default"), "load_and_run", "m" * 64, {}, "dev")
    assert lar.megdnn_dbg is None and not lar.io_dump  # load_and_run keeps one dump option
    assert [p.role for p in plan.repro_runs(camp(repeats=2))] == ["reproducible-1", "reproducible-2"]
    assert all(p.reproducible for p in plan.repro_runs(camp()))


def test_identical_digests_need_nothing_and_differences_need_both_sides() -> None:
    a = rec("default", {"bin/000001": "x", "bin/000002": "y", "bin/000003": "z"})
    b = rec("naive", {"bin/000001": "x", "bin/000002": "Y", "bin/000003": "z"})
    need = plan.needed_files(camp(checks=["naive"]), {"default": a, "naive": b})
    assert need == {"default": {"io.txt", "bin/000002"}, "naive": {"io.txt", "bin/000002"}}


def test_cross_fetches_the_default_run_whole_and_fetch_all_everything() -> None:
    a = rec("default", {"bin/000001": "x", "bin/000002": "y"})
    b = rec("repeat-2", {"bin/000001": "x", "bin/000002": "y"})
    need = plan.needed_files(camp(checks=["cross", "shake"]), {"default": a, "repeat-2": b})
    assert need["default"] == {"io.txt", "bin/000001", "bin/000002"} and need["repeat-2"] == {"io.txt"}
    need = plan.needed_files(camp(checks=["shake"], fetch="all"), {"default": a, "repeat-2": b})
    assert need["repeat-2"] == {"io.txt", "bin/000001", "bin/000002"}


def test_reproducible_repeats_compare_among_themselves() -> None:
    d = rec("default", {"bin/000001": "x"})
    r1 = rec("reproducible-1", {"bin/000001": "p"})
    r2 = rec("reproducible-2", {"bin/000001": "p"})
    need = plan.needed_files(
        camp(checks=["shake"], repeats=2), {"default": d, "reproducible-1": r1, "reproducible-2": r2}
    )
    assert need["reproducible-1"] == need["reproducible-2"] == {"io.txt"}


def test_a_var_dumped_on_one_side_only_counts_as_differing() -> None:
    a = rec("default", {"bin/000001": "x"})
    b = rec("naive", {"bin/000001": "x", "bin/000002": "y"})
    assert plan.differing(a, b) == {"bin/000002"}
