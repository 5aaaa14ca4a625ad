"""``mtasts zones --stack S [--write]`` against the fake Cloudflare API: the ``mta-sts:zoneIds``
block, the stack file edited in place (every other byte kept), the calls it spends, and what it
refuses (a recorded id that differs, a zone the account lacks, no token, an API that fails)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtasts.commands import cli
from mtasts.model.budget import budget
from mtasts.model.config import load_stack
from mtasts.model.stackedit import set_config_mapping
from tests.conftest import ACCOUNT, ROOT
from tests.fake_cloudflare import FakeCloudflare
from tests.servers import free_port

TOKEN = "zones-test-token"
OTHER_ACCOUNT = "fedcba9876543210fedcba9876543210"

# The dev stack (Pulumi.dev.yaml) needs these zones looked up, worked out by hand: example.com
# (and dev.example.com in it), enforce.example.net, retired.example.net (Worker-hosted),
# example.net (Pages, dns: cloudflare; also the receiver's zone, tlsrpt.example.net);
# example.org gives its own zoneId, external.example.org has dns: external.
DEV_IDS = {
    "enforce.example.net": "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
    "example.com": "11111111111111111111111111111111",  # all digits: must stay a string
    "example.net": "abcdefabcdefabcdefabcdefabcdef01",
    "retired.example.net": "023e105f4ecef8ad9ca31a8372d0c353",
}
DEV_BLOCK = (
    "  mta-sts:zoneIds:\n"
    '    enforce.example.net: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"\n'
    '    example.com: "11111111111111111111111111111111"\n'
    '    example.net: "abcdefabcdefabcdefabcdefabcdef01"\n'
    '    retired.example.net: "023e105f4ecef8ad9ca31a8372d0c353"\n'
)

# A hand-formatted stack: comments, quoting of every kind, flow and block collections, a zone
# id recorded by hand in flow style between other keys.
HAND = [
    "# hand-written; keep my comments\n",
    "config:\n",
    "  github:owner: example-org   # Pages repositories\n",
    '  mta-sts:cloudflareAccountId: "0123456789abcdef0123456789abcdef"\n',
    '  mta-sts:zoneIds: {a.example: "11111111111111111111111111111111"}   # by hand\n',
    "  mta-sts:defaults:\n",
    "    mode: 'testing'\n",
    "    mx: [mx.mail.example]\n",
    '    tlsrpt: ["mailto:tls@reports.example"]\n',
    "  mta-sts:domains:\n",
    "    a.example: {}\n",
    "    b.example: {mode: enforce}   # enforce\n",
    "    sub.c.example:\n",
    "      zone: c.example\n",
    "    # d.example: {}   (next month)\n",
    "# the end\n",
]
HAND_IDS = {
    "a.example": "11111111111111111111111111111111",
    "b.example": "abcdefabcdefabcdefabcdefabcdef01",
    "c.example": "023e105f4ecef8ad9ca31a8372d0c353",
}
HAND_BLOCK = [
    "  mta-sts:zoneIds:\n",
    '    a.example: "11111111111111111111111111111111"\n',
    '    b.example: "abcdefabcdefabcdefabcdefabcdef01"\n',
    '    c.example: "023e105f4ecef8ad9ca31a8372d0c353"\n',
]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloudflare]:
    with FakeCloudflare(TOKEN) as fake:
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", fake.base_url)
        yield fake


def project(tmp_path: Path, stack: str = "dev", text: str | None = None) -> Path:
    """A project directory with the repository's Pulumi.yaml and a stack file."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    if text is None:
        shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    else:
        (tmp_path / f"Pulumi.{stack}.yaml").write_bytes(text.encode())
    return tmp_path


def zones(
    capsys: pytest.CaptureFixture[str], where: Path, *extra: str, stack: str = "dev"
) -> tuple[int, str, str]:
    status = cli.main(["--project-dir", str(where), "zones", "--stack", stack, *extra])
    out = capsys.readouterr()
    return status, out.out, out.err


def holds(fake: FakeCloudflare, ids: dict[str, str], account: str = ACCOUNT) -> None:
    for name, zone_id in ids.items():
        fake.zone(name, zone_id, account)


