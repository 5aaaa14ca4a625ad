"""Benchmark: ``mtasts verify`` against checkdmarc's MTA-STS check, same servers, same run.

Usage (as root: checkdmarc fetches policies only from port 443, so the HTTPS server listens
on 127.0.80.1:443 and the SMTP servers on 127.0.81.x:25; GNU time measures each tool)::

    .venv/bin/python -m bench.bench_verify [--domains 200] [--runs 3] [--serial-max 200]

Set-up, all on 127.0.0.0/8: Knot DNS serving one zone with N correct domains and a set of
broken ones (one defect each); a DNS proxy in front of Knot that holds every answer for 20 ms;
an HTTPS server and SMTP servers (aiosmtpd, STARTTLS) that wait 80 ms before their TLS
handshake or SMTP greeting. Loopback has no round-trip time, so without these delays a
benchmark would measure only CPU. Certificates come from a trustme CA (ECDSA P-256): the
policy hosts share SAN certificates of ``CERT_NAMES`` names each, picked by SNI (one
certificate per host costs minutes at 10,000 domains; one for all would be 300 KB), every MX
host the one ``*.bench.test`` certificate; both tools see the same ones.

Both tools run as subprocesses over the same domains, at the same concurrency:

- ours: ``python -m mtasts verify --json`` (TXT, policy, MX coverage, STARTTLS on every MX,
  TLS-RPT, certificate days left, TLSA), 32 domains at once (``--concurrency 32``);
- checkdmarc ≥ 6.0.4: ``checkdmarc.mta_sts.check_mta_sts`` per domain (TXT and policy only)
  in a pool of 32 threads, and serially as its CLI runs up to ``--serial-max`` domains (one
  domain costs it about 150 ms, so 10,000 would take 25 minutes). It has no option for a policy
  host's address or CA, so its process trusts the test CA through ``REQUESTS_CA_BUNDLE`` and
  resolves ``*.bench.test`` host names through the same delaying DNS proxy (a patched
  ``socket.getaddrinfo``; one A query per name, as a stub resolver asks).

Reported: machine; per run each tool's wall time, CPU seconds and peak RSS (GNU time's figures
for its process), the CPU the servers used meanwhile (this process's threads: the DNS
proxy, HTTPS and SMTP servers; Knot apart) and the ratio; the medians of ``--runs`` with their
range; that ``verify``'s progress meter runs on a terminal (the broken domains' run has a pty
as its stderr); per broken domain which tool reports the defect (an error or warning of ours;
``valid: false`` or a warning from checkdmarc).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pty
import resource
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
CERT_NAMES = 50
"""Policy host names per SAN certificate."""
CONCURRENCY = 32
TIME = "/usr/bin/time"
"""GNU time (Debian package ``time``)."""

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
    width = max(3, len(str(n - 1)))
    good = [f"d{i:0{width}}" for i in range(n)]

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


@dataclass(frozen=True)
class Run:
    """One tool's process over the domains: what it printed and what it cost."""

    seconds: float
    """Wall time of the process, interpreter start and imports included."""
    cpu: float
    """User and system CPU seconds of the process."""
    rss_mib: float
    """Peak resident set size of the process."""
    servers_cpu: float
    """CPU seconds this process's server threads used meanwhile."""
    stdout: str
    terminal: str = ""
    """What the process wrote to the terminal given as its stderr, when it had one."""


def spawn(argv: list[str], env: dict[str, str] | None = None, terminal: bool = False) -> Run:
    """Run ``argv`` to its end under GNU time, which reports the process's own CPU and peak RSS.

    Not ``os.wait4`` on our own child: Linux keeps a process's peak RSS across ``exec``, so a
    child forked from this process, with every server's memory, would report this process's size.
    """
    before = resource.getrusage(resource.RUSAGE_SELF)
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile() as use,
    ):
        master = slave = -1
        if terminal:
            master, slave = pty.openpty()
        started = time.perf_counter()
        process = subprocess.Popen(
            [TIME, "-f", "%U %S %M", "-o", use.name, *argv],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=slave if terminal else err,
        )  # fmt: skip
        shown = b""
        if terminal:
            os.close(slave)
            while True:  # read the terminal as it is written, or the process blocks on a full pty
                ready, _, _ = select.select([master], [], [], 1.0)
                try:
                    chunk = os.read(master, 65536) if ready else b""
                except OSError:  # EIO: every writer has closed the terminal
                    break
                if ready and not chunk:
                    break
                shown += chunk
            os.close(master)
        process.wait()
        took = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
        user, system, rss = Path(use.name).read_text().split()[-3:]
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{argv[:4]} exited {process.returncode}: {stderr[-2000:]}")
    return Run(
        seconds=took,
        cpu=float(user) + float(system),
        rss_mib=int(rss) / 1024,
        servers_cpu=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        stdout=stdout,
        terminal=shown.decode(errors="replace"),
    )


