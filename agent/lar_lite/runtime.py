"""Fetch, verify and cache the MegEngine Lite runtime from the official megengine 1.13.0 wheel.

PyPI has no wheel of megengine 1.13.0 for Python 3.11, but the cp310 one holds
MegEngine Lite, a ctypes binding whose native library does not link libpython,
so it runs under 3.11. We download that wheel with pip, check its sha256, and
unpack only what Lite needs (plus MegEngine's two accuracy tools, which the
benchmarks run as the baseline) into a cache folder outside the tree.

``python -m agent.lar_lite.runtime ensure`` is a no-op (a few stat calls)
once the runtime is in place; a marker file is written last, so a half-unpacked
folder is detected and redone. Standard library only: the agent imports this.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

from agent.lar_lite.errors import (
    RuntimeMissingError,
    RuntimeSetupError,
    UnsupportedPlatformError,
)
from agent.manifest import sha256_of

log = logging.getLogger(__name__)

MEGENGINE_VERSION = "1.13.0"
WHEEL_NAME = "MegEngine-1.13.0-cp310-cp310-manylinux2014_x86_64.whl"
#: sha256 of the official wheel, computed once from a real download.
WHEEL_SHA256 = "1f93ed6eecc2729137b0b1677ec6b2e06707826c2161794b850c0ba931136dd4"
#: Rough size of download plus unpacked files, checked before starting.
NEEDED_BYTES = 2_700_000_000

#: Environment variable naming the runtime folder (default under the user cache).
HOME_ENV = "LARFARM_LITE_HOME"
#: Environment variable naming an already downloaded wheel to use instead of pip.
WHEEL_ENV = "LARFARM_LITE_WHEEL"
MARKER = ".larfarm-runtime.json"

#: What Lite needs: the ctypes package and the libraries its rpath points at.
#: libmegengine_shared.so needs libnvrtc and libnvToolsExt even on CPU, so the
#: whole lib folder comes along. The two tools are for the compare benchmark.
_PREFIXES = ("megenginelite/", "megengine/core/lib/")
_FILES = (
    "megengine/tools/compare_binary_iodump.py",
    "megengine/tools/accuracy_shake_var_tree.py",
)
#: Files whose absence means the runtime is unusable (checked on every ensure).
KEY_FILES = (
    "megenginelite/__init__.py",
    "megenginelite/libs/liblite_shared_whl.cpython-310-x86_64-linux-gnu.so",
    "megengine/core/lib/libmegengine_shared.so",
    "megengine/core/lib/libatomic.so.1",
)


def default_home() -> Path:
    """The cache folder: ``$LARFARM_LITE_HOME`` or ``~/.cache/larfarm/megengine-1.13.0``."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().absolute()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser().absolute() / "larfarm" / f"megengine-{MEGENGINE_VERSION}"


def check_platform(system: Optional[str] = None, machine: Optional[str] = None) -> None:
    """Raise UnsupportedPlatformError unless this is x86-64 Linux (the wheel's platform)."""
    system = system if system is not None else platform.system()
    machine = machine if machine is not None else platform.machine()
    if system != "Linux" or machine.lower() not in ("x86_64", "amd64"):
        raise UnsupportedPlatformError(
            f"the MegEngine Lite runtime needs x86-64 Linux (the official megengine "
            f"{MEGENGINE_VERSION} wheel is manylinux2014_x86_64); this is {system} {machine}"
        )


