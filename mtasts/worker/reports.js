// TLS report receiver (RFC 8460), one Worker per stack beside the policy Worker, so that
// nothing here can ever break policy serving. Bundled with postal-mime into
// reports.bundle.js (`npm run build:reports`), which is what `pulumi up` uploads and
// `mtasts serve` runs.
//
// Bindings:
//   DB          D1 database (schema.sql, applied here once per isolate)
//   ARCHIVE     R2 bucket: the raw bytes of every accepted submission, before any parsing
//   READ_TOKEN  secret: bearer token for the read API (absent: reads are refused)
//   WEBHOOK     secret: Slack-compatible webhook URL for the daily digest (absent: no digest)
// Settings are not a binding (Cloudflare caps each binding value at 5 KB): they are data in
// this script, between the settings markers below, filled in per stack at deploy time.
//
// HTTP API:
//   POST /v1/tlsrpt          a report, Content-Type application/tlsrpt+gzip or +json (§5.3)
//                            201 stored, 200 duplicate; 4xx with a one-line reason otherwise
//   GET  /v1/summary?since=  per-domain summary (Authorization: Bearer <READ_TOKEN>); firstReport
//                            is the earliest date-range start, lastReport the last receive time
//   GET  /v1/submissions?since=&status=   every submission with its status and error
//   GET  /v1/raw/<key>       an archived submission, byte for byte
// Mail: email() takes the report parts of a multipart/report message (§5.1).
// Scheduled: the daily digest to WEBHOOK (new failures; builtin domains silent for silentAfterDays,
// each named once a day at most), and retention.
//
// Bad input never gets a 5xx: every rejection is a 4xx naming the reason. Submissions that
// were read in full are archived and recorded even when they do not parse, so nothing is lost.

import PostalMime from "postal-mime";
import SCHEMA from "./schema.sql";

const REPORT_PATH = "/v1/tlsrpt";
const SUMMARY_PATH = "/v1/summary";
const SUBMISSIONS_PATH = "/v1/submissions";
const RAW_PREFIX = "/v1/raw/";
const REPORT_TYPES = new Set(["application/tlsrpt+gzip", "application/tlsrpt+json"]);
// Mail attachments as large senders label them, beside the RFC's own types.
const MAIL_GZIP_TYPES = new Set(["application/tlsrpt+gzip", "application/gzip", "application/x-gzip"]);
const FAILURE_CHUNK = 500;
const CHUNK_CHARS = 262144;
// Far above what senders send (one policy per policy type and domain; short strings), far below
// D1's limits (statements per invocation, 2 MB per row and bound value).
const MAX_POLICIES = 50;
const MAX_FIELD = 4096;
const MAX_PARTS = 10;
// Report parts read from one mail (senders send one); the rest stays in the archived message.
const POLICY_TYPES = new Set(["sts", "tlsa", "no-policy-found"]);
const MAIL_JSON_TYPES = new Set(["application/tlsrpt+json", "application/json"]);
const DEFAULTS = {
  maxCompressedBytes: 1048576,
  maxDecompressedBytes: 16777216,
  maxMessageBytes: 2097152,
  rateLimitPerMinute: 60,
  retentionDays: 400,
  silentAfterDays: 3,
};

// The stack's settings (mtasts.rfc.served.encode_receiver): {"domains": {"<domain>": {"builtin":
// true, "dnsExternal": true}, ...}, "limits": {...}, "rua": [...]}, one domain a line. Every
// domain of the stack is counted; builtin ones are listed even when silent. rua and dnsExternal
// are for the policy pack. The region is plain JSON read as an object literal; it sits inside
// the call's parentheses so that esbuild keeps both markers in the bundle.
const SETTINGS = settingsFrom(
  /* mta-sts:settings:begin */
  { "domains": {}, "limits": {}, "rua": [] }
  /* mta-sts:settings:end */
);

const encoder = new TextEncoder();

class Rejected extends Error {
  // A request refused before anything was stored.
  constructor(status, reason, headers) {
    super(reason);
    this.status = status;
    this.headers = headers || {};
  }
}

class Unparsable extends Error {
  // A submission that was read and archived, but is not a usable report.
  constructor(reason, status = 400) {
    super(reason);
    this.status = status;
  }
}

