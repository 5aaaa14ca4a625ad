"""Customer domains on Cloudflare for SaaS: custom hostnames, one Worker route, the shared records.

Everything lives in the operator's delegation zone; nothing is created in a customer's zone (the
customer creates the CNAMEs ``plan`` prints). Per stack: one policy Worker script for the
customers (``mta-sts-<stack>-customers``, the same template as the policy Worker, serving by
``Host``), the originless fallback origin (a proxied AAAA ``100::`` at ``target`` and
``CustomHostnameFallbackOrigin`` naming it) and a single ``*/*`` route sending every custom
hostname to the script: "Workers as your fallback origin"
(developers.cloudflare.com/cloudflare-for-platforms/cloudflare-for-saas/start/advanced-settings/
worker-as-origin/: "You do not need to add individual Worker routes for each custom hostname").
Per customer: a ``CustomHostname`` for ``mta-sts.<customer>`` with a DV certificate validated
over HTTP, which Cloudflare completes once the customer's CNAME reaches the zone
(terraform-provider-cloudflare ``internal/services/custom_hostname/schema.go``: ``ssl.method``
``http``, ``ssl.type`` ``dv``; ``zone_id`` and ``hostname`` force a replacement).

The TXT records (``mtasts.model.delegation.operator_records``: wildcards plus exceptions) carry
the live gate: before one is created or updated, the gate fetches the policy of the customers
that read it, as senders do, and waits until none serves other bytes than the new id names,
``rounds`` looks in a row over at least ``span`` seconds (``mta-sts:liveGate``).
A customer whose name does not resolve or answer yet (its CNAMEs are not in place) is skipped:
no sender can fetch its policy, so none can cache a stale one under the new id (RFC 8461 §8.1).

A customer moves between its own TXT and the wildcard when the common policy changes, and the
id it reads changes with the move, so each move is gated too:

- onto its own record: the wildcard waits for every exception (``depends_on``), so a customer
  leaving the wildcard reads its own record, checked by the gate, before the wildcard's id changes;
- back onto the wildcard: its own record is deleted at the end of ``up``, once the program has
  registered everything (pulumi ``pkg/resource/deploy/deployment_executor.go``: ``performDeletes``
  runs when the program's events end), and the leave gate, a ``before_delete`` hook, first waits
  until the customer serves the wildcard's id. Delete hooks are found by name (pulumi
  ``resource_hooks.py``: "the engine needs to be able to identify a hook when a resource is
  deleted"), so ``register_leave_gate`` runs in every program with ``mta-sts:delegation``, and
  ``pulumi destroy`` needs ``--run-program``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from components import retry
from components.dns import COMMENT
from mtasts.model import policy_worker
from mtasts.model.cloudflare import WORKER_NAME, derived_name
from mtasts.model.config import Deployment, Domain
from mtasts.model.delegation import DelegationSettings, OperatorRecord, wildcard_readers
from mtasts.model.rollout import LiveGate
from mtasts.model.vocabulary import RecordRole, Reports
from mtasts.probes.live import Served, look
from mtasts.probes.options import ProbeOptions
from mtasts.probes.prober import PolicyFetch, Prober
from mtasts.rfc.names import normalize_name
from mtasts.rfc.records import RecordError, parse_sts_record

HOOK_NAME = "mta-sts-delegated-live-gate"
LEAVE_HOOK_NAME = "mta-sts-delegated-leave-gate"


def script_name(stack: str) -> str:
    """The customers' policy Worker: beside the stack's own, so its routes never mix with theirs.

    ``mta-sts-<stack>-customers`` whenever Cloudflare takes it, else a stable derived name
    (``mtasts.model.cloudflare.derived_name``: at most 63 of ``[a-z0-9_-]``).
    """
    return derived_name(policy_worker.SCRIPT_PREFIX, f"{stack}-customers", WORKER_NAME)


@dataclass(frozen=True)
class DelegatedHostingArgs:
    """What ``DelegatedHosting`` needs."""

    account_id: str
    """Cloudflare account that owns the script."""
    script_name: str
    settings: DelegationSettings
    """``mta-sts:delegation``: the zone, its target and the certificate authority."""
    customers: Sequence[Domain]
    """The ``hosting: delegated`` domains, sorted by name."""
    records: Sequence[OperatorRecord]
    """The records to create in the zone (``Deployment.operator_records``)."""
    live_gate: LiveGate
    zone_id: pulumi.Input[str]
    """The delegation zone's id, from the program's one ``components.dns.Zones`` (looked up once,
    in the stack's account)."""
    reporting: Sequence[pulumi.Resource] = ()
    """The built-in receiver's answering resources: a ``_smtp._tls`` TXT a ``reports: builtin``
    customer reads waits for them, as a domain's own does (``components.dns``)."""
    options: ProbeOptions | None = None
    """How the gate fetches (tests: loopback servers); None: as a sender on the internet."""
    leave_gate: pulumi.ResourceHook | None = None
    """``register_leave_gate``'s hook, bound ``before_delete`` to each customer's own ``_mta-sts`` TXT."""


class DelegatedHosting(pulumi.ComponentResource):
    """Custom hostnames in the delegation zone, served by one Worker through one route."""

    script: cloudflare.WorkersScript
    route: cloudflare.WorkersRoute
    fallback_origin: cloudflare.CustomHostnameFallbackOrigin
    custom_hostnames: dict[str, cloudflare.CustomHostname]
    records: dict[str, cloudflare.DnsRecord]

    def __init__(
        self, name: str, args: DelegatedHostingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mta-sts:index:DelegatedHosting", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, hooks=retry.binding())
        settings = args.settings
        zone_id = args.zone_id
        self.script = cloudflare.WorkersScript(
            f"{name}-script",
            account_id=args.account_id,
            script_name=args.script_name,
            content=policy_worker.worker_script(args.customers),
            main_module=policy_worker.MAIN_MODULE,
            compatibility_date=policy_worker.COMPATIBILITY_DATE,
            opts=child,
        )
        fallback, *txt = args.records
        self.records = {}
        self.records[fallback.key] = self._record(fallback, zone_id, [], None)
        # The fallback origin must be a proxied record of the zone (the worker-as-origin page).
        # terraform-provider-cloudflare internal/services/custom_hostname_fallback_origin/schema.go:
        # zone_id and origin required, zone_id forces a replacement, origin is updated in place.
        self.fallback_origin = cloudflare.CustomHostnameFallbackOrigin(
            f"{name}-fallback-origin",
            zone_id=zone_id,
            origin=settings.target,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.records[fallback.key]], hooks=retry.binding()
            ),
        )
        # One route for every custom hostname: */* matches all traffic entering the zone.
        # internal/services/workers_route/schema.go: zone_id (forces a replacement) and pattern
        # required, script optional (a route without one runs no Worker); pattern updates in place.
        self.route = cloudflare.WorkersRoute(
            f"{name}-route",
            zone_id=zone_id,
            pattern="*/*",
            script=self.script.script_name,
            opts=child,
        )
        serving: list[pulumi.Resource] = [self.script, self.route, self.fallback_origin]
        # internal/services/custom_hostname/schema.go: zone_id and hostname required, both force a
        # replacement; ssl optional and updated in place; ssl.method one of http, txt, email;
        # ssl.type only dv; ssl.certificate_authority digicert, google, lets_encrypt or ssl_com
        # (unset: Cloudflare's default CA, chosen after it checks the CAA records).
        ssl = cloudflare.CustomHostnameSslArgs(
            method="http", type="dv", certificate_authority=settings.certificate_authority
        )
        self.custom_hostnames = {}
        for customer in args.customers:
            self.custom_hostnames[customer.name] = cloudflare.CustomHostname(
                f"{customer.name}-custom-hostname",
                zone_id=zone_id,
                hostname=customer.policy_host,
                ssl=ssl,
                opts=pulumi.ResourceOptions(parent=self, depends_on=serving, hooks=retry.binding()),
            )
        gate = delegated_gate(args.live_gate, {r.record.name: r.customers for r in txt}, args.options)
        builtin = {c.name for c in args.customers if c.reports is Reports.BUILTIN}
        # Every customer's own records first, then the wildcards: a customer moving off a wildcard
        # reads its own record (gated) before the wildcard's content changes under it.
        own = [r for r in txt if not r.record.name.startswith("*.")]
        wildcards = [r for r in txt if r.record.name.startswith("*.")]
        for record in [*own, *wildcards]:
            mine = record not in wildcards
            waits = list(serving)
            if mine:
                waits.append(self.custom_hostnames[record.customers[0]])
            else:
                waits += [self.records[r.key] for r in own if r.record.role is record.record.role]
            if record.record.role is RecordRole.TLSRPT and builtin.intersection(record.customers):
                waits += args.reporting
            sts = record.record.role is RecordRole.STS
            leave = args.leave_gate if sts and mine else None
            self.records[record.key] = self._record(record, zone_id, waits, gate if sts else None, leave)
        self.register_outputs({"scriptName": self.script.script_name, "customHostnames": len(args.customers)})

    def _record(
        self,
        record: OperatorRecord,
        zone_id: pulumi.Input[str],
        depends_on: list[pulumi.Resource],
        gate: pulumi.ResourceHook | None,
        leave: pulumi.ResourceHook | None = None,
    ) -> cloudflare.DnsRecord:
        hooks = retry.with_retry(
            pulumi.ResourceHookBinding(
                before_create=[gate], before_update=[gate], before_delete=[leave] if leave else None
            )
            if gate
            else None
        )
        data = record.record
        return cloudflare.DnsRecord(
            record.key,
            zone_id=zone_id,
            name=data.name,
            type=data.type,
            content=data.content,
            ttl=data.ttl,
            proxied=data.proxied,
            comment=COMMENT,
            # Replaced delete-first: never two v=STSv1 records at one name (RFC 8461 §3.1).
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=depends_on, delete_before_replace=True, hooks=hooks
            ),
        )