def _read_marker(home: Path) -> Optional[dict]:
    try:
        data = json.loads((home / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_installed(home: Optional[Path] = None, sha256: str = WHEEL_SHA256) -> bool:
    """True when the marker names the wheel ``sha256`` and every unpacked file is there."""
    home = Path(home) if home is not None else default_home()
    marker = _read_marker(home)
    if not marker or marker.get("sha256") != sha256:
        return False
    files = marker.get("files")
    if not isinstance(files, dict):
        return False
    for key in KEY_FILES:
        if key not in files:
            return False
    for rel, size in files.items():
        try:
            if (home / rel).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def require(home: Optional[Path] = None) -> Path:
    """Return the runtime folder, or raise RuntimeMissingError saying how to get it."""
    home = Path(home) if home is not None else default_home()
    if not is_installed(home):
        raise RuntimeMissingError(
            f"MegEngine Lite runtime not found in {home}; run `make lite-runtime` "
            f"(or `python -m agent.lar_lite.runtime ensure`)"
        )
    return home


def verify_wheel(path: Path, expected: str = WHEEL_SHA256) -> None:
    """Raise RuntimeSetupError unless the file's sha256 is the recorded one."""
    actual = sha256_of(path)
    if actual != expected:
        raise RuntimeSetupError(
            f"sha256 mismatch for {path}: got {actual}, expected {expected} "
            f"(the download is corrupt or not the official megengine {MEGENGINE_VERSION} wheel)"
        )


def download_wheel(dest: Path) -> Path:
    """Fetch the official cp310 manylinux wheel with pip into ``dest``; return its path."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.10",
        "--platform",
        "manylinux2014_x86_64",
        "--progress-bar",
        "off",
        "-d",
        str(dest),
        f"megengine=={MEGENGINE_VERSION}",
    ]
    log.info("downloading megengine %s (about 937 MB) with pip", MEGENGINE_VERSION)
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise RuntimeSetupError(f"cannot run pip ({sys.executable} -m pip): {exc}") from exc
    if proc.returncode != 0:
        tail = [line for line in proc.stdout.splitlines() if line.strip()]
        last = tail[-1].strip() if tail else "no output"
        raise RuntimeSetupError(
            f"pip download of megengine=={MEGENGINE_VERSION} failed (exit {proc.returncode}): {last}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeSetupError(f"pip download of megengine=={MEGENGINE_VERSION} left {len(wheels)} wheels in {dest}")
    return wheels[0]


def _members(names: Sequence[str]) -> List[str]:
    chosen = [n for n in names if not n.endswith("/") and (n.startswith(_PREFIXES) or n in _FILES)]
    missing = [k for k in KEY_FILES + _FILES if k not in chosen]
    if missing:
        raise RuntimeSetupError(f"the wheel lacks {', '.join(missing)}")
    return chosen


def extract(wheel: Path, dest: Path) -> dict:
    """Unpack Lite's files from the wheel into ``dest``; return {relative path: size}."""
    files = {}
    try:
        with zipfile.ZipFile(wheel) as zf:
            chosen = _members(zf.namelist())
            dest.mkdir(parents=True, exist_ok=True)
            _check_space(dest, sum(zf.getinfo(n).file_size for n in chosen))
            root = os.path.realpath(dest)
            for name in chosen:
                info = zf.getinfo(name)
                target = dest / name
                # Zip members are relative and come from a verified wheel, but
                # refuse anything that would land outside dest all the same.
                if os.path.commonpath([root, os.path.realpath(target)]) != root:
                    raise RuntimeSetupError(f"wheel member {name!r} escapes the runtime folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                mode = (info.external_attr >> 16) & 0o777
                os.chmod(target, mode or 0o644)
                files[name] = info.file_size
    except zipfile.BadZipFile as exc:
        raise RuntimeSetupError(f"{wheel} is not a valid wheel: {exc}") from exc
    except OSError as exc:
        raise RuntimeSetupError(f"unpacking {wheel} into {dest} failed: {exc}") from exc
    return files


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the runtime folder, so two set-ups never race."""
    import fcntl  # Unix only, like the runtime itself; keeps this module importable anywhere

    home.parent.mkdir(parents=True, exist_ok=True)
    with open(home.parent / f".{home.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check_space(where: Path, need: int) -> None:
    free = shutil.disk_usage(where).free
    if free < need:
        raise RuntimeSetupError(
            f"not enough disk space in {where}: {free / 1e9:.1f} GB free, "
            f"about {need / 1e9:.1f} GB needed (set {HOME_ENV} to put the runtime elsewhere)"
        )


def _replaceable(home: Path) -> bool:
    """True when ``home`` is absent, empty or holds only what a set-up puts there."""
    if not home.exists() and not home.is_symlink():
        return True
    if not home.is_dir() or home.is_symlink():
        return False
    return {p.name for p in home.iterdir()} <= {"megenginelite", "megengine", MARKER}


def ensure(
    home: Optional[Path] = None,
    *,
    wheel: Optional[Path] = None,
    expected_sha256: str = WHEEL_SHA256,
) -> Path:
    """Make sure the runtime is unpacked in ``home``; download and verify the wheel if not.

    ``wheel`` (or ``$LARFARM_LITE_WHEEL``) names a wheel already on disk; it is
    verified like a download but never deleted. A downloaded wheel is deleted
    once unpacked: it is nearly a gigabyte. A folder that holds anything else
    than a runtime is never replaced.
    """
    home = Path(home) if home is not None else default_home()
    if is_installed(home, expected_sha256):
        return home
    check_platform()
    if wheel is None and os.environ.get(WHEEL_ENV):
        wheel = Path(os.environ[WHEEL_ENV]).expanduser()
        if not wheel.is_file():
            raise RuntimeSetupError(f"{WHEEL_ENV}: no such wheel file: {wheel}")
    try:
        with _locked(home):
            if not is_installed(home, expected_sha256):  # another process may have finished it
                _install(home, wheel, expected_sha256)
    except OSError as exc:
        raise RuntimeSetupError(f"setting up the runtime in {home} failed: {exc}") from exc
    return home


def _install(home: Path, wheel: Optional[Path], expected_sha256: str) -> None:
    """Fetch (or take), verify and unpack into a staging folder, then move it into place."""
    if not _replaceable(home):
        raise RuntimeSetupError(
            f"{home} exists and holds other files; refusing to replace it (point {HOME_ENV} elsewhere)"
        )
    parent = home.parent
    for stale in parent.glob(f".{home.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if wheel is None:
        _check_space(parent, NEEDED_BYTES)
    elif not wheel.is_file():
        raise RuntimeSetupError(f"no such wheel file: {wheel}")
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.partial-", dir=parent))
    try:
        fetched = download_wheel(staging / "download") if wheel is None else wheel
        verify_wheel(fetched, expected_sha256)
        tree = staging / "runtime"
        files = extract(fetched, tree)
        if wheel is None:
            shutil.rmtree(staging / "download", ignore_errors=True)
        marker = {"megengine": MEGENGINE_VERSION, "wheel": WHEEL_NAME, "sha256": expected_sha256, "files": files}
        # The marker goes last: its presence says everything above is complete.
        (tree / MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True))
        if home.exists():
            shutil.rmtree(home)
        os.replace(tree, home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("MegEngine Lite runtime ready in %s", home)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m agent.lar_lite.runtime {ensure|path}``: set up or locate the runtime."""
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m agent.lar_lite.runtime {ensure|path}"
    if len(args) != 1 or args[0] not in ("ensure", "path"):
        print(usage, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="lite-runtime: %(message)s")
    home = default_home()
    try:
        if args[0] == "ensure":
            already = is_installed(home)
            ensure(home)
            if already:
                log.info("MegEngine Lite runtime already in place in %s", home)
        else:
            print(require(home))
    except (RuntimeSetupError, RuntimeMissingError) as exc:
        print(f"lite-runtime: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