function settingsFrom(data) {
  const domains = data && typeof data.domains === "object" && data.domains !== null ? data.domains : {};
  const settings = { ...DEFAULTS, ...(data && data.limits) };
  const names = Object.keys(domains);
  // domainSet: reports counted; builtinSet: listed in the summary and as silent.
  settings.domainSet = new Set(names.map(normalizeName));
  settings.builtinSet = new Set(names.filter((n) => domains[n] && domains[n].builtin === true).map(normalizeName));
  return settings;
}

function normalizeName(name) {
  let value = String(name).trim().toLowerCase();
  if (value.endsWith(".")) value = value.slice(0, -1);
  return value;
}

function json(status, value, headers) {
  const body = encoder.encode(JSON.stringify(value) + "\n");
  const h = new Headers({
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  for (const [name, v] of Object.entries(headers || {})) h.set(name, v);
  return new Response(body, { status, headers: h });
}

function problem(status, reason, headers) {
  return json(status, { error: reason }, headers);
}

// --- schema ---------------------------------------------------------------------------------

let schemaReady = null;

function ensureSchema(db) {
  if (schemaReady === null) {
    const statements = SCHEMA.replace(/--[^\n]*/g, "")
      .split(";")
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
      .map((s) => db.prepare(s));
    schemaReady = db.batch(statements).catch((error) => {
      schemaReady = null;
      throw error;
    });
  }
  return schemaReady;
}

// --- reading bodies with caps -----------------------------------------------------------------

async function readCapped(
  stream,
  cap,
  what,
  tooLarge = () => new Rejected(413, `${what} is larger than ${cap} bytes`),
) {
  // Read at most cap bytes, counting as they come; past cap, throw tooLarge() (a Rejected 413
  // unless the caller says otherwise) and never read the rest.
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  return concat(chunks, total);
}

function concat(chunks, total) {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function isGzip(bytes) {
  return bytes.byteLength >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function looksLikeJson(bytes) {
  for (const b of bytes) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0xef || b === 0xbb || b === 0xbf) continue;
    return b === 0x7b || b === 0x5b;
  }
  return false;
}

async function inflate(bytes, cap) {
  // Decompress, counting output as it comes: past cap, stop at once (a gzip bomb costs at
  // most cap bytes of work). Truncated or corrupt data is Unparsable.
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  try {
    return await readCapped(
      stream,
      cap,
      "decompressed report",
      () => new Unparsable(`decompressed report is larger than ${cap} bytes`, 413),
    );
  } catch (error) {
    if (error instanceof Unparsable) throw error;
    throw new Unparsable(`not valid gzip data: ${error && error.message ? error.message : error}`);
  }
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- the report schema (RFC 8460 §4.4), as senders really write it -----------------------------

function text(value, what = "a field") {
  // A JSON string, trimmed; empty strings and non-strings are null. Longer than MAX_FIELD is
  // not a report (and would not fit a D1 row).
  if (typeof value !== "string") return null;
  const t = value.trim();
  if (t.length > MAX_FIELD) throw new Unparsable(`${what} is longer than ${MAX_FIELD} characters`);
  return t === "" ? null : t;
}

function count(value, what) {
  if (typeof value === "string" && /^\d+$/.test(value.trim())) value = Number(value.trim());
  if (value === undefined || value === null) throw new Unparsable(`${what} is missing`);
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new Unparsable(`${what} must be a non-negative integer`);
  }
  return value;
}

function hostName(value, what) {
  const t = text(value, what);
  return t === null ? null : normalizeName(t);
}

function normalizeReport(doc) {
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
  if (doc.policies.length > MAX_POLICIES) throw new Unparsable(`more than ${MAX_POLICIES} policies`);
  const policies = doc.policies.map((entry, i) => {
    const where = `policies[${i}]`;
    if (entry === null || typeof entry !== "object") throw new Unparsable(`${where} is not an object`);
    const policy = entry.policy && typeof entry.policy === "object" ? entry.policy : null;
    if (policy === null) throw new Unparsable(`${where}.policy is missing`);
    const domain = hostName(policy["policy-domain"], `${where}.policy.policy-domain`);
    if (domain === null) throw new Unparsable(`${where}.policy.policy-domain is missing`);
    const type = text(policy["policy-type"], `${where}.policy.policy-type`);
    if (!POLICY_TYPES.has(type)) {
      throw new Unparsable(`${where}.policy.policy-type must be one of ${[...POLICY_TYPES].join(", ")}`);
    }
    const summary = entry.summary && typeof entry.summary === "object" ? entry.summary : null;
    if (summary === null) throw new Unparsable(`${where}.summary is missing`);
    let mx = policy["mx-host"] ?? policy["mx-host-pattern"];
    if (typeof mx === "string") mx = [mx];
    if (!Array.isArray(mx)) mx = [];
    const details = Array.isArray(entry["failure-details"]) ? entry["failure-details"] : [];
    const policyString = Array.isArray(policy["policy-string"]) ? policy["policy-string"] : [];
    mx = mx.filter((m) => typeof m === "string");
    if (JSON.stringify(policyString).length + JSON.stringify(mx).length > MAX_FIELD) {
      throw new Unparsable(`${where}.policy: policy-string and mx-host are longer than ${MAX_FIELD} characters`);
    }
    return {
      domain,
      type,
      policyString,
      mx,
      successful: count(summary["total-successful-session-count"], `${where}.summary.total-successful-session-count`),
      failed: count(summary["total-failure-session-count"], `${where}.summary.total-failure-session-count`),
      failures: details.map((d, j) => {
        const at = `${where}.failure-details[${j}]`;
        if (d === null || typeof d !== "object") throw new Unparsable(`${at} is not an object`);
        const resultType = text(d["result-type"], `${at}.result-type`);
        if (resultType === null) throw new Unparsable(`${at}.result-type is missing`);
        return {
          resultType,
          sendingIp: text(d["sending-mta-ip"], `${at}.sending-mta-ip`),
          receivingMx: hostName(d["receiving-mx-hostname"], `${at}.receiving-mx-hostname`),
          receivingHelo: text(d["receiving-mx-helo"], `${at}.receiving-mx-helo`),
          receivingIp: text(d["receiving-ip"], `${at}.receiving-ip`),
          sessions: count(d["failed-session-count"], `${at}.failed-session-count`),
          reasonCode: text(d["failure-reason-code"], `${at}.failure-reason-code`),
          additional: text(d["additional-information"], `${at}.additional-information`),
        };
      }),
    };
  });
  return {
    organization,
    reportId,
    contact: text(doc["contact-info"], "contact-info"),
    start: text(range["start-datetime"], "start-datetime"),
    end: text(range["end-datetime"], "end-datetime"),
    policies,
  };
}

function decodeJson(bytes) {
  let source;
  try {
    source = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new Unparsable("report is not UTF-8 text");
  }
  try {
    return JSON.parse(source);
  } catch (error) {
    throw new Unparsable(`report is not valid JSON: ${error.message}`);
  }
}

// --- storing ------------------------------------------------------------------------------------

async function archive(env, bytes, extension, meta) {
  const sha = await sha256Hex(bytes);
  const key = `raw/${meta.receivedAt.slice(0, 10)}/${sha}${extension}`;
  await env.ARCHIVE.put(key, bytes, {
    httpMetadata: { contentType: meta.contentType || "application/octet-stream" },
    customMetadata: { channel: meta.channel, client: meta.client || "", receivedAt: meta.receivedAt },
  });
  return { sha, key };
}

async function record(env, meta, stored, status, error) {
  const row = await env.DB.prepare(
    "INSERT INTO submissions (received_at, channel, client, content_type, size, sha256, archive_key, status, error) " +
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
  )
    .bind(meta.receivedAt, meta.channel, meta.client, meta.contentType, meta.size, stored.sha, stored.key, status, error)
    .first();
  return row.id;
}

async function ingest(env, settings, bytes, gzip, meta, stored) {
  // Parse one archived submission and store it. Returns {status, httpStatus, ...}; never throws
  // for bad input: an unusable submission is recorded as unparsed, with its reason.
  let report;
  try {
    // The bytes decide, not the label: senders send gzip as +json and JSON as +gzip.
    if (gzip && !isGzip(bytes) && !looksLikeJson(bytes)) {
      throw new Unparsable("declared gzip, but neither gzip nor JSON data");
    }
    const plain = isGzip(bytes) ? await inflate(bytes, settings.maxDecompressedBytes) : bytes;
    report = normalizeReport(decodeJson(plain));
  } catch (error) {
    if (!(error instanceof Unparsable)) throw error;
    await record(env, meta, stored, "unparsed", error.message);
    return { httpStatus: error.status, body: { error: error.message, status: "unparsed" } };
  }
  const ours = report.policies.filter((p) => settings.domainSet.has(p.domain));
  if (ours.length === 0) {
    const names = [...new Set(report.policies.map((p) => p.domain))].join(", ") || "none";
    const reason = `no policy-domain of this stack in the report (got: ${names})`;
    await record(env, meta, stored, "foreign", reason);
    return { httpStatus: 422, body: { error: reason, status: "foreign" } };
  }
  const submission = await record(env, meta, stored, "received", null);
  const db = env.DB;
  const at = meta.receivedAt;
  const statements = [
    db
      .prepare(
        "INSERT INTO reports (organization, report_id, contact, start_time, end_time, received_at, submission) " +
          "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (organization, report_id) DO NOTHING",
      )
      .bind(report.organization, report.reportId, report.contact, report.start, report.end, at, submission),
  ];
  const mine = "(SELECT id FROM reports WHERE organization = ? AND report_id = ? AND submission = ?)";
  ours.forEach((p, idx) => {
    statements.push(
      db
        .prepare(
          "INSERT INTO policies (report, idx, domain, policy_type, policy_string, mx_host, successful, failed, received_at) " +
            `SELECT id, ?, ?, ?, ?, ?, ?, ?, ? FROM ${mine}`,
        )
        .bind(
          idx, p.domain, p.type, JSON.stringify(p.policyString), JSON.stringify(p.mx), p.successful, p.failed, at,
          report.organization, report.reportId, submission,
        ),
    );
    // Failure details go in as JSON read by json_each: one statement per chunk of at most
    // FAILURE_CHUNK details and CHUNK_CHARS characters, however many a sender lists (D1 limits
    // statements per invocation, bound parameters per statement and the size of a value).
    for (const chunk of chunks(p.failures)) {
      statements.push(
        db
          .prepare(
            "INSERT INTO failures (policy, domain, received_at, result_type, sending_ip, receiving_mx, receiving_helo, " +
              "receiving_ip, sessions, reason_code, additional) " +
              "SELECT p.id, ?, ?, f.value ->> 0, f.value ->> 1, f.value ->> 2, f.value ->> 3, f.value ->> 4, " +
              "f.value ->> 5, f.value ->> 6, f.value ->> 7 " +
              `FROM policies p, json_each(?) f WHERE p.idx = ? AND p.report = ${mine} ORDER BY f.key`,
          )
          .bind(p.domain, at, chunk, idx, report.organization, report.reportId, submission),
      );
    }
  });
  statements.push(
    db
      .prepare(
        "UPDATE submissions SET report = (SELECT id FROM reports WHERE organization = ? AND report_id = ?), " +
          "status = CASE WHEN EXISTS " + mine + " THEN 'stored' ELSE 'duplicate' END WHERE id = ?",
      )
      .bind(report.organization, report.reportId, report.organization, report.reportId, submission, submission),
  );
  // One batch is one transaction: a report is stored with all its policies and failures, or not.
  await db.batch(statements);
  const row = await db.prepare("SELECT status, report FROM submissions WHERE id = ?").bind(submission).first();
  const body = { status: row.status, report: row.report, organization: report.organization, reportId: report.reportId };
  return { httpStatus: row.status === "stored" ? 201 : 200, body };
}

function* chunks(failures) {
  // JSON arrays of failure rows, each within FAILURE_CHUNK rows and about CHUNK_CHARS characters.
  let rows = [];
  let size = 0;
  for (const f of failures) {
    const row = JSON.stringify([
      f.resultType, f.sendingIp, f.receivingMx, f.receivingHelo, f.receivingIp, f.sessions, f.reasonCode, f.additional,
    ]);
    if (rows.length > 0 && (rows.length >= FAILURE_CHUNK || size + row.length > CHUNK_CHARS)) {
      yield `[${rows.join(",")}]`;
      rows = [];
      size = 0;
    }
    rows.push(row);
    size += row.length + 1;
  }
  if (rows.length > 0) yield `[${rows.join(",")}]`;
}

// --- abuse limits -------------------------------------------------------------------------------

async function rateLimited(env, settings, client, now) {
  const minute = Math.floor(now / 60000);
  const row = await env.DB.prepare(
    "INSERT INTO rate (client, minute, hits) VALUES (?, ?, 1) " +
      "ON CONFLICT (client, minute) DO UPDATE SET hits = hits + 1 RETURNING hits",
  )
    .bind(client, minute)
    .first();
  return row.hits > settings.rateLimitPerMinute;
}

function mediaType(header) {
  return (header || "").split(";", 1)[0].trim().toLowerCase();
}

// --- reading: authorization ----------------------------------------------------------------------

async function authorized(request, env) {
  const token = typeof env.READ_TOKEN === "string" ? env.READ_TOKEN : "";
  if (token === "") throw new Rejected(403, "reads are disabled: no read token is configured");
  const header = request.headers.get("Authorization") || "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match === null) throw new Rejected(401, "a bearer token is required", { "WWW-Authenticate": "Bearer" });
  // Compare HMACs under a fresh key: equal length, and timingSafeEqual, whatever was sent.
  const key = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const [a, b] = await Promise.all([
    crypto.subtle.sign("HMAC", key, encoder.encode(match[1])),
    crypto.subtle.sign("HMAC", key, encoder.encode(token)),
  ]);
  if (!crypto.subtle.timingSafeEqual(a, b)) {
    throw new Rejected(401, "wrong bearer token", { "WWW-Authenticate": 'Bearer error="invalid_token"' });
  }
}

function sinceOf(url) {
  const raw = url.searchParams.get("since");
  if (raw === null || raw === "") return "";
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new Rejected(400, "since must be an RFC 3339 time");
  return new Date(t).toISOString();
}

// --- the summary ----------------------------------------------------------------------------------

// Where a report's evidence begins: the start-datetime of its date-range (RFC 8460 §4.4), in UTC
// as RFC 3339; its receive time instead when the start is not a time or lies after the receipt.
// firstReport is the earliest of these, so reports kept elsewhere and posted later count for the
// days they cover; lastReport stays the last receive time (senders still sending).
const UTC_SECONDS = "'%Y-%m-%dT%H:%M:%SZ'";
const COVERED_FROM =
  `CASE WHEN strftime(${UTC_SECONDS}, r.start_time) IS NULL ` +
  `OR strftime(${UTC_SECONDS}, r.start_time) > strftime(${UTC_SECONDS}, p.received_at) ` +
  `THEN strftime(${UTC_SECONDS}, p.received_at) ELSE strftime(${UTC_SECONDS}, r.start_time) END`;

// The last receive time of every domain with a report, for silentDomains.
const LAST_REPORTS = "SELECT domain, MAX(received_at) AS last FROM policies GROUP BY domain";

function silentDomains(settings, lastRows, now) {
  // The builtin domains without a report for silentAfterDays, sorted, each with its last receive
  // time (null: never); lastRows are LAST_REPORTS' rows. The summary and the digest both use it.
  const lastEver = new Map(lastRows.map((row) => [row.domain, row.last]));
  const quietSince = new Date(now - settings.silentAfterDays * 86400000).toISOString();
  return [...settings.builtinSet]
    .filter((name) => !lastEver.has(name) || lastEver.get(name) < quietSince)
    .sort()
    .map((name) => ({ domain: name, last: lastEver.get(name) ?? null }));
}

async function summary(env, settings, since, now) {
  const db = env.DB;
  const [totals, orgs, failures, unparsed, foreign, last] = await db.batch([
    db
      .prepare(
        "SELECT p.domain AS domain, COUNT(DISTINCT p.report) AS reports, SUM(p.successful) AS successful, " +
          "SUM(p.failed) AS failed, MAX(p.received_at) AS last, MIN(" + COVERED_FROM + ") AS first " +
          "FROM policies p JOIN reports r ON r.id = p.report WHERE p.received_at >= ? GROUP BY p.domain",
      )
      .bind(since),
    db
      .prepare(
        "SELECT DISTINCT p.domain AS domain, r.organization AS organization FROM policies p " +
          "JOIN reports r ON r.id = p.report WHERE p.received_at >= ? ORDER BY 1, 2",
      )
      .bind(since),
    db
      .prepare(
        "SELECT domain, result_type, receiving_mx, receiving_ip, SUM(sessions) AS sessions FROM failures " +
          "WHERE received_at >= ? GROUP BY domain, result_type, receiving_mx, receiving_ip " +
          "ORDER BY domain, sessions DESC, result_type, receiving_mx, receiving_ip",
      )
      .bind(since),
    db.prepare("SELECT COUNT(*) AS n FROM submissions WHERE status = 'unparsed' AND received_at >= ?").bind(since),
    db.prepare("SELECT COUNT(*) AS n FROM submissions WHERE status = 'foreign' AND received_at >= ?").bind(since),
    db.prepare(LAST_REPORTS),
  ]);
  const domains = {};
  const entry = (name) =>
    (domains[name] ??= {
      reports: 0,
      organizations: [],
      successful: 0,
      failed: 0,
      failures: [],
      firstReport: null,
      lastReport: null,
    });
  // Every builtin domain, silent or not; any other domain of the stack once it has reports.
  const counted = (row) => settings.domainSet.has(row.domain);
  for (const name of [...settings.builtinSet].sort()) entry(name);
  for (const row of totals.results.filter(counted)) {
    Object.assign(entry(row.domain), {
      reports: row.reports,
      successful: row.successful,
      failed: row.failed,
      firstReport: row.first,
      lastReport: row.last,
    });
  }
  for (const row of orgs.results.filter(counted)) entry(row.domain).organizations.push(row.organization);
  for (const row of failures.results.filter(counted)) {
    entry(row.domain).failures.push({
      resultType: row.result_type,
      receivingMx: row.receiving_mx,
      receivingIp: row.receiving_ip,
      sessions: row.sessions,
    });
  }
  const silent = silentDomains(settings, last.results, now).map((s) => s.domain);
  const ordered = {};
  for (const name of Object.keys(domains).sort()) ordered[name] = domains[name];
  return {
    domains: ordered,
    unparsed: unparsed.results[0].n,
    foreign: foreign.results[0].n,
    silent,
    since: since || null,
  };
}

async function submissions(env, since, status) {
  let sql =
    "SELECT id, received_at AS receivedAt, channel, client, content_type AS contentType, size, sha256, " +
    "archive_key AS archiveKey, status, error, report FROM submissions WHERE received_at >= ?";
  const args = [since];
  if (status) {
    sql += " AND status = ?";
    args.push(status);
  }
  sql += " ORDER BY id";
  const rows = await env.DB.prepare(sql).bind(...args).all();
  return { submissions: rows.results };
}

// --- HTTP ----------------------------------------------------------------------------------------

async function intake(request, env, ctx, settings) {
  const now = Date.now();
  const client = request.headers.get("CF-Connecting-IP") || "unknown";
  if (await rateLimited(env, settings, client, now)) {
    throw new Rejected(429, `more than ${settings.rateLimitPerMinute} requests a minute from ${client}`, {
      "Retry-After": "60",
    });
  }
  const type = mediaType(request.headers.get("Content-Type"));
  if (!REPORT_TYPES.has(type)) {
    throw new Rejected(415, "Content-Type must be application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 §5.3)", {
      Accept: [...REPORT_TYPES].join(", "),
    });
  }
  const declared = Number(request.headers.get("Content-Length") || "0");
  if (declared > settings.maxCompressedBytes) {
    throw new Rejected(413, `report is larger than ${settings.maxCompressedBytes} bytes`);
  }
  const bytes = await readCapped(request.body, settings.maxCompressedBytes, "report");
  if (bytes.byteLength === 0) throw new Rejected(400, "empty body: no report");
  const meta = {
    receivedAt: new Date(now).toISOString(),
    channel: "https",
    client,
    contentType: type,
    size: bytes.byteLength,
  };
  const stored = await archive(env, bytes, type.endsWith("gzip") ? ".json.gz" : ".json", meta);
  const result = await ingest(env, settings, bytes, type.endsWith("gzip"), meta, stored);
  return json(result.httpStatus, result.body);
}

async function route(request, env, ctx) {
  const url = new URL(request.url);
  const settings = SETTINGS;
  const path = url.pathname;
  const known = path === REPORT_PATH || path === SUMMARY_PATH || path === SUBMISSIONS_PATH || path.startsWith(RAW_PREFIX);
  if (!known) return problem(404, "not found");
  const want = path === REPORT_PATH ? "POST" : "GET";
  if (request.method !== want && !(want === "GET" && request.method === "HEAD")) {
    return problem(405, `${path} takes ${want}`, { Allow: want === "GET" ? "GET, HEAD" : want });
  }
  await ensureSchema(env.DB);
  if (path === REPORT_PATH) return intake(request, env, ctx, settings);
  // Reads share the rate limit, so guessing the token is as slow as it is hopeless.
  const client = request.headers.get("CF-Connecting-IP") || "unknown";
  if (await rateLimited(env, settings, `read ${client}`, Date.now())) {
    throw new Rejected(429, `more than ${settings.rateLimitPerMinute} requests a minute from ${client}`, {
      "Retry-After": "60",
    });
  }
  await authorized(request, env);
  if (path === SUMMARY_PATH) return json(200, await summary(env, settings, sinceOf(url), Date.now()));
  if (path === SUBMISSIONS_PATH) {
    return json(200, await submissions(env, sinceOf(url), url.searchParams.get("status")));
  }
  const key = decodeURIComponent(path.slice(RAW_PREFIX.length));
  const object = key.startsWith("raw/") ? await env.ARCHIVE.get(key) : null;
  if (object === null) return problem(404, "no such archived submission");
  return new Response(object.body, {
    headers: {
      "Content-Type": object.httpMetadata?.contentType || "application/octet-stream",
      "Content-Length": String(object.size),
      "Cache-Control": "no-store",
    },
  });
}

// --- mail -----------------------------------------------------------------------------------------

function reportParts(parsed) {
  return (parsed.attachments || []).filter((a) => {
    const type = mediaType(a.mimeType);
    const name = (a.filename || "").toLowerCase();
    return MAIL_GZIP_TYPES.has(type) || MAIL_JSON_TYPES.has(type) || /\.json(\.gz)?$|\.gz$/.test(name);
  });
}

function partBytes(content) {
  if (content instanceof Uint8Array) return content;
  if (content instanceof ArrayBuffer) return new Uint8Array(content);
  return encoder.encode(String(content));
}

async function receiveMail(message, env, settings) {
  const now = Date.now();
  if (message.rawSize > settings.maxMessageBytes) {
    message.setReject(`message is larger than ${settings.maxMessageBytes} bytes`);
    return { status: "rejected" };
  }
  let raw;
  try {
    raw = await readCapped(message.raw, settings.maxMessageBytes, "message");
  } catch (error) {
    if (!(error instanceof Rejected)) throw error;
    message.setReject(error.message);
    return { status: "rejected" };
  }
  await ensureSchema(env.DB);
  const meta = {
    receivedAt: new Date(now).toISOString(),
    channel: "mail",
    client: message.from,
    contentType: "message/rfc822",
    size: raw.byteLength,
  };
  // The whole message is archived first: whatever happens next, the report can be read back.
  const stored = await archive(env, raw, ".eml", meta);
  let parts;
  try {
    parts = reportParts(await PostalMime.parse(raw, { attachmentEncoding: "arraybuffer" }));
  } catch (error) {
    await record(env, meta, stored, "unparsed", `not a readable MIME message: ${error && error.message}`);
    return { status: "unparsed" };
  }
  if (parts.length === 0) {
    await record(env, meta, stored, "unparsed", "no application/tlsrpt+gzip or +json part in the message");
    return { status: "unparsed" };
  }
  const results = [];
  if (parts.length > MAX_PARTS) {
    await record(env, meta, stored, "unparsed", `${parts.length} report parts; only the first ${MAX_PARTS} were read`);
    parts = parts.slice(0, MAX_PARTS);
  }
  for (const part of parts) {
    const bytes = partBytes(part.content);
    const type = mediaType(part.mimeType);
    const partMeta = { ...meta, contentType: type, size: bytes.byteLength };
    const gzip = MAIL_GZIP_TYPES.has(type) || /\.gz$/.test((part.filename || "").toLowerCase());
    if (bytes.byteLength > settings.maxCompressedBytes) {
      await record(env, partMeta, stored, "unparsed", `report is larger than ${settings.maxCompressedBytes} bytes`);
      results.push("unparsed");
      continue;
    }
    results.push((await ingest(env, settings, bytes, gzip, partMeta, stored)).body.status);
  }
  return { status: results.join(",") };
}

// --- digest and retention --------------------------------------------------------------------------

async function digest(env, settings, now) {
  const db = env.DB;
  const last = await db.prepare("SELECT value FROM state WHERE key = 'digest'").first();
  const from = last ? last.value : "";
  const to = new Date(now).toISOString();
  const rows = (
    await db
      .prepare(
        "SELECT domain, result_type, receiving_mx, SUM(sessions) AS sessions FROM failures " +
          "WHERE received_at > ? AND received_at <= ? GROUP BY domain, result_type, receiving_mx " +
          "ORDER BY domain, sessions DESC, result_type, receiving_mx",
      )
      .bind(from, to)
      .all()
  ).results;
  // Silent domains are named at most once per UTC day each: state 'silent:<domain>' is the day.
  const day = to.slice(0, 10);
  const named = new Map(
    (await db.prepare("SELECT key, value FROM state WHERE key LIKE 'silent:%'").all()).results.map((r) => [
      r.key.slice("silent:".length),
      r.value,
    ]),
  );
  const lastRows = (await db.prepare(LAST_REPORTS).all()).results;
  const silent = silentDomains(settings, lastRows, now).filter((s) => named.get(s.domain) !== day);
  let sent = false;
  if ((rows.length > 0 || silent.length > 0) && typeof env.WEBHOOK === "string" && env.WEBHOOK !== "") {
    const lines = [];
    if (rows.length > 0) lines.push(`TLS report failures since ${from || "the first report"}:`);
    for (const row of rows) {
      lines.push(`• ${row.domain}: ${row.sessions} failed session(s), ${row.result_type} at ${row.receiving_mx || "unknown MX"}`);
    }
    if (silent.length > 0) lines.push(`No TLS report for ${settings.silentAfterDays} day(s) or more:`);
    for (const s of silent) lines.push(`• ${s.domain}: last report ${s.last || "never"}`);
    const response = await fetch(env.WEBHOOK, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: lines.join("\n") }),
    });
    if (!response.ok) throw new Error(`webhook answered ${response.status}`);
    sent = true;
  }
  const upsert = "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
  const updates = [];
  if (rows.length === 0 || sent) updates.push(db.prepare(upsert).bind("digest", to));
  if (sent) for (const s of silent) updates.push(db.prepare(upsert).bind(`silent:${s.domain}`, day));
  if (updates.length > 0) await db.batch(updates);
  return { failures: rows.length, silent: silent.length, sent };
}

