"""Command line: ``mtasts {plan,serve,verify,watch,reports,wait-live,readiness,adopt,zones,fleet}``
(also ``python -m mtasts``).

Every numeric flag and every DOMAIN goes through one of the argument types of
``mtasts.commands.shared.argtypes``, so nan, inf, negatives, zero, out-of-range ports and names
that are no domain are usage errors (one ``error:`` line, exit 2) before anything runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mtasts.commands.shared.argtypes import (
    count,
    days,
    domain,
    existing_dir,
    existing_file,
    nameserver,
    port,
    rounds,
    seconds,
    span_seconds,
    url,
)
from mtasts.commands.shared.parser import Help, Parser, command_problem, version
from mtasts.model.config import ConfigError, find_project_dir, load_stack
from mtasts.model.errors import error_lines


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mtasts", description="MTA-STS and TLS-RPT as code.")
    parser.add_argument("--version", action="version", version=f"mtasts {version()}")
    parser.add_argument(
        "--project-dir",
        type=existing_dir,
        default=None,
        help="directory holding Pulumi.yaml and the stack files "
        "(default: the nearest one at or above the working directory, as pulumi finds it)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_parser = sub.add_parser

    def described(name: str, **kwargs: object) -> argparse.ArgumentParser:
        """Every command's --help opens with its one sentence and shows each default."""
        summary = str(kwargs.get("help", ""))
        kwargs.setdefault("description", summary[:1].upper() + summary[1:] + ".")
        return add_parser(name, formatter_class=Help, **kwargs)  # type: ignore[arg-type]

    sub.add_parser = described  # type: ignore[assignment,method-assign]

    plan = sub.add_parser("plan", help="print what a stack publishes, offline")
    plan.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    plan.add_argument("--json", action="store_true", help="print one JSON object")
    plan.add_argument(
        "--check-mx",
        action="store_true",
        help="also compare each policy with the domain's live MX records (needs DNS); "
        "an enforce policy missing a live MX host, or whose MX cannot be looked up, exits 1",
    )
    plan.add_argument(
        "--allow-unknown-mx",
        action="store_true",
        help="with --check-mx: an enforce domain whose MX lookup fails is a warning, not an error",
    )
    plan.add_argument(
        "--nameserver", type=nameserver, help="DNS server for --check-mx, ADDRESS[:PORT] (default: system)"
    )
    plan.add_argument("--timeout", type=seconds, default=5.0, help="seconds per DNS lookup for --check-mx")
    plan.add_argument("--concurrency", type=count, default=64, help="MX lookups at once for --check-mx")
    plan.add_argument(
        "--base",
        metavar="GIT_REF",
        help="compare with the stack file at GIT_REF: what changes for senders; exit 1 on a removal "
        "that strands cached policies (RFC 8461 §8.3) or a switch to enforce that readiness refuses",
    )
    _rollout_options(plan)

    serve = sub.add_parser(
        "serve", help="run the stack's Worker (and TLS report receiver) locally in miniflare"
    )
    serve.add_argument("--stack", required=True)
    serve.add_argument("--port", type=port, default=8787)
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
        "--endpoint",
        type=url,
        help="receiver base URL (default: https://<mta-sts:reports.host>), e.g. a local serve",
    )
    reports.add_argument("--timeout", type=seconds, default=30.0, help=argparse.SUPPRESS)
    reports.add_argument(
        "--diagnose",
        action="store_true",
        help="for each failure type reported, probe the policy host or MX now as a sender does "
        "and say what it finds (a challenge page, an expired certificate, a redirect…)",
    )
    reports.add_argument("--nameserver", type=nameserver, help=NAMESERVER_HELP)
    _lab_options(reports)

    verify = sub.add_parser("verify", help="check live deployments as a sending MTA would")
    _verify_options(verify)
    verify.add_argument("--json", action="store_true", help="the same as --format json")
    verify.add_argument(
        "--problems", action="store_true", help="text: only errors and warnings, and their domains"
    )
    verify.add_argument(
        "--format",
        choices=("text", "json", "openmetrics"),
        default=None,
        help="text (default), json, or openmetrics (for node_exporter's textfile collector)",
    )

    watch = sub.add_parser(
        "watch",
        help="verify, and post to a webhook what is new, got worse or cleared since the last run",
    )
    _verify_options(watch)
    watch.add_argument(
        "--state", required=True, metavar="FILE", help="JSON file keeping the findings between runs"
    )
    watch.add_argument(
        "--webhook-env",
        default="MTASTS_REPORTS_WEBHOOK",
        metavar="VAR",
        help="environment variable holding the webhook URL (default: MTASTS_REPORTS_WEBHOOK); "
        "unset: the alert is printed only",
    )
    watch.add_argument(
        "--pulumi-preview-exit",
        type=int,
        default=None,
        metavar="CODE",
        help="exit status of `pulumi preview --expect-no-changes` run before: non-zero is drift",
    )

    adopt = sub.add_parser(
        "adopt",
        help="stack entries and a pulumi import file for a hand-made deployment",
        description="Read what each domain publishes live; print the mta-sts:domains entries that "
        "reproduce it (stdout) and every change senders would see against the stack (stderr).",
    )
    adopt.add_argument(
        "domains", nargs="*", type=domain, metavar="DOMAIN", help="default: every domain of the stack"
    )
    adopt.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    adopt.add_argument(
        "--import-file",
        metavar="PATH",
        help="also write the `pulumi import --file` document for the live records and routes "
        "(reads the Cloudflare API: CLOUDFLARE_API_TOKEN, CLOUDFLARE_BASE_URL)",
    )
    adopt.add_argument(
        "--state",
        metavar="FILE",
        type=existing_file,
        help="`pulumi stack export` output: parents and resources already in state are named, not created",
    )
    adopt.add_argument("--nameserver", type=nameserver, help=NAMESERVER_HELP)
    _lab_options(adopt, smtp=False)
    adopt.add_argument("--timeout", type=seconds, default=10.0, help="seconds per network step")

    live = sub.add_parser(
        "wait-live", help="wait until each domain serves its planned policy (then bump _mta-sts)"
    )
    live.add_argument(
        "domains", nargs="*", type=domain, metavar="DOMAIN", help="default: every domain of the stack"
    )
    live.add_argument("--stack", required=True)
    live.add_argument(
        "--timeout",
        type=seconds,
        default=None,
        help="seconds to wait (default: mta-sts:liveGate timeout, 600)",
    )
    live.add_argument(
        "--interval",
        type=seconds,
        default=None,
        help="seconds between looks (default: liveGate interval, 5, or less to fit --rounds in --timeout)",
    )
    live.add_argument(
        "--rounds",
        type=rounds,
        default=None,
        help="good looks in a row, every address serving the new policy (default: liveGate rounds, 3)",
    )
    live.add_argument(
        "--span",
        type=span_seconds,
        default=None,
        help="seconds at least from the first to the last of those looks (default: liveGate span, 30)",
    )
    live.add_argument("--nameserver", type=nameserver, help=NAMESERVER_HELP)
    _lab_options(live, smtp=False)

    ready = sub.add_parser("readiness", help="whether testing → enforce is safe now, with the evidence")
    ready.add_argument("domains", nargs="*", type=domain, metavar="DOMAIN")
    ready.add_argument("--stack", required=True)
    ready.add_argument("--json", action="store_true")
    ready.add_argument("--nameserver", type=nameserver, help=NAMESERVER_HELP)
    ready.add_argument("--timeout", type=seconds, default=10.0, help="seconds per network step")
    ready.add_argument("--concurrency", type=count, default=32, help=argparse.SUPPRESS)
    _rollout_options(ready)
    for name in PLUGGED:
        importlib.import_module(f"mtasts.commands.{name}").add_parser(sub)
    return parser


