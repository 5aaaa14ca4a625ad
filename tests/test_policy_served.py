"""The pack's rules on policy hosts and the texts they serve: Pages files, routes, enforce."""

from __future__ import annotations

import pytest
from pulumi_policy import (
    PolicyResource,
)

from tests.policy_pack import (
    DNS,
    ENFORCE,
    FILE,
    PAGES,
    ROUTE,
    SCRIPT,
    STS_ID,
    TESTING,
    ZONE_ID,
    data_worker,
    resource,
    stack,
    stack_resource,
    txt,
    violations,
)

# --- pages-policy-file-valid ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [".well-known/mta-sts.txt", "/.well-known/mta-sts.txt", "docs/.well-known/mta-sts.txt"]
)
def test_pages_policy_compliant(path: str) -> None:
    """A valid policy file at the root or under a Pages folder has no violation."""
    props = {"repository": "mta-sts.example.net", "file": path, "content": ENFORCE, "branch": "main"}
    assert violations("pages-policy-file-valid", resource(FILE, props)) == []


def test_pages_policy_violation() -> None:
    """A policy file without a mode is reported."""
    props = {"repository": "mta-sts.example.net", "file": ".well-known/mta-sts.txt"}
    props["content"] = "version: STSv1\nmx: a.example\nmax_age: 86400\n"
    found = violations("pages-policy-file-valid", resource(FILE, props))
    assert len(found) == 1 and "field 'mode' is required" in found[0][0]


def test_pages_policy_ignores_other_files() -> None:
    """The .nojekyll file beside the policy is not checked as a policy."""
    props = {"repository": "mta-sts.example.net", "file": ".nojekyll", "content": ""}
    assert violations("pages-policy-file-valid", resource(FILE, props)) == []



# --- worker-routed-policy-host-proxied -----------------------------------------------------------


def _route(pattern: str, script_name: str | None = "mta-sts-dev") -> PolicyResource:
    props = {"pattern": pattern, "zoneId": ZONE_ID}
    if script_name is not None:
        props["script"] = script_name
    return stack_resource(ROUTE, props, f"route-{pattern}")


def _host(name: str, proxied: bool) -> PolicyResource:
    props = {"name": name, "type": "AAAA", "content": "100::", "proxied": proxied, "zoneId": ZONE_ID}
    return stack_resource(DNS, props, f"host-{name}-{proxied}")


def test_worker_host_proxied_compliant() -> None:
    """A proxied record under a route, and an unproxied one no route serves, have no violation."""
    args = stack(
        _route("mta-sts.example.org/*"),
        _host("mta-sts.example.org", True),
        _host("mta-sts.example.com", False),
        _route("mta-sts.example.net/*", None),
        _host("mta-sts.example.net", False),
    )
    assert violations("worker-routed-policy-host-proxied", args) == []


@pytest.mark.parametrize(
    "pattern, name",
    [
        ("mta-sts.example.org/*", "mta-sts.example.org"),
        ("https://MTA-STS.example.org/.well-known/*", "mta-sts.example.org."),
        ("*example.org/*", "mta-sts.example.org"),
        ("mta-sts.example.org/*", "mta-sts"),
    ],
)
def test_worker_host_unproxied_violation(pattern: str, name: str) -> None:
    """An unproxied record that a Worker route serves is reported, whatever the pattern's form."""
    host = _host(name, False)
    found = violations("worker-routed-policy-host-proxied", stack(_route(pattern), host))
    assert [urn_ for _, urn_ in found] == [host.urn]


# --- enforce-max-age-at-least-one-day ------------------------------------------------------------


def test_enforce_max_age_compliant() -> None:
    """enforce with one day, and testing with one hour, have no violation."""
    short_testing = TESTING.replace("86400", "3600")
    one_day = ENFORCE.replace("604800", "86400")
    props = data_worker({"mta-sts.a.example": one_day, "mta-sts.b.example": short_testing})
    assert violations("enforce-max-age-at-least-one-day", resource(SCRIPT, props)) == []


@pytest.mark.parametrize("where", ["worker", "pages"])
def test_enforce_max_age_violation(where: str) -> None:
    """enforce with max_age 3600 is reported, from a Worker or from a Pages file."""
    text = ENFORCE.replace("604800", "3600")
    if where == "worker":
        args = resource(SCRIPT, data_worker({"mta-sts.example.org": text}))
    else:
        args = resource(FILE, {"repository": "r", "file": ".well-known/mta-sts.txt", "content": text})
    found = violations("enforce-max-age-at-least-one-day", args)
    assert len(found) == 1 and "max_age 3600" in found[0][0]


# --- enforce-domain-has-tls-rpt ------------------------------------------------------------------


def _tlsrpt(domain: str) -> PolicyResource:
    return stack_resource(DNS, txt(f"_smtp._tls.{domain}", '"v=TLSRPTv1; rua=mailto:r@example.net"'), domain)


def test_enforce_has_tlsrpt_compliant() -> None:
    """An enforce domain with a TLS-RPT record, and a testing one without, have no violation."""
    props = data_worker({"mta-sts.example.org": ENFORCE, "mta-sts.example.com": TESTING})
    args = stack(stack_resource(SCRIPT, props, "worker"), _tlsrpt("example.org"))
    assert violations("enforce-domain-has-tls-rpt", args) == []


def test_enforce_without_tlsrpt_from_worker_data_violation() -> None:
    """A Worker's host map placing enforce on example.org, with no TLS-RPT record, is reported."""
    props = data_worker({"mta-sts.example.org": ENFORCE, "mta-sts.example.com": TESTING})
    args = stack(stack_resource(SCRIPT, props, "worker"), _tlsrpt("example.com"))
    found = violations("enforce-domain-has-tls-rpt", args)
    assert len(found) == 1 and found[0][0].startswith("example.org enforces")


def test_enforce_without_tlsrpt_from_pages_violation() -> None:
    """A Pages policy file placed by the repository's custom domain is reported."""
    file_props = {"repository": "policy-repo", "file": ".well-known/mta-sts.txt", "content": ENFORCE}
    args = stack(
        stack_resource(FILE, file_props, "file"),
        stack_resource(PAGES, {"repository": "policy-repo", "cname": "mta-sts.example.net"}, "pages"),
    )
    found = violations("enforce-domain-has-tls-rpt", args)
    assert [m.split(" ")[0] for m, _ in found] == ["example.net"]
    assert violations("enforce-domain-has-tls-rpt", stack(*args.resources, _tlsrpt("example.net"))) == []


def test_enforce_without_tlsrpt_from_record_id_violation() -> None:
    """A policy placed only by the _mta-sts record whose id is its hash is reported."""
    file_props = {"repository": "unnamed", "file": ".well-known/mta-sts.txt", "content": ENFORCE}
    args = stack(
        stack_resource(FILE, file_props, "file"),
        stack_resource(DNS, txt("_mta-sts.example.io", f'"v=STSv1; id={STS_ID}"'), "sts"),
    )
    assert [m.split(" ")[0] for m, _ in violations("enforce-domain-has-tls-rpt", args)] == ["example.io"]