async function retain(env, settings, now) {
  const cutoff = new Date(now - settings.retentionDays * 86400000).toISOString();
  const db = env.DB;
  await db.batch([
    db.prepare("DELETE FROM failures WHERE received_at < ?").bind(cutoff),
    db.prepare("DELETE FROM policies WHERE received_at < ?").bind(cutoff),
    db.prepare("DELETE FROM reports WHERE received_at < ?").bind(cutoff),
    db.prepare("DELETE FROM submissions WHERE received_at < ?").bind(cutoff),
    db.prepare("DELETE FROM rate WHERE minute < ?").bind(Math.floor(now / 60000) - 1),
    db.prepare("DELETE FROM state WHERE key LIKE 'silent:%' AND value < ?").bind(cutoff.slice(0, 10)),
  ]);
  // Archive keys start with the day received, so the oldest come first in a listing.
  const day = cutoff.slice(0, 10);
  for (;;) {
    const listing = await env.ARCHIVE.list({ prefix: "raw/", limit: 1000 });
    const old = listing.objects.map((o) => o.key).filter((k) => k.slice(4, 14) < day);
    if (old.length === 0) break;
    await env.ARCHIVE.delete(old);
    if (old.length < listing.objects.length) break;
  }
}

export default {
  async fetch(request, env, ctx) {
    try {
      return await route(request, env, ctx);
    } catch (error) {
      if (error instanceof Rejected) return problem(error.status, error.message, error.headers);
      console.error("receiver error", error && error.stack ? error.stack : error);
      return problem(503, "the receiver could not store the report now; send it again later", { "Retry-After": "300" });
    }
  },

  async email(message, env, ctx) {
    // A throw here would have Email Routing refuse the message; receiveMail archives the whole
    // message to R2 before anything can fail on its content, and rejects only what is too large.
    const result = await receiveMail(message, env, SETTINGS);
    console.log(`tlsrpt mail from ${message.from}: ${result.status}`);
  },

  async scheduled(event, env, ctx) {
    const settings = SETTINGS;
    await ensureSchema(env.DB);
    await retain(env, settings, event.scheduledTime);
    await digest(env, settings, event.scheduledTime);
  },
};
