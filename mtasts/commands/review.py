"""``mtasts plan --base GIT_REF``: what a change to a stack file means for senders.

The stack file (and ``Pulumi.yaml``) at ``GIT_REF`` is read with ``git show`` and loaded by the
one loader, like the working tree's; the two ``Deployment``s are compared per domain: mode, MX
patterns added and removed, ``max_age``, hosting, records, the new id. Two changes are refused
because senders keep a cached policy for its ``max_age`` (RFC 8461 §8.3):

- removing a domain whose base mode is not ``none``: publish ``mode: none`` first;
- removing a domain in ``none`` before every policy senders may still cache has expired.
  ``none`` went live at the domain's ``noneSince`` key in the base stack file, never earlier than
  the commit that first set ``mode: none``; the wait is the longest ``max_age`` of a policy on the
  deployed line of history (``git log --first-parent``) within its own ``max_age`` before none.
  A version of the stack file there that does not load is "cannot tell", which refuses.

The rules are ``mtasts.checks.retirement``; this module reads git. Domains whose mode becomes
``enforce`` are handed to readiness (``mtasts.checks.readiness``) by the caller.
"""

from __future__ import annotations

import datetime
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtasts.checks.base import AT_BASE, at_base
from mtasts.checks.readiness import plan_findings
from mtasts.checks.retirement import StackVersion, removal_findings, retirement
from mtasts.checks.routing import routing_change
from mtasts.commands.shared.args import UsageError, options_from_args
from mtasts.commands.shared.evidence import assess, reports_source, verify_evidence
from mtasts.commands.shared.git import GitError, git, resolve, show
from mtasts.model import budget
from mtasts.model.config import ConfigError, Deployment, Domain, load_stack
from mtasts.model.errors import ConfigErrors, every
from mtasts.model.findings import Finding, Severity
from mtasts.model.vocabulary import Hosting, Mode

HISTORY_LIMIT = 500
"""Commits of the stack file read back at most, looking for when ``mode: none`` began."""


@dataclass(frozen=True)
class DomainChange:
    """What changes for senders of one domain between base and working tree."""

    name: str
    kind: str
    """``added``, ``removed``, ``changed`` or ``unchanged``."""
    base: Domain | None
    head: Domain | None

    @property
    def becomes_enforce(self) -> bool:
        return (
            self.head is not None
            and self.head.mode is Mode.ENFORCE
            and (self.base is None or self.base.mode is not Mode.ENFORCE)
        )

    def lines(self) -> list[str]:
        """The changes as readable lines (no heading)."""
        base, head = self.base, self.head
        if head is not None and base is None:
            return [
                f"mode {head.mode}, max_age {head.max_age}, hosting {head.hosting}, dns {head.dns}",
                f"mx: {', '.join(head.mx) or '(none)'}",
                f"id: {head.policy_id}",
                *("record + " + r.zone_line() for r in head.records),
            ]
        if base is not None and head is None:
            return [f"was mode {base.mode}, max_age {base.max_age}, mx {', '.join(base.mx) or '(none)'}"] + [
                "record - " + r.zone_line() for r in base.records if base.managed_dns
            ]
        assert base is not None and head is not None
        out: list[str] = []
        if base.mode != head.mode:
            out.append(f"mode: {base.mode} → {head.mode}")
        out += [f"mx + {p}" for p in head.mx if p not in base.mx]
        out += [f"mx - {p}" for p in base.mx if p not in head.mx]
        if base.max_age != head.max_age:
            out.append(f"max_age: {base.max_age} → {head.max_age}")
        if base.hosting != head.hosting:
            out.append(f"hosting: {base.hosting} → {head.hosting}")
        if base.routing != head.routing and Hosting.CLOUDFLARE_WORKER in (base.hosting, head.hosting):
            out.append(f"routing: {base.routing} → {head.routing}")
        if base.dns != head.dns:
            out.append(f"dns: {base.dns} → {head.dns}")
        old = {r.zone_line() for r in base.records}
        new = {r.zone_line() for r in head.records}
        out += ["record - " + r.zone_line() for r in base.records if r.zone_line() not in new]
        out += ["record + " + r.zone_line() for r in head.records if r.zone_line() not in old]
        if base.policy_id != head.policy_id:
            out.append(f"id: {base.policy_id} → {head.policy_id}")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "change": self.kind,
            "lines": self.lines(),
            "mode": [d.mode if d else None for d in (self.base, self.head)],
            "mxAdded": [p for p in self.head.mx if not self.base or p not in self.base.mx]
            if self.head
            else [],
            "mxRemoved": [p for p in self.base.mx if not self.head or p not in self.head.mx]
            if self.base
            else [],
            "maxAge": [d.max_age if d else None for d in (self.base, self.head)],
            "policyId": [d.policy_id if d else None for d in (self.base, self.head)],
        }


