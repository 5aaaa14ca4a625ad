"""The receiver's summary parsed once into types; bad documents name the key."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from mtasts.model.receiver_summary import SummaryError, parse_summary

DOCUMENT: dict[str, Any] = {
    "domains": {
        "example.com": {
            "reports": 2,
            "organizations": ["Google Inc.", "Microsoft Corporation"],
            "successful": 1000,
            "failed": 3,
            "failures": [
                {
                    "resultType": "certificate-expired",
                    "receivingMx": "mx.example.com",
                    "receivingIp": None,
                    "sessions": 3,
                }
            ],
            "firstReport": "2026-11-20T00:00:00Z",
            "lastReport": "2026-11-27T10:00:00.123Z",
        },
        "quiet.example": {
            "reports": 0,
            "organizations": [],
            "successful": 0,
            "failed": 0,
            "failures": [],
            "firstReport": None,
            "lastReport": None,
        },
    },
    "unparsed": 1,
    "foreign": 0,
    "silent": ["quiet.example"],
    "since": None,
}


def test_a_summary_parses_into_types_and_prints_back_the_same() -> None:
    """Every field is typed, times parsed once; as_json is the receiver's document again."""
    summary = parse_summary(DOCUMENT)
    entry = summary.domain("example.com")
    assert entry is not None
    assert entry.organizations == ("Google Inc.", "Microsoft Corporation")
    assert entry.failures[0].receiving_mx == "mx.example.com" and entry.failures[0].sessions == 3
    assert entry.first_at == datetime.datetime(2026, 11, 20, tzinfo=datetime.UTC)
    assert entry.failure_rate() == 3 / 1003
    assert summary.silent == ("quiet.example",) and summary.unparsed == 1
    assert summary.as_json() == DOCUMENT


def test_sums_written_as_floats_without_fraction_are_whole_numbers() -> None:
    """SQLite's TOTAL() sums arrive as 3e12 or 5.0: the same whole numbers."""
    document = {"domains": {"a.example": {"reports": 1, "successful": 5.0, "failed": 3e12}}}
    entry = parse_summary(document).domains["a.example"]
    assert (entry.successful, entry.failed) == (5, 3 * 10**12)
    assert isinstance(entry.failed, int)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"failed": "3"}, "summary.domains.example.com.failed: must be a whole number, got '3'"),
        ({"failed": 2.5}, "summary.domains.example.com.failed: must be a whole number, got 2.5"),
        ({"successful": -1}, "summary.domains.example.com.successful: must not be negative, got -1"),
        ({"reports": True}, "summary.domains.example.com.reports: must be a whole number, got True"),
        ({"organizations": "Google"}, "summary.domains.example.com.organizations: must be a list, got str"),
        ({"failures": [7]}, "summary.domains.example.com.failures[0]: must be an object"),
        ({"firstReport": "12"}, "summary.domains.example.com.firstReport: must be an RFC 3339 time"),
    ],
)
def test_a_field_of_the_wrong_type_names_its_key(change: dict[str, Any], message: str) -> None:
    """A wrong type is an error naming the key, never a silent zero."""
    entry = {**DOCUMENT["domains"]["example.com"], **change}
    with pytest.raises(SummaryError) as info:
        parse_summary({"domains": {"example.com": entry}})
    assert str(info.value).startswith(message)


def test_a_document_without_domains_is_not_a_summary() -> None:
    """No 'domains' object: SummaryError, with the file (or URL) named."""
    with pytest.raises(SummaryError, match=r"^reports.json: not a reports summary"):
        parse_summary({"unparsed": 0}, "reports.json")
