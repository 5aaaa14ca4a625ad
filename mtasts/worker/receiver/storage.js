// D1 and R2: the schema, the archive, submission rows, stored reports, the rate limit and
// retention. Each function takes the binding it uses (db: D1, bucket: R2).

import { sha256Hex } from "./bytes.js";

let schemaReady = null;

export function ensureSchema(db, schema) {
  // Apply schema.sql once per isolate; a failure is retried by the next request.
  if (schemaReady === null) {
    const statements = schema
      .replace(/--[^\n]*/g, "")
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

export async function archive(bucket, bytes, extension, meta) {
  const sha = await sha256Hex(bytes);
  const key = `raw/${meta.receivedAt.slice(0, 10)}/${sha}${extension}`;
  await bucket.put(key, bytes, {
    httpMetadata: { contentType: meta.contentType || "application/octet-stream" },
    customMetadata: {
      channel: meta.channel,
      client: meta.client || "",
      receivedAt: meta.receivedAt,
      ...(meta.contentEncoding ? { contentEncoding: meta.contentEncoding } : {}),
    },
  });
  return { sha, key };
}

export async function record(db, meta, stored, status, error) {
  const row = await db
    .prepare(
      "INSERT INTO submissions (received_at, channel, client, content_type, size, sha256, archive_key, status, error) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(meta.receivedAt, meta.channel, meta.client, meta.contentType, meta.size, stored.sha, stored.key, status, error)
    .first();
  return row.id;
}

export async function storeReport(db, settings, report, ours, at, submission) {
  // The report's policies of this stack (ours) and their failure details, in one batch (one
  // transaction: all or nothing); a report already stored adds nothing. The submission's status
  // becomes stored or duplicate, and is returned with the report's row id.
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
    // Failure details go in as JSON read by json_each: one statement per chunk, however many a
    // sender lists (D1 limits statements per invocation, bound parameters per statement and the
    // size of a value).
    for (const chunk of chunks(p.failures, settings.failureChunk, settings.chunkChars)) {
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
  await db.batch(statements);
  return db.prepare("SELECT status, report FROM submissions WHERE id = ?").bind(submission).first();
}

export function* chunks(failures, maxRows, maxChars) {
  // JSON arrays of failure rows, each within maxRows rows and about maxChars characters.
  let rows = [];
  let size = 0;
  for (const f of failures) {
    const row = JSON.stringify([
      f.resultType, f.sendingIp, f.receivingMx, f.receivingHelo, f.receivingIp, f.sessions, f.reasonCode, f.additional,
    ]);
    if (rows.length > 0 && (rows.length >= maxRows || size + row.length > maxChars)) {
      yield `[${rows.join(",")}]`;
      rows = [];
      size = 0;
    }
    rows.push(row);
    size += row.length + 1;
  }
  if (rows.length > 0) yield `[${rows.join(",")}]`;
}

export async function rateLimited(db, limit, client, now) {
  // One count per client and minute, shared by reports and reads.
  const minute = Math.floor(now / 60000);
  const row = await db
    .prepare(
      "INSERT INTO rate (client, minute, hits) VALUES (?, ?, 1) " +
        "ON CONFLICT (client, minute) DO UPDATE SET hits = hits + 1 RETURNING hits",
    )
    .bind(client, minute)
    .first();
  return row.hits > limit;
}

export async function retain(db, bucket, retentionDays, now) {
  const cutoff = new Date(now - retentionDays * 86400000).toISOString();
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
    const listing = await bucket.list({ prefix: "raw/", limit: 1000 });
    const old = listing.objects.map((o) => o.key).filter((k) => k.slice(4, 14) < day);
    if (old.length === 0) break;
    await bucket.delete(old);
    if (old.length < listing.objects.length) break;
  }
}
