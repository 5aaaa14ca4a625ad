"""``mtasts zones --stack S [--write]``: record the stack's zone ids in ``mta-sts:zoneIds``.

Every preview and up looks up, by name, each zone whose id the stack does not give: one
``getZone`` a zone, on every run (at 10,000 zones, 42 minutes of the API limit for a preview that
changes nothing). This asks the Cloudflare API once for the ids of exactly those zones
(``mtasts.model.zones``, the program's own reckoning, with ``mta-sts:zoneIds`` left out), in the
stack's account, the cheaper way (``mtasts.probes.cloudflare_api.find_zones``: by name, or by
listing the account 50 zones a page), and checks every id already recorded against the answer.

Without ``--write`` it prints the ``mta-sts:zoneIds`` block (stdout, indented to sit under
``config:``) and one summary line (stderr). With ``--write`` it puts that block into
``Pulumi.<stack>.yaml`` in place of the old one, every other line kept byte for byte
(``mtasts.model.stackedit``), through a temporary file renamed over the old; when the recorded
ids are already these, the file is not touched.

Exit status: 0 done; 1 when a recorded id differs from Cloudflare's, a zone is not in the account
(or the token cannot see it), or an API call failed (naming the call; nothing is written); 2 on
bad usage or config, or no ``CLOUDFLARE_API_TOKEN``.
"""

from __future__ import annotations

import argparse
from typing import Any

from mtasts.commands.shared.argtypes import account_id, seconds

TOKEN_HELP = "a token that can read the account's zones (Zone Read), as `pulumi up` uses"


