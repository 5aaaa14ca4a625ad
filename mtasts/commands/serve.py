"""``python -m mtasts serve``: the stack's Workers, byte for byte, in miniflare on 127.0.0.1.

Two Workers on one port, as on Cloudflare: the policy Worker (answers every host no other route
claims, so ``Host: mta-sts.<domain>`` reaches it) and, when any domain has ``reports: builtin``,
the TLS report receiver on its host name and on ``127.0.0.1``/``localhost``, with local D1 and
R2 under ``--state-dir``. Mail goes to the receiver's ``email()`` with
``POST /cdn-cgi/handler/email?from=…&to=…`` (the raw message as the body, with a Message-ID),
the digest runs with ``/cdn-cgi/handler/scheduled``.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from mtasts.model import receiver as receiver_model
from mtasts.model import shards as sharding
from mtasts.model.config import Deployment, load_stack
from mtasts.model.policy_worker import COMPATIBILITY_DATE, MAIN_MODULE, worker_script
from mtasts.rfc.policy import POLICY_PATH
from mtasts.runtime.miniflare import LocalWorker, receiver_worker, run_miniflare
from mtasts.runtime.workerd import WorkerdFailed, WorkerdNotFound

WEBHOOK_ENV = "MTASTS_REPORTS_WEBHOOK"


class _Stop(Exception):
    """SIGTERM or SIGHUP arrived: stop the runtime and exit, as on Ctrl-C."""


def _stop(signum: int, frame: object) -> None:
    raise _Stop(signum)


def policy_workers(stack: str, deployment: Deployment) -> list[LocalWorker]:
    """The policy Workers as ``pulumi up`` uploads them, one per shard, each with only its own
    policies and, when there are several, a route ``mta-sts.<d>/*`` per domain it serves (the
    first also answers every other host, with a 404, as a lone script does)."""
    count = deployment.worker_shards
    shards = deployment.shards or {0: ()}
    return [
        LocalWorker(
            name=sharding.script_name(stack, shard, count),
            script=worker_script(domains),
            main_module=MAIN_MODULE,
            compatibility_date=COMPATIBILITY_DATE,
            routes=tuple(f"{d.policy_host}/*" for d in domains) if count > 1 else (),
        )
        for shard, domains in shards.items()
    ]


def state_dir(args: Any) -> Path:
    """Where local D1 and R2 data persist: ``--state-dir``, else ``.mtasts/serve/<stack>`` in the project."""
    chosen: str | None = getattr(args, "state_dir", None)
    if chosen:
        return Path(chosen)
    return Path(args.project_dir) / ".mtasts" / "serve" / str(args.stack)


def _banner(
    args: Any, deployment: Deployment, url: str, policies: list[LocalWorker], token: str | None
) -> str:
    domains = deployment.worker_domains
    if len(policies) == 1:
        lines = [f"serving the {args.stack} stack's Worker ({len(policies[0].script)} bytes) at {url}"]
    else:
        lines = [f"serving the {args.stack} stack's {len(policies)} policy Workers at {url}"]
        lines += [f"  {p.name}: {len(p.routes)} domain(s), {len(p.script)} bytes" for p in policies]
    lines += [f"  {d.policy_host}  mode={d.mode}  id={d.policy_id}" for d in domains]
    if domains:
        lines.append(f"try: curl -H 'Host: {domains[0].policy_host}' {url}{POLICY_PATH}")
    else:
        lines.append("no domain of this stack uses hosting: cloudflare-worker; every host answers 404")
    receiver = deployment.receiver
    if receiver is not None and deployment.reports_domains:
        names = ", ".join(d.name for d in deployment.reports_domains)
        lines.append(f"TLS report receiver {receiver_model.script_name(args.stack)} for {names}:")
        lines.append(f"  {receiver.https_uri} is {url}{receiver_model.REPORT_PATH}")
        if receiver.mailto:
            lines.append(
                f"  mail: curl --data-binary @report.eml "
                f"'{url}/cdn-cgi/handler/email?from=sender@example.net&to={receiver.mailto}'"
            )
        lines.append(f"  digest now: curl {url}/cdn-cgi/handler/scheduled")
        lines.append(
            f"  read: {receiver_model.TOKEN_ENV}=… mtasts reports --stack {args.stack} --endpoint {url}"
        )
        if token is not None and receiver_model.TOKEN_ENV not in os.environ:
            lines.append(f"  read token (set {receiver_model.TOKEN_ENV} to choose it): {token}")
        lines.append(f"  local D1 and R2 in {state_dir(args)}")
    lines.append("Ctrl-C stops.")
    return "\n".join(lines) + "\n"


def run(args: Any) -> int:
    """Serve ``args.stack``'s Workers on ``127.0.0.1:args.port`` until interrupted."""
    deployment = load_stack(args.project_dir, args.stack)
    policies = policy_workers(args.stack, deployment)
    workers = list(policies)
    token: str | None = None
    if deployment.receiver is not None and deployment.reports_domains:
        token = os.environ.get(receiver_model.TOKEN_ENV) or secrets.token_urlsafe(24)
        webhook = getattr(args, "webhook", None) or os.environ.get(WEBHOOK_ENV)
        workers.append(
            receiver_worker(
                args.stack,
                deployment.receiver,
                deployment.domains,
                token,
                webhook,
            )
        )
    # Without these, a plain `kill` would end Python at once and leave the runtime running.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with run_miniflare(workers, args.port, state_dir(args)) as running:
            # One write: whoever waits for the last line sees the whole banner.
            sys.stdout.write(_banner(args, deployment, running.url, policies, token))
            sys.stdout.flush()
            code = running.process.wait()
            print(f"error: the local runtime exited with {code}: {running.tail(500)}", file=sys.stderr)
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