def load_at(project_dir: Path, commit: str, stack: str, path: str | None = None) -> Deployment | None:
    """The stack as committed at ``commit``, by the one loader; None when the file did not exist.

    ``path`` is the stack file's path from the repository's top at that commit (another one
    before a rename); default ``Pulumi.<stack>.yaml`` in ``project_dir``. ``Pulumi.yaml`` comes
    from the same commit and directory (the working tree's when it had none), so defaults are
    that version's own.
    """
    stack_file = f"Pulumi.{stack}.yaml"
    if path is None:
        text, project = show(project_dir, commit, stack_file), show(project_dir, commit, "Pulumi.yaml")
    else:
        folder = path.rpartition("/")[0]
        text = show(project_dir, commit, path, from_top=True)
        project = show(
            project_dir, commit, f"{folder}/Pulumi.yaml" if folder else "Pulumi.yaml", from_top=True
        )
    if text is None:
        return None
    with tempfile.TemporaryDirectory(prefix="mtasts-base-") as tmp:
        where = Path(tmp)
        (where / stack_file).write_text(text, encoding="utf-8")
        if project is not None:
            (where / "Pulumi.yaml").write_text(project, encoding="utf-8")
        elif (project_dir / "Pulumi.yaml").is_file():
            shutil.copy(project_dir / "Pulumi.yaml", where / "Pulumi.yaml")
        return load_stack(where, stack)


def history(project_dir: Path, commit: str, stack: str) -> tuple[Iterator[StackVersion], bool]:
    """Versions of the stack file on the first-parent line from ``commit``, newest first, each loaded.

    Only the deployed line counts: a side branch merged in was never live, and a path-limited
    ``git log`` without ``--first-parent`` would walk it by date. ``--follow`` goes on across a
    rename (the project moved to another directory), and a commit that deleted the file is a
    version without it. The flag says whether the walk reaches the start of history (False for a
    shallow clone or a history past ``HISTORY_LIMIT``).
    """
    log = git(
        project_dir,
        "log",
        "--first-parent",
        "--follow",
        f"--max-count={HISTORY_LIMIT + 1}",
        "--format=%x00%H %cI",
        "--name-status",
        commit,
        "--",
        f"Pulumi.{stack}.yaml",
    )
    entries = [_log_entry(chunk) for chunk in log.split("\0")[1:]]
    shallow = git(project_dir, "rev-parse", "--is-shallow-repository").strip() == "true"
    complete = len(entries) <= HISTORY_LIMIT and not shallow

    def versions() -> Iterator[StackVersion]:
        path: str | None = None
        for sha, committed, change in entries[:HISTORY_LIMIT]:
            status, paths = change if change is not None else ("M", [path] if path else [])
            if status.startswith("D") or not paths:  # the commit deleted the file
                yield StackVersion(sha, committed, None)
                path = paths[0] if paths else path
                continue
            try:
                deployment = load_at(project_dir, sha, stack, paths[-1])
            except ConfigError as exc:
                yield StackVersion(sha, committed, None, str(exc))
            else:
                # Listed, yet not readable at that commit: a broken object is no version to skip.
                problem = None if deployment is not None else "git show cannot read it"
                yield StackVersion(sha, committed, deployment, problem)
            path = paths[0]  # before a rename (R old new), the older commits hold it as ``old``

    return versions(), complete


def _log_entry(chunk: str) -> tuple[str, datetime.datetime, tuple[str, list[str]] | None]:
    """One commit of ``history``'s log: its id, its commit time, and how it changed the stack file
    (status letter and paths from the repository's top), None when ``git log`` lists no change."""
    head, *changes = [line for line in chunk.splitlines() if line.strip()]
    sha, _, when = head.partition(" ")
    committed = datetime.datetime.fromisoformat(when).astimezone(datetime.UTC)
    if not changes:
        return sha, committed, None
    status, *paths = changes[-1].split("\t")
    return sha, committed, (status, paths)


