import assert from "node:assert/strict";
import { test } from "node:test";
import { explanations } from "../../mtasts/worker/receiver/digest.js";
import { renderMetrics } from "../../mtasts/worker/receiver/metrics.js";

test("the digest explains each result type once, from the shared RFC 8460 table", () => {
  const lines = explanations(["sts-policy-fetch-error", "certificate-expired", "sts-policy-fetch-error", "x-new"]);
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^ {2}certificate-expired: the MX certificate had expired; renew/);
  assert.match(lines[1], /^ {2}sts-policy-fetch-error: the sender could not fetch the MTA-STS policy/);
  assert.equal(lines[2], "  x-new: not an RFC 8460 result type");
});

test("metrics: sessions per MX and result type, last report age per organization, labels escaped", () => {
  const now = Date.UTC(2026, 11, 1, 12);
  const doc = {
    domains: {
      "example.com": {
        reports: 2, successful: 90, failed: 10,
        failures: [
          { resultType: "certificate-expired", receivingMx: "mx1.example.com", receivingIp: "192.0.2.1", sessions: 4 },
          { resultType: "certificate-expired", receivingMx: "mx1.example.com", receivingIp: "192.0.2.2", sessions: 6 },
        ],
        byOrganization: [
          { organization: 'Big "Mail"', reports: 1, successful: 80, failed: 10, lastReport: "2026-12-01T11:00:00.000Z" },
          { organization: "Small", reports: 1, successful: 10, failed: 0, lastReport: "not a time" },
        ],
      },
    },
    silent: [],
    unparsed: 3,
  };
  const text = renderMetrics(doc, now);
  assert.match(text, /^mtasts_tlsrpt_failed_sessions\{domain="example.com",receiving_mx="mx1.example.com",result_type="certificate-expired"\} 10$/m);
  assert.match(text, /^mtasts_tlsrpt_last_report_age_seconds\{domain="example.com",organization="Big \\"Mail\\""\} 3600$/m);
  assert.doesNotMatch(text, /organization="Small"\} \d+\n(?=# TYPE mtasts_tlsrpt_silent)/);
  assert.match(text, /^mtasts_tlsrpt_unparsed_submissions 3$/m);
  assert.ok(text.endsWith("# EOF\n"));
});
