"""The built wheel runs on its own: installed outside the checkout, started from elsewhere.

Builds the wheel from a copy of the project's sources, installs it (without dependencies)
into a new virtualenv under a temporary directory, and gives that venv the test venv's
third-party packages through a .pth file, leaving out this project's own editable install,
so the code that runs is the wheel's. From another directory, `r2p-mailer init` creates the
database and `r2p-mailer web` serves /healthz, the signup page (templates found) and a
static file. No network is needed unless this venv's setuptools is older than the build
needs, in which case pip fetches it for an isolated build.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from tests.test_layers import LAYERS

PROJECT = Path(__file__).resolve().parent.parent
# What the wheel is built from (copied, so that the build writes nothing into the checkout).
BUILD_INPUTS = (
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "alembic.ini",
    "alembic",
    "templates",
    *LAYERS,
)
SETUPTOOLS_FOR_BUILD = (77, 0)
STARTUP_DEADLINE_SECONDS = 40.0


def _setuptools_here() -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return (0,)


def _copy_sources(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "_resources")
    for name in BUILD_INPUTS:
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)


def _build_wheel(sources: Path, out: Path) -> Path:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out)]
    if _setuptools_here() >= SETUPTOOLS_FOR_BUILD:
        command.append("--no-build-isolation")
    done = subprocess.run(
        [*command, str(sources)], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        if "--no-build-isolation" not in command and "No matching distribution" in done.stderr:
            pytest.skip(
                "cannot build the wheel: this venv's setuptools is older than 77 and "
                "pip cannot fetch a newer one for an isolated build"
            )
        pytest.fail(f"building the wheel failed:\n{done.stdout}\n{done.stderr}")
    (wheel,) = out.glob("r2p_mailer-*.whl")
    return wheel


def _dependencies_dir(target: Path) -> Path:
    """Links to this venv's installed packages, less r2p-mailer's own editable install."""
    site_packages = Path(sysconfig.get_paths()["purelib"])
    target.mkdir()
    for entry in site_packages.iterdir():
        name = entry.name
        if (
            name.startswith(("__editable__", "r2p_mailer", "mailer", "subscribers", "jobs"))
            or name.endswith(".pth")
            or name == "__pycache__"
        ):
            continue
        (target / name).symlink_to(entry)
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def _wait_for_health(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read() if server.stdout else ""
            pytest.fail(f"r2p-mailer web exited with {server.returncode}:\n{output}")
        try:
            status, _ = _get(f"{base}/healthz")
        except OSError:
            time.sleep(0.2)
            continue
        assert status == 200
        return
    pytest.fail(f"r2p-mailer web did not answer /healthz within {STARTUP_DEADLINE_SECONDS} s")


def test_wheel_installs_and_serves_pages_from_outside_the_checkout(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    _copy_sources(sources)
    wheel = _build_wheel(sources, tmp_path / "dist")

    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    python = venv / "bin" / "python"
    install = ["install", "--quiet", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *install], check=True, timeout=120
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dependencies = _dependencies_dir(tmp_path / "dependencies")
    (Path(purelib) / "r2p_dependencies.pth").write_text(f"{dependencies}\n")

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("R2P_", "PYTHON", "VIRTUAL_ENV"))
    }
    program = venv / "bin" / "r2p-mailer"

    where = subprocess.run(
        [
            str(python),
            "-c",
            "import mailer.resources as r; print(r.__file__); print(r.RESOURCE_ROOT)",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(path).is_relative_to(venv) for path in where), where

    init = subprocess.run(
        [str(program), "init"], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert "schema revision" in init.stdout

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(program), "web", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_health(base, server)
        status, page = _get(f"{base}/subscribe")
        assert status == 200
        assert "<form" in page
        # The compiled catalogues ship in the wheel (mailer/locale/*/LC_MESSAGES/*.mo).
        status, page = _get(f"{base}/subscribe?lang=fr")
        assert status == 200 and "Recevez les nouvelles R2P par e-mail" in page
        status, stylesheet = _get(f"{base}/static/r2p.css")
        assert status == 200
        assert stylesheet.strip()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout:
            server.stdout.close()
    assert (workdir / "var").is_dir()
