"""Fixtures: the repository, the command-line binary to compare against, and
a small helper to run it. tests/python_package.rs (the repository's test
command) builds the package in a fresh virtual environment and sets
PCCHIP_BIN to the binary cargo built; run by hand, the release binary under
target/ is used (build it first)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def pcchip_bin() -> str:
    path = os.environ.get("PCCHIP_BIN") or str(REPO / "target" / "release" / "pcchip")
    if not os.path.exists(path):
        pytest.fail(f"no pcchip binary at {path}: run `cargo build --release` or set PCCHIP_BIN")
    return path


@pytest.fixture(scope="session")
def cli(pcchip_bin):
    """Runs `pcchip ARGS…`; returns the completed process (never raises)."""

    def run(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        p = subprocess.run(
            [pcchip_bin, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, **(env or {})},
        )
        if check and p.returncode != 0:
            raise AssertionError(f"pcchip {' '.join(map(str, args))} exited {p.returncode}:\n{p.stderr}")
        return p

    return run
