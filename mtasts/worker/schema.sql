-- D1 schema of the TLS report receiver (mtasts/worker/reports.js). The Worker applies it
-- once per isolate before its first query: every statement is idempotent (IF NOT EXISTS), and
-- statements end with a semicolon; comments are dropped before the file is split.

-- One row per submission: an HTTPS POST, or one report attachment of a mail (a mail without
-- any report gets one row too). status: received (being stored) | stored | duplicate |
-- unparsed | foreign.
CREATE TABLE IF NOT EXISTS submissions (
  id INTEGER PRIMARY KEY,
  received_at TEXT NOT NULL,
  channel TEXT NOT NULL,
  client TEXT,
  content_type TEXT,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  archive_key TEXT NOT NULL,
  status TEXT NOT NULL,
  error TEXT,
  report INTEGER
);
CREATE INDEX IF NOT EXISTS submissions_received ON submissions (received_at);

-- One row per distinct report: (organization, report_id) is the RFC 8460 identity, so a
-- resubmission finds its row and adds nothing.
CREATE TABLE IF NOT EXISTS reports (
  id INTEGER PRIMARY KEY,
  organization TEXT NOT NULL,
  report_id TEXT NOT NULL,
  contact TEXT,
  start_time TEXT,
  end_time TEXT,
  received_at TEXT NOT NULL,
  submission INTEGER NOT NULL,
  UNIQUE (organization, report_id)
);
CREATE INDEX IF NOT EXISTS reports_received ON reports (received_at);

-- One row per policy of a report that names a domain of this stack.
CREATE TABLE IF NOT EXISTS policies (
  id INTEGER PRIMARY KEY,
  report INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  domain TEXT NOT NULL,
  policy_type TEXT NOT NULL,
  policy_string TEXT,
  mx_host TEXT,
  successful INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS policies_report ON policies (report);
CREATE INDEX IF NOT EXISTS policies_domain ON policies (domain, received_at);

-- One row per failure-details entry; domain and received_at are copied in so the summary and
-- the digest group without a join.
CREATE TABLE IF NOT EXISTS failures (
  id INTEGER PRIMARY KEY,
  policy INTEGER NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
  domain TEXT NOT NULL,
  received_at TEXT NOT NULL,
  result_type TEXT NOT NULL,
  sending_ip TEXT,
  receiving_mx TEXT,
  receiving_helo TEXT,
  receiving_ip TEXT,
  sessions INTEGER NOT NULL,
  reason_code TEXT,
  additional TEXT
);
CREATE INDEX IF NOT EXISTS failures_received ON failures (received_at);
-- Covers the summary's GROUP BY (domain, result type, MX, IP) with its since filter and sum:
-- one index scan, no temporary B-tree (100,000 rows: about 30 ms instead of 100 ms in SQLite).
CREATE INDEX IF NOT EXISTS failures_summary ON failures (domain, result_type, receiving_mx, receiving_ip, received_at, sessions);
CREATE INDEX IF NOT EXISTS failures_policy ON failures (policy);

-- Requests per client and minute, for the rate limit.
CREATE TABLE IF NOT EXISTS rate (
  client TEXT NOT NULL,
  minute INTEGER NOT NULL,
  hits INTEGER NOT NULL,
  PRIMARY KEY (client, minute)
);

-- Small state: the time of the last digest (key digest), and per silent builtin domain the UTC day
-- the digest last named it (key silent:<domain>).
CREATE TABLE IF NOT EXISTS state (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
