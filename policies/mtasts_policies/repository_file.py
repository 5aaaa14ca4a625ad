"""Rules for GitHub repository files: a committed ``.well-known/mta-sts.txt`` parses."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from ._shared import REPOSITORY_FILE_TYPE, is_policy_file, of_types, policy_problem


def _validate_pages_policy(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not is_policy_file(args.props.get("file")):
        return
    content = args.props.get("content")
    problem = policy_problem(content) if isinstance(content, str) else "the file has no content"
    if problem:
        report_violation(
            f"{args.props.get('repository')}/{args.props.get('file')} {content!r}: {problem}", None
        )


PAGES_POLICY_FILE_VALID = ResourceValidationPolicy(
    name="pages-policy-file-valid",
    description="A .well-known/mta-sts.txt committed to a repository must parse (RFC 8461 §3.2).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=of_types({REPOSITORY_FILE_TYPE}, _validate_pages_policy),
)
