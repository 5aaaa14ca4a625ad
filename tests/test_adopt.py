"""``mtasts adopt`` against a lab of hand-made deployments (Knot DNS, trustme HTTPS, a fake
Cloudflare API), shaped like the seed templates: a Worker with a route ``mta-sts.<d>/*`` to its
own script and an old timestamp id, a policy served by another server, a second ``v=STSv1``
record, a domain no server answers for (REFUSED), an unresolvable policy host.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mtasts.commands import cli
from mtasts.model.config import load_config, load_stack
from mtasts.model.imports import DNS_RECORD, DOMAIN_RECORDS, WORKER_HOSTING, WORKERS_ROUTE
from tests.conftest import ACCOUNT, ROOT
from tests.fake_cloudflare import FakeCloudflare
from tests.servers import HttpsServer, KnotDns, Pki, Route, free_port, zone_text

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ZONE = "adopt.test"
OTHER = "127.0.0.3"
"""A second HTTPS server: the policy of `elsewhere` is served by another host than the rest."""
TOKEN = "adopt-test-token"


def fq(label: str) -> str:
    return f"{label}.{ZONE}"


def policy_text(mode: str, mx: list[str], max_age: int) -> bytes:
    """A hand-written policy, LF line ends as people write them (written here, not by the model)."""
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {m}" for m in mx), f"max_age: {max_age}"]
    return ("\n".join(lines) + "\n").encode()


# label → (mode, mx, max_age) of the live hand-made policy
LIVE = {
    "worker": ("enforce", ["mail.adopt.test", "backup.adopt.test"], 86400),
    "elsewhere": ("testing", ["*.mx.adopt.test"], 1209600),
    "twice": ("enforce", ["mail.adopt.test"], 604800),
}
STACK = {
    "config": {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:defaults": {
            "mode": "testing",
            "mx": ["mail.adopt.test"],
            "tlsrpt": ["mailto:tls@adopt.test"],
        },
        "mta-sts:domains": {fq("worker"): {}, fq("elsewhere"): {"maxAge": 604800}},
    }
}


@dataclass
class Lab:
    knot: KnotDns
    https: HttpsServer
    pki: Pki
    project: Path
    api: FakeCloudflare
    ids: dict[str, str]
    """What the fake API holds, by role: record and route ids as it lists them."""

    def argv(self, *extra: str) -> list[str]:
        return [
            "--project-dir", str(self.project), "adopt", "--stack", "lab", *extra,
            "--nameserver", self.knot.address, "--ca-bundle", str(self.pki.ca_file),
            "--https-port", str(self.https.port), "--timeout", "2",
        ]  # fmt: skip


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("adopt-lab")
    project = tmp / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "Pulumi.lab.yaml").write_text(yaml.safe_dump(STACK), encoding="utf-8")
    pki = Pki(tmp)
    records = [
        ("_mta-sts.worker", "TXT", '"v=STSv1; id=20190429T010101;"'),
        ("_smtp._tls.worker", "TXT", '"v=TLSRPTv1; rua=mailto:tls@adopt.test,mailto:old@adopt.test"'),
        ("mta-sts.worker", "A", "127.0.0.1"),
        ("_mta-sts.elsewhere", "TXT", '"v=STSv1; id=2020"'),
        ("mta-sts.elsewhere", "A", OTHER),
        ("_mta-sts.twice", "TXT", '"v=STSv1; id=first1"'),
        ("_mta-sts.twice", "TXT", '"v=STSv1; id=second2"'),
        ("mta-sts.twice", "A", "127.0.0.1"),
        ("_mta-sts.nohost", "TXT", '"v=STSv1; id=nohost1"'),
    ]
    contexts = {f"mta-sts.{fq(label)}": pki.context(f"mta-sts.{fq(label)}") for label in LIVE}
    routes = {f"mta-sts.{fq(label)}": Route(body=policy_text(*LIVE[label])) for label in LIVE}
    port = free_port("127.0.0.1", [OTHER])
    https = HttpsServer(contexts, pki.context("default.invalid"), routes, port=port)
    other = HttpsServer(dict(contexts), pki.context("default.invalid"), routes, OTHER, port)
    knot = KnotDns({ZONE: zone_text(ZONE, records)})
    api = FakeCloudflare(TOKEN)
    zone = api.zone(ZONE)
    ids = {
        "sts": zone.record("_mta-sts.worker.adopt.test", "TXT", '"v=STSv1; id=20190429T010101;"')["id"],
        "tlsrpt": zone.record(
            "_smtp._tls.worker.adopt.test",
            "TXT",
            '"v=TLSRPTv1; rua=mailto:tls@adopt.test,mailto:old@adopt.test"',
        )["id"],
        "host": zone.record("mta-sts.worker.adopt.test", "A", "192.0.2.1", proxied=True)["id"],
        "route": zone.route("mta-sts.worker.adopt.test/*", "mta-sts")["id"],
        "twice-1": zone.record("_mta-sts.twice.adopt.test", "TXT", '"v=STSv1; id=first1"')["id"],
        "twice-2": zone.record("_mta-sts.twice.adopt.test", "TXT", '"v=STSv1; id=second2"')["id"],
        "zone": zone.id,
    }
    zone.record("_mta-sts.worker.adopt.test", "TXT", '"google-site-verification=abc"')
    with knot, https, other, api:
        yield Lab(knot, https, pki, project, api, ids)


def run(lab: Lab, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    """adopt's exit status, stdout, and stderr with runs of white space made one space."""
    status = cli.main(lab.argv(*extra))
    out = capsys.readouterr()
    return status, out.out, " ".join(out.err.split())


