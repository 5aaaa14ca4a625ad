// The daily digest to a Slack-compatible webhook: new failures since the last digest, and the
// builtin domains silent for silentAfterDays, each named once a UTC day at most.

import RESULT_TYPES from "../../rfc/tlsrpt_results.json" with { type: "json" };
import { cappedSum, LAST_REPORTS, silentDomains } from "./summary.js";

export function explanations(types) {
  // One line per distinct result type: what it means and what to do (RFC 8460 §4.3), from the
  // table `mtasts reports` uses too.
  return [...new Set(types)].sort().map((type) => {
    const known = RESULT_TYPES[type];
    return known ? `  ${type}: ${known.meaning}; ${known.action}` : `  ${type}: not an RFC 8460 result type`;
  });
}

export async function digest(db, webhook, settings, now, post = fetch) {
  const last = await db.prepare("SELECT value FROM state WHERE key = 'digest'").first();
  const from = last ? last.value : "";
  const to = new Date(now).toISOString();
  // The digestLines largest failure groups, named by domain; total counts them all.
  const rows = (
    await db
      .prepare(
        `SELECT domain, result_type, receiving_mx, ${cappedSum("sessions")} AS sessions, COUNT(*) OVER () AS total ` +
          "FROM failures WHERE received_at > ? AND received_at <= ? GROUP BY domain, result_type, receiving_mx " +
          "ORDER BY sessions DESC, domain, result_type, receiving_mx LIMIT ?",
      )
      .bind(from, to, settings.digestLines)
      .all()
  ).results.sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  const groups = rows.length > 0 ? rows[0].total : 0;
  // Silent domains are named at most once per UTC day each: state 'silent:<domain>' is the day.
  const day = to.slice(0, 10);
  const named = new Map(
    (await db.prepare("SELECT key, value FROM state WHERE key LIKE 'silent:%'").all()).results.map((r) => [
      r.key.slice("silent:".length),
      r.value,
    ]),
  );
  const lastRows = (await db.prepare(LAST_REPORTS).all()).results;
  const due = silentDomains(settings, lastRows, now).filter((s) => named.get(s.domain) !== day);
  // Those not named today for want of room are named on a later day.
  const silent = due.slice(0, settings.digestLines);
  let sent = false;
  if ((rows.length > 0 || silent.length > 0) && typeof webhook === "string" && webhook !== "") {
    const lines = [];
    if (rows.length > 0) lines.push(`TLS report failures since ${from || "the first report"}:`);
    for (const row of rows) {
      lines.push(`• ${row.domain}: ${row.sessions} failed session(s), ${row.result_type} at ${row.receiving_mx || "unknown MX"}`);
    }
    const more = (n, what) => `… and ${n} more ${what} (\`mtasts reports\` lists them all)`;
    if (groups > rows.length) lines.push(more(groups - rows.length, "MX and result type(s) with failures"));
    if (rows.length > 0) {
      lines.push("What they mean:");
      lines.push(...explanations(rows.map((row) => row.result_type)));
    }
    if (silent.length > 0) lines.push(`No TLS report for ${settings.silentAfterDays} day(s) or more:`);
    for (const s of silent) lines.push(`• ${s.domain}: last report ${s.last || "never"}`);
    if (due.length > silent.length) lines.push(more(due.length - silent.length, "silent domain(s)"));
    const response = await post(webhook, {
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
  return { failures: groups, silent: silent.length, sent };
}