def run_ours(domains: list[str], ns: str, ca: str, terminal: bool = False) -> tuple[Run, dict]:
    run = spawn(
        [sys.executable, "-m", "mtasts", "verify", "--json", "--nameserver", ns, "--ca-bundle", ca,
         "--timeout", str(TIMEOUT), "--concurrency", str(CONCURRENCY), *domains],
        terminal=terminal,
    )  # fmt: skip
    return run, json.loads(run.stdout)["domains"]


def run_checkdmarc(domains: list[str], ns: str, ca: str, threads: int) -> tuple[Run, dict]:
    env = {**os.environ, "REQUESTS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca}
    run = spawn(
        [sys.executable, "-m", "bench.bench_verify", "--checkdmarc-worker", ns, str(threads), *domains], env
    )
    return run, json.loads(run.stdout)["results"]


@dataclass
class Lab:
    """The running servers: the delaying DNS proxy's address and the CA file both tools trust."""

    ns: str
    ca: str


@contextmanager
def lab(bodies: dict[str, bytes], zone: str) -> Iterator[Lab]:
    """Knot behind the delaying proxy, the HTTPS server and the SMTP servers, for ``bodies``."""
    from tests.servers import DelayingDns, HttpsServer, KnotDns, Pki, Route, SmtpServer

    # aiosmtpd logs every client that rejects a certificate; here that is the point.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    b = f".{ZONE}"
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        pki = Pki(Path(tmp))
        special = {
            f"mta-sts.https-expired{b}": pki.context(f"mta-sts.https-expired{b}", expired=True),
            f"mta-sts.https-wrongname{b}": pki.context("mta-sts.elsewhere.invalid"),
            f"mta-sts.https-selfsigned{b}": pki.self_signed_context(f"mta-sts.https-selfsigned{b}"),
        }
        plain = [h for h in bodies if h not in special]
        contexts = dict(special)
        for start in range(0, len(plain), CERT_NAMES):
            group = plain[start : start + CERT_NAMES]
            shared = pki.context(*group)
            contexts.update((h, shared) for h in group)
        # A name missing from the table gets a certificate for no policy host: a TLS error.
        default = pki.context(f"mta-sts{b}")
        routes = {h: Route(body=body) for h, body in bodies.items()}
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
            HttpsServer(contexts, default, routes, host=HTTPS_ADDR, port=443, greeting_delay=d),
        ):
            for server in smtp:
                server.__enter__()
            try:
                yield Lab(proxy.address, str(pki.ca_file))
            finally:
                for server in smtp:
                    server.__exit__(None, None, None)


def spread(values: list[float], unit: str = " s", digits: int = 2) -> str:
    """``median (min-max)``."""
    med = statistics.median(values)
    return f"{med:.{digits}f}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def describe(run: Run) -> str:
    return (
        f"{run.seconds:6.2f} s, CPU {run.cpu:5.2f} s, peak RSS {run.rss_mib:5.0f} MiB, "
        f"servers' CPU {run.servers_cpu:5.2f} s"
    )


