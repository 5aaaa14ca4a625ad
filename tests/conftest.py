"""Fixtures shared by the test modules."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

# Generation speed depends on how loaded the machine is, not on the code: on a shared 2-core
# machine the too_slow health check fails runs whose properties all hold. Every property keeps
# its example count and its assertions; only that timing check is off, and no deadline per example.
settings.register_profile("mtasts", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("mtasts")

if TYPE_CHECKING:
    from tests.servers import Lab

ROOT = Path(__file__).resolve().parent.parent
"""The checkout: Pulumi.yaml, the stack files, the package."""
ACCOUNT = "0123456789abcdef0123456789abcdef"
"""A well-formed Cloudflare account id for test stacks."""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A Pulumi project directory with this checkout's Pulumi.yaml and no stack file yet."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    return tmp_path


@pytest.fixture
def write_stack(project: Path) -> Callable[..., Path]:
    """Write ``Pulumi.<name>.yaml`` (default ``t``) into ``project``; returns its path."""

    def write(text: str | bytes, name: str = "t") -> Path:
        path = project / f"Pulumi.{name}.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The run's shared lab: one test CA (``lab.pki``), Knot DNS servers shared by zone set
    (``lab.dns``), and any other server a module starts through it (``lab.start``)."""
    from tests.servers import Lab

    shared = Lab(tmp_path_factory.mktemp("lab"))
    try:
        yield shared
    finally:
        shared.close()
