"""GitHub Pages hosting: per domain a public repository serving ``.well-known/mta-sts.txt``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_github as github

from mtasts.model.config import Domain
from mtasts.rfc.policy import POLICY_PATH

BRANCH = "main"
"""The branch Pages publishes from; ``BranchDefault`` makes it the default whatever the owner's
setting for new repositories is."""
POLICY_FILE = POLICY_PATH.lstrip("/")
NOJEKYLL = ".nojekyll"
NOJEKYLL_BODY = "GitHub Pages serves this site as is: Jekyll would drop the .well-known folder.\n"
"""Not empty: an empty ``content`` is an empty commit body the contents API and the provider's
diff treat unreliably, and the file says why it is there."""


@dataclass(frozen=True)
class PagesHostingArgs:
    """What ``PagesHosting`` needs."""

    domains: Sequence[Domain]
    """The Pages-hosted domains (owner from ``github:owner``, read by the GitHub provider)."""


def commit_message(domain: Domain) -> str:
    """Says what the commit changes: the domain, mode, max_age and the new policy id."""
    return (
        f"MTA-STS policy for {domain.name}: mode {domain.mode}, max_age {domain.max_age}, "
        f"id {domain.policy_id}"
    )


class PagesHosting(pulumi.ComponentResource):
    """Per domain: repository, default branch, policy file, ``.nojekyll`` and the Pages site.

    Children are named ``<name>-<domain>-<role>``. The Pages site gets the custom domain
    ``mta-sts.<d>`` before any DNS record points at GitHub (``DomainRecords`` waits for it), so
    no other Pages site can claim the name in between.
    """

    serving: dict[str, list[pulumi.Resource]]
    """Domain name → the resources that serve its policy (files, then the Pages site)."""

    def __init__(self, name: str, args: PagesHostingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mta-sts:index:PagesHosting", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.serving = {}
        for domain in args.domains:
            prefix = f"{name}-{domain.name}"
            repository = github.Repository(
                f"{prefix}-repository",
                name=domain.repository,
                description=f"MTA-STS policy for {domain.name}, served at {domain.policy_url}",
                homepage_url=domain.policy_url,
                visibility="public",
                auto_init=True,
                has_issues=False,
                has_wiki=False,
                has_projects=False,
                opts=child,
            )
            branch = github.BranchDefault(
                f"{prefix}-default-branch",
                repository=repository.name,
                branch=BRANCH,
                rename=True,
                # GitHub renames the default branch eventually: without the wait the files below
                # can be committed to a branch GitHub still calls by its old name
                # (integrations/terraform-provider-github github/resource_github_branch_default.go,
                # waitForDefaultBranch).
                wait_for_rename=True,
                opts=child,
            )
            after_branch = pulumi.ResourceOptions(parent=self, depends_on=[branch])
            policy_file = github.RepositoryFile(
                f"{prefix}-policy-file",
                repository=repository.name,
                branch=BRANCH,
                file=POLICY_FILE,
                content=domain.policy_text,
                commit_message=commit_message(domain),
                overwrite_on_create=True,
                opts=after_branch,
            )
            nojekyll = github.RepositoryFile(
                f"{prefix}-nojekyll",
                repository=repository.name,
                branch=BRANCH,
                file=NOJEKYLL,
                content=NOJEKYLL_BODY,
                commit_message="Serve .well-known as is: Jekyll drops dot-folders",
                overwrite_on_create=True,
                opts=after_branch,
            )
            site = github.RepositoryPages(
                f"{prefix}-pages",
                repository=repository.name,
                build_type="legacy",
                source=github.RepositoryPagesSourceArgs(branch=BRANCH, path="/"),
                cname=domain.policy_host,
                # GitHub refuses to enforce HTTPS before it has issued the certificate ("404 The
                # certificate does not exist yet": integrations/terraform-provider-github
                # github/resource_github_repository_pages.go), so a domain's first deploy leaves it
                # unset and `httpsEnforced: true` turns it on. Senders fetch only over HTTPS, so
                # the policy is as safe without it.
                https_enforced=True if domain.https_enforced else None,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy_file, nojekyll]),
            )
            self.serving[domain.name] = [policy_file, nojekyll, site]
            if not domain.https_enforced:
                pulumi.log.info(
                    f"{domain.policy_host}: HTTPS is not enforced on GitHub Pages; once Settings → Pages "
                    f"shows the certificate, set domains.{domain.name}.httpsEnforced: true and run "
                    "pulumi up again",
                    resource=site,
                )
        self.register_outputs({})
