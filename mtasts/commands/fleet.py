"""``mtasts fleet {split,check,touched}``: a fleet of stacks from one declaration, and the CI matrix.

``split`` writes the generated stack files from ``fleet.yaml`` (the rules are
``mtasts.model.fleet``'s); ``check`` loads every stack of the fleet and reports, one line each, a
domain in two stacks, a per-zone or per-account limit over the fleet, a stack that does not load,
and a generated file that differs from what ``split`` would write; ``touched`` names the stacks a
change touches since a git revision, for a GitHub Actions matrix (``--json``). The model is pure;
this module reads and writes the files and asks git.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtasts.commands.shared.files import write_atomically
from mtasts.commands.shared.git import GitError, git, resolve, show
from mtasts.commands.shared.parser import Help, Parser

if TYPE_CHECKING:
    from mtasts.model.fleet import Declaration, StackFile


def add_parser(sub: Any) -> None:
    fleet = sub.add_parser(
        "fleet",
        help="split one declaration (fleet.yaml) into stacks of bounded size, check the fleet, "
        "and name the stacks a change touches",
    )
    actions = fleet.add_subparsers(dest="fleet_command", required=True, metavar="ACTION", parser_class=Parser)

    def action(name: str, summary: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(
            name, help=summary, description=summary[:1].upper() + summary[1:] + ".", formatter_class=Help
        )
        return parser

    action(
        "split",
        "write Pulumi.<prefix>-NN.yaml from fleet.yaml: a domain already in a stack stays there, a "
        "new one joins its zone's stack, else the fullest stack with room, else a new stack",
    )
    check = action(
        "check",
        "check every stack of the fleet together (no domain in two stacks, per-zone and per-account "
        "limits summed) and that each generated file is what split writes; exit 2 on any problem",
    )
    check.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="STACK",
        help="another stack deployed to the same account and zones, counted with the fleet "
        "(repeatable; default: the fleet's stacks only)",
    )
    touched = action(
        "touched",
        "the stacks a change since GIT_REF touches: every stack when shared code or config changed, "
        "else those whose stack file changed",
    )
    touched.add_argument("--base", required=True, metavar="GIT_REF", help="the revision to compare with")
    touched.add_argument(
        "--json", action="store_true", help='print one JSON array, e.g. ["dev","prod"], for fromJSON(...)'
    )


def run(args: argparse.Namespace) -> int:
    project = Path(args.project_dir)
    if args.fleet_command == "touched":
        return _touched(project, args.base, args.json)
    if args.fleet_command == "split":
        return _split(project)
    return _check(project, list(dict.fromkeys(args.also)))


def _declaration(project: Path) -> Declaration:
    from mtasts.model.fleet import DECLARATION, parse_declaration
    from mtasts.model.stackfile import read_yaml

    return parse_declaration(read_yaml(project / DECLARATION), DECLARATION)


def _generated(project: Path, prefix: str) -> tuple[list[StackFile], list[str]]:
    """The generated stack files there are, and one problem line per file that does not read."""
    from mtasts.model.config import ConfigError
    from mtasts.model.fleet import generated_number, read_generated

    found, problems = [], []
    for path in sorted(project.glob("Pulumi.*.yaml")):
        other = generated_by(path)
        if other is not None and other != prefix:
            # A new prefix would place every domain again, in new stacks: a move of each.
            problems.append(
                f"{path.name}: was generated for fleet {other}, not {prefix}; fleet.prefix names "
                "the stacks and cannot change while they exist"
            )
            continue
        if generated_number(prefix, path.name) is None:
            continue  # another stack, maybe one whose name starts alike (Pulumi.<prefix>-dev.yaml)
        try:
            text = path.read_bytes().decode("utf-8")
            found.append(read_generated(prefix, path.name, text))
        except UnicodeDecodeError:
            problems.append(f"{path.name}: is not UTF-8")
        except ConfigError as exc:
            problems.append(str(exc))
    return found, problems


def generated_by(path: Path) -> str | None:
    """The fleet prefix a stack file's header names, or None for a file not generated."""
    from mtasts.model.fleet import HEADER, header_prefix

    try:
        with path.open("rb") as handle:
            first = handle.readline(1024).decode("utf-8", "replace")
    except OSError:
        return None
    return header_prefix(first) if first.startswith(HEADER) else None


