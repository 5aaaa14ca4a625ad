"""Benchmark: ``mtasts verify`` against checkdmarc's MTA-STS check, same servers, same run.

Usage (as root: checkdmarc fetches policies only from port 443, so the HTTPS server listens
on 127.0.80.1:443 and the SMTP servers on 127.0.81.x:25)::

    .venv/bin/python -m bench.bench_verify [--domains 200] [--runs 3]

Set-up, all on 127.0.0.0/8: Knot DNS serving one zone with N correct domains and a set of
broken ones (one defect each); a DNS proxy in front of Knot that holds every answer for 20 ms;
an HTTPS server (SNI certificates from a trustme CA) and SMTP servers (aiosmtpd, STARTTLS)
that wait 80 ms before their TLS handshake or SMTP greeting. Loopback has no round-trip time,
so without these delays a benchmark would measure only CPU.

Both tools run as subprocesses over the same domains:

- ours: ``python -m mtasts verify --json`` (TXT, policy, MX coverage, STARTTLS on every MX,
  TLS-RPT), concurrency 32;
- checkdmarc ≥ 6.0.4: ``checkdmarc.mta_sts.check_mta_sts`` per domain (TXT and policy only),
  serially as its CLI runs, and again in a pool of 32 threads. It has no option for a policy
  host's address or CA, so its process trusts the test CA through ``REQUESTS_CA_BUNDLE`` and
  resolves ``*.bench.test`` host names through the same delaying DNS proxy (a patched
  ``socket.getaddrinfo``; one A query per name, as a stub resolver asks).

Reported: machine, wall times (median of ``--runs``), the ratio, and per broken domain which
tool reports the defect (an error or warning of ours; ``valid: false`` or a warning from
checkdmarc).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import machine_line

ROOT = Path(__file__).resolve().parent.parent

ZONE = "bench.test"
HTTPS_ADDR = "127.0.80.1"
SMTP_GOOD, SMTP_EXPIRED, SMTP_WRONG, SMTP_PLAIN = (f"127.0.81.{i}" for i in range(1, 5))
DNS_DELAY = 0.020
GREETING_DELAY = 0.080
TIMEOUT = 2.0
"""Seconds per network step for ours; checkdmarc's fixed HTTP and DNS timeouts are 2 s too."""
RUA = "mailto:tlsrpt@bench.test"

# name: (defect, check names of ours that report it, words in checkdmarc's message about it)
BROKEN = {
    "no-txt": ("no _mta-sts TXT record", {"sts-record"}, ("does not exist",)),
    "two-txt": ("two v=STSv1 TXT records", {"sts-record"}, ("Multiple",)),
    "bad-txt": ("invalid id in the TXT record", {"sts-record"}, ("id value",)),
    "txt-at-apex": ("v=STSv1 at the domain, not _mta-sts", {"sts-record"}, ("must be located",)),
    "no-host": ("policy host does not resolve", {"policy-fetch"}, ("NameResolution", "resolve")),
    "redirect": ("policy answers 301", {"policy-redirect"}, ("301",)),
    "notfound": ("policy answers 404", {"policy-status"}, ("404",)),
    "html": ("policy served as text/html", {"policy-content-type"}, ("Content-Type",)),
    "big": ("policy body over 64 KiB", {"policy-size"}, ("size", "too large", "KiB")),
    "slow": ("policy answer after 3 s", {"policy-timeout"}, ("timed out", "timeout")),
    "bad-policy": ("policy syntax (mode: enforced)", {"policy-syntax"}, ("mode",)),
    "https-expired": ("policy host certificate expired", {"policy-tls"}, ("expired",)),
    "https-wrongname": ("policy host certificate for another name", {"policy-tls"}, ("match", "hostname")),
    "https-selfsigned": (
        "policy host certificate self-signed",
        {"policy-tls"},
        ("self-signed", "self signed"),
    ),
    "uncovered": ("enforce, MX not in the policy", {"mx-coverage"}, ("mx",)),
    "no-mx": ("no MX record", {"mx-records"}, ("MX",)),
    "smtp-expired": ("MX certificate expired", {"starttls"}, ("expired",)),
    "smtp-wrongname": ("MX certificate for another name", {"starttls"}, ("hostname",)),
    "smtp-plain": ("MX offers no STARTTLS", {"starttls"}, ("STARTTLS",)),
    "tlsrpt-none": ("no TLS-RPT record", {"tlsrpt-record"}, ("TLS-RPT", "TLSRPT")),
    "tlsrpt-bad": ("TLS-RPT rua is ftp:", {"tlsrpt-record"}, ("rua",)),
}


