import assert from "node:assert/strict";
import { test } from "node:test";
import { codePoints, makeNormalizer, parseDateTime } from "../../mtasts/worker/receiver/normalize.js";
import { report, settings } from "./helpers.mjs";

const normalize = makeNormalizer(settings());

test("a valid report normalizes with trimmed, lower-case names and counts", () => {
  const doc = report();
  doc.policies[0].policy["policy-domain"] = " Example.COM. ";
  const r = normalize(doc);
  assert.equal(r.organization, "Example Sender");
  assert.equal(r.policies[0].domain, "example.com");
  assert.equal(r.policies[0].successful, 10);
  assert.equal(r.policies[0].failures[0].receivingMx, "mx.example.com");
  assert.equal(r.start, "2026-05-01T00:00:00Z");
});

test("a 3 KB policy of 70 MX patterns is a report (limits are per field)", () => {
  const mx = Array.from({ length: 70 }, (_, i) => `mx${i}.cluster-${i}.mail.example.com`);
  const doc = report();
  doc.policies[0].policy["policy-string"] = ["version: STSv1", "mode: enforce", ...mx.map((m) => `mx: ${m}`), "max_age: 604800"].map((l) => l + "\r\n");
  doc.policies[0].policy["mx-host"] = mx;
  assert.ok(JSON.stringify(doc.policies[0].policy["policy-string"]).length > 3000);
  assert.equal(normalize(doc).policies[0].mx.length, 70);
});

test("a policy-string over 64 KiB in all is refused, naming the field", () => {
  const doc = report();
  doc.policies[0].policy["policy-string"] = ["x".repeat(40000), "y".repeat(30000)];
  assert.throws(() => normalize(doc), { message: "policies[0].policy.policy-string is longer than 65536 characters in all" });
});

test("field lengths count code points, not UTF-16 units", () => {
  const emoji = "\u{1F600}".repeat(1024); // 2,048 UTF-16 units, 1,024 code points
  assert.equal(codePoints(emoji), 1024);
  assert.equal(normalize(report({ "organization-name": emoji })).organization, emoji);
  assert.throws(() => normalize(report({ "organization-name": emoji + "a" })), {
    message: "organization-name is longer than 1024 characters",
  });
});

test("a count above a day of the world's mail is refused; 10^12 itself is taken", () => {
  const doc = report();
  doc.policies[0]["failure-details"][0]["failed-session-count"] = 2 ** 53 - 1;
  assert.throws(() => normalize(doc), /failed-session-count is 9007199254740991, more sessions than/);
  doc.policies[0]["failure-details"][0]["failed-session-count"] = 1e12;
  assert.equal(normalize(doc).policies[0].failures[0].sessions, 1e12);
});

test("RFC 3339 dates with lower-case t and z are dates; others are kept as sent", () => {
  assert.equal(parseDateTime("2026-05-01t10:00:00z"), Date.UTC(2026, 4, 1, 10));
  assert.equal(parseDateTime("2026-05-01T12:00:00+02:00"), Date.UTC(2026, 4, 1, 10));
  assert.equal(parseDateTime("2026-02-30T00:00:00Z"), null);
  assert.equal(parseDateTime("12"), null);
  assert.equal(parseDateTime("2026-W18-5"), null);
  // Years 0 to 99 are those years, not 1900 to 1999 as Date.UTC reads them; 0 is a leap year.
  assert.equal(new Date(parseDateTime("0026-11-27T00:00:00Z")).toISOString(), "0026-11-27T00:00:00.000Z");
  assert.equal(new Date(parseDateTime("0000-02-29T00:00:00Z")).toISOString(), "0000-02-29T00:00:00.000Z");
  assert.equal(parseDateTime("1900-02-29T00:00:00Z"), null);
  const r = normalize(report({ "date-range": { "start-datetime": "2026-05-01t00:00:00z", "end-datetime": "soon" } }));
  assert.equal(r.start, "2026-05-01T00:00:00Z");
  assert.equal(r.end, "soon");
});

test("more than maxPolicies policies is not a report", () => {
  const doc = report();
  doc.policies = Array.from({ length: 51 }, () => doc.policies[0]);
  assert.throws(() => normalize(doc), { message: "more than 50 policies" });
});

test("a report's sessions in all are bounded as each count is", () => {
  const doc = report();
  doc.policies = [doc.policies[0], structuredClone(doc.policies[0])];
  doc.policies[0].summary["total-successful-session-count"] = 10 ** 12;
  assert.throws(() => normalize(doc), { message: /^the policies' session counts add up to 1000000000\d+, more sessions than/ });
  const details = report();
  const detail = details.policies[0]["failure-details"][0];
  details.policies[0]["failure-details"] = Array(3).fill({ ...detail, "failed-session-count": 4 * 10 ** 11 });
  assert.throws(() => normalize(details), { message: /^the failure-details' session counts add up to 1200000000000,/ });
});

test("a lone surrogate is no Unicode text: refused, naming the field", () => {
  assert.throws(() => normalize(report({ "organization-name": "a\ud800" })), {
    message: "organization-name is not Unicode text (a lone surrogate)",
  });
});