@dataclass(frozen=True)
class Review:
    """The whole comparison: per-domain changes and the findings that decide the exit status."""

    stack: str
    base_ref: str
    changes: tuple[DomainChange, ...]
    findings: tuple[Finding, ...]
    cost: tuple[str, ...] = ()
    """The change's API writes and every shard move (``mtasts.model.budget.change_lines``)."""
    cost_json: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return any(f.severity == Severity.ERROR for f in self.findings)

    def text(self) -> str:
        counts = {k: sum(1 for c in self.changes if c.kind == k) for k in ("added", "changed", "removed")}
        out = [
            f"stack {self.stack} against {self.base_ref}: "
            + ", ".join(f"{n} {k}" for k, n in counts.items())
            + f", {sum(1 for c in self.changes if c.kind == 'unchanged')} unchanged"
        ]
        for change in self.changes:
            if change.kind == "unchanged":
                continue
            out.append("")
            out.append(f"== {change.name} ({change.kind})")
            out += ["  " + line for line in change.lines()]
        # Every finding in one list, worst first, so the verdict below is the list's own.
        if self.findings:
            out += ["", "findings, worst first:"] + ["  " + f.line() for f in self.ordered]
        out += ["", *self.cost] if self.cost else []
        out.append("")
        out.append(self.verdict)
        return "\n".join(out) + "\n"

    @property
    def ordered(self) -> list[Finding]:
        """The findings worst first, then by key, in a stable order."""
        indexed = sorted(enumerate(self.findings), key=lambda p: (p[1].severity.rank, p[1].key or "", p[0]))
        return [f for _, f in indexed]

    @property
    def verdict(self) -> str:
        """The last line: FAIL with the count of errors (exit 1), or OK (exit 0)."""
        bad = [f for f in self.findings if f.severity is Severity.ERROR]
        if bad:
            return f"FAIL: {len(bad)} error(s): this change can lose mail or strand cached policies"
        old = [f for f in self.findings if f.fact(AT_BASE)]
        return (
            f"OK: nothing in this change can lose mail ({len(old)} problem(s) already at the base)"
            if old
            else "OK"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "base": self.base_ref,
            "domains": {c.name: c.as_json() for c in self.changes},
            "findings": [f.as_json(self._domain_of(f)) for f in self.ordered],
            "cost": self.cost_json,
            "ok": not self.failed,
        }

    def _domain_of(self, finding: Finding) -> str | None:
        names = {c.name for c in self.changes}
        rest = (finding.key or "").removeprefix("domains.")
        return next((n for n in (rest, rest.rpartition(".")[0]) if n in names), None)

    def render(self, as_json: bool) -> str:
        return json.dumps(self.as_json(), indent=2) + "\n" if as_json else self.text()


def compare(base: Deployment | None, head: Deployment) -> list[DomainChange]:
    """Per domain (sorted by name) what changes from ``base`` to ``head``."""
    old = {d.name: d for d in base.domains} if base else {}
    new = {d.name: d for d in head.domains}
    changes = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before is None:
            kind = "added"
        elif after is None:
            kind = "removed"
        else:
            kind = "changed" if DomainChange(name, "changed", before, after).lines() else "unchanged"
        changes.append(DomainChange(name, kind, before, after))
    return changes


LiveCheck = Callable[[Deployment], list[Finding]]
"""A live check of the working-tree deployment (``plan --check-mx``), each finding with its domain."""
Readiness = Callable[[Deployment, list[str]], list[Finding]]
"""Given the working-tree deployment and domains becoming ``enforce``: findings keyed per domain."""


def review(
    project_dir: Path,
    stack: str,
    base_ref: str,
    *,
    now: datetime.datetime | None = None,
    readiness: Readiness | None = None,
    head: Deployment | None = None,
    live: LiveCheck | None = None,
) -> Review:
    """Compare ``Pulumi.<stack>.yaml`` at ``base_ref`` with the working tree (``head`` if loaded).

    Raises ``GitError`` for a bad revision, ``ConfigError`` for an invalid working tree.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    commit = resolve(project_dir, base_ref)
    head = head if head is not None else load_stack(project_dir, stack)
    try:
        base = load_at(project_dir, commit, stack)
    except ConfigError as exc:
        named = tuple(ConfigError(f"{base_ref}:Pulumi.{stack}.yaml: {e.key}", e.rule) for e in every(exc))
        raise (named[0] if len(named) == 1 else ConfigErrors(named)) from None
    changes = compare(base, head)
    findings: list[Finding] = []
    for change in changes:
        if change.kind == "removed" and change.base is not None:
            retired = None
            if change.base.mode is Mode.NONE:
                versions, complete = history(project_dir, commit, stack)
                retired = retirement(versions, change.name, complete)
            findings += removal_findings(change.base, retired, now)
        elif change.kind == "changed" and change.base is not None and change.head is not None:
            findings += routing_change(change.base, change.head)
    becoming = [c.name for c in changes if c.becomes_enforce]
    if becoming and readiness is not None:
        findings += readiness(head, becoming)
    if live is not None:
        # A problem the base already had is reported as such and does not fail this change.
        findings += at_base(live(head), base, head)
    cost = budget.change_json(base, head, stack)
    return Review(
        stack, base_ref, tuple(changes), tuple(findings), tuple(budget.change_lines(base, head, stack)), cost
    )


def readiness_from_args(args: Any) -> Readiness:
    """Readiness as ``plan --base`` runs it: live verify evidence, reports from a file or the receiver."""
    options = options_from_args(args)

    def judge(deployment: Deployment, names: list[str]) -> list[Finding]:
        gather = verify_evidence(options, args.concurrency, deployment)
        return plan_findings(assess(deployment, names, gather, reports_source(args)))

    return judge


def run(args: Any, head: Deployment | None = None, live: LiveCheck | None = None) -> int:
    """``plan --base``: 0 when nothing can lose mail, 1 when a change can, 2 on bad usage.

    ``live`` (``plan --check-mx``) adds its findings to the same list, so the text, the JSON
    and the exit status are one verdict."""
    import sys

    try:
        result = review(
            args.project_dir,
            args.stack,
            args.base,
            readiness=readiness_from_args(args),
            head=head,
            live=live,
        )
    except (GitError, UsageError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(result.render(args.json))
    return 1 if result.failed else 0
