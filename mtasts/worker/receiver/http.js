// HTTP: the route table, rate limit and bearer-token auth, and the handlers. Each handler takes
// the request, its URL, the bindings (env), the settings and the time; adding a route is one
// line in routes().

import { encoder, mediaType, readCapped } from "./bytes.js";
import { Rejected } from "./errors.js";
import { ingest } from "./ingest.js";
import { parseDateTime } from "./normalize.js";
import { archive, rateLimited } from "./storage.js";
import { METRICS_TYPE, renderMetrics } from "./metrics.js";
import { submissions, summary } from "./summary.js";

const REPORT_TYPES = new Set(["application/tlsrpt+gzip", "application/tlsrpt+json"]);
// Content-Encoding of a report POST: gzip is undone before the report is read; anything else
// is a 415 with Accept-Encoding (RFC 7694 §3).
const ENCODINGS = new Set(["gzip", "x-gzip", "identity"]);

export function routes(settings) {
  // method, path (exact) or prefix, the binding holding the bearer token (none: open), handler.
  const p = settings.paths;
  return [
    { method: "POST", path: p.report, handle: intake },
    { method: "GET", path: p.summary, token: "READ_TOKEN", handle: readSummary },
    { method: "GET", path: p.metrics, token: "READ_TOKEN", handle: readMetrics },
    { method: "GET", path: p.submissions, token: "READ_TOKEN", handle: readSubmissions },
    { method: "GET", prefix: p.raw, token: "READ_TOKEN", handle: readRaw },
  ];
}

export function json(status, value, headers) {
  const body = encoder.encode(JSON.stringify(value) + "\n");
  const h = new Headers({
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  for (const [name, v] of Object.entries(headers || {})) h.set(name, v);
  return new Response(body, { status, headers: h });
}

export function problem(status, reason, headers) {
  return json(status, { error: reason }, headers);
}

export async function route(request, env, settings, { prepare, now }) {
  // The response to one request; Rejected for a refusal (4xx), anything else thrown is ours.
  if (settings.problems.length > 0) {
    return problem(500, `the receiver's settings region is incomplete: ${settings.problems.join("; ")}`);
  }
  const url = new URL(request.url);
  const path = url.pathname;
  const matching = routes(settings).filter((r) => (r.path !== undefined ? path === r.path : path.startsWith(r.prefix)));
  if (matching.length === 0) return problem(404, "not found");
  const method = request.method === "HEAD" ? "GET" : request.method;
  const chosen = matching.find((r) => r.method === method);
  if (chosen === undefined) {
    const allowed = matching.flatMap((r) => (r.method === "GET" ? ["GET", "HEAD"] : [r.method]));
    return problem(405, `${path} takes ${matching.map((r) => r.method).join(", ")}`, { Allow: allowed.join(", ") });
  }
  await prepare(env.DB);
  // Reports and reads share one count per client, so guessing the token is as slow as hopeless.
  const client = request.headers.get("CF-Connecting-IP") || "unknown";
  if (await rateLimited(env.DB, settings.rateLimitPerMinute, client, now)) {
    throw new Rejected(429, `more than ${settings.rateLimitPerMinute} requests a minute from ${client}`, {
      "Retry-After": "60",
    });
  }
  if (chosen.token !== undefined) await authorized(request, env[chosen.token]);
  return chosen.handle(request, url, env, settings, now, client);
}

export async function authorized(request, token) {
  if (typeof token !== "string" || token === "") {
    throw new Rejected(403, "reads are disabled: no read token is configured");
  }
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

const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export function sinceOf(url, now) {
  // ?since= is an RFC 3339 date-time (2026-05-01T00:00:00Z, "t" and "z" in either case) or a
  // duration back from now (30m, 24h, 7d, 2w); a duration older than 1970 means everything.
  const raw = url.searchParams.get("since");
  if (raw === null || raw === "") return "";
  const at = parseDateTime(raw);
  // Receive times are ISO strings compared as text: a time past year 9999 (9999-12-31T23:59:59-23:59)
  // would be "+010000-…", before every one of them; kept within 1970 to 9999, it compares right.
  if (at !== null) return new Date(Math.min(Math.max(0, at), LATEST)).toISOString();
  const match = /^(\d{1,12})([smhdw])$/.exec(raw);
  if (match === null || Number(match[1]) === 0) {
    throw new Rejected(400, "since must be an RFC 3339 date-time such as 2026-05-01T00:00:00Z or a duration such as 7d");
  }
  return new Date(Math.max(0, now - Number(match[1]) * UNITS[match[2]] * 1000)).toISOString();
}

export function contentEncoding(header) {
  // Whether the body is gzip-encoded (Content-Encoding: gzip); Rejected 415 for other codings.
  const codings = (header || "")
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "identity");
  const unknown = codings.filter((c) => !ENCODINGS.has(c));
  if (unknown.length > 0 || codings.length > 1) {
    throw new Rejected(415, `Content-Encoding ${header} is not taken; send gzip or none`, { "Accept-Encoding": "gzip" });
  }
  return codings.length === 1;
}

async function intake(request, url, env, settings, now, client) {
  const type = mediaType(request.headers.get("Content-Type"));
  if (!REPORT_TYPES.has(type)) {
    throw new Rejected(415, "Content-Type must be application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 §5.3)", {
      Accept: [...REPORT_TYPES].join(", "),
    });
  }
  const encoded = contentEncoding(request.headers.get("Content-Encoding"));
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
    contentEncoding: encoded ? "gzip" : null,
    size: bytes.byteLength,
  };
  const gzip = type.endsWith("gzip");
  const stored = await archive(env.ARCHIVE, bytes, (gzip ? ".json.gz" : ".json") + (encoded ? ".gz" : ""), meta);
  const result = await ingest(env.DB, settings, bytes, { gzip, encoded }, meta, stored);
  return json(result.httpStatus, result.body);
}

async function readSummary(request, url, env, settings, now) {
  return json(200, await summary(env.DB, settings, sinceOf(url, now), now));
}

async function readMetrics(request, url, env, settings, now) {
  const text = renderMetrics(await summary(env.DB, settings, sinceOf(url, now), now), now);
  return new Response(encoder.encode(text), {
    headers: { "Content-Type": METRICS_TYPE, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" },
  });
}

async function readSubmissions(request, url, env, settings, now) {
  return json(200, await submissions(env.DB, sinceOf(url, now), url.searchParams.get("status")));
}

export function rawKey(encoded, maxKeyBytes) {
  // The archive key in a /v1/raw/ path; Rejected 400 for bad percent-encoding or a key longer
  // than R2 keys can be.
  if (encoded.length > 3 * maxKeyBytes) throw new Rejected(400, `the key is longer than ${maxKeyBytes} bytes`);
  let key;
  try {
    key = decodeURIComponent(encoded);
  } catch {
    throw new Rejected(400, "the key is not valid percent-encoded UTF-8");
  }
  if (encoder.encode(key).byteLength > maxKeyBytes) {
    throw new Rejected(400, `the key is longer than ${maxKeyBytes} bytes`);
  }
  return key;
}

async function readRaw(request, url, env, settings) {
  const key = rawKey(url.pathname.slice(settings.paths.raw.length), settings.maxKeyBytes);
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