class DelegatedGateError(Exception):
    """A customer served other bytes than the new id names until the time ran out."""


def waiting(looks: Sequence[Served]) -> list[Served]:
    """The looks that hold the gate: a customer that serves a policy, but not the expected one.

    A customer that serves nothing (its name does not resolve, or no address answers with a
    policy: CNAMEs not in place, certificate pending) holds nothing: no sender can cache from it.
    """
    return [served for served in looks if served.ids and not served.live]


async def _until_served(
    settings: LiveGate, name: str, customers: Sequence[str], expected: str, options: ProbeOptions
) -> None:
    """Wait until none of ``customers`` serves other bytes than ``expected`` names, steadily:
    ``rounds`` good looks in a row over ``span`` seconds, as the domain gate; raise on timeout."""
    deadline = time.monotonic() + settings.timeout
    good, since, last_held = 0, 0.0, []
    while True:
        # A new prober each round: a prober answers each question once per run.
        async with Prober(options) as prober:

            async def fetch(host: str, _: ProbeOptions, prober: Prober = prober) -> PolicyFetch:
                return await prober.fetch_policy(host)

            looks = await asyncio.gather(*(look(c, expected, options, fetch) for c in customers))
        held = waiting(looks)
        now = time.monotonic()
        if held:
            good, last_held = 0, held
        else:
            since = now if good == 0 else since
            good += 1
            if good >= settings.rounds and now - since >= settings.span:
                return
        left = deadline - now
        if left <= 0:
            lines = "; ".join(s.describe() for s in last_held) or "not steadily served"
            raise DelegatedGateError(
                f"after {settings.timeout:g} s the new policy is not served: {lines}; {name} is left "
                "as it was (RFC 8461 §8.1). Run `pulumi up` again once it is served."
            )
        await asyncio.sleep(min(settings.interval, left))


