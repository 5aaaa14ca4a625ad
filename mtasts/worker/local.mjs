// Run a stack's Workers locally in miniflare (Cloudflare's own simulator, pinned in
// package.json), for `mtasts serve`, the receiver's tests and its benchmark.
//
//   node local.mjs CONFIG.json
//
// CONFIG.json: {"port": 0, "persistDir": "/path", "workers": [<miniflare worker options>...]}
// with each worker's script inline: {"name", "script", "mainModule", "compatibilityDate",
// "routes", "bindings", "d1Databases", "r2Buckets"}. The first worker answers every
// request no route matches (miniflare's fallback). D1 and R2 persist under persistDir.
// /cdn-cgi/handler/email and /cdn-cgi/handler/scheduled trigger email() and scheduled().
// Prints one line `listening http://127.0.0.1:PORT` once requests are served; SIGTERM,
// SIGINT or a closed stdin stop it.

import { readFileSync } from "node:fs";
import { Miniflare, Log, LogLevel } from "miniflare";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const workers = config.workers.map((w) => ({
  name: w.name,
  modules: [{ type: "ESModule", path: w.mainModule, contents: w.script }],
  compatibilityDate: w.compatibilityDate,
  routes: w.routes || [],
  bindings: w.bindings || {},
  d1Databases: w.d1Databases || {},
  r2Buckets: w.r2Buckets || {},
}));

const mf = new Miniflare({
  host: "127.0.0.1",
  port: config.port || 0,
  unsafeTriggerHandlers: true,
  // Offline: no lookup of the request.cf object on the internet.
  cf: false,
  d1Persist: `${config.persistDir}/d1`,
  r2Persist: `${config.persistDir}/r2`,
  log: new Log(config.verbose ? LogLevel.INFO : LogLevel.WARN),
  workers,
});

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  try {
    await mf.dispose();
  } finally {
    process.exit(code);
  }
}
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, () => stop(0));
process.stdin.on("end", () => stop(0));
process.stdin.resume();

try {
  const url = await mf.ready;
  process.stdout.write(`listening ${url.origin}\n`);
} catch (error) {
  process.stderr.write(`miniflare failed to start: ${error && error.message ? error.message : error}\n`);
  await stop(1);
}
