"""Run a Worker script in workerd, Cloudflare's open-source Workers runtime, on 127.0.0.1.

``serve``, ``verify`` and the tests use it to answer with the very script ``pulumi up``
uploads (``mtasts.model.policy_worker.worker_script``; the policies are inside it). The binary comes
from the npm package pinned in ``package.json`` (``npm ci`` installs it under ``node_modules/``),
or from ``$WORKERD``.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mtasts.model.config import find_project_dir
from mtasts.model.policy_worker import COMPATIBILITY_DATE, MAIN_MODULE

_CHECKOUT = find_project_dir(Path(__file__).resolve().parent)
PROJECT_DIR = _CHECKOUT if (_CHECKOUT / "Pulumi.yaml").is_file() else find_project_dir()
"""Where ``npm ci`` put ``node_modules``: the checkout this package was installed from (editable),
else the Pulumi project around the working directory."""
START_TIMEOUT = 30.0
"""Seconds to wait for a first answer; compiling a large script takes a moment."""
STOP_TIMEOUT = 5.0


class WorkerdNotFound(FileNotFoundError):
    """No workerd binary: neither ``$WORKERD`` nor ``node_modules/.bin/workerd``."""


class WorkerdFailed(RuntimeError):
    """workerd exited or did not answer; the message carries the end of its stderr."""


def workerd_binary(project_dir: Path = PROJECT_DIR) -> Path:
    """The workerd executable: ``$WORKERD`` if set, else the one ``npm ci`` installed."""
    override = os.environ.get("WORKERD")
    path = Path(override) if override else project_dir / "node_modules" / ".bin" / "workerd"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise WorkerdNotFound(f"workerd not found at {path}: run `npm ci` in {project_dir} (or set WORKERD)")
    return path


def config_text(module_file: str, compatibility_date: str = COMPATIBILITY_DATE) -> str:
    """A workerd config serving the ES module in ``module_file`` on the socket ``http``.

    The Worker has no bindings: the script is the whole upload. The socket's address is not in
    the config: ``run_worker`` hands workerd a socket it has already bound, so the port is known
    before workerd starts and nothing races for it.
    """
    return f"""using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .mainWorker)],
  sockets = [(name = "http", http = (), service = "main")],
);

const mainWorker :Workerd.Worker = (
  modules = [(name = {_capnp_string(MAIN_MODULE)}, esModule = embed {_capnp_string(module_file)})],
  compatibilityDate = {_capnp_string(compatibility_date)},
);
"""


def _capnp_string(value: str) -> str:
    if any(c in value for c in '"\\\n') or not value.isprintable():
        raise ValueError(f"unexpected character in {value!r}")
    return f'"{value}"'


def _listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def _answers(port: int, timeout: float) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": "workerd.invalid"})
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:].strip()
    except OSError:
        return ""


@contextmanager
def run_worker(script: str, port: int = 0) -> Iterator[str]:
    """Serve the ES module ``script`` in workerd; yield ``"http://127.0.0.1:PORT"``.

    ``port=0`` picks a free port. workerd is stopped when the block ends.
    """
    with start_worker(script, port) as running:
        yield running.url


@dataclass(frozen=True)
class Running:
    """A workerd serving a script: its base URL and its process."""

    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def start_worker(script: str, port: int = 0) -> Iterator[Running]:
    """Like ``run_worker``, but also gives the process, for callers that watch it."""
    binary = workerd_binary()
    with tempfile.TemporaryDirectory(prefix="mtasts-workerd-") as tmp:
        directory = Path(tmp)
        (directory / MAIN_MODULE).write_text(script, encoding="utf-8")
        config = directory / "config.capnp"
        config.write_text(config_text(MAIN_MODULE), encoding="utf-8")
        log = directory / "workerd.log"
        sock = _listening_socket(port)
        bound = sock.getsockname()[1]
        with open(log, "wb") as log_file:
            try:
                process = subprocess.Popen(
                    [str(binary), "serve", str(config), f"--socket-fd=http={sock.fileno()}"],
                    cwd=directory,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    pass_fds=(sock.fileno(),),
                    # Its own session: a Ctrl-C meant for the caller reaches the caller,
                    # which then stops workerd in order.
                    start_new_session=True,
                )
            finally:
                # workerd holds its own copy of the descriptor now.
                sock.close()
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _answers(bound, timeout=2.0):
                if process.poll() is not None:
                    raise WorkerdFailed(f"workerd exited with {process.returncode}: {_tail(log)}")
                if time.monotonic() > deadline:
                    raise WorkerdFailed(f"workerd did not answer within {START_TIMEOUT:.0f} s: {_tail(log)}")
                time.sleep(0.05)
            yield Running(f"http://127.0.0.1:{bound}", process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