def machine() -> str:
    import checkdmarc
    import dns.version

    return machine_line(f"dnspython {dns.version.version}", f"checkdmarc {checkdmarc.__version__}")


def build(n: int):  # noqa: ANN201 - returns the lab's parts
    from mtasts.rfc.policy import Policy
    from tests.servers import zone_text

    records: list[tuple[str, str, str]] = []
    routes: dict[str, bytes | dict[str, object]] = {}
    good = [f"d{i:03}" for i in range(n)]

    def add(label: str, policy: Policy, mx: str, mx_addr: str | None = SMTP_GOOD, **skip: bool) -> None:
        if not skip.get("no_txt"):
            records.append((f"_mta-sts.{label}", "TXT", f'"v=STSv1; id={policy.id}"'))
        if not skip.get("no_host"):
            records.append((f"mta-sts.{label}", "A", HTTPS_ADDR))
        if not skip.get("no_mx"):
            records.append((label, "MX", f"10 {mx}.{ZONE}."))
        if mx_addr:
            records.append((mx, "A", mx_addr))
        if not skip.get("no_rpt"):
            records.append((f"_smtp._tls.{label}", "TXT", f'"v=TLSRPTv1; rua={RUA}"'))
        routes[f"mta-sts.{label}.{ZONE}"] = policy.render().encode()

    def pol(mx: str, mode: str = "enforce") -> Policy:
        return Policy(mode=mode, max_age=604800, mx=(f"{mx}.{ZONE}",))

    for label in good:
        add(label, pol(f"mx-{label}"), f"mx-{label}")
    for label in BROKEN:
        mx = f"mx-{label}"
        policy = pol(mx)
        addr = {"smtp-expired": SMTP_EXPIRED, "smtp-wrongname": SMTP_WRONG, "smtp-plain": SMTP_PLAIN}.get(
            label, SMTP_GOOD
        )
        add(
            label,
            pol(f"other-{label}") if label == "uncovered" else policy,
            mx,
            addr,
            no_txt=label in ("no-txt", "txt-at-apex"),
            no_host=label == "no-host",
            no_mx=label == "no-mx",
            no_rpt=label in ("tlsrpt-none", "tlsrpt-bad"),
        )
        if label == "two-txt":
            records.append((f"_mta-sts.{label}", "TXT", '"v=STSv1; id=another1"'))
        if label == "bad-txt":
            records = [r for r in records if r[0] != f"_mta-sts.{label}"]
            records.append((f"_mta-sts.{label}", "TXT", '"v=STSv1; id=not-valid!"'))
        if label == "txt-at-apex":
            records.append((label, "TXT", f'"v=STSv1; id={policy.id}"'))
        if label == "tlsrpt-bad":
            records.append((f"_smtp._tls.{label}", "TXT", '"v=TLSRPTv1; rua=ftp://bench.test/r"'))
    return good, zone_text(ZONE, records), routes


