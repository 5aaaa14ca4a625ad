import assert from "node:assert/strict";
import { test } from "node:test";
import { Rejected } from "../../mtasts/worker/receiver/errors.js";
import { rawKey, route, routes, sinceOf } from "../../mtasts/worker/receiver/http.js";
import { settingsFrom } from "../../mtasts/worker/receiver/settings.js";
import { settings } from "./helpers.mjs";

// workerd has crypto.subtle.timingSafeEqual; Node does not.
if (!crypto.subtle.timingSafeEqual) {
  crypto.subtle.timingSafeEqual = (a, b) => Buffer.from(a).equals(Buffer.from(b));
}

function fakeDb() {
  // Counts rate-limit hits per client; answers the summary's batch with an empty store.
  const hits = new Map();
  return {
    hits,
    prepare(sql) {
      return {
        bind(...args) {
          return {
            async first() {
              if (sql.includes("INTO rate")) {
                hits.set(args[0], (hits.get(args[0]) || 0) + 1);
                return { hits: hits.get(args[0]) };
              }
              return null;
            },
          };
        },
      };
    },
    async batch(statements) {
      return statements.map((_, i) => ({ results: i === 3 || i === 4 ? [{ n: 0 }] : [] }));
    },
  };
}

const NOW = Date.UTC(2026, 4, 10);

async function call(path, { method = "GET", token = "secret", auth = "Bearer secret", s = settings(), db = fakeDb() } = {}) {
  const headers = { "CF-Connecting-IP": "192.0.2.9" };
  if (auth) headers.Authorization = auth;
  const request = new Request(`https://tlsrpt.example.net${path}`, { method, headers });
  const env = { DB: db, ARCHIVE: { get: async () => null }, READ_TOKEN: token };
  try {
    return await route(request, env, s, { prepare: async () => {}, now: NOW });
  } catch (error) {
    if (error instanceof Rejected) return new Response(error.message, { status: error.status, headers: error.headers });
    throw error;
  }
}

test("each route is one entry of the table; unknown paths are 404, wrong methods 405 with Allow", async () => {
  assert.deepEqual(
    routes(settings()).map((r) => `${r.method} ${r.path ?? r.prefix + "*"}`),
    ["POST /v1/tlsrpt", "GET /v1/summary", "GET /v1/metrics", "GET /v1/submissions", "GET /v1/raw/*"],
  );
  assert.equal((await call("/nope")).status, 404);
  const wrong = await call("/v1/tlsrpt");
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("Allow"), "POST");
  assert.equal((await call("/v1/summary", { method: "POST" })).headers.get("Allow"), "GET, HEAD");
});

test("reads need the bearer token: none configured 403, missing or wrong 401, right 200", async () => {
  assert.equal((await call("/v1/summary", { token: "" })).status, 403);
  assert.equal((await call("/v1/summary", { auth: null })).status, 401);
  assert.equal((await call("/v1/summary", { auth: "Bearer nope" })).status, 401);
  const ok = await call("/v1/summary");
  assert.equal(ok.status, 200);
  assert.deepEqual((await ok.json()).domains["example.com"].reports, 0);
});

test("malformed percent-encoding or a key over 1,024 bytes in /v1/raw/ is a 400", async () => {
  assert.equal((await call("/v1/raw/%E0")).status, 400);
  assert.equal((await call("/v1/raw/raw%2F%ZZ")).status, 400);
  assert.equal((await call(`/v1/raw/raw/${"a".repeat(1100)}`)).status, 400);
  assert.equal((await call(`/v1/raw/raw/${"%C3%A9".repeat(600)}`)).status, 400); // 1,204 bytes decoded
  assert.equal((await call("/v1/raw/raw/2026-05-01/none.json")).status, 404);
  assert.throws(() => rawKey("%E0%A4%A", 1024), { status: 400 });
  assert.equal(rawKey("raw/2026-05-01/a%20b.json", 1024), "raw/2026-05-01/a b.json");
});

test("since is an RFC 3339 date-time or a duration; 12 is not the year 2001", () => {
  const at = (q) => sinceOf(new URL(`https://h/v1/summary?since=${q}`), NOW);
  assert.equal(at(""), "");
  assert.equal(at("2026-05-01T00:00:00Z"), "2026-05-01T00:00:00.000Z");
  assert.equal(at("2026-05-01t02:00:00%2B02:00"), "2026-05-01T00:00:00.000Z");
  assert.equal(at("7d"), "2026-05-03T00:00:00.000Z");
  assert.equal(at("1000000w"), "1970-01-01T00:00:00.000Z");
  assert.equal(at("9999-12-31T23:59:59-23:59"), "9999-12-31T23:59:59.999Z"); // not "+010000-…"
  assert.equal(at("0000-01-01T00:00:00%2B01:00"), "1970-01-01T00:00:00.000Z"); // not "-000001-…"
  for (const bad of ["12", "2001", "0d", "7x", "May 1 2026", "2026-05-01", "-1d"]) {
    assert.throws(() => at(bad), { status: 400 }, bad);
  }
});

test("reads and reports share one rate limit per client", async () => {
  const db = fakeDb();
  const s = settings(undefined, { rateLimitPerMinute: 2 });
  assert.equal((await call("/v1/summary", { s, db })).status, 200);
  assert.equal((await call("/v1/tlsrpt", { s, db, method: "POST" })).status, 415);
  assert.equal((await call("/v1/summary", { s, db })).status, 429);
  assert.equal(db.hits.get("192.0.2.9"), 3);
});

test("without its settings region the receiver answers 500 naming what is missing", async () => {
  const bare = settingsFrom({ domains: {}, limits: {}, rua: [] });
  const response = await call("/v1/summary", { s: bare });
  assert.equal(response.status, 500);
  assert.match((await response.json()).error, /limits\.maxCompressedBytes must be a positive whole number/);
});

test("metrics need the bearer token and answer OpenMetrics text ending in # EOF", async () => {
  assert.equal((await call("/v1/metrics", { auth: null })).status, 401);
  const ok = await call("/v1/metrics");
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("Content-Type"), "application/openmetrics-text; version=1.0.0; charset=utf-8");
  const text = await ok.text();
  assert.ok(text.endsWith("# EOF\n"));
  assert.match(text, /^mtasts_tlsrpt_reports\{domain="example.com"\} 0$/m);
});
