"""Command line: ``python -m mtasts {plan,serve,verify,wait-live,readiness}``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtasts.model.config import ConfigError, Deployment, find_project_dir, load_stack


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtasts", description="MTA-STS and TLS-RPT as code.")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="directory holding Pulumi.yaml and the stack files "
        "(default: the nearest one at or above the working directory, as pulumi finds it)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="print what a stack publishes, offline")
    plan.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    plan.add_argument("--json", action="store_true", help="print one JSON object")
    plan.add_argument(
        "--check-mx",
        action="store_true",
        help="also compare each policy with the domain's live MX records (needs DNS); "
        "an enforce policy missing a live MX host exits 1",
    )
    plan.add_argument("--nameserver", help="DNS server for --check-mx, HOST[:PORT] (default: system)")
    plan.add_argument("--timeout", type=float, default=5.0, help="seconds per DNS lookup for --check-mx")
    plan.add_argument(
        "--base",
        metavar="GIT_REF",
        help="compare with the stack file at GIT_REF: what changes for senders; exit 1 on a removal "
        "that strands cached policies (RFC 8461 §8.3) or a switch to enforce that readiness refuses",
    )
    _rollout_options(plan)

    serve = sub.add_parser("serve", help="run the stack's Worker locally in workerd")
    serve.add_argument("--stack", required=True)
    serve.add_argument("--port", type=int, default=8787)

    verify = sub.add_parser("verify", help="check live deployments as a sending MTA would")
    verify.add_argument("domains", nargs="*", metavar="DOMAIN")
    verify.add_argument("--stack", help="check every domain of this stack, and drift from it")
    verify.add_argument("--json", action="store_true")
    verify.add_argument("--nameserver", help=argparse.SUPPRESS)
    verify.add_argument("--ca-bundle", help=argparse.SUPPRESS)
    verify.add_argument("--https-port", type=int, default=443, help=argparse.SUPPRESS)
    verify.add_argument("--smtp-port", type=int, default=25, help=argparse.SUPPRESS)
    verify.add_argument("--timeout", type=float, default=10.0, help="seconds per network step")
    verify.add_argument("--concurrency", type=int, default=32, help="domains checked at once")

    live = sub.add_parser(
        "wait-live", help="wait until each domain serves its planned policy (then bump _mta-sts)"
    )
    live.add_argument("domains", nargs="*", metavar="DOMAIN", help="default: every domain of the stack")
    live.add_argument("--stack", required=True)
    live.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait (default: mta-sts:liveGate timeout, 600)"
    )
    live.add_argument(
        "--interval", type=float, default=None, help="seconds between looks (default: liveGate interval, 5)"
    )
    live.add_argument("--nameserver", help=argparse.SUPPRESS)
    live.add_argument("--ca-bundle", help=argparse.SUPPRESS)
    live.add_argument("--https-port", type=int, default=443, help=argparse.SUPPRESS)

    ready = sub.add_parser("readiness", help="whether testing → enforce is safe now, with the evidence")
    ready.add_argument("domains", nargs="*", metavar="DOMAIN")
    ready.add_argument("--stack", required=True)
    ready.add_argument("--json", action="store_true")
    ready.add_argument("--nameserver", help=argparse.SUPPRESS)
    ready.add_argument("--timeout", type=float, default=10.0, help="seconds per network step")
    _rollout_options(ready)
    return parser


def _rollout_options(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that judge readiness (plan --base, readiness)."""
    parser.add_argument(
        "--reports", metavar="FILE", help="TLS report summaries (the reports receiver's JSON) for readiness"
    )
    parser.add_argument("--ca-bundle", help=argparse.SUPPRESS)
    parser.add_argument("--https-port", type=int, default=443, help=argparse.SUPPRESS)
    parser.add_argument("--smtp-port", type=int, default=25, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=32, help=argparse.SUPPRESS)


def _check_mx(deployment: Deployment, nameserver: str | None, timeout: float) -> int:
    """Print live-MX findings on stderr; 1 when an enforce policy leaves out a live MX host."""
    from mtasts.commands.check_mx import ERROR, check_deployment
    from mtasts.commands.verify import UsageError, parse_nameserver

    try:
        server = parse_nameserver(nameserver) if nameserver else None
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    findings = check_deployment(deployment, server, timeout)
    for finding in findings:
        print(finding.line(), file=sys.stderr)
    return 1 if any(f.severity == ERROR for f in findings) else 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.project_dir = args.project_dir or find_project_dir()
    try:
        if args.command == "plan" and args.base is not None:
            from mtasts.commands.review import run as review

            status = review(args)
            if status == 2 or not args.check_mx:
                return status
            return max(
                status, _check_mx(load_stack(args.project_dir, args.stack), args.nameserver, args.timeout)
            )
        if args.command == "wait-live":
            from mtasts.commands.wait_live import run as wait_live

            return wait_live(args)
        if args.command == "readiness":
            from mtasts.commands.readiness import run as readiness

            return readiness(args)
        if args.command == "plan":
            from mtasts.commands.plan import render

            deployment = load_stack(args.project_dir, args.stack)
            sys.stdout.write(render(args.stack, deployment, args.json))
            if not args.check_mx:
                return 0
            return _check_mx(deployment, args.nameserver, args.timeout)
        if args.command == "serve":
            from mtasts.commands.serve import run as serve

            return serve(args)
        from mtasts.commands.verify import run as verify

        if not args.domains and not args.stack:
            parser.error("verify needs DOMAIN... or --stack NAME")
        return verify(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