def pasted(project: Path, entries: str) -> dict[str, object]:
    """The stack file with adopt's stdout pasted under `mta-sts:domains:` (replacing it)."""
    text = "config:\n"
    text += f"  mta-sts:cloudflareAccountId: '{ACCOUNT}'\n"
    text += "  mta-sts:defaults: {mode: testing, mx: [mail.adopt.test], tlsrpt: ['mailto:tls@adopt.test']}\n"
    text += "  mta-sts:domains:\n" + entries
    return yaml.safe_load(text)  # type: ignore[no-any-return]


def test_entries_reproduce_each_live_policy(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """Pasted under mta-sts:domains:, the entries give each domain the live mode, MX patterns and max_age."""
    status, out, _ = run(lab, capsys, *(fq(label) for label in LIVE))
    assert status == 0
    deployment = load_config(pasted(lab.project, out)["config"])  # type: ignore[index]
    for label, (mode, mx, max_age) in LIVE.items():
        domain = deployment.domain(fq(label))
        assert (domain.mode, list(domain.mx), domain.max_age) == (mode, mx, max_age), label


def test_the_diff_names_what_senders_would_see(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """Live vs the stack: downgrade, dropped MX, max_age both ways, dropped TLS-RPT URI, the id."""
    _, _, err = run(lab, capsys, fq("worker"), fq("elsewhere"))
    worker = err.split(f"{fq('elsewhere')}:")[0]
    assert "warning adopt-mode mode enforce → testing (a downgrade" in worker
    assert "warning adopt-mx mx backup.adopt.test dropped" in worker
    assert "info adopt-max-age max_age 86400 → 604800" in worker
    assert "warning adopt-tlsrpt TLS-RPT mailto:old@adopt.test dropped" in err
    assert "id 20190429T010101 → " in worker
    elsewhere = err.split(f"{fq('elsewhere')}:")[1]
    assert "warning adopt-max-age max_age 1209600 → 604800 (shorter" in elsewhere
    assert "adopt-mode" not in elsewhere


def test_two_live_records_are_named_with_both_ids(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """A second v=STSv1 record: both ids, and "senders see no policy"."""
    _, _, err = run(lab, capsys, fq("twice"))
    assert "2 v=STSv1 records live (ids first1, second2): senders see no policy" in err


def test_an_unresolvable_policy_host_is_not_compared(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """No policy host: the entry keeps the stack's values and says why; the diff says "not compared"."""
    status, out, err = run(lab, capsys, fq("nohost"))
    assert status == 0
    assert f"# no live policy to reproduce (mta-sts.{fq('nohost')} does not resolve: NXDOMAIN)" in out
    assert "adopt-policy not compared: mta-sts.nohost.adopt.test does not resolve: NXDOMAIN" in err


def test_a_refused_lookup_is_not_absent(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """A zone the nameserver refuses: every record is "not compared" with the reason, and exit 1."""
    status, _, err = run(lab, capsys, "refused.elsewhere.example")
    assert status == 1
    assert (
        "_mta-sts not compared: _mta-sts.refused.elsewhere.example TXT: the DNS server answered REFUSED"
        in err
    )
    assert "_smtp._tls not compared:" in err and "absent" not in err
    assert "not everything could be read: refused.elsewhere.example" in err


def test_import_file_names_the_live_ids_under_the_programs_names(
    lab: Lab, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Records and route by <zone_id>/<id>, under DomainRecords <d> and WorkerHosting, made as components."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", lab.api.base_url)
    path = tmp_path / "adopt.json"
    status, out, err = run(lab, capsys, fq("worker"), "--import-file", str(path))
    assert status == 0, err
    document = json.loads(path.read_text())
    zone, d = lab.ids["zone"], fq("worker")
    expected = [
        {"type": DOMAIN_RECORDS, "name": d, "component": True},
        {"type": WORKER_HOSTING, "name": "cloudflare-worker", "component": True},
        {"type": DNS_RECORD, "name": f"{d}-sts", "id": f"{zone}/{lab.ids['sts']}", "parent": d},
        {"type": DNS_RECORD, "name": f"{d}-tlsrpt", "id": f"{zone}/{lab.ids['tlsrpt']}", "parent": d},
        {"type": DNS_RECORD, "name": f"{d}-policy-host", "id": f"{zone}/{lab.ids['host']}", "parent": d},
        {
            "type": WORKERS_ROUTE,
            "name": f"cloudflare-worker-{d}-route",
            "id": f"{zone}/{lab.ids['route']}",
            "parent": "cloudflare-worker",
        },
    ]
    got = [{k: v for k, v in r.items() if k != "version"} for r in document["resources"]]
    assert sorted(got, key=str) == sorted(expected, key=str)
    assert "nameTable" not in document
    assert f"zoneId: {zone}" in out
    assert (
        f"route mta-sts.{d}/* ({lab.ids['route']}) runs mta-sts: `pulumi up` points it at mta-sts-lab" in out
    )
    assert f"pulumi import --file {path} --protect=false --generate-code=false --stack lab" in err


def test_import_file_refers_to_parents_already_in_state(
    lab: Lab, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With `pulumi stack export` output, a parent in state is a nameTable URN, not a new component."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", lab.api.base_url)
    hosting = "urn:pulumi:lab::mta-sts::mta-sts:index:WorkerHosting::cloudflare-worker"
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"version": 3, "deployment": {"resources": [{"urn": hosting}]}}))
    path = tmp_path / "adopt.json"
    status, _, _ = run(lab, capsys, fq("worker"), "--import-file", str(path), "--state", str(state))
    assert status == 0
    document = json.loads(path.read_text())
    assert document["nameTable"] == {"cloudflare-worker": hosting}
    assert [r["name"] for r in document["resources"] if r.get("component")] == [fq("worker")]


def test_two_api_records_import_one_and_name_the_other(
    lab: Lab, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two v=STSv1 records in the zone: the first is imported, the second named for deletion by its id."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", lab.api.base_url)
    path = tmp_path / "adopt.json"
    _, out, _ = run(lab, capsys, fq("twice"), "--import-file", str(path))
    ids = [
        r["id"] for r in json.loads(path.read_text())["resources"] if r.get("name") == f"{fq('twice')}-sts"
    ]
    assert ids == [f"{lab.ids['zone']}/{lab.ids['twice-1']}"]
    assert f"record {lab.ids['twice-2']}" in out and "delete it by hand before `pulumi up`" in out


def test_import_file_without_a_token_is_a_usage_error(
    lab: Lab, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No CLOUDFLARE_API_TOKEN: one error line, exit 2, no file written."""
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    path = tmp_path / "adopt.json"
    status, out, err = run(lab, capsys, fq("worker"), "--import-file", str(path))
    assert status == 2 and out == "" and not path.exists()
    assert err.startswith("error: --import-file: no API token: set CLOUDFLARE_API_TOKEN")


def test_a_failing_api_is_named_and_fails(
    lab: Lab, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An API error is an error finding for the domain and exit 1, never an empty import."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", lab.api.base_url)
    lab.api.fail["/zones/"] = 500
    try:
        status, _, err = run(lab, capsys, fq("worker"), "--import-file", str(tmp_path / "a.json"))
    finally:
        lab.api.fail.clear()
    assert status == 1
    assert (
        "error adopt-import not imported: Cloudflare API list DNS records: HTTP 500: 10000: Internal error"
        in err
    )


def test_stack_domains_are_the_default(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """Without DOMAIN, every domain of the stack, in its order."""
    _, out, _ = run(lab, capsys)
    names = list(pasted(lab.project, out)["config"]["mta-sts:domains"])  # type: ignore[index]
    assert names == sorted(d.name for d in load_stack(lab.project, "lab").domains)
