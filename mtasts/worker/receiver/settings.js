// The receiver's settings, as the deploy writes them into the script's settings region
// (mtasts/model/receiver_contract.py is the one table of limits, field lengths and paths).
// Nothing here has a default: settings that lack an entry are not settings, and the receiver
// answers every request with a 500 naming what is missing (settingsFrom's `problems`).

import { normalizeName } from "./names.js";

// The entries the Worker reads; their values come only from the settings region.
const LIMITS = [
  "chunkChars",
  "digestLines",
  "failureChunk",
  "maxCompressedBytes",
  "maxDecompressedBytes",
  "maxFailureGroups",
  "maxKeyBytes",
  "maxMessageBytes",
  "maxParts",
  "maxPolicies",
  "maxSessions",
  "rateLimitPerMinute",
  "retentionDays",
  "silentAfterDays",
];
const FIELDS = [
  "additional-information",
  "contact-info",
  "end-datetime",
  "failure-reason-code",
  "mx-host",
  "mx-host-entry",
  "organization-name",
  "policy-domain",
  "policy-string",
  "policy-type",
  "receiving-ip",
  "receiving-mx-helo",
  "receiving-mx-hostname",
  "report-id",
  "result-type",
  "sending-mta-ip",
  "start-datetime",
];
const PATHS = ["metrics", "raw", "report", "submissions", "summary"];

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function settingsFrom(data) {
  // {problems: []} and every limit, field length and path; or {problems: [...]} saying what
  // the region lacks. domainSet: reports counted; builtinSet: listed in the summary and as silent.
  const problems = [];
  if (!isObject(data)) return { problems: ["the settings region is not an object"] };
  const domains = isObject(data.domains) ? data.domains : null;
  if (domains === null) problems.push("domains is not an object");
  const section = (name, keys, valid, rule) => {
    const found = isObject(data[name]) ? data[name] : {};
    const out = {};
    for (const key of keys) {
      if (valid(found[key])) out[key] = found[key];
      else problems.push(`${name}.${key} ${rule}`);
    }
    return out;
  };
  const whole = (v) => Number.isSafeInteger(v) && v > 0;
  const limits = section("limits", LIMITS, whole, "must be a positive whole number");
  const fields = section("fields", FIELDS, whole, "must be a positive whole number");
  const paths = section("paths", PATHS, (v) => typeof v === "string" && v.startsWith("/"), "must be a path");
  const names = domains === null ? [] : Object.keys(domains);
  return {
    problems,
    ...limits,
    fields,
    paths,
    domainSet: new Set(names.map(normalizeName)),
    builtinSet: new Set(names.filter((n) => isObject(domains[n]) && domains[n].builtin === true).map(normalizeName)),
  };
}
