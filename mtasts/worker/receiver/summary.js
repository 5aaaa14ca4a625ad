// The read side: the per-domain summary, the submissions list, and which builtin domains are
// silent. Sums use SQLite's TOTAL(), a floating-point sum that never fails, where SUM() raises
// "integer overflow" past 2^63-1 and would make every later read fail. Counts are bounded at
// intake (maxSessions per count and per report), so sums stay exact integers below 2^53 for any
// real traffic; a sum past that reads as SUM_CAP, never as an inexact number.

// 2^53-1: the largest integer a JavaScript number, and so a D1 answer, holds exactly. Below it a
// TOTAL() of whole numbers is exact (every partial sum is a whole number a double holds).
export const SUM_CAP = Number.MAX_SAFE_INTEGER;

export function cappedSum(column) {
  // The SQL for a sum of column that no stored data can make fail, fractional or negative.
  return `MAX(0, MIN(TOTAL(${column}), ${SUM_CAP}))`;
}

// Where a report's evidence begins: the start-datetime of its date-range (RFC 8460 §4.4), in UTC
// as RFC 3339; its receive time instead when the start is not a time or lies after the receipt.
// firstReport is the earliest of these, so reports kept elsewhere and posted later count for the
// days they cover; lastReport stays the last receive time (senders still sending). A start is a
// time only in the canonical form the normalizer writes for a valid RFC 3339 date-time
// (normalize.js parseDateTime is the one rule): SQLite reads more (2026-02-29 as 1 March, 24:00
// as the next day, a date alone), so the start must read back unchanged.
const UTC_SECONDS = "'%Y-%m-%dT%H:%M:%SZ'";
const COVERED_FROM =
  `CASE WHEN strftime(${UTC_SECONDS}, r.start_time) IS NOT r.start_time ` +
  `OR strftime(${UTC_SECONDS}, r.start_time) > strftime(${UTC_SECONDS}, p.received_at) ` +
  `THEN strftime(${UTC_SECONDS}, p.received_at) ELSE strftime(${UTC_SECONDS}, r.start_time) END`;

// Failure groups (domain, result type, receiving MX and IP) since ?, ranked within each domain
// by sessions: the summary lists the first maxFailureGroups of a domain and sums the rest into
// failuresOmitted, so that no number of distinct groups (one POST can hold 100,000) can make the
// answer too large to send (D1 results are at most 50 MB, a Worker has 128 MB:
// https://developers.cloudflare.com/d1/platform/limits/, https://developers.cloudflare.com/workers/platform/limits/).
const FAILURE_GROUPS =
  "WITH grouped AS (SELECT domain, result_type, receiving_mx, receiving_ip, " +
  `${cappedSum("sessions")} AS sessions FROM failures WHERE received_at >= ? ` +
  "GROUP BY domain, result_type, receiving_mx, receiving_ip), " +
  "ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY domain " +
  "ORDER BY sessions DESC, result_type, receiving_mx, receiving_ip) AS n FROM grouped)";

// The last receive time of every domain with a report, for silentDomains.
export const LAST_REPORTS = "SELECT domain, MAX(received_at) AS last FROM policies GROUP BY domain";

export function silentDomains(settings, lastRows, now) {
  // The builtin domains without a report for silentAfterDays, sorted, each with its last receive
  // time (null: never); lastRows are LAST_REPORTS' rows. The summary and the digest both use it.
  const lastEver = new Map(lastRows.map((row) => [row.domain, row.last]));
  const quietSince = new Date(now - settings.silentAfterDays * 86400000).toISOString();
  return [...settings.builtinSet]
    .filter((name) => !lastEver.has(name) || lastEver.get(name) < quietSince)
    .sort()
    .map((name) => ({ domain: name, last: lastEver.get(name) ?? null }));
}

export async function summary(db, settings, since, now) {
  const [totals, orgs, failures, unparsed, foreign, last, byOrg, omitted] = await db.batch([
    db
      .prepare(
        `SELECT p.domain AS domain, COUNT(DISTINCT p.report) AS reports, ${cappedSum("p.successful")} AS successful, ` +
          `${cappedSum("p.failed")} AS failed, MAX(p.received_at) AS last, MIN(${COVERED_FROM}) AS first ` +
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
      .prepare(`${FAILURE_GROUPS} SELECT * FROM ranked WHERE n <= ? ORDER BY domain, n`)
      .bind(since, settings.maxFailureGroups),
    db.prepare("SELECT COUNT(*) AS n FROM submissions WHERE status = 'unparsed' AND received_at >= ?").bind(since),
    db.prepare("SELECT COUNT(*) AS n FROM submissions WHERE status = 'foreign' AND received_at >= ?").bind(since),
    db.prepare(LAST_REPORTS),
    db
      .prepare(
        "SELECT p.domain AS domain, r.organization AS organization, COUNT(DISTINCT p.report) AS reports, " +
          `${cappedSum("p.successful")} AS successful, ${cappedSum("p.failed")} AS failed, MAX(p.received_at) AS last ` +
          "FROM policies p JOIN reports r ON r.id = p.report WHERE p.received_at >= ? " +
          "GROUP BY p.domain, r.organization ORDER BY 1, 2",
      )
      .bind(since),
    db
      .prepare(
        `${FAILURE_GROUPS} SELECT domain, COUNT(*) AS omitted, ${cappedSum("sessions")} AS sessions FROM ranked ` +
          "WHERE n > ? GROUP BY domain",
      )
      .bind(since, settings.maxFailureGroups),
  ]);
  const domains = {};
  const entry = (name) =>
    (domains[name] ??= {
      reports: 0,
      organizations: [],
      successful: 0,
      failed: 0,
      failures: [],
      failuresOmitted: { groups: 0, sessions: 0 },
      firstReport: null,
      lastReport: null,
      byOrganization: [],
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
  for (const row of omitted.results.filter(counted)) {
    entry(row.domain).failuresOmitted = { groups: row.omitted, sessions: row.sessions };
  }
  for (const row of byOrg.results.filter(counted)) {
    entry(row.domain).byOrganization.push({
      organization: row.organization,
      reports: row.reports,
      successful: row.successful,
      failed: row.failed,
      lastReport: row.last,
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

export async function submissions(db, since, status) {
  let sql =
    "SELECT id, received_at AS receivedAt, channel, client, content_type AS contentType, size, sha256, " +
    "archive_key AS archiveKey, status, error, report FROM submissions WHERE received_at >= ?";
  const args = [since];
  if (status) {
    sql += " AND status = ?";
    args.push(status);
  }
  sql += " ORDER BY id";
  const rows = await db.prepare(sql).bind(...args).all();
  return { submissions: rows.results };
}
