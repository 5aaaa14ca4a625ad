"""One receiver contract: the loader, Pulumi.yaml, the settings region and the Worker agree."""

from __future__ import annotations

import re

import pytest

from mtasts.model import receiver as receiver_model
from mtasts.model import receiver_contract as contract
from mtasts.model.config import load_config
from mtasts.rfc.served import receiver_in_script
from tests.conftest import ROOT

ACCOUNT = "0123456789abcdef0123456789abcdef"


def stack(**settings: int) -> receiver_model.ReceiverSettings:
    deployment = load_config(
        {
            "cloudflareAccountId": ACCOUNT,
            "defaults": {"mx": ["mx.example.com"], "reports": "builtin"},
            "domains": {"example.com": {}},
            "reports": {"host": "tlsrpt.example.net", **settings},
        }
    )
    assert deployment.receiver is not None
    return deployment.receiver


@pytest.mark.parametrize("setting", contract.SETTINGS, ids=lambda s: s.name)
def test_pulumi_yaml_states_each_settings_default_and_range(setting: contract.Setting) -> None:
    """Pulumi.yaml's comment for each mta-sts:reports setting gives the contract's default (and range)."""
    text = (ROOT / "Pulumi.yaml").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if re.match(rf"\s*#\s+{setting.name}\s", line))
    assert f"(default {setting.default})" in line
    stated = re.search(r"(\d+)\.\.(\d+)", line)
    if stated is not None:
        assert (int(stated.group(1)), int(stated.group(2))) == (setting.low, setting.high)


def test_the_settings_region_holds_the_whole_contract() -> None:
    """The deployed script carries every limit, field length and path; maxMessageBytes is derived."""
    settings = stack(maxCompressedBytes=65536)
    script = receiver_model.receiver_script(settings, load_config_domains())
    data = receiver_in_script(script)
    assert dict(data.paths) == {
        "report": "/v1/tlsrpt",
        "summary": "/v1/summary",
        "submissions": "/v1/submissions",
        "raw": "/v1/raw/",
        "metrics": "/v1/metrics",
    }
    assert data.fields == dict(contract.FIELD_CHARS)
    assert data.limits["maxCompressedBytes"] == 65536
    assert data.limits["maxMessageBytes"] == 87381 + 262144  # 65536 × 4/3 (base64) + headers
    assert data.limits["maxSessions"] == 10**12
    assert set(data.limits) == {s.name for s in contract.SETTINGS} | set(contract.FIXED_LIMITS) | {
        "maxMessageBytes"
    }


def test_the_default_message_cap_is_one_number_for_python_and_the_worker() -> None:
    """maxMessageBytes for the default 1 MiB report cap is 1,660,245 in the model and in the script."""
    settings = stack()
    assert receiver_model.message_cap(settings) == 1660245
    data = receiver_in_script(receiver_model.receiver_script(settings, load_config_domains()))
    assert data.limits["maxMessageBytes"] == 1660245


def test_the_worker_sources_hold_no_limit_of_their_own() -> None:
    """No contract number (1 MiB, 16 MiB, 10^12, 262,144, 1,024, 2 MiB) is written in the receiver's code."""
    values = {s.default for s in contract.SETTINGS} | set(contract.FIXED_LIMITS.values())
    values |= {contract.message_cap(1048576), 2097152}
    numbers = {str(v) for v in values if v >= 1024} | {"1e12"}
    for path in sorted((ROOT / "mtasts" / "worker" / "receiver").glob("*.js")):
        code = "\n".join(line.split("//", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
        found = sorted(n for n in numbers if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w.])", code))
        assert found == [], f"{path.name} writes {found}"


def load_config_domains() -> tuple[object, ...]:
    deployment = load_config(
        {
            "cloudflareAccountId": ACCOUNT,
            "defaults": {"mx": ["mx.example.com"], "reports": "builtin"},
            "domains": {"example.com": {}},
            "reports": {"host": "tlsrpt.example.net"},
        }
    )
    return tuple(deployment.domains)
