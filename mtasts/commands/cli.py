"""Command line: ``python -m mtasts {plan,serve,verify,reports}``."""

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

    serve = sub.add_parser(
        "serve", help="run the stack's Worker (and TLS report receiver) locally in miniflare"
    )
    serve.add_argument("--stack", required=True)
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument(
        "--state-dir", help="where local D1 and R2 data persist (default: .mtasts/serve/<stack>)"
    )
    serve.add_argument(
        "--webhook", help="digest webhook URL for the local receiver (default: $MTASTS_REPORTS_WEBHOOK)"
    )

    reports = sub.add_parser("reports", help="summarize the TLS reports the stack's receiver holds")
    reports.add_argument("--stack", required=True)
    reports.add_argument("--since", help="only reports received in this last DURATION: 30m, 24h, 7d, 2w")
    reports.add_argument("--json", action="store_true", help="print one JSON object")
    reports.add_argument(
        "--endpoint", help="receiver base URL (default: https://<mta-sts:reports.host>), e.g. a local serve"
    )
    reports.add_argument("--timeout", type=float, default=30.0, help=argparse.SUPPRESS)

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
    return parser


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
        if args.command == "reports":
            from mtasts.commands.reports import run as reports_run

            return reports_run(args)
        from mtasts.commands.verify import run as verify

        if not args.domains and not args.stack:
            parser.error("verify needs DOMAIN... or --stack NAME")
        return verify(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
