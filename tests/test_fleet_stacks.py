"""A fleet of stacks from one declaration: ``mtasts fleet split``, ``check`` and ``touched``."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtasts.commands import cli
from mtasts.model.budget import inventory
from mtasts.model.config import load_stack
from mtasts.model.fleet import DEFAULT_BOUND, HEADER
from tests.conftest import ACCOUNT
from tests.git_repo import GitProject

DEFAULTS = {"mode": "enforce", "mx": ["mx.mail.example"], "tlsrpt": ["mailto:tls@reports.example"]}


def zone_name(number: int) -> str:
    return f"z{number:04}.example"


def fleet_domains(zones: range, big: set[int], size: int = 4) -> dict[str, Any]:
    """Each zone's apex and ``size - 1`` names below it (50 in all for a zone in ``big``), every
    name below its zone declaring that zone."""
    domains: dict[str, Any] = {}
    for number in zones:
        zone = zone_name(number)
        domains[zone] = {}
        for i in range(1, 50 if number in big else size):
            domains[f"d{i}.{zone}"] = {"zone": zone}
    return domains


def three_thousand() -> dict[str, Any]:
    """3,000 domains over 700 zones: 10 zones of 50, 430 of 4 and 260 of 3."""
    domains = fleet_domains(range(440), big=set(range(0, 440, 44)))
    domains.update(fleet_domains(range(440, 700), big=set(), size=3))
    assert len(domains) == 3_000 and len({zone_of_name(n) for n in domains}) == 700
    return domains


def zone_of_name(name: str) -> str:
    """The zone of a test name: itself for ``zNNNN.example``, else its parent."""
    return name if name.count(".") == 1 else name.split(".", 1)[1]


def declare(project: Path, domains: dict[str, Any], **fleet: Any) -> None:
    document = {
        "fleet": {"prefix": "mail", **fleet},
        "config": {
            "mta-sts:cloudflareAccountId": ACCOUNT,
            "mta-sts:zonePlan": "pro",
            "mta-sts:defaults": DEFAULTS,
        },
        "domains": domains,
    }
    (project / "fleet.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def fleet(project: Path, *argv: str) -> int:
    return cli.main(["--project-dir", str(project), "fleet", *argv])


def generated(project: Path) -> dict[str, dict[str, Any]]:
    """Stack → its ``mta-sts:domains`` as the generated files hold them."""
    found = {}
    for path in sorted(project.glob("Pulumi.mail-*.yaml")):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))["config"]
        found[path.name.removeprefix("Pulumi.").removesuffix(".yaml")] = config["mta-sts:domains"]
    return found


def expected_resources(names: list[str]) -> int:
    """Counted by hand: one policy Worker script per stack; a zone apex gets a route, its AAAA and
    two TXT records; a name below its zone a Workers custom domain and two TXT records."""
    return 1 + sum(4 if zone_of_name(name) == name else 3 for name in names)


def test_split_fills_stacks_under_the_bound_with_every_zone_in_one(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """3,000 domains over 700 zones (some of 50): every stack under the bound by the graph's count
    and by hand, every zone in one stack, every domain in exactly one, the headers say generated."""
    declare(project, three_thousand())
    assert fleet(project, "split") == 0
    out = capsys.readouterr().out
    stacks = generated(project)
    assert len(stacks) == 6 and "fleet mail: 6 stack(s), 3,000 domain(s)" in out
    owners: dict[str, list[str]] = defaultdict(list)
    zones: dict[str, set[str]] = defaultdict(set)
    for stack, domains in stacks.items():
        text = (project / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
        assert text.startswith(f"{HEADER}fleet.yaml (fleet mail, stack {stack}).\n")
        deployment = load_stack(project, stack)  # each loads on its own, limits and all
        assert len(inventory(deployment, stack)) == expected_resources(list(domains)) <= DEFAULT_BOUND
        for name in domains:
            owners[name].append(stack)
            zones[zone_of_name(name)].add(stack)
    assert len(owners) == 3_000 and all(len(held) == 1 for held in owners.values())
    assert len(zones) == 700 and all(len(held) == 1 for held in zones.values())
    assert fleet(project, "check") == 0
    assert "every generated file is what split writes" in capsys.readouterr().out


def test_adding_and_removing_300_domains_moves_none_of_the_others(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """300 removed and 300 added (new zones, and names in zones already placed): every remaining
    domain stays in its stack, each new name of a placed zone joins that zone's stack, a second
    split changes nothing."""
    domains = three_thousand()
    declare(project, domains)
    assert fleet(project, "split") == 0
    before = {name: stack for stack, held in generated(project).items() for name in held}
    removed = sorted(domains)[::10][:300]
    for name in removed:
        del domains[name]
    joining = {f"new{i}.{zone_name(i)}": {"zone": zone_name(i)} for i in range(0, 600, 6)}  # 100
    fresh = fleet_domains(range(700, 750), big=set())  # 50 zones of 4: 200
    domains.update(joining)
    domains.update(fresh)
    declare(project, domains)
    capsys.readouterr()
    assert fleet(project, "split") == 0
    after = {name: stack for stack, held in generated(project).items() for name in held}
    assert set(after) == set(domains) and len(after) == 3_000
    moved = [n for n in after if n in before and after[n] != before[n]]
    assert moved == [] and not set(removed) & set(after)
    # The zones still holding a domain placed before; a zone whose every name left is new again.
    homes = {zone_of_name(n): s for n, s in before.items() if n in domains}
    joining = {n: v for n, v in joining.items() if zone_of_name(n) in homes}
    assert len(joining) >= 50
    assert [n for n in joining if after[n] != homes[zone_of_name(n)]] == []
    zones: dict[str, set[str]] = defaultdict(set)
    for name, stack in after.items():
        zones[zone_of_name(name)].add(stack)
    assert all(len(held) == 1 for held in zones.values())
    texts = {p.name: p.read_text(encoding="utf-8") for p in project.glob("Pulumi.mail-*.yaml")}
    capsys.readouterr()
    assert fleet(project, "split") == 0
    assert "0 file(s) written" in capsys.readouterr().out
    assert {p.name: p.read_text(encoding="utf-8") for p in project.glob("Pulumi.mail-*.yaml")} == texts


def test_a_new_zone_joins_the_fullest_stack_with_room_else_a_new_one(project: Path) -> None:
    """With a bound of 50 resources (45 to place new zones in): 11 one-domain zones fill the first
    stack (1 script + 4 a domain = 45), the 12th opens a second; once two leave the first, a new
    zone goes there, the fuller of the two with room; with no room anywhere, a third opens."""
    declare(project, fleet_domains(range(12), big=set(), size=1), maxResources=50)
    assert fleet(project, "split") == 0
    assert {s: sorted(d) for s, d in generated(project).items()} == {
        "mail-00": [zone_name(i) for i in range(11)],
        "mail-01": [zone_name(11)],
    }
    declare(project, fleet_domains(range(2, 13), big=set(), size=1), maxResources=50)
    assert fleet(project, "split") == 0
    assert {s: sorted(d) for s, d in generated(project).items()} == {
        "mail-00": [zone_name(i) for i in (*range(2, 11), 12)],
        "mail-01": [zone_name(11)],
    }
    many = fleet_domains(range(2, 13), big=set(), size=1) | fleet_domains(range(20, 22), big=set(), size=11)
    declare(project, many, maxResources=50)  # two zones of 4 + 10 x 3 = 34 resources each
    assert fleet(project, "split") == 0
    assert {s: len(d) for s, d in generated(project).items()} == {"mail-00": 10, "mail-01": 12, "mail-02": 11}


def test_a_zone_growing_past_the_bound_stays_whole_with_a_warning(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """New names of a placed zone join its stack even past the bound; split says so on stderr."""
    declare(project, fleet_domains(range(2), big=set(), size=5), maxResources=40)
    assert fleet(project, "split") == 0
    declare(project, fleet_domains(range(2), big={0}, size=5), maxResources=40)
    capsys.readouterr()
    assert fleet(project, "split") == 0
    err = capsys.readouterr().err
    stacks = generated(project)
    (home,) = [s for s, d in stacks.items() if "d49.z0000.example" in d]
    assert all(f"d{i}.z0000.example" in stacks[home] for i in range(1, 50))
    assert f"warning: stack {home} has " in err and "over the bound of 40" in err


def test_check_reports_a_domain_in_two_stacks_and_a_hand_edit_in_one_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A domain copied into a second stack file and a mode changed by hand: exit 2, one line for
    each edited file, one for the domain in two stacks; nothing is written."""
    declare(project, fleet_domains(range(30), big=set(), size=2), maxResources=60)
    assert fleet(project, "split") == 0
    stacks = generated(project)
    assert len(stacks) >= 2
    first, second = sorted(stacks)[:2]
    stolen = sorted(stacks[first])[0]
    path = project / f"Pulumi.{second}.yaml"
    path.write_text(
        path.read_text().replace("  mta-sts:domains:\n", f"  mta-sts:domains:\n    {stolen}: {{}}\n")
    )
    edited = sorted(stacks[first])[-1]
    hand = project / f"Pulumi.{first}.yaml"
    text = hand.read_text()
    hand.write_text(text.replace(f"    {edited}: {{}}\n", f"    {edited}:\n      mode: testing\n"))
    assert hand.read_text() != text
    files = {p.name: p.read_text() for p in project.glob("Pulumi.*.yaml")}
    capsys.readouterr()
    assert fleet(project, "check") == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert f"error: domains.{stolen}: is declared in stack {first} and in stack {second}; " in "\n".join(
        lines
    )
    assert any(
        line.startswith(f"error: Pulumi.{first}.yaml: differs from what mtasts fleet split") for line in lines
    )
    assert any(
        line.startswith(f"error: Pulumi.{second}.yaml: differs from what mtasts fleet split")
        for line in lines
    )
    assert all(line.startswith("error: ") for line in lines) and len(lines) == 3
    assert "fleet mail: 3 problem(s)" in captured.out
    assert {p.name: p.read_text() for p in project.glob("Pulumi.*.yaml")} == files


