// One archived submission → a stored report: decode, normalize, keep what is this stack's.

import { decodeJson, inflate, isGzip, looksLikeJson } from "./bytes.js";
import { Unparsable } from "./errors.js";
import { makeNormalizer } from "./normalize.js";
import { record, storeReport } from "./storage.js";

const normalizers = new WeakMap();

function normalizerFor(settings) {
  if (!normalizers.has(settings)) normalizers.set(settings, makeNormalizer(settings));
  return normalizers.get(settings);
}

export async function decodeSubmission(bytes, gzip, encoded, settings) {
  // The report document in a submission. encoded: the body came with Content-Encoding: gzip,
  // undone first (unless the runtime already did: then the bytes are no longer gzip). Then the
  // bytes decide, not the label: senders send gzip as +json and JSON as +gzip.
  let body = bytes;
  if (encoded && isGzip(body)) body = await inflate(body, settings.maxDecompressedBytes);
  if (gzip && !isGzip(body) && !looksLikeJson(body)) {
    throw new Unparsable("declared gzip, but neither gzip nor JSON data");
  }
  const plain = isGzip(body) ? await inflate(body, settings.maxDecompressedBytes) : body;
  return normalizerFor(settings)(decodeJson(plain));
}

export async function ingest(db, settings, bytes, { gzip, encoded = false }, meta, stored) {
  // Parse one archived submission and store it. Returns {httpStatus, body}; never throws for
  // bad input: an unusable submission is recorded as unparsed (or foreign), with its reason.
  let report;
  try {
    report = await decodeSubmission(bytes, gzip, encoded, settings);
  } catch (error) {
    if (!(error instanceof Unparsable)) throw error;
    await record(db, meta, stored, "unparsed", error.message);
    return { httpStatus: error.status, body: { error: error.message, status: "unparsed" } };
  }
  const ours = report.policies.filter((p) => settings.domainSet.has(p.domain));
  if (ours.length === 0) {
    const names = [...new Set(report.policies.map((p) => p.domain))].join(", ") || "none";
    const reason = `no policy-domain of this stack in the report (got: ${names})`;
    await record(db, meta, stored, "foreign", reason);
    return { httpStatus: 422, body: { error: reason, status: "foreign" } };
  }
  const submission = await record(db, meta, stored, "received", null);
  const row = await storeReport(db, settings, report, ours, meta.receivedAt, submission);
  const body = { status: row.status, report: row.report, organization: report.organization, reportId: report.reportId };
  return { httpStatus: row.status === "stored" ? 201 : 200, body };
}
