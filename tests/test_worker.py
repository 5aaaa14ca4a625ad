"""The Worker: the script built from ``worker/`` and the policies, and its answers in real workerd."""

from __future__ import annotations

import difflib
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtasts.model.config import Deployment, Domain, load_config, load_stack
from mtasts.model.policy_worker import (
    COMPATIBILITY_DATE,
    MAIN_MODULE,
    TEMPLATE_PATH,
    policy_data,
    render,
    script_name,
    template,
    worker_script,
)
from mtasts.rfc.policy import policy_id
from mtasts.rfc.served import (
    DATA_BEGIN,
    DATA_END,
    ServedDataError,
    decode_served,
    encode_served,
    extract_data,
    insert_data,
    served_in_script,
)
from mtasts.runtime.workerd import config_text, run_worker, workerd_binary
from tests.conftest import ACCOUNT, ROOT
from tests.servers import start_serve

POLICY_PATH = "/.well-known/mta-sts.txt"
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")

workerd = pytest.mark.integration


def synthetic() -> Deployment:
    """100 domains sharing one policy, plus each mode, max_age 0, wildcards and a Pages domain."""
    domains: dict[str, dict[str, object]] = {f"d{i:03}.shared.example": {} for i in range(100)}
    domains.update(
        {
            "Mixed.Case.Example": {"mode": "testing", "mx": ["*.mx.mixed.example", "mail.mixed.example"]},
            "zero.example": {"mode": "testing", "maxAge": 0},
            "none.example": {"mode": "none", "mx": []},
            "a.b.deep.example": {"mx": ["mx.deep.example"], "maxAge": 31557600},
            "pages.example": {"hosting": "github-pages"},
        }
    )
    return load_config(
        {
            "mta-sts:cloudflareAccountId": ACCOUNT,
            "github:owner": "example-org",
            "mta-sts:defaults": {"mode": "enforce", "maxAge": 604800, "mx": ["mx1.shared.example"]},
            "mta-sts:domains": domains,
        }
    )


DEV = load_stack(ROOT, "dev")
SYNTHETIC = synthetic()


