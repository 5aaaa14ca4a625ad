"""``python -m mtasts serve``: the stack's Worker, byte for byte, in workerd on 127.0.0.1."""

from __future__ import annotations

import signal
import sys
from typing import Any

from mtasts.commands.workerd import WorkerdFailed, WorkerdNotFound, start_worker
from mtasts.model.config import load_stack
from mtasts.model.worker import worker_script
from mtasts.rfc.policy import POLICY_PATH


class _Stop(Exception):
    """SIGTERM or SIGHUP arrived: stop workerd and exit, as on Ctrl-C."""


def _stop(signum: int, frame: object) -> None:
    raise _Stop(signum)


def run(args: Any) -> int:
    """Serve ``args.stack``'s Worker on ``127.0.0.1:args.port`` until interrupted."""
    deployment = load_stack(args.project_dir, args.stack)
    domains = deployment.worker_domains
    # The very bytes `pulumi up` uploads as WorkersScript.content, policies included.
    script = worker_script(domains)
    # Without these, a plain `kill` would end Python at once and leave workerd running.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with start_worker(script, args.port) as running:
            port = running.url.rsplit(":", 1)[1]
            lines = [f"serving the {args.stack} stack's Worker ({len(script)} bytes) at {running.url}"]
            lines += [f"  {d.policy_host}  mode={d.mode}  id={d.policy_id}" for d in domains]
            if domains:
                lines.append(
                    f"try: curl -H 'Host: {domains[0].policy_host}' http://127.0.0.1:{port}{POLICY_PATH}"
                )
            else:
                lines.append(
                    "no domain of this stack uses hosting: cloudflare-worker; every host answers 404"
                )
            lines.append("Ctrl-C stops.")
            # One write: whoever waits for the last line sees the whole banner.
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
            code = running.process.wait()
            print(f"error: workerd exited with {code}", file=sys.stderr)
            return 1
    except (KeyboardInterrupt, _Stop):
        return 0
    except WorkerdNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WorkerdFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