def report_times(runs: dict[str, list[Run]], n: int, ours: dict, theirs: dict) -> None:
    count = len(runs["ours"])
    flagged_ours = sum(1 for r in ours.values() if r["errors"] or r["warnings"])
    flagged_theirs = sum(1 for r in theirs.values() if not r["valid"] or r["warnings"])
    print(f"\n{n} correct domains, {count} runs; median (range) of each tool's process:")
    labels = {
        "ours": f"ours, {CONCURRENCY} domains at once (TXT, policy, MX coverage, STARTTLS, TLS-RPT)",
        "checkdmarc-32": f"checkdmarc check_mta_sts, {CONCURRENCY} threads (TXT, policy)",
        "checkdmarc": "checkdmarc check_mta_sts, serial as its CLI runs (TXT, policy)",
    }
    for key, label in labels.items():
        done = runs.get(key) or []
        if not done:
            print(f"  {label}: not run (more domains than --serial-max)")
            continue
        print(f"  {label}")
        print(f"    wall {spread([r.seconds for r in done])}; CPU {spread([r.cpu for r in done])}; "
              f"peak RSS {spread([r.rss_mib for r in done], ' MiB', 0)}; "
              f"servers' CPU {spread([r.servers_cpu for r in done])}")  # fmt: skip
    ratios = [t.seconds / o.seconds for o, t in zip(runs["ours"], runs["checkdmarc-32"], strict=True)]
    print(f"  ratio checkdmarc {CONCURRENCY} threads / ours, per run: "
          f"{', '.join(f'{r:.2f}x' for r in ratios)}; median {statistics.median(ratios):.2f}x")  # fmt: skip
    if runs.get("checkdmarc"):
        serial = [t.seconds / o.seconds for o, t in zip(runs["ours"], runs["checkdmarc"], strict=True)]
        print(f"  ratio checkdmarc serial / ours, median: {statistics.median(serial):.1f}x")
    print(f"  correct domains flagged (should be 0): ours {flagged_ours}, checkdmarc {flagged_theirs}")


def report_progress(run: Run, total: int) -> None:
    """What ``verify`` showed on its terminal: the meter's updates and its last line."""
    updates = [u for u in run.terminal.replace("\n", "\r").split("\r") if u.strip()]
    want = f"verify: {total}/{total} domains checked"
    print(f"\nprogress on a terminal (a pty as verify's stderr, {total} broken domains): "
          f"{len(updates)} updates, the last {updates[-1] if updates else 'none'!r}; "
          f"ends at {want!r}: {bool(updates) and updates[-1] == want}")  # fmt: skip


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
    parser.add_argument(
        "--serial-max", type=int, default=200, help="run checkdmarc serially too up to this many domains"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("error: run as root: checkdmarc fetches policies from port 443 only", file=sys.stderr)
        return 2
    if not os.access(TIME, os.X_OK):
        print(f"error: {TIME} missing: install GNU time (apt-get install time)", file=sys.stderr)
        return 2

    print(machine())
    print(
        f"model of distance: every DNS answer held {DNS_DELAY * 1000:.0f} ms (proxy in front of Knot); "
        f"{GREETING_DELAY * 1000:.0f} ms before each HTTPS handshake and SMTP greeting"
    )
    good, zone, bodies = build(args.domains)
    broken = list(BROKEN)
    fqdn = [f"{label}.{ZONE}" for label in good]
    serial = len(fqdn) <= args.serial_max
    started = time.perf_counter()
    with lab(bodies, zone) as servers:
        print(f"lab ready in {time.perf_counter() - started:.1f} s", flush=True)
        ns, ca = servers.ns, servers.ca
        runs: dict[str, list[Run]] = {"ours": [], "checkdmarc-32": [], "checkdmarc": []}
        for run in range(args.runs):
            mine, ours = run_ours(fqdn, ns, ca)
            runs["ours"].append(mine)
            print(f"run {run + 1}: ours          {describe(mine)}", flush=True)
            threaded, theirs = run_checkdmarc(fqdn, ns, ca, CONCURRENCY)
            runs["checkdmarc-32"].append(threaded)
            print(f"       checkdmarc-{CONCURRENCY} {describe(threaded)}; "
                  f"ratio {threaded.seconds / mine.seconds:.2f}x", flush=True)  # fmt: skip
            if serial:
                alone, theirs = run_checkdmarc(fqdn, ns, ca, 1)
                runs["checkdmarc"].append(alone)
                print(f"       checkdmarc    {describe(alone)}", flush=True)
        names = [f"{label}.{ZONE}" for label in broken]
        shown, ours_b = run_ours(names, ns, ca, terminal=True)
        _, theirs_b = run_checkdmarc(names, ns, ca, 1)
    report_times(runs, len(fqdn), ours, theirs)
    report_progress(shown, len(names))
    report_defects(broken, ours_b, theirs_b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