def split(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def request(
    port: int, method: str, host: str, path: str = POLICY_PATH, conn: http.client.HTTPConnection | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with an explicit Host header; headers come back with lower-case names."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers={"Host": host})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        if own:
            conn.close()


@pytest.fixture(scope="module")
def dev_port() -> Iterator[int]:
    with run_worker(worker_script(DEV.worker_domains)) as base:
        yield split(base)


@pytest.fixture(scope="module")
def synthetic_port() -> Iterator[int]:
    with run_worker(worker_script(SYNTHETIC.worker_domains)) as base:
        yield split(base)


@pytest.fixture(params=["dev", "synthetic"])
def served(request: pytest.FixtureRequest) -> tuple[int, Deployment]:
    """Each served deployment with its port."""
    if request.param == "dev":
        return request.getfixturevalue("dev_port"), DEV
    return request.getfixturevalue("synthetic_port"), SYNTHETIC


def data_of(content: str) -> dict[str, str]:
    """Policy host → policy text, read back from a script the way the policy pack reads it."""
    return served_in_script(content)


def with_data(by_host: dict[str, str]) -> str:
    """The template with hand-made data in its data region."""
    return render(encode_served(by_host))


# --- the script and its data, without workerd ------------------------------------------------


def test_script_name_is_per_stack() -> None:
    """The script is named after the stack, so each stack of an account has its own Worker."""
    assert script_name("dev") == "mta-sts-dev"
    assert script_name("prod") == "mta-sts-prod"


def test_script_is_one_self_contained_module() -> None:
    """The script imports nothing, exports a default handler, reads no env binding and is ASCII."""
    content = worker_script(DEV.worker_domains)
    assert MAIN_MODULE.endswith(".js")
    assert not re.search(r"^\s*import\b|\bimport\s*\(|\brequire\s*\(", content, re.MULTILINE)
    assert "export default" in content
    assert not re.search(r"\benv\b", content)
    assert content.isascii()


def test_template_holds_one_data_region_of_json() -> None:
    """The file in the package has each marker once, in order, around the empty document as JSON."""
    source = TEMPLATE_PATH.read_text(encoding="utf-8")
    assert source.count(DATA_BEGIN) == 1 and source.count(DATA_END) == 1
    assert source.index(DATA_BEGIN) < source.index(DATA_END)
    assert json.loads(extract_data(source)) == {"hosts": {}, "policies": {}}
    assert "STSv1" not in source and "example.com" not in source


def test_only_the_data_region_differs_between_stacks() -> None:
    """Every stack's script is the template outside the region, and the stack's data inside it."""
    head, tail = template().split(extract_data(template()))
    for domains in (DEV.worker_domains, SYNTHETIC.worker_domains, ()):
        content = worker_script(domains)
        assert content == head + "\n" + policy_data(domains) + tail
        assert extract_data(content) == "\n" + policy_data(domains)
    assert worker_script(DEV.worker_domains) != worker_script(SYNTHETIC.worker_domains)


def test_data_carries_each_worker_host_and_its_policy() -> None:
    """The binding data maps every Worker-hosted policy host, lower-case, to its exact policy."""
    data = data_of(worker_script(SYNTHETIC.worker_domains))
    assert data == {d.policy_host.lower(): d.policy_text for d in SYNTHETIC.worker_domains}
    assert "mta-sts.pages.example" not in data
    assert "mta-sts.mixed.case.example" in data


def test_data_is_one_host_a_line_and_one_policy_a_line_sorted() -> None:
    """The data is JSON with each host and each distinct policy on its own line, both sorted."""
    by_host = {d.policy_host.lower(): d.policy_text for d in SYNTHETIC.worker_domains}
    hosts = sorted(by_host)
    texts = sorted(set(by_host.values()), key=policy_id)
    lines = policy_data(SYNTHETIC.worker_domains).splitlines()
    host_lines = lines[1 : 1 + len(hosts)]
    policy_lines = lines[2 + len(hosts) : -1]
    assert [lines[0], lines[1 + len(hosts)], lines[-1]] == ['{"hosts":{', '},"policies":{', "}}"]
    assert [json.loads("{" + line.rstrip(",") + "}") for line in host_lines] == [
        {host: policy_id(by_host[host])} for host in hosts
    ]
    assert [json.loads("{" + line.rstrip(",") + "}") for line in policy_lines] == [
        {policy_id(text): text} for text in texts
    ]
    for group in (host_lines, policy_lines):
        assert all(line.endswith(",") for line in group[:-1]) and not group[-1].endswith(",")
    assert all(line.isascii() for line in lines)


def test_data_is_deterministic_and_order_free() -> None:
    """The same domains give the same bytes, in any order; a changed policy changes them."""
    domains = SYNTHETIC.worker_domains
    data = policy_data(domains)
    assert policy_data(domains) == data
    assert policy_data(reversed(domains)) == data
    shuffled = list(domains)
    random.Random(7).shuffle(shuffled)
    assert policy_data(shuffled) == data
    changed = load_config(
        {
            "cloudflareAccountId": ACCOUNT,
            "domains": {"zero.example": {"mode": "testing", "maxAge": 1, "mx": ["a.b"]}},
        }
    )
    before = load_config(
        {
            "cloudflareAccountId": ACCOUNT,
            "domains": {"zero.example": {"mode": "testing", "maxAge": 0, "mx": ["a.b"]}},
        }
    )
    assert policy_data(changed.domains) != policy_data(before.domains)


def test_identical_policies_are_stored_once() -> None:
    """100 domains sharing one policy keep one copy of its text in the data."""
    shared = [d for d in SYNTHETIC.worker_domains if d.name.endswith(".shared.example")]
    data = policy_data(shared)
    assert data.count("version: STSv1") == 1
    assert data.count("mx1.shared.example") == 1
    assert data.count(policy_id(shared[0].policy_text)) == len(shared) + 1  # each host line, and the key


def long_policy_domains(count: int) -> tuple[Domain, ...]:
    mx = [f"mx{i}.a-rather-long-mail-host-name.example" for i in range(25)]
    return load_config(
        {
            "cloudflareAccountId": ACCOUNT,
            "defaults": {"mx": mx},
            "domains": {f"d{i:05}.example": {} for i in range(count)},
        }
    ).domains


def test_data_grows_with_hosts_not_with_policy_size() -> None:
    """Each further domain sharing a 1 kB policy adds only its host line, under 100 bytes."""
    one, hundred = long_policy_domains(1), long_policy_domains(100)
    growth = (len(policy_data(hundred)) - len(policy_data(one))) / 99
    assert growth < 100, growth


def test_a_one_domain_change_is_a_few_lines() -> None:
    """Changing one domain's policy among 1,000 changes at most eight lines of the data."""
    # Its host line, a line for the new policy, one for the old if no host uses it any more, and
    # the comma of a neighbouring line where a policy is added or removed last.
    domains = list(long_policy_domains(1000))
    before = policy_data(domains).splitlines()
    changed = load_config(
        {"cloudflareAccountId": ACCOUNT, "domains": {domains[500].name: {"mode": "enforce", "mx": ["mx.x"]}}}
    ).domains[0]
    domains[500] = changed
    after = policy_data(domains).splitlines()
    diff = [line for line in difflib.unified_diff(before, after, n=0, lineterm="") if line[:1] in "+-"]
    diff = [line for line in diff if not line.startswith(("+++", "---"))]
    assert 2 <= len(diff) <= 8, diff


def test_decoding_rejects_what_the_worker_cannot_serve() -> None:
    """Data that is not the documented document is an error, not an empty map."""
    bad_values = (
        "",
        "[]",
        "null",
        '{"hosts":{}}',
        '{"hosts":[],"policies":{}}',
        '{"hosts":{"h":"i"},"policies":{}}',
    )
    for bad in bad_values:
        with pytest.raises(ServedDataError):
            decode_served(bad)
    assert decode_served('{"hosts":{"h":"i"},"policies":{"i":"t"}}') == {"h": "t"}


@pytest.mark.parametrize(
    "source",
    [
        "const SERVED = {};",
        f"const A = {DATA_BEGIN} {{}} {DATA_END}; const B = {DATA_BEGIN} {{}} {DATA_END};",
        f"const A = {DATA_END} {{}} {DATA_BEGIN};",
        f"const A = {DATA_BEGIN} {{}};",
    ],
)
def test_a_script_without_exactly_one_data_region_is_an_error(source: str) -> None:
    """No region, two regions, markers out of order or one missing: an error, for reading and writing."""
    with pytest.raises(ServedDataError):
        extract_data(source)
    with pytest.raises(ServedDataError):
        insert_data(source, encode_served({}))


def test_no_text_can_close_the_data_region() -> None:
    """A policy holding the end marker or comment delimiters is escaped: the region reads back whole."""
    texts = {"mta-sts.a.example": f"x {DATA_END} y */ z /* w\r\n", "mta-sts.b.example": "</script>\r\n"}
    data = encode_served(texts)
    assert "*/" not in data and DATA_BEGIN not in data and DATA_END not in data and "</" not in data
    assert data_of(render(data)) == texts
    with pytest.raises(ValueError):
        insert_data(template(), f'{{"hosts":{{}},"policies":{{}}}}{DATA_END}')


def test_proto_is_refused_as_a_host() -> None:
    """``__proto__`` would set the prototype of the object literal, so it is refused as a host key."""
    with pytest.raises(ValueError):
        encode_served({"__proto__": "version: STSv1\r\n"})


@workerd
def test_template_runs_as_is_and_serves_nothing() -> None:
    """The file in the package, its region holding the empty document, loads and answers 404."""
    with run_worker(template()) as base:
        status, _, body = request(split(base), "GET", "mta-sts.example.com")
        assert (status, body) == (404, b"Not Found\n")


@workerd
def test_hostile_data_is_served_verbatim() -> None:
    """In workerd, a policy full of quotes, comment markers and code-like text comes back byte for byte."""
    texts = [
        '"); throw new Error("x"); //\r\n',
        "`${globalThis}`</script>\u2028é\r\n",
        f"*/ }}}}; throw 1; /* {DATA_END} {DATA_BEGIN}\r\n",
    ]
    hosts = ("mta-sts.a.example", "mta-sts.b.example", "mta-sts.constructor")
    with run_worker(with_data(dict(zip(hosts, texts, strict=True)))) as base:
        for host, text in zip(hosts, texts, strict=True):
            status, _, body = request(split(base), "GET", host)
            assert (status, body) == (200, text.encode("utf-8"))


@workerd
@pytest.mark.parametrize(
    "data",
    [
        '{"hosts":{"mta-sts.example.com":1},"policies":{}}',
        '{"hosts":{"mta-sts.example.com":"x"},"policies":{}}',
    ],
)
def test_a_host_naming_no_policy_gets_404_not_a_server_error(data: str) -> None:
    """A host whose policy id is missing from the data is not served: 404, never a 5xx."""
    with run_worker(render(data)) as base:
        for _ in range(2):
            status, _, body = request(split(base), "GET", "mta-sts.example.com")
            assert (status, body) == (404, b"Not Found\n")


def test_policy_data_uses_lower_case_policy_hosts() -> None:
    """Keys are the policy hosts, lower-case, sorted; policies are keyed by their id."""
    data = json.loads(policy_data(SYNTHETIC.worker_domains))
    hosts = list(data["hosts"])
    assert hosts == sorted(hosts)
    assert all(h == h.lower() and h.startswith("mta-sts.") for h in hosts)
    assert all(policy_id(text) == ident for ident, text in data["policies"].items())
    assert sorted(data["policies"].values()) == sorted({d.policy_text for d in SYNTHETIC.worker_domains})


def test_workerd_config_embeds_the_module_and_no_binding() -> None:
    """The workerd config embeds the one module file, the whole script, and declares no binding."""
    text = config_text(MAIN_MODULE)
    assert f'modules = [(name = "{MAIN_MODULE}", esModule = embed "{MAIN_MODULE}")]' in text
    assert f'compatibilityDate = "{COMPATIBILITY_DATE}"' in text
    assert "bindings" not in text
    with pytest.raises(ValueError):
        config_text('x", esModule = "1')


def test_workerd_is_pinned_exactly() -> None:
    """package.json pins workerd to one exact version, the one package-lock.json holds."""
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    version = package["dependencies"]["workerd"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert lock["packages"]["node_modules/workerd"]["version"] == version


@workerd
def test_compatibility_date_is_supported_by_the_pinned_workerd() -> None:
    """The fixed compatibility date is not after the pinned workerd's own date."""
    out = subprocess.run([str(workerd_binary()), "--version"], capture_output=True, text=True, timeout=30)
    match = re.search(r"(\d{4}-\d{2}-\d{2})", out.stdout + out.stderr)
    assert match, out
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", COMPATIBILITY_DATE)
    assert COMPATIBILITY_DATE <= match.group(1)


# --- the Worker in workerd -------------------------------------------------------------------


def expect_policy(status: int, headers: dict[str, str], body: bytes, domain: Domain, method: str) -> None:
    data = domain.policy_text.encode("utf-8")
    assert status == 200
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["content-length"] == str(len(data))
    assert headers["cache-control"] == "max-age=300"
    assert body == (b"" if method == "HEAD" else data)


@workerd
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_every_declared_host_gets_its_exact_policy(served: tuple[int, Deployment], method: str) -> None:
    """GET and HEAD on each Worker-hosted policy host give plan's policy bytes, CRLF and all."""
    port, deployment = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for domain in deployment.worker_domains:
            expect_policy(*request(port, method, domain.policy_host, conn=conn), domain, method)
    finally:
        conn.close()


@workerd
def test_dev_stack_is_served_as_plan_prints_it(dev_port: int) -> None:
    """Each Worker-hosted domain of `plan --stack dev --json` is served with exactly its policy."""
    out = subprocess.run(
        [sys.executable, "-m", "mtasts", "plan", "--stack", "dev", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    plan = json.loads(out.stdout)["domains"]
    worker_hosted = {name: d for name, d in plan.items() if d["hosting"] == "cloudflare-worker"}
    assert sorted(worker_hosted) == sorted(d.name for d in DEV.worker_domains)
    for entry in worker_hosted.values():
        host = entry["policyUrl"].split("/")[2]
        status, _, body = request(dev_port, "GET", host)
        assert (status, body) == (200, entry["policy"].encode())


@workerd
def test_pages_hosted_domains_are_not_served(served: tuple[int, Deployment]) -> None:
    """A domain on GitHub Pages hosting is not in the Worker: its policy host gets 404."""
    port, deployment = served
    assert deployment.pages_domains
    for domain in deployment.pages_domains:
        assert request(port, "GET", domain.policy_host)[0] == 404


UNDECLARED = (
    "example.com",
    "mta-sts.unknown.example",
    "mta-sts.example.com.evil.test",
    "xmta-sts.example.com",
    "mta-sts",
    "constructor",
    "__proto__",
    "hasOwnProperty",
    "toString",
    "127.0.0.1",
    "_mta-sts.example.com",
)


@workerd
@pytest.mark.parametrize("host", UNDECLARED)
def test_undeclared_hosts_get_404(dev_port: int, host: str) -> None:
    """A host that is not a declared policy host, including JavaScript property names, gets 404."""
    status, headers, body = request(dev_port, "GET", host)
    assert status == 404
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert b"STSv1" not in body


OTHER_PATHS = (
    "/",
    "/.well-known/",
    "/.well-known/mta-sts.txt/",
    "/.well-known/MTA-STS.txt",
    "/.well-known/mta-sts.TXT",
    "/.well-known/mta-sts.txt.bak",
    "/.well-known/mta-sts.txt%00",
    "/.well-known/mta%2Dsts.txt",
    "/.well-known/mta-sts",
    "/mta-sts.txt",
    "//.well-known/mta-sts.txt",
    "/.well-known//mta-sts.txt",
    "/.well-known/./mta-sts.txt",
    "/x/../.well-known/mta-sts.txt",
    "/x/%2E%2E/.well-known/mta-sts.txt",
    "/%2e/.well-known/mta-sts.txt",
    "/.well-known/%6Dta-sts.txt",
    "/.well-known\\mta-sts.txt",
    "/.well-known/mta-sts.txt;x",
    "/x/.well-known/mta-sts.txt",
    "/robots.txt",
    "/favicon.ico",
)


@workerd
@pytest.mark.parametrize("path", OTHER_PATHS)
def test_other_paths_get_404(dev_port: int, path: str) -> None:
    """Only the policy path answers, even on a declared host."""
    status, _, body = request(dev_port, "GET", "mta-sts.example.com", path)
    assert status == 404
    assert b"STSv1" not in body


@workerd
@pytest.mark.parametrize("path", [POLICY_PATH + "?nocache=1", POLICY_PATH + "?", POLICY_PATH + "?a/../b"])
def test_query_strings_still_serve(dev_port: int, path: str) -> None:
    """A query string after the exact policy path is ignored (worker.js)."""
    expect_policy(*request(dev_port, "GET", "mta-sts.example.com", path), DEV.domain("example.com"), "GET")


@workerd
@pytest.mark.parametrize("method", [m for m in METHODS if m not in ("GET", "HEAD")])
@pytest.mark.parametrize(
    ("host", "path"),
    [("mta-sts.example.com", POLICY_PATH), ("mta-sts.example.com", "/"), ("unknown.example", POLICY_PATH)],
)
def test_other_methods_get_405_with_allow(dev_port: int, method: str, host: str, path: str) -> None:
    """Any method but GET and HEAD, on any host or path, gets 405 and Allow: GET, HEAD."""
    status, headers, body = request(dev_port, method, host, path)
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert b"STSv1" not in body


@workerd
@pytest.mark.parametrize(
    "host",
    [
        "MTA-STS.EXAMPLE.COM",
        "Mta-Sts.Example.Com",
        "mta-sts.example.com:443",
        "mta-sts.example.com:8787",
        "MTA-sts.example.COM:80",
        "mta-sts.example.com.",
        "MTA-STS.example.com.:443",
        "mta-sts.example.com:",
    ],
)
def test_host_case_port_and_trailing_dot_are_ignored(dev_port: int, host: str) -> None:
    """Host matching ignores case, any port and one trailing dot."""
    for method in ("GET", "HEAD"):
        expect_policy(*request(dev_port, method, host), DEV.domain("example.com"), method)


@workerd
def test_mixed_case_declared_domain_is_served(synthetic_port: int) -> None:
    """A domain declared in mixed case is served under any case of its policy host."""
    domain = SYNTHETIC.domain("mixed.case.example")
    for host in (
        "mta-sts.mixed.case.example",
        "MTA-STS.Mixed.Case.Example",
        "mta-sts.MIXED.case.example:8443",
    ):
        expect_policy(*request(synthetic_port, "GET", host), domain, "GET")


@workerd
def test_odd_requests_never_get_a_redirect_or_server_error(dev_port: int) -> None:
    """Malformed paths, odd hosts and bodies get a 4xx from the Worker, never 3xx or 5xx."""
    cases = [
        ("GET", "mta-sts.example.com", "/%zz"),
        ("GET", "mta-sts.example.com", "/" + "a" * 8000),
        ("GET", "mta-sts.example.com:notaport", POLICY_PATH),
        ("GET", "mta sts.example.com", POLICY_PATH),
        ("GET", "mta-sts.example.com", "*"),
        ("GET", "mta-sts.xn--bcher-kva.example", POLICY_PATH),
        ("GET", "a" * 300 + ".example", POLICY_PATH),
        ("POST", "mta-sts.example.com", "/%"),
        ("OPTIONS", "mta-sts.example.com", "*"),
    ]
    for method, host, path in cases:
        status, headers, _ = request(dev_port, method, host, path)
        assert 400 <= status < 500, (method, host, path, status)
        assert "location" not in headers


def expected_answer(deployment: Deployment, method: str, host: str, path: str) -> tuple[int, bytes | None]:
    """The rules of mtasts/worker/worker.js, written independently: status and body (None: any body)."""
    if method not in ("GET", "HEAD"):
        return 405, None
    name = host.lower()
    name = re.sub(r":[0-9]*\Z", "", name)
    if name.endswith("."):
        name = name[:-1]
    if path.split("?", 1)[0] != POLICY_PATH:
        return 404, None
    for domain in deployment.worker_domains:
        if domain.policy_host == name:
            return 200, b"" if method == "HEAD" else domain.policy_text.encode()
    return 404, None


def random_request(rng: random.Random, deployment: Deployment) -> tuple[str, str, str]:
    declared = [d.policy_host for d in deployment.worker_domains]
    others = [d.policy_host for d in deployment.pages_domains] + [
        "mta-sts.nowhere.example",
        "example.com",
        "constructor",
        "__proto__",
        "mta-sts.example.com.evil.test",
        "127.0.0.1",
        "mta-sts." + rng.choice(declared),
    ]
    host = rng.choice(declared) if rng.random() < 0.7 else rng.choice(others)
    if rng.random() < 0.5:
        host = "".join(c.upper() if rng.random() < 0.5 else c for c in host)
    if rng.random() < 0.15:
        host += "."
    if rng.random() < 0.3:
        host += rng.choice([":443", ":80", ":8787", ":1", ":"])
    path = rng.choice(
        [POLICY_PATH] * 6
        + [
            POLICY_PATH + "?x=" + str(rng.randrange(1000)),
            "/",
            "/.well-known/mta-sts.txt/",
            "/.well-known/MTA-STS.TXT",
            "/mta-sts.txt",
            "/.well-known/mta-sts.json",
            "/index.html",
        ]
    )
    return rng.choice(METHODS), host, path


@workerd
def test_randomized_requests_follow_the_rules(served: tuple[int, Deployment]) -> None:
    """1,200 seeded random requests (hosts, case, ports, paths, methods) each get the rule's answer."""
    port, deployment = served
    rng = random.Random(20240601)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seen: set[int] = set()
    try:
        for _ in range(1200):
            method, host, path = random_request(rng, deployment)
            status, headers, body = request(port, method, host, path, conn=conn)
            want_status, want_body = expected_answer(deployment, method, host, path)
            assert status == want_status, (method, host, path, status)
            if want_body is not None:
                assert body == want_body, (method, host, path)
                assert headers["content-type"] == "text/plain; charset=utf-8"
            elif status == 405:
                assert headers["allow"] == "GET, HEAD"
            else:
                assert b"STSv1" not in body
            assert not 300 <= status < 400 and status < 500
            seen.add(status)
    finally:
        conn.close()
    assert seen == {200, 404, 405}


# --- raw request lines: what HTTP client libraries would normalize away -----------------------


def raw_request(port: int, target: bytes, host: bytes | None, method: bytes = b"GET") -> tuple[int, bytes]:
    """Send one request line and Host header byte for byte; the status and body that come back."""
    head = method + b" " + target + b" HTTP/1.1\r\n"
    if host is not None:
        head += b"Host: " + host + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), answer[:200]
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


POLICY = POLICY_PATH.encode()
HOSTILE = [
    # Paths that URL parsing would turn into the policy path.
    (b"/x/%2E%2E/.well-known/mta-sts.txt", b"mta-sts.example.com", 404),
    (b"/x/%2e%2e/.well-known/mta-sts.txt", b"mta-sts.example.com", 404),
    (b"/x/../.well-known/mta-sts.txt", b"mta-sts.example.com", 404),
    (b"/%2e/.well-known/mta-sts.txt", b"mta-sts.example.com", 404),
    (b"/./.well-known/mta-sts.txt", b"mta-sts.example.com", 404),
    (b"/.well-known/./mta-sts.txt", b"mta-sts.example.com", 404),
    (b"/.well-known/%2E/mta-sts.txt", b"mta-sts.example.com", 404),
    (b"/.well-known%2Fmta-sts.txt", b"mta-sts.example.com", 404),
    (b"/%2Ewell-known/mta-sts.txt", b"mta-sts.example.com", 404),
    (b"/.well-known\\mta-sts.txt", b"mta-sts.example.com", 404),
    (b"/\\.well-known/mta-sts.txt", b"mta-sts.example.com", 404),
    (b"//.well-known/mta-sts.txt", b"mta-sts.example.com", 404),
    (b"//mta-sts.example.com/.well-known/mta-sts.txt", b"mta-sts.example.com", 404),
    (b"*", b"mta-sts.example.com", 404),
    # Hosts that URL parsing would turn into a declared host.
    (POLICY, b"user@mta-sts.example.com", 400),
    (POLICY, b"user:pw@mta-sts.example.com", 400),
    (POLICY, b"@mta-sts.example.com", 400),
    (POLICY, b"mta%2Dsts.example.com", 400),
    (POLICY, b"mta-sts.example%2Ecom", 400),
    (POLICY, b"%6Dta-sts.example.com", 400),
    (POLICY, b"mta-sts.example.com/x", 400),
    (POLICY, b"mta-sts.example.com?", 400),
    (POLICY, b"mta-sts.example.com#", 400),
    (POLICY, b"mta-sts.example.com\\", 400),
    (POLICY, b"mta-sts.example.com..", 400),
    (POLICY, b".mta-sts.example.com", 400),
    (POLICY, b"mta-sts.example.com:443:443", 400),
    (POLICY, b"mta-sts.example.com:https", 400),
    (POLICY, b"mta-sts.example.com, other.example", 400),
    (POLICY, b"[::1]", 400),
    (POLICY, b"[mta-sts.example.com]", 400),
    (POLICY, b"mta-sts.example.com\xe2\x80\x8b", 400),
    (POLICY, b"", 400),
]


@workerd
@pytest.mark.parametrize(
    ("target", "host", "status"), HOSTILE, ids=[repr(t + b" " + h) for t, h, _ in HOSTILE]
)
def test_hostile_request_lines_get_no_policy(dev_port: int, target: bytes, host: bytes, status: int) -> None:
    """Dot segments, percent-encoding, backslashes, userinfo and odd Hosts never reach the policy."""
    got, body = raw_request(dev_port, target, host)
    assert (got, b"STSv1" in body) == (status, False)


@workerd
def test_two_host_headers_get_400(dev_port: int) -> None:
    """Two Host headers (the runtime joins them with a comma) are a malformed Host: 400."""
    with socket.create_connection(("127.0.0.1", dev_port), timeout=10) as sock:
        sock.sendall(
            b"GET " + POLICY + b" HTTP/1.1\r\nHost: mta-sts.example.com\r\nHost: mta-sts.example.com\r\n"
            b"Connection: close\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and b"STSv1" not in answer


@workerd
@pytest.mark.parametrize(
    ("target", "host"),
    [
        (POLICY, b"mta-sts.example.com"),
        (POLICY, b"MTA-STS.Example.COM.:8443"),
        (POLICY + b"?", b"mta-sts.example.com"),
        (POLICY + b"?x=/../%2E%2E", b"mta-sts.example.com:"),
    ],
)
def test_exact_raw_policy_path_serves(dev_port: int, target: bytes, host: bytes) -> None:
    """The exact path, with or without a query, on a declared host (any case, port, one dot): 200."""
    assert raw_request(dev_port, target, host) == (200, DEV.domain("example.com").policy_text.encode())


@workerd
def test_absolute_form_keeps_the_path_and_the_host_header(dev_port: int) -> None:
    """workerd serves an absolute-form target with the URI's path and the Host header's host."""
    # Documented in worker.js: senders never send absolute-form; the answer is the one the Host
    # header and the path together would get, never a policy for a host nobody named.
    policy = DEV.domain("example.com").policy_text.encode()
    absolute = b"http://mta-sts.example.com" + POLICY
    assert raw_request(dev_port, absolute, b"mta-sts.example.com") == (200, policy)
    assert raw_request(dev_port, absolute, b"other.example")[0] == 404
    dotted = b"http://mta-sts.example.com/x/../.well-known/mta-sts.txt"
    assert raw_request(dev_port, dotted, b"mta-sts.example.com")[0] == 404


@workerd
@pytest.mark.parametrize(
    ("method", "target", "host", "status"),
    [
        (b"GET", POLICY, None, 400),
        (b"GET", b"\\.well-known\\mta-sts.txt", b"mta-sts.example.com", 400),
        (b"GET", b".well-known/mta-sts.txt", b"mta-sts.example.com", 400),
        (b"get", POLICY, b"mta-sts.example.com", 501),
        (b"FOO", POLICY, b"mta-sts.example.com", 501),
        (b"CONNECT", b"mta-sts.example.com:443", b"mta-sts.example.com", 500),
    ],
)
def test_the_runtime_answers_some_requests_itself(
    dev_port: int, method: bytes, target: bytes, host: bytes | None, status: int
) -> None:
    """What workerd answers before the script runs, as worker.js and the README document it."""
    got, body = raw_request(dev_port, target, host, method)
    assert (got, b"STSv1" in body) == (status, False)


DECLARED = tuple(d.policy_host for d in DEV.worker_domains)
PATH_PIECES = (
    POLICY_PATH,
    "/",
    ".well-known",
    "mta-sts.txt",
    ".",
    "..",
    "%2E",
    "%2e",
    "%2E%2E",
    "%2F",
    "%2f",
    "\\",
    "?",
    "x",
    "%",
    "%00",
    "//",
    ";",
    "@",
    ":",
    "~",
    "MTA-STS.TXT",
    "%6D",
)
PATH_CHARS = "abcxyzAZ09-._~!$&'()*+,;=:@/%?\\"


def paths() -> st.SearchStrategy[str]:
    """Origin-form request-targets: pieces of the policy path and odd characters, glued together."""
    glued = st.lists(st.sampled_from(PATH_PIECES) | st.text(PATH_CHARS, max_size=4), max_size=6).map("".join)
    return st.one_of(
        st.just(POLICY_PATH),
        st.builds(lambda q: POLICY_PATH + "?" + q, st.text(PATH_CHARS, max_size=8)),
        st.builds(lambda a, b: a + POLICY_PATH + b, glued, glued),
        glued.map(lambda p: "/" + p),
    )


def hosts() -> st.SearchStrategy[str]:
    """Host values: declared hosts in any case, with ports, dots and hostile decorations."""
    cased = st.builds(
        lambda host, flips: "".join(
            c.upper() if f else c for c, f in zip(host, flips + [False] * 99, strict=False)
        ),
        st.sampled_from(DECLARED + ("mta-sts.unknown.example", "mta-sts.pages.example", "constructor")),
        st.lists(st.booleans(), max_size=40),
    )
    decorated = st.builds(
        lambda prefix, host, dot, port: prefix + host + dot + port,
        st.sampled_from(["", "", "", "user@", "@", "%6D", "."]),
        cased,
        st.sampled_from(["", "", ".", "..", "%2E"]),
        st.sampled_from(["", "", ":443", ":8787", ":", ":x", "::1", "/"]),
    )
    printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30)
    return decorated | printable


def served_policy(host: str, target: str) -> bytes | None:
    """The rule, written independently of worker.js: the policy iff the raw path and host qualify."""
    if target.split("?", 1)[0] != POLICY_PATH:
        return None
    match = re.fullmatch(r"(?i)(.+?)\.?(?::[0-9]*)?", host)
    name = match.group(1).lower() if match else ""
    for domain in DEV.worker_domains:
        if domain.policy_host == name:
            return domain.policy_text.encode()
    return None


@workerd
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=paths(), host=hosts(), method=st.sampled_from([b"GET", b"HEAD"]))
def test_policy_is_served_iff_raw_path_and_host_qualify(
    dev_port: int, target: str, host: str, method: bytes
) -> None:
    """Over generated paths and Hosts: the policy iff path and host qualify, else 400/404, never 3xx/5xx."""
    want = served_policy(host, target)
    if method == b"HEAD":
        status, body = raw_request_head(dev_port, target.encode(), host.encode())
    else:
        status, body = raw_request(dev_port, target.encode(), host.encode())
    if want is not None:
        assert (status, body) == (200, want if method == b"GET" else b""), (target, host)
    else:
        assert status in (400, 404), (target, host, status)
        assert b"STSv1" not in body


def raw_request_head(port: int, target: bytes, host: bytes) -> tuple[int, bytes]:
    """``raw_request`` for HEAD: the status line and no body."""
    return raw_request(port, target, host, b"HEAD")


@workerd
def test_run_worker_honours_a_fixed_port_and_stops() -> None:
    """run_worker listens on the port asked for and frees it when the block ends."""
    port = free_port()
    with run_worker(worker_script(DEV.worker_domains), port) as base:
        assert base == f"http://127.0.0.1:{port}"
        assert request(port, "GET", "mta-sts.example.com")[0] == 200
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# --- python -m mtasts serve ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@workerd
@pytest.mark.timeout(60)
def test_serve_runs_the_stack_worker_until_terminated() -> None:
    """`mtasts serve --stack dev --port N` answers with the dev policies and stops cleanly on SIGTERM."""
    port = free_port()
    # serve prints its banner once the runtime answers; its last line says how to stop.
    process, out = start_serve(
        [sys.executable, "-m", "mtasts", "serve", "--stack", "dev", "--port", str(port)], cwd=ROOT
    )
    try:
        status, _, body = request(port, "GET", "mta-sts.example.com")
        assert (status, body) == (200, DEV.domain("example.com").policy_text.encode())
    finally:
        process.terminate()
        rest, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert rest == ""
    assert "curl -H 'Host: mta-sts." in out and f"http://127.0.0.1:{port}{POLICY_PATH}" in out
    for domain in DEV.worker_domains:
        assert domain.policy_host in out
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_serve_without_workerd_says_run_npm_ci() -> None:
    """With no workerd binary, serve prints one line naming `npm ci` and exits 2."""
    env = {**os.environ, "WORKERD": str(ROOT / "no-such-workerd")}
    result = subprocess.run(
        [sys.executable, "-m", "mtasts", "serve", "--stack", "dev", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "npm ci" in lines[0]


def test_serve_with_a_bad_stack_fails_with_the_config_error() -> None:
    """serve loads the stack with the one loader: a missing stack file is a one-line error, exit 2."""
    result = subprocess.run(
        [sys.executable, "-m", "mtasts", "serve", "--stack", "no-such-stack"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: Pulumi.no-such-stack.yaml: no such stack file"