def _split(project: Path) -> int:
    from mtasts.model.config import ConfigError, project_defaults
    from mtasts.model.fleet import load_declaration, load_generated, split, stack_file_name
    from mtasts.model.vocabulary import Mode

    try:
        declaration = _declaration(project)
        found, problems = _generated(project, declaration.prefix)
        if problems:
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
            return 2
        defaults = project_defaults(project)
        whole = load_declaration(declaration, defaults)
        result = split(declaration, whole, found)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, keeper, other in result.duplicates:
        problems.append(
            f"domains.{name}: is in {stack_file_name(keeper)} and in {stack_file_name(other)}; "
            "remove it by hand from the file of the stack that has not deployed it, then split again"
        )
    before = {f.stack: f.text for f in found}
    # Each new text through the loader, as pulumi up will load it (per-script limits, say), before
    # any file is written: all or nothing.
    for stack, text in result.files.items():
        if before.get(stack) != text:
            try:
                load_generated(text, stack_file_name(stack), defaults)
            except ConfigError as exc:
                problems.append(f"{stack_file_name(stack)}: {exc}")
    # An emptied stack loses its file, so no plan --base will judge its last removals: they must
    # have published mode none first (RFC 8461 §8.3; then wait out the old max_age, then destroy).
    for stack in result.emptied:
        for domain in load_generated(before[stack], stack_file_name(stack), defaults).domains:
            if domain.mode is not Mode.NONE:
                problems.append(
                    f"domains.{domain.name}: is the last of stack {stack}, whose file would go with it "
                    "(and with it the plan --base check of the removal); publish mode: none first and "
                    "remove it once senders' cached policies have expired (RFC 8461 §8.3)"
                )
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    written = 0
    for stack, text in result.files.items():
        if before.get(stack) != text:
            write_atomically(project / stack_file_name(stack), text)
            written += 1
        change = ""
        new, gone = result.added.get(stack, ()), result.removed.get(stack, ())
        if new or gone:
            change = f" (+{len(new):,}, -{len(gone):,})"
        print(
            f"{stack_file_name(stack)}: {len(result.domains[stack]):,} domain(s) in {result.zones[stack]:,} "
            f"zone(s), {result.resources[stack]:,} resources{change}"
            f"{'' if before.get(stack) != text else ', unchanged'}"
        )
    for stack in result.emptied:
        (project / stack_file_name(stack)).unlink()
        print(
            f"removed {stack_file_name(stack)}: no domain left; run `pulumi destroy --stack {stack}`, "
            f"then `pulumi stack rm {stack}`"
        )
    largest = max(result.resources.values(), default=0)
    print(
        f"fleet {declaration.prefix}: {len(result.files):,} stack(s), {len(whole.domains):,} domain(s), "
        f"at most {largest:,} resources a stack (bound {declaration.bound:,}); "
        f"{written:,} file(s) written, {len(result.files) - written:,} unchanged"
    )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _first_difference(found: str, wanted: str) -> int:
    for number, (a, b) in enumerate(zip(found.splitlines(), wanted.splitlines(), strict=False), 1):
        if a != b:
            return number
    return min(len(found.splitlines()), len(wanted.splitlines())) + 1


