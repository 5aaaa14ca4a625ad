// Settings as the deploy writes them, built from the contract table itself (Python prints it),
// so the JavaScript tests run against the same numbers as the Worker.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { settingsFrom } from "../../mtasts/worker/receiver/settings.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const python = process.env.MTASTS_PYTHON || `${root}.venv/bin/python`;

export const CONTRACT = JSON.parse(
  execFileSync(
    python,
    [
      "-c",
      "import json; from mtasts.model import receiver_contract as c; " +
        "print(json.dumps({'limits': c.worker_limits({s.name: s.default for s in c.SETTINGS}), " +
        "'fields': dict(c.FIELD_CHARS), 'paths': dict(c.PATHS)}))",
    ],
    { cwd: root, encoding: "utf8" },
  ),
);

export function settings(domains = { "example.com": { builtin: true }, "example.org": {} }, limits = {}) {
  return settingsFrom({ ...CONTRACT, domains, limits: { ...CONTRACT.limits, ...limits }, rua: [] });
}

export function report(overrides = {}) {
  // A small valid report for example.com, one failure detail.
  return {
    "organization-name": "Example Sender",
    "date-range": { "start-datetime": "2026-05-01T00:00:00Z", "end-datetime": "2026-05-01T23:59:59Z" },
    "contact-info": "tlsrpt@sender.example",
    "report-id": "r-1",
    policies: [
      {
        policy: {
          "policy-type": "sts",
          "policy-string": ["version: STSv1", "mode: testing", "mx: mx.example.com", "max_age: 86400"],
          "policy-domain": "example.com",
          "mx-host": ["mx.example.com"],
        },
        summary: { "total-successful-session-count": 10, "total-failure-session-count": 1 },
        "failure-details": [
          {
            "result-type": "certificate-expired",
            "sending-mta-ip": "192.0.2.1",
            "receiving-mx-hostname": "mx.example.com",
            "receiving-ip": "198.51.100.7",
            "failed-session-count": 1,
          },
        ],
      },
    ],
    ...overrides,
  };
}