def _sts_id(name: str, content: object) -> str:
    try:
        return parse_sts_record(str(content or "")).id
    except RecordError as exc:
        raise DelegatedGateError(f"{name}: content is not a v=STSv1 record: {exc}") from None


def gate_function(
    settings: LiveGate, readers: Mapping[str, Sequence[str]], options: ProbeOptions | None = None
) -> pulumi.ResourceHookFunction:
    """The hook's body: ``readers`` maps a TXT record's name to the customers whose CNAME reaches it."""
    probe_options = options or ProbeOptions()

    async def mta_sts_delegated_live_gate(args: pulumi.ResourceHookArgs) -> None:
        inputs = args.new_inputs or {}
        name = normalize_name(str(inputs.get("name") or ""))
        expected = _sts_id(name, inputs.get("content"))
        customers = tuple(readers.get(name, ()))
        pulumi.log.info(
            f"delegated live gate: {len(customers)} customer(s) of {name} must serve id {expected}"
        )
        await _until_served(settings, name, customers, expected, probe_options)

    return mta_sts_delegated_live_gate


def leave_gate_function(
    settings: LiveGate,
    returning: Mapping[str, str],
    wildcard_id: str | None,
    options: ProbeOptions | None = None,
) -> pulumi.ResourceHookFunction:
    """The leave gate's body: before a customer's own ``_mta-sts`` TXT is deleted, a customer that
    stays (``returning``: that record's name → the customer, now on the wildcard) must serve the
    wildcard's id, which it reads once the record is gone. A customer that left the stack (after
    RFC 8461 §8.3's ``mode: none``) has no custom hostname any more: nothing to wait for."""
    probe_options = options or ProbeOptions()

    async def mta_sts_delegated_leave_gate(args: pulumi.ResourceHookArgs) -> None:
        name = normalize_name(str((args.old_inputs or {}).get("name") or ""))
        customer = returning.get(name)
        if customer is None or wildcard_id is None:
            return
        pulumi.log.info(
            f"delegated leave gate: {customer} reads the wildcard once {name} is deleted; "
            f"it must serve id {wildcard_id}"
        )
        await _until_served(settings, name, (customer,), wildcard_id, probe_options)

    return mta_sts_delegated_leave_gate