def checkdmarc_worker(argv: list[str]) -> int:
    """In its own process: check_mta_sts over the domains; print results and seconds as JSON."""
    import socket
    from concurrent.futures import ThreadPoolExecutor

    import dns.resolver

    ns_host, ns_port = argv[0].split(":")
    threads = int(argv[1])
    domains = argv[2:]
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [ns_host]
    resolver.port = int(ns_port)
    resolver.lifetime = TIMEOUT

    original = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN202 - socket's own signature
        if isinstance(host, str) and host.rstrip(".").endswith("." + ZONE):
            try:
                answer = resolver.resolve(host, "A")
            except dns.exception.DNSException as exc:
                raise socket.gaierror(socket.EAI_NONAME, str(exc)) from None
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (r.address, port)) for r in answer]
        return original(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    from checkdmarc.mta_sts import check_mta_sts

    def one(domain: str) -> dict:
        return dict(check_mta_sts(domain, resolver=resolver, timeout=TIMEOUT))

    started = time.perf_counter()
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            results = dict(zip(domains, pool.map(one, domains), strict=True))
    else:
        results = {d: one(d) for d in domains}
    print(json.dumps({"seconds": time.perf_counter() - started, "results": results}, default=str))
    return 0


def run_ours(domains: list[str], ns: str, ca: str) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mtasts", "verify", "--json", "--nameserver", ns, "--ca-bundle", ca,
         "--timeout", str(TIMEOUT), "--concurrency", "32", *domains],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    took = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(done.stderr)
    return took, json.loads(done.stdout)["domains"]


def run_checkdmarc(domains: list[str], ns: str, ca: str, threads: int) -> tuple[float, dict]:
    env = {**os.environ, "REQUESTS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_verify", "--checkdmarc-worker", ns, str(threads), *domains],
        cwd=ROOT, capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return took, json.loads(done.stdout)["results"]


def report_times(times: dict[str, list[float]], n: int, runs: int, ours: dict, theirs: dict) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    flagged_ours = sum(1 for r in ours.values() if r["errors"] or r["warnings"])
    flagged_theirs = sum(1 for r in theirs.values() if not r["valid"] or r["warnings"])
    print(f"\n{n} correct domains; wall time of each tool's process, median of {runs} runs:")
    rows = [
        ("ours, 32 domains at once (TXT, policy, MX coverage, STARTTLS, TLS-RPT)", med["ours"]),
        ("checkdmarc check_mta_sts, serial as its CLI runs (TXT, policy)", med["checkdmarc"]),
        ("checkdmarc check_mta_sts, 32 threads (not how checkdmarc runs)", med["checkdmarc-32"]),
    ]
    for label, seconds in rows:
        print(f"  {label:<72} {seconds:6.2f} s")
    print(f"  ratio checkdmarc serial / ours:     {med['checkdmarc'] / med['ours']:5.1f}x")
    print(f"  ratio checkdmarc 32 threads / ours: {med['checkdmarc-32'] / med['ours']:5.1f}x")
    print(f"  correct domains flagged (should be 0): ours {flagged_ours}, checkdmarc {flagged_theirs}")


