// GET /v1/metrics (bearer token): the summary as OpenMetrics text, for a Prometheus scrape.
// Per domain: reports and sessions (successful and failed), failed sessions per receiving MX and
// result type, and per reporting organization its sessions and the age of its last report.
// Certificate days left and verify's findings are not known here (the receiver probes nothing):
// `mtasts verify --format openmetrics` prints those.

import { SUM_CAP } from "./summary.js";

export const METRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

function escape(value) {
  return String(value).replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function sample(out, name, labels, value) {
  const body = Object.entries(labels)
    .map(([k, v]) => `${k}="${escape(v)}"`)
    .join(",");
  const number = Number.isFinite(value) ? String(value) : "NaN";
  out.push(body ? `${name}{${body}} ${number}` : `${name} ${number}`);
}

function family(out, name, help, unit) {
  out.push(`# TYPE ${name} gauge`);
  if (unit) out.push(`# UNIT ${name} ${unit}`);
  out.push(`# HELP ${name} ${help}`);
}

function ageSeconds(iso, now) {
  const at = Date.parse(iso || "");
  return Number.isNaN(at) ? null : Math.max(0, Math.round((now - at) / 1000));
}

export function renderMetrics(doc, now) {
  // The OpenMetrics exposition of a summary document (summary()'s value) at time now (ms).
  const out = [];
  const domains = Object.entries(doc.domains || {});
  family(out, "mtasts_tlsrpt_reports", "TLS reports received per policy domain.");
  for (const [domain, e] of domains) sample(out, "mtasts_tlsrpt_reports", { domain }, e.reports);
  family(out, "mtasts_tlsrpt_sessions", "Sessions the reports count, by result (successful or failed).");
  for (const [domain, e] of domains) {
    sample(out, "mtasts_tlsrpt_sessions", { domain, result: "successful" }, e.successful);
    sample(out, "mtasts_tlsrpt_sessions", { domain, result: "failed" }, e.failed);
  }
  family(out, "mtasts_tlsrpt_failed_sessions", "Failed sessions by receiving MX and RFC 8460 result type.");
  for (const [domain, e] of domains) {
    // The summary has a row per receiving IP too; one sample per label set sums them.
    const sums = new Map();
    for (const f of e.failures || []) {
      const key = JSON.stringify([f.receivingMx || "", f.resultType]);
      sums.set(key, Math.min((sums.get(key) || 0) + f.sessions, SUM_CAP));
    }
    for (const [key, sessions] of sums) {
      const [mx, type] = JSON.parse(key);
      sample(out, "mtasts_tlsrpt_failed_sessions", { domain, receiving_mx: mx, result_type: type }, sessions);
    }
  }
  family(out, "mtasts_tlsrpt_organization_sessions", "Sessions per reporting organization, by result.");
  for (const [domain, e] of domains) {
    for (const o of e.byOrganization || []) {
      sample(out, "mtasts_tlsrpt_organization_sessions", { domain, organization: o.organization, result: "successful" }, o.successful);
      sample(out, "mtasts_tlsrpt_organization_sessions", { domain, organization: o.organization, result: "failed" }, o.failed);
    }
  }
  const age = "mtasts_tlsrpt_last_report_age_seconds";
  family(out, age, "Seconds since the last report of each reporting organization arrived.", "seconds");
  for (const [domain, e] of domains) {
    for (const o of e.byOrganization || []) {
      const seconds = ageSeconds(o.lastReport, now);
      if (seconds !== null) sample(out, age, { domain, organization: o.organization }, seconds);
    }
  }
  family(out, "mtasts_tlsrpt_silent", "1 when a builtin domain has had no report for silentAfterDays.");
  const silent = new Set(doc.silent || []);
  for (const [domain] of domains) sample(out, "mtasts_tlsrpt_silent", { domain }, silent.has(domain) ? 1 : 0);
  family(out, "mtasts_tlsrpt_unparsed_submissions", "Submissions kept but not parsed as reports.");
  sample(out, "mtasts_tlsrpt_unparsed_submissions", {}, doc.unparsed || 0);
  out.push("# EOF");
  return out.join("\n") + "\n";
}