def register_leave_gate(deployment: Deployment, options: ProbeOptions | None = None) -> pulumi.ResourceHook:
    """The leave gate, registered by every program with ``mta-sts:delegation``, customers or not: the
    engine runs a deleted resource's hooks by name, so the last customers' records need it too."""
    returning: dict[str, str] = {}
    wildcard_id = None
    if deployment.delegation is not None:
        records = deployment.operator_records
        returning = wildcard_readers(deployment.delegation, records)
        wildcard = next((r for r in records if r.record.name == deployment.delegation.sts_wildcard), None)
        wildcard_id = _sts_id(wildcard.record.name, wildcard.record.content) if wildcard else None
    function = leave_gate_function(deployment.live_gate, returning, wildcard_id, options)
    return pulumi.ResourceHook(LEAVE_HOOK_NAME, function, pulumi.ResourceHookOptions(on_dry_run=False))


def delegated_gate(
    settings: LiveGate, readers: Mapping[str, Sequence[str]], options: ProbeOptions | None = None
) -> pulumi.ResourceHook:
    """The named hook, registered once per program; never run by ``preview``."""
    return pulumi.ResourceHook(
        HOOK_NAME, gate_function(settings, readers, options), pulumi.ResourceHookOptions(on_dry_run=False)
    )


def delegated_hosting(
    deployment: Deployment,
    stack: str,
    zone_id: pulumi.Input[str],
    reporting: Sequence[pulumi.Resource] = (),
    leave_gate: pulumi.ResourceHook | None = None,
) -> DelegatedHosting:
    """The program's hook: the stack's customer domains, when it has any."""
    assert deployment.delegation is not None and deployment.cloudflare_account_id is not None  # the loader
    return DelegatedHosting(
        "delegated",
        DelegatedHostingArgs(
            account_id=deployment.cloudflare_account_id,
            script_name=script_name(stack),
            settings=deployment.delegation,
            customers=deployment.delegated_domains,
            records=deployment.operator_records,
            live_gate=deployment.live_gate,
            zone_id=zone_id,
            reporting=reporting,
            leave_gate=leave_gate,
        ),
    )
