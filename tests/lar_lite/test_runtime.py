"""The MegEngine Lite runtime set-up: verify, unpack, mark, and do nothing the second time.

A small wheel-shaped zip with the same member names stands in for the 937 MB
download (its own sha256 is passed in); the real cache is checked too when it
is there.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agent.lar_lite import runtime
from agent.lar_lite.errors import RuntimeMissingError, RuntimeSetupError, UnsupportedPlatformError

WANTED = runtime.KEY_FILES + (
    "megenginelite/network.py",
    "megengine/core/lib/libnvrtc.so.10.1",
    "megengine/tools/compare_binary_iodump.py",
    "megengine/tools/accuracy_shake_var_tree.py",
)
UNWANTED = ("megengine/__init__.py", "megengine/core/_imperative_rt.so", "MegEngine-1.13.0.dist-info/RECORD")


def make_wheel(path: Path, members=WANTED + UNWANTED) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o755 if name.endswith((".so", ".1")) else 0o644) << 16
            zf.writestr(info, f"content of {name}\n" * 3)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def wheel(tmp_path):
    path = tmp_path / "fake.whl"
    return path, make_wheel(path)


def test_ensure_unpacks_only_what_lite_needs_and_marks_it(tmp_path, wheel):
    path, sha = wheel
    home = tmp_path / "cache" / "megengine-1.13.0"
    assert runtime.ensure(home, wheel=path, expected_sha256=sha) == home
    for name in WANTED:
        assert (home / name).read_text().startswith(f"content of {name}")
    for name in UNWANTED:
        assert not (home / name).exists()
    mode = (home / "megengine/core/lib/libmegengine_shared.so").stat().st_mode
    assert mode & stat.S_IXUSR
    marker = json.loads((home / runtime.MARKER).read_text())
    assert marker["sha256"] == sha and set(marker["files"]) == set(WANTED)
    assert runtime.is_installed(home, sha)
    # A wheel the user supplied is never deleted; no staging folder is left.
    assert path.exists()
    assert sorted(p.name for p in home.parent.iterdir() if not p.name.endswith(".lock")) == [home.name]


def test_second_ensure_is_a_no_op(tmp_path, wheel):
    path, sha = wheel
    home = tmp_path / "rt"
    runtime.ensure(home, wheel=path, expected_sha256=sha)
    before = (home / runtime.MARKER).stat().st_mtime_ns
    # A wheel that does not exist proves nothing is fetched or unpacked again.
    runtime.ensure(home, wheel=tmp_path / "absent.whl", expected_sha256=sha)
    assert (home / runtime.MARKER).stat().st_mtime_ns == before


@pytest.mark.parametrize("damage", ["no marker", "truncated file", "deleted file", "other wheel"])
def test_half_unpacked_or_damaged_cache_is_redone(tmp_path, wheel, damage):
    path, sha = wheel
    home = tmp_path / "rt"
    runtime.ensure(home, wheel=path, expected_sha256=sha)
    lib = home / "megengine/core/lib/libmegengine_shared.so"
    if damage == "no marker":
        (home / runtime.MARKER).unlink()
    elif damage == "truncated file":
        lib.write_bytes(b"x")
    elif damage == "deleted file":
        lib.unlink()
    else:
        marker = json.loads((home / runtime.MARKER).read_text())
        marker["sha256"] = "0" * 64
        (home / runtime.MARKER).write_text(json.dumps(marker))
    assert not runtime.is_installed(home, sha)
    runtime.ensure(home, wheel=path, expected_sha256=sha)
    assert runtime.is_installed(home, sha)
    assert lib.read_text().startswith("content of")


def test_sha_mismatch_refuses_and_leaves_nothing(tmp_path, wheel):
    path, _ = wheel
    home = tmp_path / "rt"
    with pytest.raises(RuntimeSetupError, match=r"sha256 mismatch for .*fake.whl: got [0-9a-f]{64}, expected 1{64}"):
        runtime.ensure(home, wheel=path, expected_sha256="1" * 64)
    assert not home.exists()
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []


def test_wheel_without_lite_is_refused(tmp_path):
    path = tmp_path / "w.whl"
    sha = make_wheel(path, members=("megengine/__init__.py",))
    with pytest.raises(RuntimeSetupError, match="the wheel lacks megenginelite/__init__.py"):
        runtime.ensure(tmp_path / "rt", wheel=path, expected_sha256=sha)


def test_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "w.whl"
    path.write_bytes(b"definitely not a zip")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(RuntimeSetupError, match="is not a valid wheel"):
        runtime.ensure(tmp_path / "rt", wheel=path, expected_sha256=sha)


def test_wheel_from_environment(tmp_path, wheel, monkeypatch):
    path, sha = wheel
    monkeypatch.setenv(runtime.WHEEL_ENV, str(path))
    home = runtime.ensure(tmp_path / "rt", expected_sha256=sha)
    assert runtime.is_installed(home, sha)
    monkeypatch.setenv(runtime.WHEEL_ENV, str(tmp_path / "nope.whl"))
    with pytest.raises(RuntimeSetupError, match="LARFARM_LITE_WHEEL: no such wheel file"):
        runtime.ensure(tmp_path / "rt2", expected_sha256=sha)


def test_pip_failure_is_one_line_with_pips_last_words(tmp_path, monkeypatch):
    fake = tmp_path / "python"
    fake.write_text(
        "#!/bin/sh\necho 'Looking in indexes: somewhere'\n"
        "echo 'ERROR: No matching distribution found for megengine==1.13.0'\nexit 3\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    with pytest.raises(RuntimeSetupError) as err:
        runtime.download_wheel(tmp_path / "dl")
    assert str(err.value) == (
        "pip download of megengine==1.13.0 failed (exit 3): ERROR: No matching distribution found for megengine==1.13.0"
    )


@pytest.mark.parametrize("system,machine", [("Darwin", "arm64"), ("Linux", "aarch64"), ("Windows", "AMD64")])
def test_unsupported_platforms_are_named(system, machine):
    with pytest.raises(UnsupportedPlatformError, match=f"needs x86-64 Linux .* this is {system} {machine}"):
        runtime.check_platform(system, machine)


def test_x86_64_linux_is_supported():
    runtime.check_platform("Linux", "x86_64")


def test_home_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(runtime.HOME_ENV, str(tmp_path / "here"))
    assert runtime.default_home() == tmp_path / "here"
    monkeypatch.delenv(runtime.HOME_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runtime.default_home() == tmp_path / "xdg" / "larfarm" / "megengine-1.13.0"


def test_require_says_how_to_get_the_runtime(tmp_path):
    with pytest.raises(RuntimeMissingError, match="run `make lite-runtime`"):
        runtime.require(tmp_path / "empty")


def _cli(args, env_home: Path):
    env = dict(os.environ, **{runtime.HOME_ENV: str(env_home)})
    return subprocess.run(
        [sys.executable, "-m", "agent.lar_lite.runtime", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_runtime_cli_path_and_usage(tmp_path, wheel):
    proc = _cli(["path"], tmp_path / "none")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"lite-runtime: error: MegEngine Lite runtime not found in {tmp_path / 'none'}; run `make lite-runtime` "
        f"(or `python -m agent.lar_lite.runtime ensure`)"
    ]
    assert _cli(["frobnicate"], tmp_path).returncode == 2


def test_lar_lite_without_runtime_is_one_clear_line(tmp_path):
    env = dict(os.environ, **{runtime.HOME_ENV: str(tmp_path / "none")})
    proc = subprocess.run(
        [sys.executable, "-m", "agent.lar_lite.cli", "model.mge"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"lar-lite: error: MegEngine Lite runtime not found in {tmp_path / 'none'}; run `make lite-runtime` "
        f"(or `python -m agent.lar_lite.runtime ensure`)"
    ]


def test_real_runtime_is_the_recorded_wheel(lite_runtime):
    assert runtime.is_installed(lite_runtime)
    marker = json.loads((lite_runtime / runtime.MARKER).read_text())
    assert marker["sha256"] == runtime.WHEEL_SHA256
    # The libraries libmegengine_shared.so is linked against, beside it.
    for lib in ("libnvrtc.so.10.1", "libnvToolsExt.so.1", "libatomic.so.1"):
        assert (lite_runtime / "megengine/core/lib" / lib).is_file()
    for tool in ("compare_binary_iodump.py", "accuracy_shake_var_tree.py"):
        assert (lite_runtime / "megengine/tools" / tool).is_file()


def test_concurrent_set_ups_do_not_trip_over_each_other(tmp_path, wheel):
    """Two processes ensuring the same folder at once: the lock serialises them, both succeed."""
    path, sha = wheel
    home = tmp_path / "rt"
    code = (
        "import sys; from pathlib import Path; from agent.lar_lite import runtime; "
        "runtime.ensure(Path(sys.argv[1]), wheel=Path(sys.argv[2]), expected_sha256=sys.argv[3])"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(home), str(path), sha], stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert runtime.is_installed(home, sha)
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []


def test_agent_side_imports_stay_light():
    """Importing lar-lite's CLI and runtime (what the agent does) loads neither numpy nor MegEngine."""
    code = (
        "import sys, agent.lar_lite.cli, agent.lar_lite.runtime, agent.lar_lite.flags; "
        "heavy = [m for m in ('numpy', 'megenginelite', 'megfile') if m in sys.modules]; "
        "print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_folder_with_other_files_is_never_replaced(tmp_path, wheel):
    path, sha = wheel
    home = tmp_path / "mine"
    home.mkdir()
    (home / "notes.txt").write_text("keep me")
    with pytest.raises(RuntimeSetupError, match="exists and holds other files; refusing to replace it"):
        runtime.ensure(home, wheel=path, expected_sha256=sha)
    assert (home / "notes.txt").read_text() == "keep me"


def test_home_that_cannot_be_made_is_one_error(tmp_path, wheel):
    path, sha = wheel
    (tmp_path / "file").write_text("x")
    with pytest.raises(RuntimeSetupError, match="setting up the runtime in .*file/rt failed"):
        runtime.ensure(tmp_path / "file" / "rt", wheel=path, expected_sha256=sha)
