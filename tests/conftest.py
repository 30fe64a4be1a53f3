"""Shared test fixtures (the bundled MegEngine 1.13 files, the Lite runtime) and the suite's markers.

Markers (registered in pyproject.toml) split the suite for a quick developer loop: `make
test-fast` deselects root, lite, browser and slow; `make test`, which CI runs, runs everything.
A test gets `root` or `lite` from the fixtures it uses (MARKER_OF_FIXTURE), so a new test that
asks for an sshd or the Lite runtime is marked without anyone remembering to; a test that
reaches such a thing another way marks itself, as the browser tests do.
"""

import signal
from pathlib import Path
from typing import Dict, List

import pytest

pytest_plugins = ["tests.support.lite"]

FIXTURES = Path(__file__).parent / "fixtures"
MEGENGINE = FIXTURES / "megengine"

#: a fixture that needs root or the Lite runtime -> the marker its tests get
MARKER_OF_FIXTURE: Dict[str, str] = {
    "sshd": "root",
    "two_boards": "root",
    "bastion_and_inner": "root",
    "lite_runtime": "lite",
    "lar_lite_argv": "lite",
}


#: tests (or whole modules) that take seconds each: real agents and controllers restarted, killed
#: and retried, hypothesis fuzzing. Measured with --durations on this 2-core machine; `make
#: test-fast` leaves them out. A node id here matches that test and its parametrizations; a
#: path ending in / matches everything under it.
SLOW = (
    "tests/adb/",
    "tests/agent/test_auth.py::test_tls_server",
    "tests/agent/test_fork_quiet.py",
    "tests/agent/test_lifecycle.py::test_queue_limit_and_age_limit",
    "tests/agent/test_lifecycle.py::test_sigterm_delivered_to_a_grpc_thread_stops_the_agent",
    "tests/agent/test_manifest.py::test_random_names_read_the_same",
    "tests/agent/test_numbers.py::test_no_spec_outlives_the_agents_cap",
    "tests/agent/test_quota_margin.py",
    "tests/agent/test_safety.py",
    "tests/agent/test_streams.py",
    "tests/agent/test_units.py::test_any_request_is_accepted_or_refused_with_a_request_error",
    "tests/agent/test_units.py::test_cli_bad_input_is_one_clear_line",
    "tests/analysis/test_cli.py::test_readme_walkthrough_runs",
    "tests/analysis/test_compare.py::test_memory_is_bounded_by_chunks_not_tensors",
    "tests/analysis/test_compare_binary_iodump.py::test_matches_megengine_check_on_random_tensors",
    "tests/analysis/test_compare_binary_iodump.py::test_module_runs_as_a_script",
    "tests/analysis/test_dump_bin.py::test_round_trip_is_byte_identical_for_every_fixture_file",
    "tests/analysis/test_metrics.py::test_chunking_does_not_change_the_result",
    "tests/analysis/test_readers_fuzz.py",
    "tests/analysis/test_special_files.py::test_a_symlink_loop_is_one_line_in_both_tools_and_the_rest_is_compared",
    "tests/analysis/test_special_files.py::test_analysis_refuses_a_fifo_or_device_as_text_dump",
    "tests/analysis/test_special_files.py::test_ctrl_c_stops_analysis_with_one_line",
    "tests/controller/test_cli.py::test_bad_campaign_is_one_line_exit_2",
    "tests/controller/test_cli.py::test_bad_farm_is_one_line_exit_2",
    "tests/controller/test_cli.py::test_compare_tolerance_is_finite_and_not_negative",
    "tests/controller/test_cli.py::test_compare_two_stored_runs",
    "tests/controller/test_cli.py::test_debug_shows_the_traceback",
    "tests/controller/test_cli.py::test_errors_are_plain_text_on_one_line",
    "tests/controller/test_cli.py::test_inline_campaign_runs_without_campaign_file",
    "tests/controller/test_cli.py::test_no_campaign_anywhere",
    "tests/controller/test_cli.py::test_report_command_reads_a_stored_report",
    "tests/controller/test_cli.py::test_usage_mistakes_are_one_line_exit_2",
    "tests/controller/test_cli_shell.py",
    "tests/controller/test_config_fuzz.py",
    "tests/controller/test_faults.py",
    "tests/controller/test_one_engine.py::test_controller_compare_prints_what_analysis_prints",
    "tests/controller/test_tls_device.py::test_tls_device_runs_and_a_wrong_ca_is_refused",
    "tests/controller/test_worker.py::test_resume_with_a_new_check_redoes_only_what_lacks_files",
    "tests/ssh/test_remote_helper.py::test_start_status_stop_of_an_agent_that_ignores_sigterm",
)


def _is_slow(nodeid: str) -> bool:
    return any(
        nodeid.startswith(s) if s.endswith("/") else nodeid == s or nodeid.startswith((s + "::", s + "[")) for s in SLOW
    )


def pytest_configure(config: pytest.Config) -> None:
    # A shell that starts pytest in the background (or a CI runner that does) hands it SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler: _thread.interrupt_main()
    # does nothing and the Ctrl-C tests wait out their timeouts. Ctrl-C means KeyboardInterrupt
    # here however the suite was started, as it does for the controller (controller.cli.main).
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        # fixturenames is the whole closure: a fixture that uses `sshd` marks its tests too
        for name in sorted({MARKER_OF_FIXTURE[f] for f in getattr(item, "fixturenames", ()) if f in MARKER_OF_FIXTURE}):
            item.add_marker(name)
        if _is_slow(item.nodeid):
            item.add_marker("slow")


@pytest.fixture(scope="session")
def megengine_fixtures() -> Path:
    """Root of the real MegEngine 1.13.0 files (models, inputs, runs, diffs)."""
    return MEGENGINE
