"""Cloudflare Worker hosting: the policy Worker scripts (one per shard) serving their domains by ``Host``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from components import retry
from mtasts.model import policy_worker
from mtasts.model import shards as sharding
from mtasts.model.config import Domain
from mtasts.model.vocabulary import Routing


@dataclass(frozen=True)
class WorkerHostingArgs:
    """What ``WorkerHosting`` needs."""

    account_id: str
    """Cloudflare account that owns the scripts."""
    stack: str
    """The stack, which names the scripts (``mtasts.model.shards.script_name``)."""
    shards: Mapping[int, Sequence[Domain]]
    """Shard → the Worker-hosted domains its script serves (``Deployment.shards``)."""
    shard_count: int
    """``mta-sts:workerShards``: names the scripts (one shard keeps the name ``mta-sts-<stack>``)."""
    zone_ids: Mapping[str, pulumi.Input[str]]
    """Domain name → zone id of the zone its route or custom domain goes in."""


class WorkerHosting(pulumi.ComponentResource):
    """One Worker script per shard, and per domain a route ``mta-sts.<d>/*`` or a Workers custom
    domain pointing at its shard's script.

    The policies are data inside the script (``mtasts.model.policy_worker.worker_script``), not in KV,
    so a new policy is served everywhere the moment the script is deployed; not in a ``json``
    binding, whose value Cloudflare limits to 5 KB. Each script carries only its shard's policies,
    and at most 1,000 zones route to it (the loader's preflight checks). Routes and custom domains
    keep their names (``<name>-<domain>-route``) whatever the shard.
    """

    scripts: dict[int, cloudflare.WorkersScript]
    """Shard → its script."""
    script: cloudflare.WorkersScript
    """The first shard's script (the only one with one shard)."""
    serving: dict[str, list[pulumi.Resource]]
    """Domain name → the resources that serve its policy (script, then route or custom domain)."""

    def __init__(
        self, name: str, args: WorkerHostingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mta-sts:index:WorkerHosting", name, None, opts)
        # Every Cloudflare write is retried past a 429 block (components.retry).
        child = pulumi.ResourceOptions(parent=self, hooks=retry.binding())
        self.scripts = {}
        self.serving = {}
        for shard, domains in args.shards.items():
            script = self.scripts[shard] = cloudflare.WorkersScript(
                sharding.resource_name(name, shard, args.shard_count),
                account_id=args.account_id,
                script_name=sharding.script_name(args.stack, shard, args.shard_count),
                content=policy_worker.worker_script(domains),
                main_module=policy_worker.MAIN_MODULE,
                compatibility_date=policy_worker.COMPATIBILITY_DATE,
                opts=child,
            )
            for domain in domains:
                self.serving[domain.name] = [script, *self._front(name, domain, script, args, child)]
        self.script = self.scripts[min(self.scripts)]
        self.register_outputs(
            {"scriptNames": [self.scripts[shard].script_name for shard in sorted(self.scripts)]}
        )

    def _front(
        self,
        name: str,
        domain: Domain,
        script: cloudflare.WorkersScript,
        args: WorkerHostingArgs,
        child: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        """The route or custom domain that sends ``mta-sts.<d>`` to its shard's script."""
        front: list[pulumi.Resource] = []
        if domain.routing is Routing.CUSTOM_DOMAIN:
            # Cloudflare creates and owns the DNS record for a custom domain itself. Create is
            # an upsert keyed by hostname (PUT /accounts/{id}/workers/domains) and delete is by
            # id, and every input forces a replacement (terraform-provider-cloudflare
            # internal/services/workers_custom_domain/resource.go, schema.go): replaced
            # create-first, the new one would take over the hostname and the old one's delete
            # would then remove it. Delete first, then create.
            front.append(
                cloudflare.WorkersCustomDomain(
                    f"{name}-{domain.name}-custom-domain",
                    account_id=args.account_id,
                    hostname=domain.policy_host,
                    service=script.script_name,
                    zone_id=args.zone_ids[domain.name],
                    opts=pulumi.ResourceOptions(
                        parent=self, delete_before_replace=True, hooks=retry.binding()
                    ),
                )
            )
        elif domain.routing is Routing.ROUTE:
            front.append(
                cloudflare.WorkersRoute(
                    f"{name}-{domain.name}-route",
                    zone_id=args.zone_ids[domain.name],
                    pattern=f"{domain.policy_host}/*",
                    script=script.script_name,
                    opts=child,
                )
            )
        # Routing.NONE: nothing at mta-sts.<d>, the step between a record and a custom domain.
        return front
