"""Run a stack's Workers in miniflare (npm, pinned), with local D1 and R2, on 127.0.0.1.

``serve`` runs the policy Worker and the TLS report receiver together through it; the receiver's
tests and benchmark run the receiver alone. ``mtasts/worker/local.mjs`` is the Node side: it
takes the workers' options as JSON and prints ``listening URL`` once requests are served.
The workerd binary miniflare drives is the project's (``workerd.workerd_binary``, so ``$WORKERD``
works here too), and Node is ``$NODE`` or ``node`` on the PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtasts.model import receiver as receiver_model
from mtasts.model.config import Domain
from mtasts.runtime.workerd import (
    START_TIMEOUT,
    STOP_TIMEOUT,
    WorkerdFailed,
    WorkerdNotFound,
    workerd_binary,
)

LAUNCHER = Path(__file__).resolve().parent.parent / "worker" / "local.mjs"


@dataclass(frozen=True)
class LocalWorker:
    """One Worker as miniflare runs it: the script, its routes and its bindings."""

    name: str
    script: str
    main_module: str
    compatibility_date: str
    routes: tuple[str, ...] = ()
    """Host patterns (``mta-sts.example.com/*``) this Worker answers; the first Worker of a
    run also answers every request no route matches."""
    bindings: Mapping[str, Any] = field(default_factory=dict)
    """Plain-text (str) and JSON (any other value) bindings."""
    d1_databases: Mapping[str, str] = field(default_factory=dict)
    r2_buckets: Mapping[str, str] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "script": self.script,
            "mainModule": self.main_module,
            "compatibilityDate": self.compatibility_date,
            "routes": list(self.routes),
            "bindings": dict(self.bindings),
            "d1Databases": dict(self.d1_databases),
            "r2Buckets": dict(self.r2_buckets),
        }


def receiver_worker(
    stack: str,
    settings: receiver_model.ReceiverSettings,
    domains: Sequence[Domain],
    token: str | None,
    webhook: str | None = None,
    loopback: bool = True,
) -> LocalWorker:
    """The receiver as ``pulumi up`` deploys it (the same content, settings region and all), with
    local storage. ``domains``: every domain of the stack, as ``ReceiverArgs.domains``.

    ``loopback``: also answer requests to ``127.0.0.1`` and ``localhost``, so a plain
    ``curl http://127.0.0.1:PORT/v1/tlsrpt`` and the ``/cdn-cgi/handler/*`` triggers reach it.
    """
    bindings: dict[str, Any] = {}
    if token:
        bindings["READ_TOKEN"] = token
    if webhook:
        bindings["WEBHOOK"] = webhook
    routes = [f"{settings.host}/*"]
    if loopback:
        routes += ["127.0.0.1/*", "localhost/*"]
    name = receiver_model.script_name(stack)
    return LocalWorker(
        name=name,
        script=receiver_model.receiver_script(settings, domains),
        main_module=receiver_model.MAIN_MODULE,
        compatibility_date=receiver_model.COMPATIBILITY_DATE,
        routes=tuple(routes),
        bindings=bindings,
        d1_databases={"DB": receiver_model.storage_name(stack)},
        r2_buckets={"ARCHIVE": receiver_model.storage_name(stack)},
    )


def node_binary() -> str:
    """Node.js: ``$NODE``, else ``node`` on the PATH."""
    override = os.environ.get("NODE")
    found = override if override else shutil.which("node")
    if not found or not Path(found).is_file():
        raise WorkerdNotFound("node not found: install Node.js 20 or newer and run `npm ci` (or set NODE)")
    return found


@dataclass(frozen=True)
class Running:
    """miniflare serving: its base URL, process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, limit: int = 2000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-limit:].strip()
        except OSError:
            return ""


@contextmanager
def run_miniflare(
    workers: list[LocalWorker], port: int = 0, persist_dir: Path | None = None
) -> Iterator[Running]:
    """Serve ``workers`` on 127.0.0.1:``port`` (0: any free port) until the block ends.

    D1 and R2 data persist under ``persist_dir``; without it, in a temporary directory that
    goes when the block ends.
    """
    binary = workerd_binary()
    node = node_binary()
    with tempfile.TemporaryDirectory(prefix="mtasts-miniflare-") as tmp:
        directory = Path(tmp)
        state = persist_dir if persist_dir is not None else directory / "state"
        state.mkdir(parents=True, exist_ok=True)
        config = directory / "config.json"
        config.write_text(
            json.dumps(
                {
                    "port": port,
                    "persistDir": str(state.resolve()),
                    "workers": [w.options() for w in workers],
                }
            ),
            encoding="utf-8",
        )
        log = directory / "miniflare.log"
        env = {**os.environ, "MINIFLARE_WORKERD_PATH": str(binary)}
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                [node, str(LAUNCHER), str(config)],
                cwd=LAUNCHER.parent,
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                # Its own session: a Ctrl-C meant for the caller reaches the caller, which then
                # stops miniflare in order. A closed stdin (the caller gone) stops it too.
                start_new_session=True,
            )
        running = Running("", process, log)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            url = ""
            while not url:
                for line in running.tail(100000).splitlines():
                    if line.startswith("listening http://"):
                        url = line.split(" ", 1)[1].strip()
                if url:
                    break
                if process.poll() is not None:
                    raise WorkerdFailed(f"miniflare exited with {process.returncode}: {running.tail()}")
                if time.monotonic() > deadline:
                    raise WorkerdFailed(
                        f"miniflare did not start within {START_TIMEOUT:.0f} s: {running.tail()}"
                    )
                time.sleep(0.05)
            yield Running(url, process, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT * 2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdin is not None:
                process.stdin.close()
