"""Cloudflare Worker hosting: one script per stack serving every Worker-hosted domain by ``Host``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from mtasts.model import worker
from mtasts.model.config import Domain
from mtasts.model.vocabulary import Routing


@dataclass(frozen=True)
class WorkerHostingArgs:
    """What ``WorkerHosting`` needs."""

    account_id: str
    """Cloudflare account that owns the script."""
    script_name: str
    """Worker script name, one per stack (``mtasts.model.worker.script_name``)."""
    domains: Sequence[Domain]
    """The Worker-hosted domains; the script serves exactly these."""
    zone_ids: Mapping[str, pulumi.Input[str]]
    """Domain name → zone id of the zone its route or custom domain goes in."""


class WorkerHosting(pulumi.ComponentResource):
    """The Worker script, and per domain a route ``mta-sts.<d>/*`` or a Workers custom domain.

    The policies are data inside the script (``mtasts.model.worker.worker_script``), not in KV,
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
            content=worker.worker_script(args.domains),
            main_module=worker.MAIN_MODULE,
            compatibility_date=worker.COMPATIBILITY_DATE,
            opts=child,
        )
        self.serving = {}
        for domain in args.domains:
            if domain.routing is Routing.CUSTOM_DOMAIN:
                # Cloudflare creates and owns the DNS record for a custom domain itself.
                front: pulumi.Resource = cloudflare.WorkersCustomDomain(
                    f"{name}-{domain.name}-custom-domain",
                    account_id=args.account_id,
                    hostname=domain.policy_host,
                    service=self.script.script_name,
                    zone_id=args.zone_ids[domain.name],
                    opts=child,
                )
            else:
                front = cloudflare.WorkersRoute(
                    f"{name}-{domain.name}-route",
                    zone_id=args.zone_ids[domain.name],
                    pattern=f"{domain.policy_host}/*",
                    script=self.script.script_name,
                    opts=child,
                )
            self.serving[domain.name] = [self.script, front]
        self.register_outputs({"scriptName": self.script.script_name})