def snapshot(path: Path) -> tuple[bytes, int, int]:
    """The file's bytes, inode and modification time: a rename or a rewrite changes one."""
    info = path.stat()
    return path.read_bytes(), info.st_ino, info.st_mtime_ns


def test_prints_the_block_of_every_zone_the_program_looks_up(
    api: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """stdout is the sorted, quoted block to paste under config:; stderr one summary line."""
    holds(api, DEV_IDS)
    holds(api, {"example.org": "99999999999999999999999999999999"})  # its id is in the stack
    where = project(tmp_path)
    before = snapshot(where / "Pulumi.dev.yaml")
    status, out, err = zones(capsys, where)
    assert status == 0, err
    assert out == DEV_BLOCK
    assert yaml.safe_load(out) == {"mta-sts:zoneIds": DEV_IDS}
    assert err.splitlines() == [
        "4 zone(s) to record, 4 found, 0 already recorded; "
        "1 Cloudflare API call(s): 1 page(s) of the account's zones"
    ]
    assert snapshot(where / "Pulumi.dev.yaml") == before


@pytest.mark.parametrize(
    "lines, expected",
    [
        pytest.param(HAND, [*HAND[:4], *HAND_BLOCK, *HAND[5:]], id="replaces-a-flow-mapping"),
        pytest.param(
            [line for line in HAND if "zoneIds" not in line],
            [*HAND[:4], *HAND[5:14], *HAND_BLOCK, *HAND[14:]],
            id="adds-after-the-last-key",
        ),
        pytest.param(
            [line.replace("\n", "\r\n") for line in HAND[:14] if "zoneIds" not in line],
            [line.replace("\n", "\r\n") for line in [*HAND[:4], *HAND[5:14], *HAND_BLOCK]],
            id="crlf",
        ),
        pytest.param(
            [line for line in HAND[:14] if "zoneIds" not in line][:-1] + ["      zone: c.example"],
            [*HAND[:4], *HAND[5:14], *HAND_BLOCK],
            id="no-final-line-break",
        ),
    ],
)
def test_write_changes_only_the_zone_ids_lines(
    api: FakeCloudflare,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lines: list[str],
    expected: list[str],
) -> None:
    """--write puts the block in place of the old one (or after config's last key); every
    other byte is the file's own, and the file loads with the same domains."""
    holds(api, HAND_IDS)
    where = project(tmp_path, "hand", "".join(lines))
    domains = [d.name for d in load_stack(where, "hand").domains]
    status, out, err = zones(capsys, where, "--write", stack="hand")
    assert status == 0, err
    assert out == ""
    assert err.splitlines()[-1] == "wrote mta-sts:zoneIds (3 zone(s)) to Pulumi.hand.yaml"
    assert (where / "Pulumi.hand.yaml").read_bytes() == "".join(expected).encode()
    written = load_stack(where, "hand")
    assert [d.name for d in written.domains] == domains
    assert {d.name: d.zone_id for d in written.domains} == {
        "a.example": HAND_IDS["a.example"],
        "b.example": HAND_IDS["b.example"],
        "sub.c.example": HAND_IDS["c.example"],
    }
    assert [p.name for p in where.iterdir() if p.name.endswith(".tmp")] == []


def test_a_second_run_finds_nothing_to_do(
    api: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once written, --write again checks the ids and leaves the file alone (same inode, bytes, time)."""
    holds(api, DEV_IDS)
    where = project(tmp_path)
    assert zones(capsys, where, "--write")[0] == 0
    first = snapshot(where / "Pulumi.dev.yaml")
    status, out, err = zones(capsys, where, "--write")
    assert status == 0, err
    assert err.splitlines() == [
        "4 zone(s) to record, 4 found, 4 already recorded; "
        "1 Cloudflare API call(s): 1 page(s) of the account's zones",
        "Pulumi.dev.yaml: mta-sts:zoneIds already holds these 4 zone(s); not written",
    ]
    assert snapshot(where / "Pulumi.dev.yaml") == first
    assert budget(load_stack(where, "dev"), "dev").lookups == 0


def test_a_recorded_id_that_differs_is_an_error_naming_both(
    api: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recorded id Cloudflare does not have for that zone: exit 1, both ids named, nothing written."""
    holds(api, HAND_IDS)
    text = "".join(HAND).replace("11111111111111111111111111111111", "22222222222222222222222222222222")
    where = project(tmp_path, "hand", text)
    for extra in ((), ("--write",)):
        status, out, err = zones(capsys, where, *extra, stack="hand")
        assert status == 1
        assert out == ""
        assert err.splitlines()[1:] == [
            "error: zoneIds.a.example: recorded 22222222222222222222222222222222 but Cloudflare's "
            "zone a.example is 11111111111111111111111111111111; remove the entry and run "
            "mtasts zones --write again"
        ]
    assert (where / "Pulumi.hand.yaml").read_bytes() == text.encode()


def test_a_zone_the_account_does_not_have_is_an_error(
    api: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A zone missing from the account (here: in another one) is named, after asking for it by name."""
    holds(api, {k: v for k, v in HAND_IDS.items() if k != "b.example"})
    holds(api, {"b.example": HAND_IDS["b.example"]}, OTHER_ACCOUNT)
    where = project(tmp_path, "hand", "".join(HAND))
    status, out, err = zones(capsys, where, "--write", stack="hand")
    assert status == 1
    assert out == ""
    assert err.splitlines()[1:] == [
        f"error: zoneIds.b.example: no zone b.example in account {ACCOUNT}, or the token cannot see it "
        "(the program's lookup would fail too)"
    ]
    assert {"name": "b.example", "per_page": "50", "account.id": ACCOUNT} in api.queries
    assert (where / "Pulumi.hand.yaml").read_bytes() == "".join(HAND).encode()


def test_recorded_zones_no_longer_used_are_left_out(
    api: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An entry for a zone no domain uses any more is not carried over, and the summary names it."""
    holds(api, HAND_IDS)
    stale = '"11111111111111111111111111111111", old.example: "44444444444444444444444444444444"}'
    text = "".join(HAND).replace('"11111111111111111111111111111111"}', stale)
    assert text != "".join(HAND)
    where = project(tmp_path, "hand", text)
    status, _, err = zones(capsys, where, "--write", stack="hand")
    assert status == 0, err
    assert err.splitlines()[0].endswith("; 1 recorded zone(s) no longer used, left out: old.example")
    assert (where / "Pulumi.hand.yaml").read_bytes() == "".join([*HAND[:4], *HAND_BLOCK, *HAND[5:]]).encode()


def test_a_stack_that_looks_no_zone_up_needs_no_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only dns: external Pages domains: an empty block, no call, no token wanted."""
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    text = (
        "config:\n  github:owner: example-org\n  mta-sts:defaults: {mx: [mx.mail.example]}\n"
        "  mta-sts:domains:\n    a.example: {hosting: github-pages, dns: external}\n"
    )
    where = project(tmp_path, "pages", text)
    status, out, err = zones(capsys, where, "--write", stack="pages")
    assert (status, out) == (0, "")
    assert err.splitlines() == [
        "0 zone(s) to record, 0 found, 0 already recorded; no Cloudflare API call",
        "Pulumi.pages.yaml: mta-sts:zoneIds already holds these 0 zone(s); not written",
    ]
    assert zones(capsys, where, stack="pages")[1] == "  mta-sts:zoneIds: {}\n"
    assert (where / "Pulumi.pages.yaml").read_bytes() == text.encode()


def test_no_token_is_a_usage_error_before_any_call(
    api: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without CLOUDFLARE_API_TOKEN: one line naming it, exit 2, no request, nothing written."""
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    where = project(tmp_path)
    before = snapshot(where / "Pulumi.dev.yaml")
    status, out, err = zones(capsys, where, "--write")
    assert status == 2
    assert (out, len(err.splitlines())) == ("", 1)
    assert err.startswith("error: CLOUDFLARE_API_TOKEN: is not set")
    assert api.requests == []
    assert snapshot(where / "Pulumi.dev.yaml") == before


def many(count: int, prefix: str = "z") -> dict[str, str]:
    """``count`` zones with made-up ids (``prefix`` keeps two sets apart)."""
    fill = "a" if prefix == "z" else "b"
    return {f"{prefix}{i:04}.example": f"{i:08x}".rjust(32, fill) for i in range(count)}


def fleet_stack(names: list[str]) -> str:
    config = {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:defaults": {"mode": "testing", "mx": ["mx.mail.example"]},
        "mta-sts:domains": {name: {} for name in names},
    }
    return yaml.safe_dump({"config": config})


@pytest.mark.parametrize(
    "fail, allow, call",
    [
        ({"/zones": 500}, None, "list zones (page 1): HTTP 500: 10000: Internal error"),
        ({"/zones": 200}, None, "list zones (page 1): HTTP 200: 10000: Internal error"),  # success: false
        ({}, 1, "list zones (page 2): HTTP 429: 10000: Rate limited"),
    ],
    ids=["http-500", "success-false", "rate-limited-mid-listing"],
)
def test_an_api_failure_names_the_call_and_writes_nothing(
    api: FakeCloudflare,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fail: dict[str, int],
    allow: int | None,
    call: str,
) -> None:
    """A failed call is one line naming it, exit 1: never "not found", never a partial write."""
    ids = many(120)
    holds(api, ids)
    api.fail, api.allow = fail, allow
    where = project(tmp_path, "fleet", fleet_stack(sorted(ids)))
    before = snapshot(where / "Pulumi.fleet.yaml")
    status, out, err = zones(capsys, where, "--write", stack="fleet")
    assert status == 1
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: Cloudflare API {call}")
    assert "no zone" not in err
    assert snapshot(where / "Pulumi.fleet.yaml") == before


def test_an_api_that_does_not_answer_is_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listening at CLOUDFLARE_BASE_URL: the call is named, exit 1, nothing written."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", f"http://127.0.0.1:{free_port()}/client/v4")
    where = project(tmp_path)
    before = snapshot(where / "Pulumi.dev.yaml")
    status, out, err = zones(capsys, where, "--write")
    assert (status, out, len(err.splitlines())) == (1, "", 1)
    assert err.startswith("error: Cloudflare API list zones (page 1): no answer from http://127.0.0.1:")
    assert snapshot(where / "Pulumi.dev.yaml") == before


SPREAD = [f"z{i:04}.example" for i in (*range(10), *range(145, 150))] + ["y0000.example"]
"""16 zones over pages 1, 3 and 4 of a 153-zone account."""


@pytest.mark.parametrize(
    "account, wanted, calls, paged, named",
    [
        # 303 zones in the account (7 pages), 3 wanted, none on page 1: page 1, then 3 by name.
        (300, ["y0000.example", "y0001.example", "y0002.example"], 4, 1, 3),
        # 153 zones (4 pages), 16 wanted, 10 on page 1: the other 3 pages cost less than 6 names.
        (150, SPREAD, 4, 4, 0),
        # 60 wanted, all on pages 1 and 2 of 4: the listing stops once every zone is found.
        (150, [f"z{i:04}.example" for i in range(60)], 2, 2, 0),
        # one zone: asked by name, once.
        (300, ["y0001.example"], 1, 0, 1),
    ],
    ids=["by-name", "listing", "listing-stops-early", "one-zone"],
)
def test_the_cheaper_way_and_the_calls_it_spent(
    api: FakeCloudflare,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    account: int,
    wanted: list[str],
    calls: int,
    paged: int,
    named: int,
) -> None:
    """By name or by listing 50 a page, whichever costs fewer requests; the summary says how many."""
    listed = many(account)
    extra = many(3, "y")  # made after the others: not on the first pages
    holds(api, listed)
    holds(api, extra)
    where = project(tmp_path, "fleet", fleet_stack(wanted))
    status, out, err = zones(capsys, where, stack="fleet")
    assert status == 0, err
    assert yaml.safe_load(out)["mta-sts:zoneIds"] == {name: {**listed, **extra}[name] for name in wanted}
    assert len(api.requests) == calls
    assert all(q["per_page"] == "50" and q["account.id"] == ACCOUNT for q in api.queries)
    assert [q["page"] for q in api.queries if "page" in q] == [str(n) for n in range(1, paged + 1)]
    assert sorted(q["name"] for q in api.queries if "name" in q) == (sorted(wanted) if named else [])
    assert len([q for q in api.queries if "name" in q]) == named
    assert f"; {calls} Cloudflare API call(s)" in err


def test_account_id_must_be_the_stacks(
    api: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--account-id other than the stack's cloudflareAccountId: exit 2 before any call."""
    where = project(tmp_path)
    status, _, err = zones(capsys, where, "--account-id", OTHER_ACCOUNT)
    assert status == 2
    assert err.startswith(f"error: --account-id: is {OTHER_ACCOUNT} but the stack's cloudflareAccountId")
    assert api.requests == []


def test_a_flow_config_is_refused_not_rewritten(
    api: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file whose config: is a flow mapping cannot be edited line by line: exit 2, untouched."""
    holds(api, {"a.example": HAND_IDS["a.example"]})
    text = (
        f'config: {{mta-sts:cloudflareAccountId: "{ACCOUNT}", '
        'mta-sts:defaults: {mode: testing, mx: [mx.mail.example]}, mta-sts:domains: {a.example: {}}}\n'
    )
    where = project(tmp_path, "flow", text)
    status, out, err = zones(capsys, where, "--write", stack="flow")
    assert status == 2
    assert err.splitlines()[-1].startswith("error: Pulumi.flow.yaml: has no block config: mapping")
    assert (where / "Pulumi.flow.yaml").read_bytes() == text.encode()


def test_edit_keeps_a_byte_order_mark_and_block_scalars() -> None:
    """The editor keeps what comes before and after the key, a BOM and a literal block included."""
    text = "\ufeffconfig:\n  note: |\n    two\n    lines\n\n  mta-sts:domains: {a.example: {}}\n"
    edited = set_config_mapping(text, "zoneIds", {"a.example": "1" * 32}, "Pulumi.x.yaml")
    assert edited == text + '  mta-sts:zoneIds:\n    a.example: "' + "1" * 32 + '"\n'
    before = "\ufeffconfig:\n  mta-sts:zoneIds:\n  note: |\n    two\n\n  last: 1\n"
    edited = set_config_mapping(before, "zoneIds", {}, "Pulumi.x.yaml")
    assert edited == "\ufeffconfig:\n  mta-sts:zoneIds: {}\n  note: |\n    two\n\n  last: 1\n"


def test_after_write_the_program_looks_no_zone_up(
    api: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dev stack, its receiver moved to a zone of its own, under mocks: a getZone per zone
    before --write, none after, and the recorded ids where the program needs them."""
    from tests.program_mocks import GET_ZONE, run_program, stack_file_config

    receiver = {"reports.example": "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c"}
    holds(api, {**DEV_IDS, **receiver})
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    moved = [
        ("host: tlsrpt.example.net", "host: tlsrpt.reports.example"),
        ("mailto: tlsrpt@reports.example.net", "mailto: tlsrpt@mail.reports.example"),
    ]
    for old, new in moved:
        assert old in text
        text = text.replace(old, new)
    where = project(tmp_path, text=text)
    before = run_program(stack_file_config("dev", where))
    assert before.error is None, repr(before.error)
    looked_up = sorted(c.args["filter"]["name"] for c in before.calls if c.token == GET_ZONE)
    assert looked_up == sorted({**DEV_IDS, **receiver})
    assert zones(capsys, where, "--write")[0] == 0
    after = run_program(stack_file_config("dev", where))
    assert after.error is None, repr(after.error)
    assert [c for c in after.calls if c.token == GET_ZONE] == []
    zone_ids: dict[str, Any] = {r.name: r.inputs.get("zoneId") for r in after.resources if r.custom}
    assert zone_ids["cloudflare-worker-enforce.example.net-route"] == DEV_IDS["enforce.example.net"]
    assert zone_ids["example.com-sts"] == DEV_IDS["example.com"]
    assert zone_ids["reports-custom-domain"] == receiver["reports.example"]
    assert budget(load_stack(where, "dev"), "dev").lookups == 0
