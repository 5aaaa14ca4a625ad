"""The ``pulumi import --file`` document that adopts live records into the program's own names.

``pulumi import`` needs each resource's type token, its name in the program, its provider ID and
its parent. The names are the program's (``components/dns.py``: ``<domain>-<role>`` under the
``DomainRecords`` component ``<domain>``; ``components/worker.py``: ``cloudflare-worker-<d>-route``
under the ``WorkerHosting`` component ``cloudflare-worker``), so after the import the first
``pulumi up`` updates the live records in place instead of creating a second ``v=STSv1`` TXT.

The file format is Pulumi's (``pkg/cmd/pulumi/operations/import.go``, ``importSpec`` and
``parseImportFile``): a parent already in the stack's state is named in ``nameTable`` with its
URN; a parent that is not yet is an entry ``{"component": true}`` in ``resources`` (Pulumi
3.94.0: "import can now create empty component resource to use as the parent of other imported
resources"), which children name as their ``parent``. Provider IDs are the bridged provider's:
``<zone_id>/<dns_record_id>`` and ``<zone_id>/<route_id>``
(terraform-provider-cloudflare ``internal/services/dns_record/resource.go`` and
``internal/services/workers_route/resource.go``, ImportState).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mtasts.model.vocabulary import RecordRole

DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
WORKERS_ROUTE = "cloudflare:index/workersRoute:WorkersRoute"
DOMAIN_RECORDS = "mta-sts:index:DomainRecords"
WORKER_HOSTING = "mta-sts:index:WorkerHosting"
WORKER_HOSTING_NAME = "cloudflare-worker"
"""The ``WorkerHosting`` component's name in ``components/program.py``."""


@dataclass(frozen=True)
class Adoption:
    """One live resource to import: what it is in the program and its provider ID."""

    type: str
    name: str
    id: str
    parent_type: str
    parent: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "name": self.name, "id": self.id, "parent": self.parent}


def record_adoption(domain: str, role: RecordRole, import_id: str) -> Adoption:
    """A DNS record of ``domain`` (``components.dns.DomainRecords``' child ``<domain>-<role>``)."""
    return Adoption(DNS_RECORD, f"{domain}-{role}", import_id, DOMAIN_RECORDS, domain)


def route_adoption(domain: str, import_id: str) -> Adoption:
    """The Worker route ``mta-sts.<domain>/*`` (``components.worker.WorkerHosting``'s child)."""
    return Adoption(
        WORKERS_ROUTE, f"{WORKER_HOSTING_NAME}-{domain}-route", import_id, WORKER_HOSTING, WORKER_HOSTING_NAME
    )


def urn(stack: str, project: str, type_: str, name: str, parent_type: str | None = None) -> str:
    """A resource's URN: ``urn:pulumi:<stack>::<project>::[<parent type>$]<type>::<name>``.

    A component registered without a parent is a child of the root stack, whose type the URN omits.
    """
    qualified = f"{parent_type}${type_}" if parent_type else type_
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def import_file(
    adoptions: Iterable[Adoption],
    stack: str,
    project: str,
    in_state: frozenset[str] = frozenset(),
    version: str | None = None,
) -> dict[str, Any]:
    """The JSON document for ``pulumi import --file``.

    ``in_state`` holds the URNs already in the stack's state (``pulumi stack export``): a parent
    among them goes into ``nameTable``, any other is created as an empty component. A resource
    already in state is left out. ``version`` pins the Cloudflare provider the program uses.
    """
    name_table: dict[str, str] = {}
    components: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    for adoption in adoptions:
        parent_urn = urn(stack, project, adoption.parent_type, adoption.parent)
        if urn(stack, project, adoption.type, adoption.name, adoption.parent_type) in in_state:
            continue
        if parent_urn in in_state:
            name_table[adoption.parent] = parent_urn
        elif not any(c["name"] == adoption.parent for c in components):
            components.append({"type": adoption.parent_type, "name": adoption.parent, "component": True})
        entry: dict[str, Any] = adoption.as_json()
        if version:
            entry["version"] = version
        resources.append(entry)
    document: dict[str, Any] = {"resources": components + resources}
    if name_table:
        document["nameTable"] = name_table
    return document
