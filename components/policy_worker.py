"""Cloudflare Worker hosting: one script per stack serving every Worker-hosted domain by ``Host``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from mtasts.model import policy_worker
from mtasts.model.config import Domain
from mtasts.model.vocabulary import Routing


@dataclass(frozen=True)
class WorkerHostingArgs:
    """What ``WorkerHosting`` needs."""

    account_id: str
    """Cloudflare account that owns the script."""
    script_name: str
    """Worker script name, one per stack (``mtasts.model.policy_worker.script_name``)."""
    domains: Sequence[Domain]
    """The Worker-hosted domains; the script serves exactly these."""
    zone_ids: Mapping[str, pulumi.Input[str]]
    """Domain name → zone id of the zone its route or custom domain goes in."""
    route_guard: pulumi.ResourceHook | None = None
    """Before a route is created: refuses while a hand-made route has its pattern (``components.guards``)."""


class WorkerHosting(pulumi.ComponentResource):
    """The Worker script, and per domain a route ``mta-sts.<d>/*`` or a Workers custom domain.

    The policies are data inside the script (``mtasts.model.policy_worker.worker_script``), not in KV,
    so a new policy is served everywhere the moment the script is deployed; not in a ``json``
    binding, whose value Cloudflare limits to 5 KB.
    """

    script: cloudflare.WorkersScript
    serving: dict[str, list[pulumi.Resource]]
    """Domain name → the resources that serve its policy (script, then route or custom domain)."""

    def __init__(
        self, name: str, args: WorkerHostingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mta-sts:index:WorkerHosting", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.script = cloudflare.WorkersScript(
            f"{name}-script",
            account_id=args.account_id,
            script_name=args.script_name,
            content=policy_worker.worker_script(args.domains),
            main_module=policy_worker.MAIN_MODULE,
            compatibility_date=policy_worker.COMPATIBILITY_DATE,
            opts=child,
        )
        self.serving = {}
        for domain in args.domains:
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
                        service=self.script.script_name,
                        zone_id=args.zone_ids[domain.name],
                        opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
                    )
                )
            elif domain.routing is Routing.ROUTE:
                front.append(
                    cloudflare.WorkersRoute(
                        f"{name}-{domain.name}-route",
                        zone_id=args.zone_ids[domain.name],
                        pattern=f"{domain.policy_host}/*",
                        script=self.script.script_name,
                        opts=pulumi.ResourceOptions(
                            parent=self,
                            hooks=pulumi.ResourceHookBinding(before_create=[args.route_guard])
                            if args.route_guard is not None
                            else None,
                        ),
                    )
                )
            # Routing.NONE: nothing at mta-sts.<d>, the step between a record and a custom domain.
            self.serving[domain.name] = [self.script, *front]
        self.register_outputs({"scriptName": self.script.script_name})
