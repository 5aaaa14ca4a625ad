// MTA-STS policy host (RFC 8461 section 3.3), one Worker for every Worker-hosted domain of a stack.
//
// This file is a template: mtasts/worker.py replaces the placeholder string literal
// below with a JSON document, itself written as one JSON string literal, so the policies
// reach the Worker as data read by JSON.parse and can never be code. The document is
//   {"hosts": {"mta-sts.<domain>": <index>, ...}, "policies": ["<policy text>", ...]}
// with host names lower-cased and each distinct policy text stored once.
//
// Rules (tests/test_worker.py checks each in real workerd):
// - GET or HEAD of /.well-known/mta-sts.txt on a declared host: 200, the exact policy bytes
//   (CRLF kept), text/plain; charset=utf-8. HEAD gets the same headers and no body.
// - Any other method, on any host or path: 405 with Allow: GET, HEAD.
// - Any other path, or an undeclared host: 404.
// - Never a redirect and never a 5xx: senders treat both as "no policy" (section 3.3), and a 5xx
//   would also hide the real answer from `mtasts verify`.
// - The host is compared lower-case, without a port and without one trailing dot.
// - The query string is ignored: senders never send one (section 3.3 fixes the URL), and a cache
//   buster such as ?nocache=1 from a person debugging should still see the policy.
// - The path is compared after URL parsing, so dot segments resolve as every HTTP client
//   resolves them; percent-encoded characters are not decoded and do not match.
// Some requests never reach this code: the runtime itself answers a request without a Host
// (400), a method token it does not know such as a lower-case "patch" (501) and CONNECT.
// On Cloudflare the edge answers those; locally workerd does.

const DATA = JSON.parse("__POLICY_DATA__");

const POLICY_PATH = "/.well-known/mta-sts.txt";
const ALLOW = "GET, HEAD";
// Short enough that a fixed policy reaches senders well before they act on a new id
// (the _mta-sts TXT record's TTL is 300 s too), long enough to spare the Worker.
const POLICY_CACHE = "max-age=300";

const encoder = new TextEncoder();
// Encoded once per isolate: a request only looks up a Map and copies no text.
const BODIES = DATA.policies.map((text) => encoder.encode(text));
// A Map, not the parsed object: a host such as "constructor" or "__proto__" must not find
// anything inherited.
const HOSTS = new Map(Object.entries(DATA.hosts));

function hostOf(url) {
  // URL parsing lower-cases the host and drops the port; a fully qualified name's
  // trailing dot names the same host.
  let host = url.hostname;
  if (host.endsWith(".")) host = host.slice(0, -1);
  return host;
}

function plain(status, text, extra) {
  const body = encoder.encode(text);
  const headers = new Headers({
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(body.byteLength),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  for (const [name, value] of Object.entries(extra || {})) headers.set(name, value);
  return new Response(body, { status, headers });
}

function notFound() {
  return plain(404, "Not Found\n");
}

function answer(request) {
  const method = request.method;
  if (method !== "GET" && method !== "HEAD") {
    return plain(405, "Method Not Allowed\n", { Allow: ALLOW });
  }
  const url = new URL(request.url);
  if (url.pathname !== POLICY_PATH) return notFound();
  const index = HOSTS.get(hostOf(url));
  if (index === undefined) return notFound();
  const body = BODIES[index];
  const headers = new Headers({
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(body.byteLength),
    "Cache-Control": POLICY_CACHE,
    "X-Content-Type-Options": "nosniff",
  });
  return new Response(method === "HEAD" ? null : body, { status: 200, headers });
}

export default {
  async fetch(request) {
    try {
      return answer(request);
    } catch {
      // An unparsable URL or anything else unforeseen: "no policy here", never a 5xx.
      return notFound();
    }
  },
};