def report_defects(broken: list[str], ours: dict, theirs: dict) -> None:
    print(f"\n{len(broken)} broken domains, one defect each: who reports it")
    print("  (E error, W warning, - nothing; lower case: it reports something, but not this defect)")
    print(f"  {'defect':<41} {'ours':<4} {'checkdmarc':<10} ours' checks / checkdmarc's message")
    ours_caught = theirs_caught = covered = 0
    for label in broken:
        defect, expected, words = BROKEN[label]
        mine = ours[f"{label}.{ZONE}"]
        hits = {f["check"]: f["severity"] for f in mine["findings"] if f["severity"] in ("error", "warning")}
        right = bool(hits) and expected <= set(hits)
        mark = ("E" if "error" in hits.values() else "W" if hits else "-") if right else "-"
        result = theirs[f"{label}.{ZONE}"]
        said = " ".join((result.get("error") or "; ".join(result["warnings"])).split())
        other = "E" if not result["valid"] else "W" if result["warnings"] else "-"
        on_target = other != "-" and any(w.lower() in said.lower() for w in words)
        if not on_target:
            other = other.lower()
        ours_caught += right
        theirs_caught += on_target
        covered += right or not on_target
        print(f"  {defect:<41} {mark:<4} {other:<10} {', '.join(sorted(hits)) or '-'}")
        if said:
            print(f"  {'':<57} checkdmarc: {said[:80]}")
    print(
        f"  caught: ours {ours_caught}/{len(broken)}, checkdmarc {theirs_caught}/{len(broken)}; "
        f"ours catches every defect checkdmarc catches: {covered == len(broken)}"
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--checkdmarc-worker":
        return checkdmarc_worker(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("error: run as root: checkdmarc fetches policies from port 443 only", file=sys.stderr)
        return 2

    from tests.servers import DelayingDns, HttpsServer, KnotDns, Pki, Route, SmtpServer

    # aiosmtpd logs every client that rejects a certificate; here that is the point.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)

    print(machine())
    print(
        f"model of distance: every DNS answer held {DNS_DELAY * 1000:.0f} ms (proxy in front of Knot); "
        f"{GREETING_DELAY * 1000:.0f} ms before each HTTPS handshake and SMTP greeting"
    )
    good, zone, bodies = build(args.domains)
    broken = list(BROKEN)
    fqdn = [f"{label}.{ZONE}" for label in good]
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        pki = Pki(Path(tmp))
        ca = str(pki.ca_file)
        hosts = [h for h in bodies]
        default = pki.context(*hosts)
        special = {
            f"mta-sts.https-expired.{ZONE}": pki.context(f"mta-sts.https-expired.{ZONE}", expired=True),
            f"mta-sts.https-wrongname.{ZONE}": pki.context("mta-sts.elsewhere.invalid"),
            f"mta-sts.https-selfsigned.{ZONE}": pki.self_signed_context(f"mta-sts.https-selfsigned.{ZONE}"),
        }
        routes = {h: Route(body=b) for h, b in bodies.items()}
        b = f".{ZONE}"
        routes[f"mta-sts.redirect{b}"] = Route(
            status=301, headers=(("Location", "https://example.invalid/"),)
        )
        routes[f"mta-sts.notfound{b}"] = Route(status=404, body=b"no")
        routes[f"mta-sts.html{b}"] = Route(body=bodies[f"mta-sts.html{b}"], content_type="text/html")
        routes[f"mta-sts.big{b}"] = Route(body=bodies[f"mta-sts.big{b}"] + b"x: y\r\n" * 12000)
        routes[f"mta-sts.slow{b}"] = Route(body=bodies[f"mta-sts.slow{b}"], delay=3.0)
        routes[f"mta-sts.bad-policy{b}"] = Route(
            body=b"version: STSv1\r\nmode: enforced\r\nmx: a.b\r\nmax_age: 1\r\n"
        )
        wild = f"*.{ZONE}"
        d = GREETING_DELAY
        smtp = [
            SmtpServer(SMTP_GOOD, 25, pki.context(wild), "mx.bench.test", greeting_delay=d),
            SmtpServer(SMTP_EXPIRED, 25, pki.context(wild, expired=True), "mx.bench.test", greeting_delay=d),
            SmtpServer(
                SMTP_WRONG, 25, pki.context("mx.elsewhere.invalid"), "mx.bench.test", greeting_delay=d
            ),
            SmtpServer(SMTP_PLAIN, 25, None, "mx.bench.test", greeting_delay=d),
        ]
        with (
            KnotDns({ZONE: zone}) as knot,
            DelayingDns((knot.host, knot.port), DNS_DELAY) as proxy,
            HttpsServer(special, default, routes, host=HTTPS_ADDR, port=443, greeting_delay=d),
        ):
            for server in smtp:
                server.__enter__()
            try:
                ns = proxy.address
                times: dict[str, list[float]] = {"ours": [], "checkdmarc": [], "checkdmarc-32": []}
                for run in range(args.runs):
                    t, ours = run_ours(fqdn, ns, ca)
                    times["ours"].append(t)
                    t, theirs = run_checkdmarc(fqdn, ns, ca, 1)
                    times["checkdmarc"].append(t)
                    t, _ = run_checkdmarc(fqdn, ns, ca, 32)
                    times["checkdmarc-32"].append(t)
                    shown = ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items())
                    print(f"run {run + 1}: {shown}", flush=True)
                names = [f"{label}.{ZONE}" for label in broken]
                _, ours_b = run_ours(names, ns, ca)
                _, theirs_b = run_checkdmarc(names, ns, ca, 1)
            finally:
                for server in smtp:
                    server.__exit__(None, None, None)
    report_times(times, len(fqdn), args.runs, ours, theirs)
    report_defects(broken, ours_b, theirs_b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
