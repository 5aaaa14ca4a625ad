// MTA-STS policy host (RFC 8461 section 3.3), one Worker for every Worker-hosted domain of a stack.
//
// This file is a template that runs as is. Its one data region, between the two mta-sts:data
// marker comments below, holds the policies as plain JSON (mtasts/rfc/served.py has the format,
// mtasts/model/policy_worker.py writes it for a stack):
//   {"hosts": {"mta-sts.<domain>": "<policy id>", ...}, "policies": {"<policy id>": "<text>", ...}}
// one host a line and one policy a line, sorted, host names lower-cased, each distinct policy text
// stored once. JSON is a JavaScript expression; the region is ASCII, every "/" escaped, so it
// holds no "*/" and whatever a policy says stays a string: data, never code. The template's
// region is the empty document. The data is in the script, not in a json binding, because
// Cloudflare limits each binding value (an environment variable) to 5 KB.
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
//   would also hide the real answer from `mtasts verify`.
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

const SERVED = /* mta-sts:data:begin */ {"hosts":{},"policies":{}} /* mta-sts:data:end */;

const POLICY_PATH = "/.well-known/mta-sts.txt";
const ALLOW = "GET, HEAD";
// Short enough that a fixed policy reaches senders well before they act on a new id
// (the _mta-sts TXT record's TTL is 300 s too), long enough to spare the Worker.
const POLICY_CACHE = "max-age=300";

const encoder = new TextEncoder();

// Host -> encoded policy, built once per isolate: a request only looks up a Map and copies no
// text. Maps from Object.entries, not the object itself: a host such as "constructor" must not
// find anything inherited.
const BODIES = new Map(Object.entries(SERVED.policies).map(([id, text]) => [id, encoder.encode(text)]));
const HOSTS = new Map();
for (const [host, id] of Object.entries(SERVED.hosts)) {
  const body = BODIES.get(id);
  if (body !== undefined) HOSTS.set(host, body);
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

function answer(request) {
  const method = request.method;
  if (method !== "GET" && method !== "HEAD") {
    return plain(405, "Method Not Allowed\n", { Allow: ALLOW });
  }
  const host = HOST.exec(request.headers.get("Host") || "");
  if (host === null) return plain(400, "Bad Request\n");
  const target = requestTarget(request.url);
  const query = target.indexOf("?");
  if ((query < 0 ? target : target.slice(0, query)) !== POLICY_PATH) return notFound();
  const body = HOSTS.get(host[1].toLowerCase());
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
  async fetch(request) {
    try {
      return answer(request);
    } catch (error) {
      // Anything unforeseen: "no policy here", never a 5xx.
      console.error(String(error));
      return notFound();
    }
  },
};