def add_parser(sub: Any) -> None:
    zones = sub.add_parser(
        "zones",
        help="record the stack's Cloudflare zone ids in mta-sts:zoneIds, so previews look none up",
        epilog="Reads the Cloudflare API: CLOUDFLARE_API_TOKEN (Zone Read), CLOUDFLARE_BASE_URL.",
    )
    zones.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    zones.add_argument(
        "--write",
        action="store_true",
        help="write the mta-sts:zoneIds block into Pulumi.<stack>.yaml (every other line kept) "
        "instead of printing it",
    )
    zones.add_argument(
        "--account-id",
        type=account_id,
        metavar="ID",
        help="the Cloudflare account to look in (default: the stack's mta-sts:cloudflareAccountId)",
    )
    zones.add_argument("--timeout", type=seconds, default=30.0, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    from pathlib import Path

    from mtasts.commands.shared.args import UsageError
    from mtasts.model.config import ConfigError
    from mtasts.probes.cloudflare_api import CloudflareApi, CloudflareApiError, NoTokenError, find_zones

    try:
        plan = _plan(Path(args.project_dir), args.stack, args.account_id)
    except (ConfigError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lookup = None
    if plan.wanted:

        async def ask() -> Any:
            async with CloudflareApi(timeout=args.timeout) as api:
                return await find_zones(api, plan.wanted, plan.account)

        try:
            lookup = asyncio.run(ask())
        except NoTokenError:
            print(f"error: CLOUDFLARE_API_TOKEN: is not set; {TOKEN_HELP}", file=sys.stderr)
            return 2
        except CloudflareApiError as exc:
            print(f"error: {exc} (nothing written)", file=sys.stderr)
            return 1
    ids = {name: zone.id for name, zone in lookup.found.items()} if lookup else {}
    print(_summary(plan, ids, lookup), file=sys.stderr)
    problems = _problems(plan, ids)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if problems:
        return 1
    if not args.write:
        sys.stdout.write(_block(ids))
        return 0
    return _write(plan, ids)


class _Plan:
    """The stack file, the zones the program looks up without ``mta-sts:zoneIds``, what is recorded."""

    def __init__(
        self, path: Any, values: dict[str, Any], account: str, wanted: list[str], domains: list[str]
    ) -> None:
        from mtasts.model.loader import recorded_zone_ids

        self.path = path
        self.values = values
        """The config ``load_stack`` loads from the file."""
        self.account = account
        self.wanted = wanted
        self.domains = domains
        """The stack's domain names: a written file must give the same."""
        self.recorded = recorded_zone_ids(values)


def _plan(project_dir: Any, stack: str, account: str | None) -> _Plan:
    from mtasts.commands.shared.args import UsageError
    from mtasts.model.config import ConfigError
    from mtasts.model.loader import load_config, recorded_zone_ids, stack_values, without_zone_ids
    from mtasts.model.zones import looked_up_zones

    values = stack_values(project_dir, stack)
    recorded_zone_ids(values)  # checked as the loader checks it, before anything is asked
    bare = without_zone_ids(values)
    try:
        deployment = load_config(bare)
    except ConfigError as exc:
        if exc.key != "cloudflareAccountId" or not exc.rule.startswith("is required"):
            raise
        if account is None:
            raise UsageError(
                "cloudflareAccountId: is required to look zones up by name in the account the program "
                "uses; set mta-sts:cloudflareAccountId or pass --account-id"
            ) from None
        deployment = load_config({**bare, "cloudflareAccountId": account})
    given = deployment.cloudflare_account_id
    if account is not None and given is not None and account != given:
        raise UsageError(
            f"--account-id: is {account} but the stack's cloudflareAccountId is {given}; "
            "the program looks its zones up in the stack's account"
        )
    wanted = looked_up_zones(deployment)  # with mta-sts:zoneIds left out: what it must cover
    chosen = given or account
    if wanted and chosen is None:  # the loader requires the account for every lookup
        raise UsageError("cloudflareAccountId: is required to look zones up; pass --account-id")
    names = [d.name for d in deployment.domains]
    return _Plan(project_dir / f"Pulumi.{stack}.yaml", values, chosen or "", wanted, names)


def _summary(plan: _Plan, ids: dict[str, str], lookup: Any) -> str:
    recorded = sum(1 for zone in plan.wanted if zone in plan.recorded)
    unused = sorted(set(plan.recorded) - set(plan.wanted))
    if lookup is None:
        spent = "no Cloudflare API call"
    elif lookup.pages:
        spent = f"{lookup.calls:,} Cloudflare API call(s): {lookup.pages:,} page(s) of the account's zones"
        if lookup.calls > lookup.pages:
            spent += f", {lookup.calls - lookup.pages:,} by name"
    else:
        spent = f"{lookup.calls:,} Cloudflare API call(s), one a zone by name"
    line = (
        f"{len(plan.wanted):,} zone(s) to record, {len(ids):,} found, {recorded:,} already recorded; {spent}"
    )
    if unused:
        line += f"; {len(unused):,} recorded zone(s) no longer used, left out: {', '.join(unused)}"
    return line


def _problems(plan: _Plan, ids: dict[str, str]) -> list[str]:
    out = []
    for zone in plan.wanted:
        found, recorded = ids.get(zone), plan.recorded.get(zone)
        if found is None:
            out.append(
                f"zoneIds.{zone}: no zone {zone} in account {plan.account}, or the token cannot see it "
                "(the program's lookup would fail too)"
            )
        elif recorded is not None and recorded != found:
            out.append(
                f"zoneIds.{zone}: recorded {recorded} but Cloudflare's zone {zone} is {found}; "
                "remove the entry and run mtasts zones --write again"
            )
    return out


def _block(ids: dict[str, str]) -> str:
    from mtasts.model.stackedit import block_lines

    return "".join(block_lines("mta-sts:zoneIds", ids, "  ", "  "))


def _write(plan: _Plan, ids: dict[str, str]) -> int:
    import sys

    from mtasts.commands.shared.files import write_atomically
    from mtasts.model.config import ConfigError
    from mtasts.model.loader import load_config, without_zone_ids
    from mtasts.model.stackedit import set_config_mapping

    path = plan.path.resolve()  # a symbolic link keeps pointing at the file it names
    if ids == plan.recorded:
        held = f"mta-sts:zoneIds already holds these {len(ids):,} zone(s)"
        print(f"{plan.path.name}: {held}; not written", file=sys.stderr)
        return 0
    text = path.read_bytes().decode("utf-8")  # the loader has read it as UTF-8 already
    try:
        edited = set_config_mapping(text, "zoneIds", ids, plan.path.name)
        # The edited file differs from the old in this key alone (set_config_mapping checks),
        # so this is what load_stack will read from it.
        after = load_config({**without_zone_ids(plan.values), "zoneIds": ids})
        if [d.name for d in after.domains] != plan.domains:
            raise ConfigError(plan.path.name, "would give other domains once edited; edit it by hand")
    except ConfigError as exc:
        print(f"error: {exc} (nothing written)", file=sys.stderr)
        return 2
    write_atomically(path, edited)
    print(f"wrote mta-sts:zoneIds ({len(ids):,} zone(s)) to {plan.path.name}", file=sys.stderr)
    return 0
