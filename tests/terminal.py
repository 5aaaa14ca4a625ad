"""Run a command with its stderr on a pseudo-terminal (and stdout on a pipe), as an operator's
shell would: for the progress meters, which only a terminal gets."""

from __future__ import annotations

import os
import pty
import subprocess


def run_with_terminal_stderr(argv: list[str], timeout: float) -> tuple[int, str, str]:
    """``(returncode, stdout, stderr)``; stderr is what the terminal received, ``\\r`` and all."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=follower, text=True)
    finally:
        os.close(follower)
    seen = b""
    try:
        out, _ = process.communicate(timeout=timeout)
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other end is closed: everything was read
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    return process.returncode, out, seen.decode(errors="replace")
