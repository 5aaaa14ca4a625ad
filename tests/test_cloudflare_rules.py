"""Every stack file of the repository and of tests/stacks/valid/, run under mocks, meets Cloudflare's
and GitHub's published rules (``tests/cloudflare_rules.py``, each rule citing its source)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mtasts.model.config import Deployment, load_stack
from tests.cloudflare_rules import RULES, violations
from tests.program_mocks import GET_ZONE, ROOT, ProgramRun, mock_zone_id, run_program, stack_file_config

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_cloudflare.*")

CORPUS = sorted((ROOT / "tests" / "stacks" / "valid").glob("*.yaml"))
REPO_STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))


def zone_names(run: ProgramRun, deployment: Deployment) -> dict[str, str]:
    """Zone id → name: the mocks' answer to each lookup, and every id the stack file gives."""
    names = {}
    for call in run.calls:
        if call.token == GET_ZONE:
            zone = call.args["filter"]["name"]
            names[mock_zone_id(zone)] = zone
    for domain in deployment.domains:
        if domain.zone_id is not None:
            names[domain.zone_id] = domain.zone or domain.name
    if deployment.receiver is not None and deployment.receiver.zone_id is not None:
        names[deployment.receiver.zone_id] = deployment.receiver.zone
    return names


def checked(project: Path, stack: str) -> dict[str, list[str]]:
    deployment = load_stack(project, stack)
    run = run_program(stack_file_config(stack, project), stack=stack)
    assert run.error is None, repr(run.error)
    assert run.resources, "the program registered nothing"
    return violations(run, deployment.cloudflare_account_id, zone_names(run, deployment))


def test_rules_cite_their_source() -> None:
    """Every rule of the table names where it is published."""
    assert len({r.name for r in RULES}) == len(RULES)
    assert all(r.source.strip() for r in RULES)


@pytest.mark.parametrize("stack", REPO_STACKS)
def test_repository_stacks_meet_cloudflare_rules(stack: str) -> None:
    """Pulumi.<stack>.yaml registers only what Cloudflare and GitHub accept."""
    assert checked(ROOT, stack) == {}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_corpus_stacks_meet_cloudflare_rules(tmp_path: Path, path: Path) -> None:
    """Each valid corpus stack, deployed, registers only what Cloudflare and GitHub accept."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(path, tmp_path / f"Pulumi.{path.stem}.yaml")
    assert checked(tmp_path, path.stem) == {}


def test_the_rules_fail_on_what_cloudflare_refuses() -> None:
    """The table is not vacuous: the registrations of the code before these rules break several."""
    from tests.cloudflare_rules import CUSTOM_DOMAIN, DNS, Graph, _certificate_coverage, _custom_domain_alone
    from tests.program_mocks import Call, Options, Resource

    options = Options(None, (), {}, True, False, False, (), (), None)
    zone = mock_zone_id("example.com")
    run = ProgramRun(
        resources=[
            Resource(
                DNS,
                "a",
                "urn:a",
                None,
                True,
                {
                    "name": "mta-sts.dev.example.com",
                    "type": "AAAA",
                    "content": "100::",
                    "ttl": 1,
                    "proxied": True,
                    "zoneId": zone,
                },
                options,
            ),
            Resource(
                CUSTOM_DOMAIN,
                "b",
                "urn:b",
                None,
                True,
                {"hostname": "mta-sts.dev.example.com", "zoneId": zone},
                options,
            ),
        ],
        calls=[Call(GET_ZONE, {"filter": {"name": "example.com", "match": "all"}})],
    )
    graph = Graph(run, "0" * 32, {zone: "example.com"})
    assert _certificate_coverage(graph)
    assert _custom_domain_alone(graph)
    found = violations(run, "0" * 32, {zone: "example.com"})
    assert {"certificate-coverage", "custom-domain-alone", "zone-lookups"} <= set(found)
