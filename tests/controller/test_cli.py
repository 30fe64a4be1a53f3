"""`controller` command line: bad files give one line and exit 2; `controller report`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.controller.campaigns import FAKE_MODEL, run_controller


def test_bad_farm_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "farm.yaml").write_text("devices:\n  - name: a\n    local: true\n  - name: b\n    adress: h:1\n")
    proc = run_controller(["run", "--devices", "farm.yaml", "--out", "out"], tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["error: farm.yaml:5: devices[1].adress: unknown field"]
    assert not (tmp_path / "out").exists()


def test_bad_campaign_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "farm.yaml").write_text("devices:\n  - name: a\n    local: true\n")
    (tmp_path / "c.yaml").write_text("name: c\nmodel: missing.mge\n")
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "c.yaml", "--out", "out"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: c.yaml:2: model: model file not found: missing.mge"


def test_no_campaign_anywhere(tmp_path: Path) -> None:
    (tmp_path / "farm.yaml").write_text("devices:\n  - name: a\n    local: true\n")
    proc = run_controller(["run", "--devices", "farm.yaml", "--out", "out"], tmp_path)
    assert proc.returncode == 2 and "no campaign" in proc.stderr and "Traceback" not in proc.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = run_controller(["--debug", "run", "--devices", "nope.yaml", "--out", "out"], tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_report_command_reads_a_stored_report(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "c"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(
        json.dumps(
            {
                "schema": "larfarm.report.v2",
                "campaign": "c",
                "differs": True,
                "clean": False,
                "unhealthy": [],
                "checks": [
                    {
                        "kind": "naive",
                        "devices": ["a"],
                        "status": "differs",
                        "differing": [9, 16],
                        "first": 9,
                        "roots": [{"id": 9}],
                    }
                ],
            }
        )
    )
    proc = run_controller(["report", str(folder)], tmp_path)
    assert proc.returncode == 1
    assert "naive" in proc.stdout and "roots=[9]" in proc.stdout
    missing = run_controller(["report", str(tmp_path)], tmp_path)
    assert missing.returncode == 2 and "no report.json" in missing.stderr
    # without its schema field the file was never written by larfarm: refused, not read as the current schema
    data = json.loads((folder / "report.json").read_text())
    del data["schema"]
    (folder / "report.json").write_text(json.dumps(data))
    unknown = run_controller(["report", str(folder)], tmp_path)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.count("\n") == 1 and "no schema field" in unknown.stderr


def test_inline_campaign_runs_without_campaign_file(tmp_path: Path) -> None:
    import yaml

    from tests.controller.campaigns import fake_program

    (tmp_path / "model.mge").write_bytes(FAKE_MODEL)
    prog = fake_program(tmp_path, "fake", vars=8, size=8)
    (tmp_path / "farm.yaml").write_text(
        yaml.safe_dump(
            {
                "devices": [{"name": "a", "local": True, "program": str(prog)}],
                "campaign": {
                    "name": "inline",
                    "model": "model.mge",
                    "inputs": {"data": {"shape": [2], "seed": 3}},
                    "checks": ["shake"],
                    "repeats": 2,
                },
            }
        )
    )
    proc = run_controller(["run", "--devices", "farm.yaml", "--out", "out"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "shake" in proc.stdout and (tmp_path / "out" / "inline" / "report.html").is_file()
    # the seeded input was written once on the host, into the store
    assert (tmp_path / "out" / "inline" / "inputs" / "data.npy").is_file()


def test_compare_two_stored_runs(tmp_path: Path, megengine_fixtures: Path) -> None:
    from controller.store import Store
    from tests.controller.storeruns import stored_run

    store = Store(tmp_path / "out", "c")
    runs = megengine_fixtures / "runs" / "tiny_cnn"
    stored_run(store, runs / "default", "dev", "default")
    stored_run(store, runs / "naive", "dev", "naive")
    stored_run(store, runs / "default_rerun", "dev", "repeat-2")
    proc = run_controller(["compare", str(store.run_dir("dev.default")), str(store.run_dir("dev.naive"))], tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "roots: var 9 " in proc.stdout and "{ConvolutionForward}" in proc.stdout
    same = run_controller(
        ["compare", str(store.run_dir("dev.default")), str(store.run_dir("dev.repeat-2")), "--json"], tmp_path
    )
    assert same.returncode == 0 and json.loads(same.stdout)["differing"] == []
    bad = run_controller(["compare", str(tmp_path), str(store.run_dir("dev.naive"))], tmp_path)
    assert bad.returncode == 2 and "no run.json here" in bad.stderr


def test_errors_are_plain_text_on_one_line(tmp_path: Path) -> None:
    """Brackets in a path are not rich markup; a long message is not wrapped at the terminal's width."""
    for name in ("x[b]y.yaml", "x[/]y.yaml", "d" * 150 + ".yaml"):
        proc = run_controller(["run", "--devices", name, "--out", "out"], tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [f"error: {name}: file not found"]


def test_a_line_break_in_a_message_is_shown_not_cut(tmp_path: Path) -> None:
    """A file name holding a newline: the reason after it stays on the one line (it was cut off)."""
    name = "farm\nx.yaml"
    proc = run_controller(["run", "--devices", name, "--out", "out"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["error: farm\\nx.yaml: file not found"]


def test_summary_prints_reasons_and_notes_verbatim() -> None:
    import io

    from rich.console import Console

    from controller.checks.result import CampaignReport, CheckResult, DeviceSummary
    from controller.report.terminal import render

    bad = DeviceSummary(
        name="b1", address="ssh:h:22", runner="lite", labels={}, healthy=False, reason="agent said [/] and [b]x[/b]"
    )
    check = CheckResult(
        kind="shake", devices=("b1",), runs=(), tolerance=0.0, status="skipped", note="device unhealthy: [red]x"
    )
    report = CampaignReport(
        campaign="c",
        model="m.mge",
        tolerance=0.0,
        checks_asked=("shake",),
        devices=(bad,),
        checks=(check,),
        store="out",
        started_at=0.0,
        finished_at=1.0,
    )
    buf = io.StringIO()
    render(report, Console(file=buf, width=200))
    text = buf.getvalue()
    assert "unhealthy device b1 (ssh:h:22): agent said [/] and [b]x[/b]" in text
    assert "shake b1: device unhealthy: [red]x" in text


def test_usage_mistakes_are_one_line_exit_2(tmp_path: Path) -> None:
    cases = {
        ("run",): "controller run: error: Missing option '--devices'. (see 'controller run --help')",
        ("bogus",): "controller: error: No such command 'bogus'. (see 'controller --help')",
    }
    for argv, line in cases.items():
        proc = run_controller(list(argv), tmp_path)
        assert proc.returncode == 2, argv
        assert proc.stderr.strip() == line
    proc = run_controller(["run", "--devices", "f.yaml", "--out", "o", "--bogus"], tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "--bogus" in proc.stderr


def test_help_still_exits_0(tmp_path: Path) -> None:
    proc = run_controller(["run", "--help"], tmp_path)
    assert proc.returncode == 0 and "--devices" in proc.stdout


def test_compare_tolerance_is_finite_and_not_negative(tmp_path: Path) -> None:
    """As `python -m analysis --tolerance` and campaign.yaml: inf and nan would call nothing differing."""
    for value in ("inf", "nan", "-1"):
        proc = run_controller(["compare", "a", "b", "-e", value], tmp_path)
        assert proc.returncode == 2, proc.stderr
        line = proc.stderr.strip()
        assert line.startswith("controller compare: error: Invalid value for '--tolerance'") and "\n" not in line
        assert "must be a finite number >= 0" in line


def test_a_reader_that_leaves_early_gets_no_error_line(tmp_path: Path) -> None:
    """`controller report DIR | head -1`: the closed pipe is the reader's choice, not an error to print."""
    import subprocess

    from tests.controller.campaigns import controller_argv

    folder = tmp_path / "c"
    folder.mkdir()
    checks = [
        {"kind": "naive", "devices": ["a"], "status": "differs", "differing": [9], "first": 9, "roots": [{"id": 9}]}
    ] * 2000  # more than a pipe buffer holds
    report = {"schema": "larfarm.report.v2", "campaign": "c", "differs": True, "unhealthy": [], "checks": checks}
    (folder / "report.json").write_text(json.dumps(report))
    proc = subprocess.Popen(controller_argv("report", str(folder)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 2
    assert err == ""
