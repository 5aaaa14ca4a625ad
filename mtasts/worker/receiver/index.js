// TLS report receiver (RFC 8460), one Worker per stack beside the policy Worker, so that
// nothing here can ever break policy serving. This module wires the jobs together; esbuild
// bundles it with postal-mime and fflate into ../reports.bundle.js (`npm run build:reports`),
// which is what `pulumi up` uploads and `mtasts serve` runs.
//
//   settings.js   the settings region read and checked (no defaults of its own)
//   normalize.js  a report document → a normalized report, or why not (pure)
//   bytes.js      capped reads, gzip (every member), JSON
//   ingest.js     one archived submission → a stored report
//   storage.js    D1 and R2: schema, archive, rows, rate limit, retention
//   summary.js    the read side: summary, submissions, silent domains
//   http.js       routes, auth, handlers        mail.js  mail intake      digest.js  the digest
//
// Bindings:
//   DB          D1 database (../schema.sql, applied here once per isolate)
//   ARCHIVE     R2 bucket: the raw bytes of every accepted submission, before any parsing
//   READ_TOKEN  secret: bearer token for the read API (absent: reads are refused)
//   WEBHOOK     secret: Slack-compatible webhook URL for the daily digest (absent: no digest)
// Settings are not a binding (Cloudflare caps each binding value at 5 KB): they are data in
// this script, between the settings markers below, filled in per stack at deploy time.
//
// HTTP API (paths from the settings; mtasts/model/receiver_contract.py):
//   POST /v1/tlsrpt          a report, Content-Type application/tlsrpt+gzip or +json (§5.3),
//                            Content-Encoding gzip or none; 201 stored, 200 duplicate; 4xx with
//                            a one-line reason otherwise
//   GET  /v1/summary?since=  per-domain summary (Authorization: Bearer <READ_TOKEN>); firstReport
//                            is the earliest date-range start, lastReport the last receive time
//   GET  /v1/submissions?since=&status=   every submission with its status and error
//   GET  /v1/raw/<key>       an archived submission, byte for byte
//   since: an RFC 3339 date-time or a duration (30m, 24h, 7d, 2w); anything else is a 400.
// Mail: email() takes the report parts of a multipart/report message (§5.1).
// Scheduled: retention, then the daily digest to WEBHOOK.
//
// Bad input never gets a 5xx: every rejection is a 4xx naming the reason. Submissions that
// were read in full are archived and recorded even when they do not parse, so nothing is lost.

import SCHEMA from "../schema.sql";
import { digest } from "./digest.js";
import { Rejected } from "./errors.js";
import { problem, route } from "./http.js";
import { receiveMail } from "./mail.js";
import { settingsFrom } from "./settings.js";
import { ensureSchema, retain } from "./storage.js";

// The stack's settings (mtasts.rfc.served.encode_receiver): {"domains": {"<domain>": {"builtin":
// true, "dnsExternal": true}, ...}, "fields": {...}, "limits": {...}, "paths": {...}, "rua":
// [...]}, one domain a line. Every domain of the stack is counted; builtin ones are listed even
// when silent. rua and dnsExternal are for the policy pack. The region is plain JSON read as an
// object literal; it sits inside the call's parentheses so that esbuild keeps both markers.
const SETTINGS = settingsFrom(
  /* mta-sts:settings:begin */
  { "domains": {}, "fields": {}, "limits": {}, "paths": {}, "rua": [] }
  /* mta-sts:settings:end */
);

const prepare = (db) => ensureSchema(db, SCHEMA);

export default {
  async fetch(request, env) {
    try {
      return await route(request, env, SETTINGS, { prepare, now: Date.now() });
    } catch (error) {
      if (error instanceof Rejected) return problem(error.status, error.message, error.headers);
      console.error("receiver error", error && error.stack ? error.stack : error);
      return problem(503, "the receiver could not store the report now; send it again later", { "Retry-After": "300" });
    }
  },

  async email(message, env) {
    // A throw here would have Email Routing refuse the message; receiveMail archives the whole
    // message to R2 before anything can fail on its content, and rejects only what is too large.
    if (SETTINGS.problems.length > 0) {
      message.setReject(`the receiver's settings region is incomplete: ${SETTINGS.problems.join("; ")}`);
      return;
    }
    const result = await receiveMail(message, env.DB, env.ARCHIVE, SETTINGS, prepare, Date.now());
    console.log(`tlsrpt mail from ${message.from}: ${result.status}`);
  },

  async scheduled(event, env) {
    if (SETTINGS.problems.length > 0) throw new Error(`settings incomplete: ${SETTINGS.problems.join("; ")}`);
    await prepare(env.DB);
    await retain(env.DB, env.ARCHIVE, SETTINGS.retentionDays, event.scheduledTime);
    await digest(env.DB, env.WEBHOOK, SETTINGS, event.scheduledTime);
  },
};
