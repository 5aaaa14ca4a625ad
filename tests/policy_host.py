"""A policy host on 127.0.0.1 whose served bytes a test switches: Knot DNS + trustme HTTPS.

``PolicyHost`` serves ``mta-sts.<domain>`` for the domains of a throwaway project (stack ``t``):
Knot answers ``mta-sts.<domain>`` A 127.0.0.1, the HTTPS server (tests/servers.py) presents a
certificate from a trustme CA for that name and answers with whatever ``serve`` last set.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from mtasts.model.config import Deployment, load_stack
from mtasts.probes.options import ProbeOptions
from mtasts.rfc.policy import Policy
from tests.conftest import ACCOUNT, ROOT
from tests.servers import HttpsServer, KnotDns, Lab, Pki, Route, free_port, zone_text

ZONE = "live.test"


def old_policy(domain: Any) -> bytes:
    """Last week's policy of ``domain``: the same but for one more MX host, so other bytes."""
    return (
        Policy(mode=domain.mode, max_age=domain.max_age, mx=(*domain.mx, "old.mx.live.test"))
        .render()
        .encode()
    )


class PolicyHost:
    """Knot DNS and an HTTPS server for ``domains`` (names under ``live.test``)."""

    def __init__(
        self,
        tmp: Path,
        domains: dict[str, dict[str, Any]],
        extra: list[tuple[str, str, str]] | None = None,
        lab: Lab | None = None,
    ) -> None:
        """With ``lab``, the CA and the Knot DNS (the same zone for every test of a module) are the
        shared lab's; the HTTPS servers, whose routes and counters a test changes, are its own."""
        self.project = tmp / "project"
        self.project.mkdir()
        shutil.copy(ROOT / "Pulumi.yaml", self.project / "Pulumi.yaml")
        stack = {
            "config": {
                "mta-sts:cloudflareAccountId": ACCOUNT,
                "mta-sts:defaults": {"mx": ["*.mx.live.test"], "tlsrpt": ["mailto:r@live.test"]},
                "mta-sts:domains": domains,
            }
        }
        (self.project / "Pulumi.t.yaml").write_text(yaml.safe_dump(stack), encoding="utf-8")
        self.stack: Deployment = load_stack(self.project, "t")
        self.lab = lab
        self.pki = lab.pki if lab is not None else Pki(tmp)
        records = [(f"mta-sts.{d.name}.", "A", "127.0.0.1") for d in self.stack.domains]
        zones = {ZONE: zone_text(ZONE, records + (extra or []))}
        self.knot = lab.dns(zones) if lab is not None else KnotDns(zones)
        contexts = {d.policy_host: self.pki.context(d.policy_host) for d in self.stack.domains}
        port = free_port("127.0.0.1", ["127.0.0.2"])
        self.https = HttpsServer(contexts, self.pki.context("default.invalid"), {}, port=port)
        # A second address of the same names (127.0.0.2), for hosts that list it in DNS.
        self.second = HttpsServer(contexts, self.pki.context("default.invalid"), {}, "127.0.0.2", port)

    def serve(self, domain: str, body: bytes, **route: Any) -> None:
        """From the next request on, ``mta-sts.<domain>`` answers ``body``."""
        self.https.routes[f"mta-sts.{domain}"] = Route(body=body, **route)

    def serve_old(self, domain: str) -> bytes:
        body = old_policy(self.stack.domain(domain))
        self.serve(domain, body)
        return body

    def serve_new(self, domain: str) -> None:
        self.serve(domain, self.stack.domain(domain).policy_text.encode())

    def options(self, timeout: float = 2.0) -> ProbeOptions:
        return ProbeOptions(
            nameserver=(self.knot.host, self.knot.port),
            ca_bundle=str(self.pki.ca_file),
            https_port=self.https.port,
            timeout=timeout,
        )

    def argv(self, *extra: str) -> list[str]:
        """``mtasts wait-live`` arguments reaching this host."""
        return [
            "--project-dir", str(self.project), "wait-live", "--stack", "t", *extra,
            "--nameserver", self.knot.address, "--ca-bundle", str(self.pki.ca_file),
            "--https-port", str(self.https.port),
        ]  # fmt: skip

    def __enter__(self) -> PolicyHost:
        if self.lab is None:
            self.knot.__enter__()
        self.https.__enter__()
        self.second.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.second.__exit__(*exc)
        self.https.__exit__(*exc)
        if self.lab is None:
            self.knot.__exit__(*exc)