# Commands whose module holds both halves: ``add_parser(sub)`` (argparse only: the module imports
# nothing heavy at its top) and ``run(args) -> int``. A new command goes here, not into main().
PLUGGED: tuple[str, ...] = ("zones", "fleet")


def _verify_options(parser: argparse.ArgumentParser) -> None:
    """What verify and watch share: the domains, the probes' limits, the certificate thresholds."""
    parser.add_argument("domains", nargs="*", type=domain, metavar="DOMAIN")
    parser.add_argument("--stack", help="check every domain of this stack, and drift from it")
    parser.add_argument("--nameserver", type=nameserver, help=NAMESERVER_HELP)
    _lab_options(parser)
    parser.add_argument("--timeout", type=seconds, default=10.0, help="seconds per network step")
    parser.add_argument("--concurrency", type=count, default=32, help="domains checked at once")
    parser.add_argument(
        "--cert-warning-days",
        type=days,
        default=21.0,
        metavar="DAYS",
        help="a certificate with fewer days left is a warning (default 21)",
    )
    parser.add_argument(
        "--cert-error-days",
        type=days,
        default=7.0,
        metavar="DAYS",
        help="a certificate with fewer days left is an error (default 7)",
    )
    parser.add_argument(
        "--dnssec-anchor",
        type=existing_file,
        action="append",
        default=[],
        metavar="FILE",
        help="DNSSEC trust anchors (zone-file DS or DNSKEY lines) besides the root's, for DANE",
    )


