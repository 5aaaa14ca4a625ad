// The report schema (RFC 8460 §4.4) as senders really write it: one report document in, one
// normalized report out, or Unparsable naming the field and the rule. Pure: no I/O.

import { Unparsable } from "./errors.js";
import { normalizeName } from "./names.js";

const POLICY_TYPES = new Set(["sts", "tlsa", "no-policy-found"]);

export function codePoints(value) {
  // Length in Unicode code points (a surrogate pair is one), as the field limits count.
  let n = 0;
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i += 1;
    }
    n += 1;
  }
  return n;
}

function within(value, limit) {
  // UTF-16 units are never fewer than code points: counting is needed only past the limit.
  return value.length <= limit || codePoints(value) <= limit;
}

// RFC 3339 §5.6 date-time; "T" and "Z" may be lower case (§5.6, NOTE).
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;

export function parseDateTime(value) {
  // Milliseconds since the epoch of an RFC 3339 date-time, or null when it is not one.
  if (typeof value !== "string") return null;
  const m = DATE_TIME.exec(value);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const days = new Date(utc(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > days || hour > 23 || minute > 59 || second > 60) return null;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return null;
  const offset = m[9] === undefined ? 0 : (m[8][0] === "-" ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  const fraction = m[7] === undefined ? 0 : Math.floor(Number(`0${m[7]}`) * 1000);
  // A leap second is the last second of its minute, as Date cannot hold it.
  return utc(year, month - 1, day, hour, minute, Math.min(second, 59), fraction) - offset * 60000;
}

function utc(year, month, day, ...time) {
  // Date.UTC, but years 0 to 99 are those years (Date.UTC reads them as 1900 to 1999).
  const at = new Date(Date.UTC(2000, 0, 1, ...time));
  at.setUTCFullYear(year, month, day);
  return at.getTime();
}

export function canonicalTime(ms) {
  // The form SQLite's date functions read and the summary writes: UTC, whole seconds, "Z".
  return new Date(ms).toISOString().slice(0, 19) + "Z";
}

export function makeNormalizer(settings) {
  const { fields, maxPolicies, maxSessions } = settings;

  function wellFormed(value, where) {
    // JSON may escape a lone surrogate (RFC 8259 §8.2), which is no Unicode text: D1 would store
    // it as U+FFFD, and two names that differ would read back the same.
    if (!value.isWellFormed()) throw new Unparsable(`${where} is not Unicode text (a lone surrogate)`);
  }

  function text(value, field, where = field) {
    // A JSON string, trimmed; empty strings and non-strings are null. Longer than the field's
    // limit is not a report (and would not fit a D1 row).
    if (typeof value !== "string") return null;
    const t = value.trim();
    wellFormed(t, where);
    if (!within(t, fields[field])) throw new Unparsable(`${where} is longer than ${fields[field]} characters`);
    return t === "" ? null : t;
  }

  function withinDay(sessions, what) {
    if (sessions > maxSessions) {
      throw new Unparsable(`${what} add up to ${sessions}, more sessions than a day of all the world's mail (${maxSessions})`);
    }
  }

  function count(value, where) {
    if (typeof value === "string" && /^\d+$/.test(value.trim())) value = Number(value.trim());
    if (value === undefined || value === null) throw new Unparsable(`${where} is missing`);
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw new Unparsable(`${where} must be a non-negative integer`);
    }
    if (value > maxSessions) {
      throw new Unparsable(`${where} is ${value}, more sessions than a day of all the world's mail (${maxSessions})`);
    }
    return value;
  }

  function hostName(value, field, where) {
    const t = text(value, field, where);
    return t === null ? null : normalizeName(t);
  }

  function time(value, field) {
    // Stored in canonical form when it is an RFC 3339 date-time, else as sent.
    const t = text(value, field);
    const ms = parseDateTime(t);
    return ms === null ? t : canonicalTime(ms);
  }

  function strings(value, field, where, entryField) {
    // A list of strings (a lone string is a list of one), together within the field's limit.
    let list = typeof value === "string" ? [value] : Array.isArray(value) ? value : [];
    list = list.filter((v) => typeof v === "string");
    let total = 0;
    list.forEach((v, i) => {
      wellFormed(v, `${where}[${i}]`);
      if (entryField !== undefined && !within(v, fields[entryField])) {
        throw new Unparsable(`${where}[${i}] is longer than ${fields[entryField]} characters`);
      }
      total += codePoints(v);
    });
    if (total > fields[field]) throw new Unparsable(`${where} is longer than ${fields[field]} characters in all`);
    return list;
  }

  function failure(d, at) {
    if (d === null || typeof d !== "object") throw new Unparsable(`${at} is not an object`);
    const resultType = text(d["result-type"], "result-type", `${at}.result-type`);
    if (resultType === null) throw new Unparsable(`${at}.result-type is missing`);
    const field = (name) => text(d[name], name, `${at}.${name}`);
    return {
      resultType,
      sendingIp: field("sending-mta-ip"),
      receivingMx: hostName(d["receiving-mx-hostname"], "receiving-mx-hostname", `${at}.receiving-mx-hostname`),
      receivingHelo: field("receiving-mx-helo"),
      receivingIp: field("receiving-ip"),
      sessions: count(d["failed-session-count"], `${at}.failed-session-count`),
      reasonCode: field("failure-reason-code"),
      additional: field("additional-information"),
    };
  }

  function policy(entry, i) {
    const where = `policies[${i}]`;
    if (entry === null || typeof entry !== "object") throw new Unparsable(`${where} is not an object`);
    const p = entry.policy && typeof entry.policy === "object" ? entry.policy : null;
    if (p === null) throw new Unparsable(`${where}.policy is missing`);
    const domain = hostName(p["policy-domain"], "policy-domain", `${where}.policy.policy-domain`);
    if (domain === null) throw new Unparsable(`${where}.policy.policy-domain is missing`);
    const type = text(p["policy-type"], "policy-type", `${where}.policy.policy-type`);
    if (!POLICY_TYPES.has(type)) {
      throw new Unparsable(`${where}.policy.policy-type must be one of ${[...POLICY_TYPES].join(", ")}`);
    }
    const summary = entry.summary && typeof entry.summary === "object" ? entry.summary : null;
    if (summary === null) throw new Unparsable(`${where}.summary is missing`);
    const mxKey = p["mx-host"] !== undefined && p["mx-host"] !== null ? "mx-host" : "mx-host-pattern";
    const details = Array.isArray(entry["failure-details"]) ? entry["failure-details"] : [];
    const policyString = Array.isArray(p["policy-string"]) ? p["policy-string"] : [];
    return {
      domain,
      type,
      policyString: strings(policyString, "policy-string", `${where}.policy.policy-string`),
      mx: strings(p[mxKey], "mx-host", `${where}.policy.${mxKey}`, "mx-host-entry"),
      successful: count(summary["total-successful-session-count"], `${where}.summary.total-successful-session-count`),
      failed: count(summary["total-failure-session-count"], `${where}.summary.total-failure-session-count`),
      failures: details.map((d, j) => failure(d, `${where}.failure-details[${j}]`)),
    };
  }

  return function normalizeReport(doc) {
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
      throw new Unparsable("a TLS report is a JSON object");
    }
    const organization = text(doc["organization-name"], "organization-name");
    if (organization === null) throw new Unparsable("organization-name is missing");
    const reportId = text(doc["report-id"], "report-id");
    if (reportId === null) throw new Unparsable("report-id is missing");
    const range = doc["date-range"] && typeof doc["date-range"] === "object" ? doc["date-range"] : null;
    if (range === null || typeof range["start-datetime"] !== "string" || typeof range["end-datetime"] !== "string") {
      throw new Unparsable("date-range with start-datetime and end-datetime is missing");
    }
    if (!Array.isArray(doc.policies)) throw new Unparsable("policies must be a list");
    if (doc.policies.length > maxPolicies) throw new Unparsable(`more than ${maxPolicies} policies`);
    const policies = doc.policies.map(policy);
    // A report covers one sender's day (RFC 8460 §4.1): its sessions in all are bounded as each
    // count is, so that no single POST can push a stored sum far past exact (2^53).
    withinDay(policies.reduce((n, p) => n + p.successful + p.failed, 0), "the policies' session counts");
    withinDay(
      policies.reduce((n, p) => p.failures.reduce((m, f) => m + f.sessions, n), 0),
      "the failure-details' session counts",
    );
    return {
      organization,
      reportId,
      contact: text(doc["contact-info"], "contact-info"),
      start: time(range["start-datetime"], "start-datetime"),
      end: time(range["end-datetime"], "end-datetime"),
      policies,
    };
  };
}
