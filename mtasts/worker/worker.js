// MTA-STS policy host (RFC 8461 section 3.3), one Worker for every Worker-hosted domain of a stack.
//
// This source is static: the same for every stack. The policies arrive as data through the
// json binding POLICIES (mtasts/rfc/served.py has the format, mtasts/model/worker.py writes it):
//   {"hosts": {"mta-sts.<domain>": "<policy id>", ...}, "policies": {"<policy id>": "<text>", ...}}
// with host names lower-cased and each distinct policy text stored once. The Cloudflare API hands
// a json binding's value to the Worker as the parsed value (an object); a value uploaded as a JSON
// string arrives as a string. Both are accepted, and either is read once per isolate.
//
// Rules (tests/test_worker.py checks each in real workerd, with raw request lines):
// - GET or HEAD of /.well-known/mta-sts.txt on a declared host: 200, the exact policy bytes
//   (CRLF kept), text/plain; charset=utf-8. HEAD gets the same headers and no body.
// - Any other method, on any host or path: 405 with Allow: GET, HEAD.
// - A malformed Host header: 400. Well formed is a DNS name (letters, digits, "-", "_", dots),
//   at most one trailing dot, and an optional port; so userinfo ("user@mta-sts.<d>"),
//   percent-encoding, spaces, brackets and two Host headers (joined with a comma) are 400.
// - Any other path, or an undeclared host: 404.
// - Never a redirect and never a 5xx: senders treat both as "no policy" (section 3.3), and a 5xx
//   would also hide the real answer from `mtasts verify`. Missing or malformed data: 404.
// - The host is compared lower-case, without the port and without one trailing dot.
// - The path is the request-target as sent, compared byte for byte: no URL parsing, so no dot
//   segment (/x/../, /x/%2E%2E/, /%2e/), percent-encoding or backslash leads to the policy.
//   request.url carries the target as received (workerd does not normalize it); new URL()
//   would resolve dot segments and drop userinfo, so it is not used here.
// - The query string is ignored: senders never send one (section 3.3 fixes the URL), and a cache
//   buster such as ?nocache=1 from a person debugging should still see the policy.
// Some requests never reach this code, and their answers are the runtime's, not promised here:
// workerd answers a request without a Host with 400, a target that does not start with "/" (a
// backslash, say) with 400, a method it does not know (lower-case "get", "FOO") with 501, and
// CONNECT with 500. It drops a "#fragment" and, for an absolute-form target
// (GET http://host/path), keeps the path and takes the host from the Host header. On Cloudflare
// the edge answers such requests, and the zone's URL normalization settings may rewrite the path
// before the Worker sees it.

const BINDING = "POLICIES";
const POLICY_PATH = "/.well-known/mta-sts.txt";
const ALLOW = "GET, HEAD";
// Short enough that a fixed policy reaches senders well before they act on a new id
// (the _mta-sts TXT record's TTL is 300 s too), long enough to spare the Worker.
const POLICY_CACHE = "max-age=300";

const encoder = new TextEncoder();

// The binding's value and the table built from it. The runtime gives every request of an
// isolate the same env, so the data is parsed and encoded once; a request only looks up a Map
// and copies no text.
let loaded = null;

function own(object, what) {
  if (object === null || typeof object !== "object" || Array.isArray(object)) {
    throw new TypeError(`${BINDING}: ${what} is not an object`);
  }
  return Object.entries(object);
}

// Host -> encoded policy. A Map, not the parsed object: a host such as "constructor" or
// "__proto__" must not find anything inherited.
function policyTable(env) {
  const value = env[BINDING];
  if (loaded !== null && loaded.value === value) return loaded.hosts;
  const data = typeof value === "string" ? JSON.parse(value) : value;
  const bodies = new Map();
  for (const [id, text] of own(data && data.policies, "policies")) {
    if (typeof text === "string") bodies.set(id, encoder.encode(text));
  }
  const hosts = new Map();
  for (const [host, id] of own(data.hosts, "hosts")) {
    const body = bodies.get(id);
    if (body !== undefined) hosts.set(host, body);
  }
  loaded = { value, hosts };
  return hosts;
}

// A Host header as senders write it (see the rules above); group 1 is the name.
const HOST = /^((?:[A-Za-z0-9_-]+\.)*[A-Za-z0-9_-]+)\.?(?::[0-9]*)?$/;

// The request-target as sent: request.url is the scheme, "://", the authority and the target
// verbatim, and the authority (a well-formed Host) holds no "/".
function requestTarget(url) {
  const authority = url.indexOf("://");
  const slash = authority < 0 ? -1 : url.indexOf("/", authority + 3);
  return slash < 0 ? "" : url.slice(slash);
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

function answer(request, env) {
  const method = request.method;
  if (method !== "GET" && method !== "HEAD") {
    return plain(405, "Method Not Allowed\n", { Allow: ALLOW });
  }
  const host = HOST.exec(request.headers.get("Host") || "");
  if (host === null) return plain(400, "Bad Request\n");
  const target = requestTarget(request.url);
  const query = target.indexOf("?");
  if ((query < 0 ? target : target.slice(0, query)) !== POLICY_PATH) return notFound();
  const body = policyTable(env).get(host[1].toLowerCase());
  if (body === undefined) return notFound();
  const headers = new Headers({
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(body.byteLength),
    "Cache-Control": POLICY_CACHE,
    "X-Content-Type-Options": "nosniff",
  });
  return new Response(method === "HEAD" ? null : body, { status: 200, headers });
}

export default {
  async fetch(request, env) {
    try {
      return answer(request, env);
    } catch (error) {
      // Missing or malformed data, or anything else unforeseen: "no policy here", never a 5xx.
      console.error(String(error));
      return notFound();
    }
  },
};