def _rollout_options(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that judge readiness (plan --base, readiness)."""
    parser.add_argument(
        "--reports", metavar="FILE", help="TLS report summaries (the reports receiver's JSON) for readiness"
    )
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        type=url,
        help="the TLS reports receiver readiness reads (default: https://<mta-sts:reports.host>), "
        "e.g. a local serve",
    )
    _lab_options(parser)


NAMESERVER_HELP = (
    "DNS server to ask, ADDRESS[:PORT] ([ADDRESS]:PORT for IPv6), as `dig @1.1.1.1` does "
    "(default: the system resolver)"
)


def _lab_options(parser: argparse.ArgumentParser, smtp: bool = True) -> None:
    """Options that point the probes elsewhere: a CA bundle and the HTTPS (and SMTP) port."""
    parser.add_argument(
        "--ca-bundle",
        type=existing_file,
        metavar="PEM",
        help="trust these roots instead of the system's (a test CA, a TLS-inspecting proxy's)",
    )
    parser.add_argument("--https-port", type=port, default=443, help="port of the policy host's HTTPS")
    if smtp:
        parser.add_argument("--smtp-port", type=port, default=25, help="port of the MX hosts' SMTP")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    problem = command_problem(parser, sys.argv[1:] if argv is None else argv)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a usage error (2), already printed
        return done.code if isinstance(done.code, int) else 2
    args.project_dir = args.project_dir or find_project_dir()
    try:
        if args.command in PLUGGED:
            return int(importlib.import_module(f"mtasts.commands.{args.command}").run(args))
        if args.command == "plan" and args.base is not None:
            from mtasts.commands.check_mx import live_check
            from mtasts.commands.review import run as review

            head = load_stack(args.project_dir, args.stack)  # once, for both
            # --check-mx findings join the review's one list: one text, one exit status.
            return review(args, head, live_check(args) if args.check_mx else None)
        if args.command == "wait-live":
            from mtasts.commands.wait_live import run as wait_live

            return wait_live(args)
        if args.command == "adopt":
            from mtasts.commands.adopt import run as adopt

            return adopt(args)
        if args.command == "readiness":
            from mtasts.commands.readiness import run as readiness

            return readiness(args)
        if args.command == "plan":
            from mtasts.commands.plan import render

            deployment = load_stack(args.project_dir, args.stack)
            if args.check_mx and args.json:
                from mtasts.commands.check_mx import run_json
                from mtasts.commands.plan import plan_json

                # One JSON object: the plan and, under "checkMx", the live MX findings.
                return run_json(plan_json(args.stack, deployment), deployment, args)
            sys.stdout.write(render(args.stack, deployment, args.json))
            if not args.check_mx:
                return 0
            from mtasts.commands.check_mx import run as check_mx

            return check_mx(deployment, args)
        if args.command == "serve":
            from mtasts.commands.serve import run as serve

            return serve(args)
        if args.command == "reports":
            from mtasts.commands.reports import run as reports_run

            return reports_run(args)
        if not args.domains and not args.stack:
            parser.error(f"{args.command} needs DOMAIN... or --stack NAME")
        if args.cert_error_days > args.cert_warning_days:
            print("error: --cert-error-days: must be at most --cert-warning-days", file=sys.stderr)
            return 2
        if args.command == "watch":
            from mtasts.commands.verify.watch import run as watch

            return watch(args)
        from mtasts.commands.verify import run as verify

        return verify(args)
    except ConfigError as exc:
        print("\n".join(error_lines(exc)), file=sys.stderr)
        return 2
    except Exception as exc:
        # Every command that resolves names stops the same way on a machine without a resolver.
        # dns.resolver is imported by then (it raised), and only then: plan alone never needs it.
        resolver = sys.modules.get("dns.resolver")
        if resolver is not None and isinstance(exc, resolver.NoResolverConfiguration):
            print("error: no system DNS resolver configured; pass --nameserver", file=sys.stderr)
            return 2
        raise
