"""Every zone-file line ``plan`` prints reads the same under any ``$ORIGIN``: all names absolute."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest

from mtasts.commands import cli
from tests.conftest import ACCOUNT

STACK = f"""config:
  github:owner: example-org
  mta-sts:cloudflareAccountId: {ACCOUNT}
  mta-sts:defaults: {{mx: [mx.partner.example], tlsrpt: ['mailto:tls@partner.example'], dns: external}}
  mta-sts:domains:
    partner.example: {{routing: custom-domain}}
    pages.example: {{hosting: github-pages}}
    managed.example: {{dns: cloudflare}}
"""
EXPECTED = {
    # (owner, type) → data, written out here rather than taken from the code under test
    ("mta-sts.partner.example.", "CNAME"): "mta-sts.partner.example.cdn.cloudflare.net.",
    ("mta-sts.pages.example.", "CNAME"): "example-org.github.io.",
    ("mta-sts.managed.example.", "AAAA"): "100::",
}


def zone_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if "\tIN\t" in line]


@pytest.mark.parametrize("origin", ["elsewhere.test.", "partner.example."])
def test_every_printed_zone_line_loads_with_absolute_names(
    origin: str,
    write_stack: Callable[..., Path],
    project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each line loaded alone by dnspython under an unrelated $ORIGIN keeps its owner and target."""
    write_stack(STACK)
    assert cli.main(["--project-dir", str(project), "plan", "--stack", "t"]) == 0
    lines = zone_lines(capsys.readouterr().out)
    assert len(lines) >= 8
    seen = {}
    for line in lines:
        # A root zone holds any name; the $ORIGIN line is what a relative name would be read under.
        text = f"$ORIGIN {origin}\n{line}\n"
        zone = dns.zone.from_text(text, origin=".", relativize=False, check_origin=False)
        [(owner, node)] = list(zone.nodes.items())
        assert str(owner) == line.split("\t")[0]  # the owner as printed, not under the origin
        [rdataset] = node.rdatasets
        [rdata] = list(rdataset)
        seen[(str(owner), dns.rdatatype.to_text(rdataset.rdtype))] = rdata.to_text()
    for key, data in EXPECTED.items():
        assert seen[key] == data, key
    assert seen[("_mta-sts.partner.example.", "TXT")].startswith('"v=STSv1; id=')
