"""The program's steps, kept here so ``__main__.py`` reads as the three lines it is.

1. ``read_config``: the stack's config as one mapping, validated by ``mtasts.model.config.load_config``
   (the same loader ``plan`` uses), before any resource exists.
2. ``deploy``: one component per hosting backend, then one ``DomainRecords`` per domain.
3. ``outputs``: per domain what ``plan --json`` says (policy URL, id, records).
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from mtasts.model.cloudflare import check_stack
from mtasts.model.config import NAMESPACE, ConfigError, Deployment, load_config
from mtasts.model.errors import every
from mtasts.model.outputs import stack_outputs
from mtasts.model.placement import place
from mtasts.model.stackfile import near_miss_error, near_miss_namespace
from mtasts.model.vocabulary import Hosting, Reports, Routing


def _config_values() -> dict[str, str]:
    """Every config value the engine passed, by full key (``mta-sts:domains``)."""
    from pulumi.runtime import config as runtime_config

    values = dict(runtime_config.get_config_env())
    # CONFIG is private, but the public API reads one known key at a time (get_config) or only the
    # PULUMI_CONFIG environment (get_config_env); the values set_all_config gave are only here.
    values.update(runtime_config.CONFIG.get())
    return {str(k): v for k, v in values.items()}


def read_config() -> dict[str, Any]:
    """The stack config as ``load_config`` takes it.

    Every ``mta-sts:`` key is passed on as the engine gives it (objects as JSON text, which the
    loader reads), so a typo such as ``mta-sts:domain`` is rejected exactly as ``plan`` rejects
    it; ``github:owner`` is the only foreign key the model reads.
    """
    mapping: dict[str, Any] = {}
    for key, raw in _config_values().items():
        namespace, _, bare = key.partition(":")
        if near_miss_namespace(namespace):
            raise near_miss_error(key)  # mtasts:domains is a typo, not another provider's config
        if namespace == NAMESPACE:
            mapping[f"{NAMESPACE}:{bare}"] = raw
    owner = pulumi.Config("github").get("owner")
    if owner is not None:
        mapping["github:owner"] = owner
    return mapping


@dataclass(frozen=True)
class Settings:
    """Everything the program reads from config, validated."""

    deployment: Deployment


def load() -> Settings:
    """Read and validate the config; on a broken rule fail with one line naming the key.

    The stack name too: it names the Workers, the database and the bucket
    (``mtasts.model.cloudflare``), so a name none of them could take fails here.
    """
    try:
        check_stack(pulumi.get_stack())
        deployment = load_config(read_config())
        settings = Settings(deployment)
    except ConfigError as exc:
        # pulumi runs the program in the project directory: place each error in the stack file.
        place(exc, Path.cwd(), pulumi.get_stack())
        raise pulumi.RunError("\n".join(e.line() for e in every(exc))) from None
    for warning in deployment.warnings:
        pulumi.log.warn(warning)
    return settings


_NO_FULL_COLLECTION = 2**31 - 1
"""A third ``gc`` threshold no count of second-generation collections reaches (a C int)."""
_saved_thresholds: tuple[int, int, int] | None = None


def young_collections_only() -> None:
    """No full garbage collection while this program's event loop runs; the young ones go on.

    A program builds one graph of resources, outputs and futures that lives until it ends. Each
    full collection scans all of it and finds next to nothing: at 10,000 domains under the mocks
    Python made 29, which freed 3,689 objects, while the young collections freed 13 million;
    without the full ones a run takes half the CPU time, with the same peak memory
    (``bench/bench_fleet.py``, docs/fleet.md). The first collection after the loop stops restores
    the thresholds (the tests run many programs in one process; ``pulumi up`` ends with the loop).
    """
    global _saved_thresholds
    if _saved_thresholds is not None:  # a second program in the same run keeps the first's
        return
    loop = asyncio.get_event_loop()
    first, second, third = _saved_thresholds = gc.get_threshold()
    gc.set_threshold(first, second, _NO_FULL_COLLECTION)

    def restore(phase: str, info: dict[str, int]) -> None:
        global _saved_thresholds
        if phase != "stop" or loop.is_running():
            return
        gc.set_threshold(first, second, third)
        gc.callbacks.remove(restore)
        _saved_thresholds = None

    gc.callbacks.append(restore)


def deploy(settings: Settings, stack: str) -> dict[str, Any]:
    """Register every resource; returns the components by role (for tests and outputs)."""
    young_collections_only()
    # Imported here so a config error is reported before the provider SDKs load.
    from components.dns import COMMENT, DomainRecords, DomainRecordsArgs, zone_ids, zones_for
    from components.guards import guards
    from components.live_gate import first_pages_gate, live_gate
    from components.pages import PagesHosting, PagesHostingArgs
    from components.policy_worker import WorkerHosting, WorkerHostingArgs

    deployment = settings.deployment
    lookups = zones_for(deployment)
    zones = zone_ids(deployment.domains, lookups)
    managed = [d for d in deployment.domains if d.managed_dns]
    routed = [d for d in deployment.worker_domains if d.routing is Routing.ROUTE]
    # Hand-made records and routes are refused at create time (`mtasts adopt` takes them over).
    sts_guard, route_guard = guards(stack, COMMENT) if managed or routed else (None, None)
    serving: dict[str, list[pulumi.Resource]] = {}
    built: dict[str, Any] = {"records": {}}
    if deployment.worker_domains:
        assert deployment.cloudflare_account_id is not None  # the loader requires it
        hosting = WorkerHosting(
            Hosting.CLOUDFLARE_WORKER.value,
            WorkerHostingArgs(
                account_id=deployment.cloudflare_account_id,
                stack=stack,
                shards=deployment.shards,
                shard_count=deployment.worker_shards,
                zone_ids=zones,
                route_guard=route_guard,
            ),
        )
        serving.update(hosting.serving)
        built["worker"] = hosting
    if deployment.pages_domains:
        pages = PagesHosting(
            Hosting.GITHUB_PAGES.value,
            PagesHostingArgs(domains=deployment.pages_domains),
        )
        serving.update(pages.serving)
        built["pages"] = pages
    reporting: list[pulumi.Resource] = []
    if deployment.reports_domains:
        assert deployment.receiver is not None  # the loader requires it
        built["reports"] = _receiver(deployment, stack, lookups.id(deployment.receiver.zone))
        reporting = built["reports"].answering
    if deployment.delegation is not None:
        from components.delegated import delegated_hosting, register_leave_gate  # docs/delegation.md

        # Registered with customers or without: a customer's own TXT deleted by this run needs it.
        leave_gate = register_leave_gate(deployment)
        if deployment.delegated_domains:
            zone_id = lookups.id(deployment.delegation.zone)
            built["delegated"] = delegated_hosting(deployment, stack, zone_id, reporting, leave_gate)
    # dns: external domains have no record to gate: `mtasts wait-live` is their gate.
    gate = live_gate(deployment.live_gate) if managed else None
    pages_managed = [d for d in managed if d.hosting is Hosting.GITHUB_PAGES]
    first_pages = first_pages_gate(deployment.live_gate) if pages_managed else None
    for domain in managed:
        built["records"][domain.name] = DomainRecords(
            domain.name,
            DomainRecordsArgs(
                domain=domain,
                zone_id=zones[domain.name],
                serving=serving[domain.name],
                # A builtin domain's _smtp._tls TXT lists the receiver only once it answers.
                reporting=reporting if domain.reports is Reports.BUILTIN else (),
                live_gate=gate,
                create_guard=sts_guard,
                first_gate=first_pages if domain.hosting is Hosting.GITHUB_PAGES else None,
            ),
        )
    return built


def _receiver(deployment: Deployment, stack: str, zone_id: pulumi.Input[str]) -> Any:
    """The stack's TLS report receiver, with its secrets from Pulumi config (never from files)."""
    from components.receiver import ReceiverArgs, ReportReceiver

    assert deployment.receiver is not None and deployment.cloudflare_account_id is not None  # the loader
    secrets = pulumi.Config(NAMESPACE)
    token = secrets.get_secret("reportsToken")
    if token is None:
        pulumi.log.warn(
            "reportsToken: not set, so the receiver refuses every read; "
            "set it with `pulumi config set --secret mta-sts:reportsToken <token>`"
        )
    return ReportReceiver(
        "reports",
        ReceiverArgs(
            account_id=deployment.cloudflare_account_id,
            stack=stack,
            settings=deployment.receiver,
            domains=deployment.domains,
            zone_id=zone_id,
            read_token=token,
            webhook=secrets.get_secret("reportsWebhook"),
        ),
    )


def outputs(deployment: Deployment, stack: str) -> dict[str, dict[str, Any]]:
    """Per domain the values ``plan --json`` prints, less its warnings (logged instead)."""
    return stack_outputs(deployment)
