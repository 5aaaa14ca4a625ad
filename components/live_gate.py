"""The live gate: the ``_mta-sts`` TXT is created or updated only once its policy is served.

A Pulumi resource hook (``pulumi.ResourceHook``) bound with
``pulumi.ResourceHookBinding(before_create=[gate], before_update=[gate])`` to each domain's
``_mta-sts`` record and nothing else. Before the engine creates or updates that record, the hook
reads the domain and the new id from the record's new inputs (name ``_mta-sts.<domain>``, content
``"v=STSv1; id=…"``) and polls ``https://mta-sts.<domain>/.well-known/mta-sts.txt`` as a sender
fetches it until the bytes' id is the new one on every address, ``rounds`` looks in a row over at
least ``span`` seconds (``mtasts.probes.live``; ``mta-sts:liveGate``). On timeout it raises: the
operation fails and the old TXT stays, so no sender caches the old policy under the new id
(RFC 8461 §8.1). The hook runs in the program's own process, so it works under the Pulumi CLI and
the automation API alike; ``on_dry_run=False``, so ``pulumi preview`` never waits. Both hostings:
the gate looks only at what is served, whoever serves it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pulumi

from mtasts.model.rollout import LiveGate
from mtasts.probes.live import Fetch, NotLiveError, wait_live
from mtasts.probes.options import ProbeOptions
from mtasts.probes.prober import fetch_policy
from mtasts.rfc.names import normalize_name
from mtasts.rfc.records import STS_LABEL, RecordError, parse_sts_record

HOOK_NAME = "mta-sts-live-gate"
FIRST_PAGES_HOOK_NAME = "mta-sts-live-gate-first-pages"
STS_PREFIX = f"{STS_LABEL}."


class LiveGateError(Exception):
    """The new policy was not served in time (or the record is not an ``_mta-sts`` TXT)."""


def sts_target(inputs: Mapping[str, Any]) -> tuple[str, str]:
    """(domain, id) from the new inputs of an ``_mta-sts`` DnsRecord."""
    name = normalize_name(str(inputs.get("name") or ""))
    if not name.startswith(STS_PREFIX):
        raise LiveGateError(
            f"the live gate is bound to {name or 'a record without a name'}, not _mta-sts.<domain>"
        )
    try:
        record = parse_sts_record(str(inputs.get("content") or ""))
    except RecordError as exc:
        raise LiveGateError(f"{name}: content is not a v=STSv1 record: {exc}") from None
    return name[len(STS_PREFIX) :], record.id


def gate_function(
    settings: LiveGate, options: ProbeOptions | None = None, fetch: Fetch = fetch_policy
) -> pulumi.ResourceHookFunction:
    """The hook's body; ``options`` and ``fetch`` are for tests (loopback servers)."""
    probe_options = options or ProbeOptions()

    async def mta_sts_live_gate(args: pulumi.ResourceHookArgs) -> None:
        domain, policy_id = sts_target(args.new_inputs or {})
        pulumi.log.info(f"live gate: waiting until https://mta-sts.{domain}/ serves policy id {policy_id}")
        try:
            await wait_live(
                {domain: policy_id},
                probe_options,
                settings.timeout,
                settings.interval,
                fetch,
                rounds=settings.rounds,
                span=settings.span,
            )
        except NotLiveError as exc:
            raise LiveGateError(
                f"{exc}; _mta-sts.{domain} is left as it was (RFC 8461 §8.1). "
                "Run `pulumi up` again once the policy is served (mtasts wait-live shows it)."
            ) from None

    return mta_sts_live_gate


def live_gate(settings: LiveGate, options: ProbeOptions | None = None) -> pulumi.ResourceHook:
    """The named hook, registered once per program; never run by ``preview``."""
    return pulumi.ResourceHook(
        HOOK_NAME, gate_function(settings, options), pulumi.ResourceHookOptions(on_dry_run=False)
    )


def binding(
    gate: pulumi.ResourceHook,
    first: pulumi.ResourceHook | None = None,
    guard: pulumi.ResourceHook | None = None,
) -> pulumi.ResourceHookBinding:
    """Before create and before update: every time the record's id can change; ``first`` (if
    given) instead of ``gate`` before create. ``guard`` (``components.guards``) runs before either
    on create: no waiting beside a hand-made record."""
    guarded = [guard] if guard is not None else []
    return pulumi.ResourceHookBinding(before_create=[*guarded, first or gate], before_update=[gate])


def first_pages_settings(settings: LiveGate) -> LiveGate:
    """The first Pages gate's wait: ``firstPagesTimeout`` long, with the stack's interval, rounds
    and span (a flapping host is as likely behind a new Pages site as behind an old one)."""
    return dataclasses.replace(settings, timeout=settings.first_pages_timeout)


def first_pages_gate(settings: LiveGate, options: ProbeOptions | None = None) -> pulumi.ResourceHook:
    """The gate before a GitHub Pages domain's first ``_mta-sts`` TXT: GitHub issues the site's
    certificate only once ``mta-sts.<d>`` resolves to it, which usually takes longer than a policy
    change does (minutes, up to about an hour), so this wait is ``liveGate.firstPagesTimeout``."""
    return pulumi.ResourceHook(
        FIRST_PAGES_HOOK_NAME,
        gate_function(first_pages_settings(settings), options),
        pulumi.ResourceHookOptions(on_dry_run=False),
    )
