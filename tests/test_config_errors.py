"""Every error of a stack file in one run, each placed at its file and line; a warning that many
domains inherit from one ``defaults`` value printed once, against that key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mtasts.commands import cli
from mtasts.model.config import load_stack
from mtasts.model.errors import ConfigError, ConfigErrors, every
from tests.conftest import ACCOUNT

BROKEN = f"""config:
  mta-sts:cloudflareAccountId: '{ACCOUNT}'
  mta-sts:defaults:
    mode: bogus
  mta-sts:domains:
    a.example:
      mx: [mx.a.example]
      mood: testing
    b.example:
      mx: [mx.b.example]
      mode: testing
      maxAge: -4
      routing: sideways
    c.example:
      mx: [mx.c.example]
      mode: testing
    d.example:
      mx: [mx.d.example]
"""


def test_every_error_of_a_stack_file_in_one_run_each_at_its_line(
    write_stack: Callable[..., Path], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two errors in one domain, one in another, an invalid default two domains inherit: all
    reported, in file order, the default once, each with the line of its key; exit 2."""
    write_stack(BROKEN)
    assert cli.main(["--project-dir", str(project), "plan", "--stack", "t"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "error: domains.a.example.mood: unknown key; did you mean 'mode'? (Pulumi.t.yaml:8)",
        "error: defaults.mode: must be one of enforce, testing, none, got 'bogus' (Pulumi.t.yaml:4)",
        "error: domains.b.example.maxAge: must be between 0 and 31557600 seconds (RFC 8461 §3.2), "
        "got -4 (Pulumi.t.yaml:12)",
        "error: domains.b.example.routing: must be one of route, custom-domain, none, got 'sideways' "
        "(Pulumi.t.yaml:13)",
        "4 errors",
    ]


def test_the_errors_are_one_exception_that_behaves_as_its_first(
    write_stack: Callable[..., Path], project: Path
) -> None:
    """Callers that catch one ConfigError still see the first; ``every`` gives them all."""
    write_stack(BROKEN)
    with pytest.raises(ConfigErrors) as raised:
        load_stack(project, "t")
    assert isinstance(raised.value, ConfigError)
    assert raised.value.key == "domains.a.example.mood" and raised.value.where == "Pulumi.t.yaml:8"
    assert [e.key for e in every(raised.value)] == [
        "domains.a.example.mood",
        "defaults.mode",
        "domains.b.example.maxAge",
        "domains.b.example.routing",
    ]


def test_an_inherited_value_is_placed_at_the_domain_that_inherits_it(
    write_stack: Callable[..., Path], project: Path
) -> None:
    """``domains.x.example.routing`` is not in the file (it comes from defaults): the line of the
    domain is the nearest place, not none."""
    write_stack(
        f"""config:
  mta-sts:cloudflareAccountId: '{ACCOUNT}'
  mta-sts:defaults:
    routing: route
  mta-sts:domains:
    x.example:
      mx: [mx.x.example]
      dns: external
"""
    )
    with pytest.raises(ConfigError) as raised:
        load_stack(project, "t")
    assert raised.value.key == "domains.x.example.routing"
    assert raised.value.where == "Pulumi.t.yaml:6"


def test_a_default_in_pulumi_yaml_is_placed_there(write_stack: Callable[..., Path], project: Path) -> None:
    """A project-wide default lives in Pulumi.yaml (under ``value:``): its error names that
    file and line."""
    (project / "Pulumi.yaml").write_text(
        "name: mta-sts\nruntime: python\nconfig:\n  mta-sts:defaults:\n    description: d\n"
        "    value:\n      mode: testing\n      maxAge: forever\n"
    )
    write_stack(
        f"config:\n  mta-sts:cloudflareAccountId: '{ACCOUNT}'\n"
        "  mta-sts:domains:\n    y.example: {mx: [m.y.example]}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_stack(project, "t")
    assert raised.value.key == "defaults.maxAge"
    assert raised.value.where == "Pulumi.yaml:8"


def test_a_warning_many_domains_inherit_is_printed_once_against_defaults(
    write_stack: Callable[..., Path], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No TLS-RPT in defaults: one warning on defaults.tlsrpt naming the domains, not one per
    domain; a domain that sets its own value keeps its own warning."""
    write_stack(
        f"""config:
  mta-sts:cloudflareAccountId: '{ACCOUNT}'
  mta-sts:domains:
    a.example: {{mx: [mx.a.example]}}
    b.example: {{mx: [mx.b.example]}}
    c.example: {{mx: [mx.c.example]}}
    d.example: {{mx: [mx.d.example], tlsrpt: []}}
    e.example: {{mx: [mx.e.example], tlsrpt: ['mailto:t@r.example']}}
"""
    )
    deployment = load_stack(project, "t")
    tlsrpt = [f for f in deployment.findings if f.check == "no-tlsrpt"]
    assert sorted(f.key or "" for f in tlsrpt) == ["defaults.tlsrpt", "domains.d.example.tlsrpt"]
    folded = next(f for f in tlsrpt if f.key == "defaults.tlsrpt")
    assert dict(folded.facts)["domains"] == ("a.example", "b.example", "c.example")
    assert "3 domains inherit it: a.example, b.example, c.example" in folded.reason
    # Each domain's own JSON still lists it; the text prints it once.
    assert folded in deployment.findings_for("b.example")
    assert folded not in deployment.findings_for("e.example")
    assert cli.main(["--project-dir", str(project), "plan", "--stack", "t"]) == 0
    out = capsys.readouterr().out
    assert out.count("no TLS-RPT URI") == 2, out


def test_one_domain_inheriting_keeps_its_own_warning(write_stack: Callable[..., Path], project: Path) -> None:
    """Folding needs two domains: a lone domain's warning stays on its own key."""
    write_stack(
        f"config:\n  mta-sts:cloudflareAccountId: '{ACCOUNT}'\n"
        "  mta-sts:domains:\n    a.example: {mx: [mx.a.example]}\n"
    )
    [finding] = [f for f in load_stack(project, "t").findings if f.check == "no-tlsrpt"]
    assert finding.key == "domains.a.example.tlsrpt"