def write_hand_stack(project: Path, stack: str, domains: dict[str, Any]) -> None:
    config = {
        "mta-sts:cloudflareAccountId": ACCOUNT,
        "mta-sts:defaults": DEFAULTS,
        "mta-sts:domains": domains,
    }
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}), encoding="utf-8")


def test_check_counts_custom_domains_of_one_zone_over_stacks(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A zone with 60 custom domains in the fleet and 50 in another stack: one limit line, exit 2."""
    declare(
        project, {zone_name(0): {}} | {f"d{i}.{zone_name(0)}": {"zone": zone_name(0)} for i in range(1, 61)}
    )
    write_hand_stack(project, "other", {f"e{i}.{zone_name(0)}": {"zone": zone_name(0)} for i in range(50)})
    assert fleet(project, "split") == 0
    capsys.readouterr()
    assert fleet(project, "check", "--also", "other") == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: limits.customDomainsPerZone: zone z0000.example would have 110 ")


@pytest.mark.parametrize(
    ("config", "line"),
    [
        (
            {"mta-sts:reports": {"host": "tlsrpt.example.net"}},
            "error: config.mta-sts:reports: the TLS report receiver is one host and one Cron Trigger",
        ),
        ({"mta-sts:domains": {}}, "error: config.mta-sts:domains: domains go under the declaration's own"),
        ({"cloudflare:apiToken": {"secure": "AAAA"}}, "error: config.cloudflare:apiToken: a secret belongs"),
        ({"mtasts:defaults": {}}, "error: mtasts:defaults: unknown namespace 'mtasts'"),
        ({"mta-sts:defaults": {"mode": "strict"}}, "error: defaults.mode: "),
    ],
)
def test_a_bad_declaration_is_one_line_and_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], config: dict[str, Any], line: str
) -> None:
    """Refused config: one error line, exit 2, no stack file."""
    declare(project, {zone_name(0): {}})
    document = yaml.safe_load((project / "fleet.yaml").read_text())
    document["config"].update(config)
    (project / "fleet.yaml").write_text(yaml.safe_dump(document))
    assert fleet(project, "split") == 2
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith(line)
    assert list(project.glob("Pulumi.mail-*.yaml")) == []


def test_a_bad_domain_names_its_key(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A domain's own bad setting is named by its key under domains:, as in a stack file."""
    declare(project, {zone_name(0): {"maxage": 5}})
    assert fleet(project, "split") == 2
    assert capsys.readouterr().err == (
        "error: domains.z0000.example.maxage: unknown key; did you mean 'maxAge'?\n"
    )


def test_split_never_overwrites_a_stack_file_it_did_not_write(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hand-made Pulumi.mail-00.yaml: split refuses in one line and leaves it as it was."""
    write_hand_stack(project, "mail-00", {"hand.example": {}})
    before = (project / "Pulumi.mail-00.yaml").read_text()
    declare(project, {zone_name(0): {}})
    assert fleet(project, "split") == 2
    assert "was not generated by mtasts fleet split" in capsys.readouterr().err
    assert (project / "Pulumi.mail-00.yaml").read_text() == before


def test_a_stack_left_without_domains_goes_only_after_mode_none(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not while its domains are in enforce (no plan --base would judge the removal): one line
    each, nothing written. Once they publish mode none, its file goes, split prints how to destroy
    the stack, and the other stack is untouched."""
    declare(project, fleet_domains(range(20), big=set(), size=1), maxResources=50)
    assert fleet(project, "split") == 0
    assert sorted(generated(project)) == ["mail-00", "mail-01"]
    kept = (project / "Pulumi.mail-00.yaml").read_text()
    declare(project, fleet_domains(range(11), big=set(), size=1), maxResources=50)
    capsys.readouterr()
    assert fleet(project, "split") == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 9 and lines[0].startswith(
        "error: domains.z0011.example: is the last of stack mail-01, whose file would go with it"
    )
    assert sorted(generated(project)) == ["mail-00", "mail-01"]
    retiring = {zone_name(i): {"mode": "none", "mx": []} for i in range(11, 20)}
    declare(project, fleet_domains(range(11), big=set(), size=1) | retiring, maxResources=50)
    assert fleet(project, "split") == 0
    declare(project, fleet_domains(range(11), big=set(), size=1), maxResources=50)
    capsys.readouterr()
    assert fleet(project, "split") == 0
    assert "removed Pulumi.mail-01.yaml: no domain left; run `pulumi destroy --stack mail-01`" in (
        capsys.readouterr().out
    )
    assert sorted(generated(project)) == ["mail-00"]
    assert (project / "Pulumi.mail-00.yaml").read_text() == kept


def test_zone_ids_go_to_their_zones_stack_quoted_for_yaml_1_2(project: Path) -> None:
    """Each stack gets only its zones' ids; an all-digit id is quoted, so a YAML 1.2 reader
    (Pulumi's) reads a string, not the number 9."""
    declare(project, fleet_domains(range(20), big=set(), size=1), maxResources=50)
    document = yaml.safe_load((project / "fleet.yaml").read_text())
    document["config"]["mta-sts:zoneIds"] = {zone_name(i): f"{i:032x}" for i in range(20)}
    (project / "fleet.yaml").write_text(yaml.safe_dump(document))
    assert fleet(project, "split") == 0
    for path in project.glob("Pulumi.mail-*.yaml"):
        config = yaml.safe_load(path.read_text())["config"]
        assert set(config["mta-sts:zoneIds"]) == set(config["mta-sts:domains"])
    assert "z0009.example: '00000000000000000000000000000009'" in "".join(
        p.read_text() for p in project.glob("Pulumi.mail-*.yaml")
    )


# --- touched ----------------------------------------------------------------------------------


class Repo(GitProject):
    """A git repository holding a Pulumi project."""

    def commit(self) -> str:
        return self.commit_all("change")


def touched(path: Path, base: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert cli.main(["--project-dir", str(path), "fleet", "touched", "--base", base, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    found: list[str] = json.loads(out)
    return found


def test_touched_without_a_fleet_names_changed_stack_files_or_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dev and prod by hand: one stack file changed is that stack; Pulumi.yaml, components/ or a
    requirements file is every stack; docs alone is none."""
    repo = Repo(tmp_path)
    write_hand_stack(tmp_path, "dev", {"a.example": {}})
    write_hand_stack(tmp_path, "prod", {"b.example": {}})
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.md").write_text("x\n")
    base = repo.commit()
    assert touched(tmp_path, base, capsys) == []
    write_hand_stack(tmp_path, "prod", {"b.example": {"mode": "testing"}})
    assert touched(tmp_path, base, capsys) == ["prod"]
    head = repo.commit()
    assert touched(tmp_path, head, capsys) == []
    assert touched(tmp_path, "HEAD~1", capsys) == ["prod"]
    (tmp_path / "docs" / "x.md").write_text("y\n")
    assert touched(tmp_path, head, capsys) == []
    for shared in ("Pulumi.yaml", "components/worker.py", "requirements-cli.txt", "__main__.py"):
        repo.git("checkout", "-q", "--", ".")
        target = tmp_path / shared
        target.parent.mkdir(exist_ok=True)
        target.write_text((target.read_text() if target.exists() else "") + "# changed\n")
        assert touched(tmp_path, head, capsys) == ["dev", "prod"], shared
        if shared != "Pulumi.yaml":
            target.unlink()


def test_touched_in_a_fleet_follows_the_generated_files_and_the_shared_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A domain added to fleet.yaml touches only the stack split puts it in; a shared setting in
    fleet.yaml touches every stack, even before the files are split again."""
    repo = Repo(tmp_path)
    write_hand_stack(tmp_path, "dev", {"a.example": {}})
    declare(tmp_path, fleet_domains(range(20), big=set(), size=1), maxResources=50)
    assert fleet(tmp_path, "split") == 0
    base = repo.commit()
    declare(tmp_path, fleet_domains(range(21), big=set(), size=1), maxResources=50)
    assert touched(tmp_path, base, capsys) == []  # the declaration's domains alone: no stack yet
    assert fleet(tmp_path, "split") == 0
    assert touched(tmp_path, base, capsys) == ["mail-01"]
    repo.commit()
    document = yaml.safe_load((tmp_path / "fleet.yaml").read_text())
    document["config"]["mta-sts:defaults"]["mode"] = "testing"
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(document))
    assert touched(tmp_path, "HEAD", capsys) == ["dev", "mail-00", "mail-01"]


def test_touched_with_a_bad_base_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown revision, or one that looks like an option: one error line, exit 2."""
    repo = Repo(tmp_path)
    write_hand_stack(tmp_path, "dev", {"a.example": {}})
    repo.commit()
    for base in ("no-such-ref", "-p"):
        capsys.readouterr()
        assert cli.main(["--project-dir", str(tmp_path), "fleet", "touched", f"--base={base}"]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"error: --base {base!r}: ")


def test_fleet_help_opens_with_a_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    """fleet and each of its actions: --help opens with one sentence."""
    for argv in (["fleet"], ["fleet", "split"], ["fleet", "check"], ["fleet", "touched"]):
        with pytest.raises(SystemExit):
            cli._parser().parse_args([*argv, "--help"])
        description = capsys.readouterr().out.split("\n\n")[1].strip()
        assert description[0].isupper() and description.endswith("."), argv


def test_split_writes_nothing_when_a_generated_stack_would_not_load(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each new file goes through the loader before any is written: a per-script limit of 5 zones
    (checked per stack, not over the declaration) refuses the 11-zone stack, in one line."""
    declare(project, fleet_domains(range(12), big=set(), size=1), maxResources=50)
    document = yaml.safe_load((project / "fleet.yaml").read_text())
    document["config"]["mta-sts:limits"] = {"routedZonesPerWorker": 5}
    (project / "fleet.yaml").write_text(yaml.safe_dump(document))
    assert fleet(project, "split") == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "error: Pulumi.mail-00.yaml: limits.routedZonesPerWorker: the policy Worker would have 11 "
    )
    assert list(project.glob("Pulumi.mail-*.yaml")) == []


def test_the_prefix_cannot_change_under_existing_stacks(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new fleet.prefix would place every domain again in new stacks (a move of each): split
    refuses, naming each file generated for the old prefix, and writes nothing."""
    declare(project, fleet_domains(range(3), big=set(), size=1))
    assert fleet(project, "split") == 0
    document = yaml.safe_load((project / "fleet.yaml").read_text())
    document["fleet"]["prefix"] = "post"
    (project / "fleet.yaml").write_text(yaml.safe_dump(document))
    capsys.readouterr()
    assert fleet(project, "split") == 2
    assert capsys.readouterr().err == (
        "error: Pulumi.mail-00.yaml: was generated for fleet mail, not post; fleet.prefix names the "
        "stacks and cannot change while they exist\n"
    )
    assert [p.name for p in project.glob("Pulumi.*.yaml")] == ["Pulumi.mail-00.yaml"]
    assert fleet(project, "check") == 2
