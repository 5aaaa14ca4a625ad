"""The built-in TLS report receiver: a second Worker per stack with its own storage.

Separate from the policy Worker (``components/policy_worker.py``), so nothing the receiver does can break
policy serving: its own script ``mta-sts-reports-<stack>``, a D1 database for parsed reports, an R2
bucket for the raw bytes, a Workers custom domain for ``mta-sts:reports.host``, a daily Cron
Trigger for the digest, and, when ``mailto`` is set, Email Routing on the address's subdomain with
a rule sending exactly that address to the Worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from components import retry
from mtasts.model import receiver as receiver_model
from mtasts.model.config import Domain

DIGEST_CRON = "17 7 * * *"
"""Daily, at an odd minute so as not to run with everyone's midnight jobs."""


@dataclass(frozen=True)
class ReceiverArgs:
    """What ``ReportReceiver`` needs."""

    account_id: str
    """Cloudflare account owning the Worker, the database and the bucket."""
    stack: str
    """Stack name: names the script, the database and the bucket."""
    settings: receiver_model.ReceiverSettings
    """The validated ``mta-sts:reports`` object."""
    domains: Sequence[Domain]
    """Every domain of the stack: the receiver counts reports for each (others are ``foreign``),
    and lists the ``reports: builtin`` ones in its summary even when silent."""
    zone_id: pulumi.Input[str]
    """Zone of ``settings.host`` (and of the mailto address), from the program's one ``Zones``
    (``components.dns``): looked up once even when a domain is in the same zone."""
    read_token: pulumi.Input[str] | None = None
    """Pulumi secret ``mta-sts:reportsToken``; without it the Worker refuses every read."""
    webhook: pulumi.Input[str] | None = None
    """Pulumi secret ``mta-sts:reportsWebhook``; without it there is no digest."""


class ReportReceiver(pulumi.ComponentResource):
    """The receiver Worker, its D1 database, R2 bucket, custom domain, Cron Trigger and mail route."""

    script: cloudflare.WorkersScript
    database: cloudflare.D1Database
    bucket: cloudflare.R2Bucket
    custom_domain: cloudflare.WorkersCustomDomain
    url: pulumi.Output[str]
    """The HTTPS intake URL the builtin domains' ``_smtp._tls`` records list."""
    answering: list[pulumi.Resource]
    """What must exist before a ``_smtp._tls`` record may list the receiver: the script, its
    custom domain (the HTTPS URI) and, with ``mailto``, the Email Routing DNS and rule."""

    def __init__(self, name: str, args: ReceiverArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mta-sts:index:ReportReceiver", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, hooks=retry.binding())
        settings = args.settings
        storage = receiver_model.storage_name(args.stack)
        # The stored reports outlive the stack: Pulumi never deletes the database or the bucket.
        # D1's delete drops the database and every report at once, and R2 refuses to delete a
        # bucket that holds objects, so a `pulumi destroy` would fail halfway once reports exist
        # (terraform-provider-cloudflare internal/services/d1_database/resource.go and
        # r2_bucket/resource.go, Delete). retain_on_delete rather than protect: destroy, and
        # removing mta-sts:reports, then succeed and leave both in the account, to be deleted by
        # hand (docs/provider.md, "Retiring the receiver"); protect would fail both instead.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=True, hooks=retry.binding())
        self.database = cloudflare.D1Database(
            f"{name}-database", account_id=args.account_id, name=storage, opts=kept
        )
        self.bucket = cloudflare.R2Bucket(
            f"{name}-bucket", account_id=args.account_id, name=storage, opts=kept
        )
        # Reports are kept retentionDays; the Worker's daily run prunes D1 and R2 alike. The
        # stack's domains and the caps are data in the script (its settings region), not a json
        # binding: Cloudflare caps each binding value at 5 KB. Only storage and secrets are bindings.
        bindings: list[cloudflare.WorkersScriptBindingArgs] = [
            cloudflare.WorkersScriptBindingArgs(name="DB", type="d1", id=self.database.id),
            cloudflare.WorkersScriptBindingArgs(
                name="ARCHIVE", type="r2_bucket", bucket_name=self.bucket.name
            ),
        ]
        if args.read_token is not None:
            bindings.append(
                cloudflare.WorkersScriptBindingArgs(
                    name="READ_TOKEN", type="secret_text", text=pulumi.Output.secret(args.read_token)
                )
            )
        if args.webhook is not None:
            bindings.append(
                cloudflare.WorkersScriptBindingArgs(
                    name="WEBHOOK", type="secret_text", text=pulumi.Output.secret(args.webhook)
                )
            )
        self.script = cloudflare.WorkersScript(
            f"{name}-script",
            account_id=args.account_id,
            script_name=receiver_model.script_name(args.stack),
            content=receiver_model.receiver_script(settings, args.domains),
            main_module=receiver_model.MAIN_MODULE,
            compatibility_date=receiver_model.COMPATIBILITY_DATE,
            bindings=bindings,
            opts=child,
        )
        self.custom_domain = cloudflare.WorkersCustomDomain(
            f"{name}-custom-domain",
            account_id=args.account_id,
            hostname=settings.host,
            service=self.script.script_name,
            zone_id=args.zone_id,
            # An upsert by hostname, deleted by id: replaced create-first it would end with none
            # (components/worker.py says why).
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, hooks=retry.binding()),
        )
        self.cron = cloudflare.WorkersCronTrigger(
            f"{name}-digest",
            account_id=args.account_id,
            script_name=self.script.script_name,
            schedules=[cloudflare.WorkersCronTriggerScheduleArgs(cron=DIGEST_CRON)],
            opts=child,
        )
        self.mail: list[pulumi.Resource] = []
        if settings.mailto is not None:
            # Email Routing's MX and SPF records on the reports subdomain (it has no mail of its own),
            # then a rule for exactly the reports address; every other address there is not routed.
            # Its provider id is the zone id, and its delete is DELETE /zones/{id}/email/routing/dns,
            # which disables Email Routing for the whole zone, apex included; a name change is an
            # in-place PATCH, the "unlock MX" call, which never enables the new subdomain
            # (terraform-provider-cloudflare internal/services/email_routing_dns/resource.go,
            # Delete and Update; schema.go: only zone_id forces a replacement). So Pulumi never
            # deletes it, and a new name is a replacement: a create (POST, which enables the new
            # subdomain) and a retained delete. Turning it off is by hand (docs/provider.md).
            dns = cloudflare.EmailRoutingDns(
                f"{name}-mail-dns",
                zone_id=args.zone_id,
                name=settings.mail_domain,
                opts=pulumi.ResourceOptions(
                    parent=self, retain_on_delete=True, replace_on_changes=["name"], hooks=retry.binding()
                ),
            )
            rule = cloudflare.EmailRoutingRule(
                f"{name}-mail-rule",
                zone_id=args.zone_id,
                name=f"TLS reports to {receiver_model.script_name(args.stack)}",
                enabled=True,
                matchers=[
                    cloudflare.EmailRoutingRuleMatcherArgs(type="literal", field="to", value=settings.mailto)
                ],
                actions=[
                    cloudflare.EmailRoutingRuleActionArgs(type="worker", values=[self.script.script_name])
                ],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[dns], hooks=retry.binding()),
            )
            self.mail = [dns, rule]
        self.answering = [self.script, self.custom_domain, *self.mail]
        self.url = pulumi.Output.from_input(settings.https_uri)
        self.register_outputs({"url": self.url, "scriptName": self.script.script_name})
