"""A customer domain's onboarding, for ``verify --stack`` and ``readiness``: probes in, a state out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mtasts.checks.onboarding import ApiAnswer, OnboardingResult, onboarding
from mtasts.model.config import Deployment, Domain
from mtasts.probes import Prober
from mtasts.probes.custom_hostnames import (
    Api,
    CloudflareApiError,
    CustomHostnameStatus,
    cnames,
    custom_hostname_status,
    relevant_caa,
)


@dataclass(frozen=True)
class ApiView:
    """What the Cloudflare API said about the stack's custom hostnames, asked once per run."""

    asked: bool = False
    found: Mapping[str, CustomHostnameStatus] = field(default_factory=dict)
    error: CloudflareApiError | None = None

    def answer(self, host: str) -> ApiAnswer:
        if self.error is not None:
            return self.error
        return self.found.get(host)


async def ask_api(deployment: Deployment | None, api: Api | None) -> ApiView:
    """One paged listing of the delegation zone's custom hostnames; nothing without a token."""
    if deployment is None or deployment.delegation is None or api is None or not deployment.delegated_domains:
        return ApiView()
    settings = deployment.delegation
    hosts = [d.policy_host for d in deployment.delegated_domains]
    try:
        return ApiView(True, await custom_hostname_status(api, settings.zone, settings.zone_id, hosts))
    except CloudflareApiError as exc:
        return ApiView(False, error=exc)


async def onboard(prober: Prober, domain: Domain, api: ApiView) -> OnboardingResult:
    """Where customer ``domain`` stands, from its CNAMEs, its CAA, the API and the TLS handshake."""
    answers = await cnames(prober, [r.name for r in domain.records])
    caa = await relevant_caa(prober, domain.policy_host)
    fetched = await prober.fetch_policy(domain.policy_host)
    return onboarding(domain, answers, caa, api.answer(domain.policy_host), api.asked, fetched)
