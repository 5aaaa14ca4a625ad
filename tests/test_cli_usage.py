"""The command line as an operator meets it: --version, a mistyped command, --help, bad URLs and
directories, and bin/mtasts working in the caller's directory."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mtasts.commands import cli
from tests.conftest import ACCOUNT, ROOT

STACK = f"""config:
  mta-sts:cloudflareAccountId: '{ACCOUNT}'
  mta-sts:domains:
    caller.example: {{mx: [mx.caller.example]}}
"""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """mtasts --version prints the installed package's version and exits 0."""
    with pytest.raises(SystemExit) as done:
        cli._parser().parse_args(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == "mtasts 0.2.0"


@pytest.mark.parametrize(
    ("word", "hint"), [("verfy", "did you mean 'verify'?"), ("pln", "did you mean 'plan'?")]
)
def test_a_mistyped_command_names_the_nearest(
    word: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One error line naming the word and the command meant; exit 2."""
    assert cli.main([word, "--stack", "dev"]) == 2
    assert capsys.readouterr().err == f"error: {word!r} is not a command; {hint}\n"


def test_every_help_opens_with_a_sentence_and_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """Each command's --help has a one-sentence description and its options' defaults."""
    import argparse

    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {"plan", "verify", "watch", "adopt", "readiness", "wait-live", "serve", "reports"} <= set(commands)
    assert {"zones", "fleet"} <= set(commands)
    for command in commands:
        with pytest.raises(SystemExit):
            cli._parser().parse_args([command, "--help"])
        text = capsys.readouterr().out
        description = text.split("\n\n")[1].strip()
        assert description[0].isupper() and description.endswith("."), command
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--timeout TIMEOUT seconds per network step (default: 10.0)" in text
    assert "--nameserver NAMESERVER DNS server to ask" in text and "dig @1.1.1.1" in text
    assert "--https-port HTTPS_PORT port of the policy host's HTTPS (default: 443)" in text


@pytest.mark.parametrize("argv", [["readiness", "--stack", "dev", "--endpoint", "tlsrpt.example.net"],
                                  ["reports", "--stack", "dev", "--endpoint", "127.0.0.1:8787"]])  # fmt: skip
def test_an_endpoint_without_a_scheme_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--endpoint needs http:// or https://: one error line with the fix, exit 2."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --endpoint: ") and "must be a URL with its scheme, e.g. https://" in err


def test_project_dir_missing_or_relative(
    write_stack: Callable[..., Path],
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A missing --project-dir says so; a relative one is read from the working directory."""
    assert cli.main(["--project-dir", "no/such/dir", "plan", "--stack", "t"]) == 2
    assert capsys.readouterr().err == "error: --project-dir: 'no/such/dir': no such directory\n"
    write_stack(STACK)
    monkeypatch.chdir(project.parent)
    assert cli.main(["--project-dir", project.name, "plan", "--stack", "t"]) == 0
    assert "== caller.example" in capsys.readouterr().out


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_bin_mtasts_reads_the_callers_stack_file(write_stack: Callable[..., Path], project: Path) -> None:
    """bin/mtasts run elsewhere plans that directory's stack, not the clone's of the same name."""
    write_stack(STACK, name="dev")
    done = subprocess.run(
        [str(ROOT / "bin" / "mtasts"), "plan", "--stack", "dev"],
        cwd=project, capture_output=True, text=True, timeout=580,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("stack dev: 1 domain(s)") and "== caller.example" in done.stdout


def test_the_cli_pins_are_the_runtime_pins() -> None:
    """requirements-cli.txt pins each package exactly as requirements.txt does, and no Pulumi SDK."""

    def pins(name: str) -> dict[str, str]:
        lines = (ROOT / name).read_text().splitlines()
        return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))

    cli_pins, runtime = pins("requirements-cli.txt"), pins("requirements.txt")
    assert cli_pins and all(runtime[name] == version for name, version in cli_pins.items())
    assert not any(name.startswith("pulumi") for name in cli_pins)


def test_verify_text_names_failing_domains_and_can_show_problems_only() -> None:
    """The summary names each domain with errors; --problems drops ok and info lines and clean domains."""
    from mtasts.commands.shared.domain_check import Report
    from mtasts.commands.verify.report import render_text
    from mtasts.model.findings import Finding, Severity

    reports = [
        Report("clean.example", None, (Finding("sts-record", Severity.OK, "fine"),)),
        Report(
            "broken.example",
            None,
            (Finding("sts-record", Severity.OK, "fine"), Finding("policy-fetch", Severity.ERROR, "NXDOMAIN")),
        ),
        Report("noted.example", None, (Finding("tlsrpt-record", Severity.WARNING, "no v=TLSRPTv1 record"),)),
    ]
    full = render_text(reports, 1.0)
    assert full.rstrip().splitlines()[-1] == "3 domains checked in 1.00 s: 1 with errors (broken.example)"
    short = render_text(reports, 1.0, problems_only=True)
    assert "clean.example" not in short.split("\n3 domains")[0] and "fine" not in short
    assert "policy-fetch" in short and "noted.example" in short


def test_verify_progress_goes_to_stderr_only_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """The progress line rewrites itself on stderr and ends with a newline; piped output never
    gets it."""
    import sys

    from mtasts.commands.shared.progress import Meter, meter

    progress = Meter("verify", "domains checked")
    progress(3, 40)
    progress.end()
    progress.end()  # once only
    assert capsys.readouterr().err == "\rverify: 3/40 domains checked\n"
    assert not sys.stderr.isatty() and meter("verify", "domains checked") is None


def test_readiness_says_already_enforce_and_offers_no_flag_it_lacks() -> None:
    """Already enforce is said so; a failed MX lookup offers readiness no --allow-unknown-mx."""
    from mtasts.checks.mx import live_mx
    from mtasts.checks.readiness import Verdict
    from mtasts.commands.readiness import render
    from mtasts.model.vocabulary import Mode
    from mtasts.probes import DnsError, DnsFailure, DnsStatus, MxAnswer

    failed = DnsError("e.example", "MX", DnsFailure.TIMEOUT, "e.example MX: no DNS answer within 1 s")
    answer = MxAnswer("e.example", DnsStatus.ERROR, (), 0, failed)
    [for_readiness] = live_mx("e.example", Mode.ENFORCE, ("mx.e.example",), answer, escape=None)
    assert "--" not in for_readiness.reason and for_readiness.reason.endswith("fix the cause and look again")
    [for_plan] = live_mx("e.example", Mode.ENFORCE, ("mx.e.example",), answer)
    assert for_plan.reason.endswith("fix the cause, or pass --allow-unknown-mx")
    verdicts = [Verdict("e.example", True, ()), Verdict("t.example", False, ())]
    text = render(verdicts, False, frozenset({"e.example"}))
    assert text.startswith("e.example: already enforce; safe to stay\n")
    assert "t.example: NOT READY for enforce" in text


@pytest.mark.parametrize("namespace", ["mtasts", "mta_sts", "MTA-STS"])
def test_a_near_miss_namespace_is_an_error_with_the_right_one(
    namespace: str, write_stack: Callable[..., Path], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """mtasts:domains is no other provider's config: "did you mean", in plan and in the program."""
    write_stack(STACK.replace("mta-sts:domains", f"{namespace}:domains"))
    assert cli.main(["--project-dir", str(project), "plan", "--stack", "t"]) == 2
    assert capsys.readouterr().err == (
        f"error: {namespace}:domains: unknown namespace {namespace!r}; did you mean 'mta-sts:domains'? "
        "(Pulumi.t.yaml:3)\n"
    )
    from tests.program_mocks import run_program

    run = run_program({f"{namespace}:domains": {"a.example": {"mx": ["mx.a.example"]}}})
    assert run.error is not None and "did you mean 'mta-sts:domains'?" in str(run.error)
    assert run.resources == [] or all(r.type == "pulumi:pulumi:Stack" for r in run.resources)


@pytest.mark.parametrize(
    ("setting", "written", "hint"),
    [
        ("mode", "off", "YAML read an unquoted yes/no/on/off/true/false as the boolean false"),
        ("zoneId", "1234567890" * 3 + "12", "YAML read " + "1234567890" * 3 + "12 as a number: quote it"),
    ],
)  # fmt: skip
def test_yaml_booleans_and_numbers_say_what_yaml_read(
    setting: str, written: str, hint: str, write_stack: Callable[..., Path], project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """An unquoted off or an all-digit zone id: the message shows what YAML made of it and how to quote it."""
    write_stack(
        STACK.replace("{mx: [mx.caller.example]}", f"{{mx: [mx.caller.example], {setting}: {written}}}")
    )
    assert cli.main(["--project-dir", str(project), "plan", "--stack", "t"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: domains.caller.example.{setting}: ") and hint in err


def test_a_u_label_gets_its_a_label(
    write_stack: Callable[..., Path], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A domain written in Unicode: the error prints the A-label to write instead."""
    write_stack(STACK.replace("caller.example", "bücher.example"))
    assert cli.main(["--project-dir", str(project), "plan", "--stack", "t"]) == 2
    assert (
        "must be ASCII (write internationalized names as A-labels: xn--bcher-kva.example)"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize("command", ["verify", "wait-live", "adopt", "plan --check-mx"])
def test_no_system_resolver_is_one_usage_line(
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    write_stack: Callable[..., Path],
    project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A machine without /etc/resolv.conf: every command that resolves says pass --nameserver, exit 2."""
    import dns.resolver

    def no_resolver(self: object, *args: object, **kwargs: object) -> None:
        raise dns.resolver.NoResolverConfiguration("no nameservers")

    monkeypatch.setattr(dns.resolver.BaseResolver, "read_resolv_conf", no_resolver)
    write_stack(STACK)
    argv = ["--project-dir", str(project), *command.split(), "--stack", "t"]
    if command == "wait-live":
        argv += ["--timeout", "5"]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.endswith("error: no system DNS resolver configured; pass --nameserver\n")
