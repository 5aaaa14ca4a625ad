"""Every numeric flag of every command rejects nan, inf, negatives, zero and bad ports: exit 2, one line."""

from __future__ import annotations

import pytest

from mtasts.commands import cli
from mtasts.commands.cli import main

BAD_SECONDS = ["nan", "NaN", "inf", "-inf", "1e999", "-1", "0", "0.0", "-0", "abc", "3601"]
BAD_PORTS = ["0", "-1", "65536", "99999", "1.5", "nan", "inf", "x"]
BAD_COUNTS = ["0", "-1", "1.5", "nan", "inf", "100001"]

# (argv before the flag, flag): each command's numeric flags.
FLAGS = {
    "seconds": [
        (["plan", "--stack", "t", "--check-mx"], "--timeout"),
        (["verify", "a.example"], "--timeout"),
    ],
    "ports": [
        (["serve", "--stack", "t"], "--port"),
        (["verify", "a.example"], "--https-port"),
        (["verify", "a.example"], "--smtp-port"),
        (["plan", "--stack", "t", "--check-mx"], "--nameserver"),
    ],
    "counts": [
        (["plan", "--stack", "t", "--check-mx"], "--concurrency"),
        (["verify", "a.example"], "--concurrency"),
    ],
}


def cases() -> list[tuple[list[str], str, str]]:
    found = []
    for argv, flag in FLAGS["seconds"]:
        found += [(argv, flag, value) for value in BAD_SECONDS]
    for argv, flag in FLAGS["ports"]:
        values = [f"127.0.0.1:{v}" for v in BAD_PORTS] if flag == "--nameserver" else BAD_PORTS
        found += [(argv, flag, value) for value in values]
    for argv, flag in FLAGS["counts"]:
        found += [(argv, flag, value) for value in BAD_COUNTS]
    return found


@pytest.mark.parametrize(("argv", "flag", "value"), cases(), ids=lambda v: str(v))
def test_bad_number_is_a_usage_error(
    argv: list[str], flag: str, value: str, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad numeric value exits 2 with one ``error: <flag>: ...`` line, before anything runs."""
    assert main(["--project-dir", str(tmp_path), *argv, f"{flag}={value}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {flag}: ") and captured.err.count("\n") == 1, captured.err


def test_values_inside_the_ranges_are_accepted() -> None:
    """Edge values inside each range parse to numbers."""
    assert (cli.seconds("0.25"), cli.seconds("3600"), cli.seconds("1e-3")) == (0.25, 3600.0, 0.001)
    assert (cli.port("1"), cli.port("65535")) == (1, 65535)
    assert (cli.count("1"), cli.count("100000")) == (1, 100000)
    assert cli.nameserver("[::1]:5353") == ("::1", 5353) and cli.nameserver("127.0.0.1") == ("127.0.0.1", 53)