def _check(project: Path, also: list[str]) -> int:
    from mtasts.model.config import ConfigError, Deployment, load_stack, project_defaults
    from mtasts.model.fleet import load_declaration, split, stack_file_name
    from mtasts.model.preflight import check_fleet, once_each

    try:
        declaration = _declaration(project)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems: list[str] = []
    warnings: list[str] = []
    found, unreadable = _generated(project, declaration.prefix)
    problems += unreadable
    try:
        result = split(declaration, load_declaration(declaration, project_defaults(project)), found)
    except ConfigError as exc:
        problems.append(f"{declaration.name}: {exc}")
        result = None
    texts = {f.stack: f.text for f in found}
    if result is not None:
        warnings += result.warnings
        for stack, text in result.files.items():
            name = stack_file_name(stack)
            if stack not in texts:
                problems.append(
                    f"{name}: missing; {declaration.name} puts domains there: run mtasts fleet split"
                )
            elif texts[stack] != text:
                problems.append(
                    f"{name}: differs from what mtasts fleet split writes from {declaration.name}, first at "
                    f"line {_first_difference(texts[stack], text)} (edited by hand, or {declaration.name} "
                    "changed without a split): change the declaration and run mtasts fleet split"
                )
        for stack in result.emptied:
            problems.append(
                f"{stack_file_name(stack)}: has no domain of {declaration.name} left; run mtasts fleet split"
            )
    loaded: list[tuple[str, Deployment]] = []
    generated = [f.stack for f in found]
    for stack in generated + [s for s in also if s not in generated]:
        try:
            loaded.append((stack, load_stack(project, stack)))
        except ConfigError as exc:
            problems.append(f"{stack_file_name(stack)}: {exc}")
    twice, counted = once_each(loaded)  # each domain counted where first declared
    problems += [str(error) for error in twice]
    problems += [f"limits.{p.limit.key}: {p.line()} (over the fleet)" for p in check_fleet(counted)]
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"fleet {declaration.prefix}: {len(problems):,} problem(s)")
        return 2
    domains = sum(len(d.domains) for _, d in loaded)
    print(
        f"fleet {declaration.prefix}: {len(found):,} stack(s){f' and {len(also)} more' if also else ''}, "
        f"{domains:,} domain(s), each in one stack, within every per-zone and per-account limit; "
        f"every generated file is what split writes"
    )
    return 0


def _touched(project: Path, base: str, as_json: bool) -> int:
    import json

    from mtasts.model.config import ConfigError
    from mtasts.model.fleet import DECLARATION, shared_part, stack_of, touched
    from mtasts.model.stackfile import parse_yaml

    try:
        commit = resolve(project, base)
        # Against the working tree, renames as a deletion and an addition, and new untracked files.
        changed = git(project, "diff", "--name-only", "--no-renames", "--relative", commit, "--").splitlines()
        changed += git(project, "ls-files", "--others", "--exclude-standard").splitlines()
        shared = False
        why = ""
        if DECLARATION in changed:
            old = show(project, commit, DECLARATION)
            path = project / DECLARATION
            new = path.read_text(encoding="utf-8") if path.is_file() else None
            if old is None or new is None:
                shared, why = True, f"{DECLARATION} was added or removed"
            else:
                try:
                    before = shared_part(parse_yaml(old, DECLARATION) or {})
                except ConfigError:
                    before = None
                after = shared_part(parse_yaml(new, DECLARATION) or {})
                if before != after:
                    shared, why = True, f"the shared part of {DECLARATION} changed"
        stacks = [s for s in (stack_of(p.name) for p in project.glob("Pulumi.*.yaml")) if s]
        found = touched(changed, stacks, shared)
    except (GitError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from mtasts.model.fleet import is_shared_path

    shared_paths = [p for p in changed if is_shared_path(p)]
    if shared_paths:
        why = f"{shared_paths[0]} changed" + (
            f" (and {len(shared_paths) - 1:,} more)" if len(shared_paths) > 1 else ""
        )
    reason = (
        f"every stack: {why}" if why else f"{len(found):,} of {len(stacks):,} stack(s): their files changed"
    )
    print(f"touched since {base}: {reason}", file=sys.stderr)
    if as_json:
        print(json.dumps(found, separators=(",", ":")))
    else:
        for stack in found:
            print(stack)
    return 0
