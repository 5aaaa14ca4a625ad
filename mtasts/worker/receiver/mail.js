// Mail intake (RFC 8460 §5.1): the whole message archived first, then each report part of a
// multipart/report message ingested. Takes its bindings (db, bucket) and the settings.

import PostalMime from "postal-mime";
import { encoder, mediaType, readCapped } from "./bytes.js";
import { Rejected } from "./errors.js";
import { ingest } from "./ingest.js";
import { archive, record } from "./storage.js";

// Mail attachments as large senders label them, beside the RFC's own types.
const MAIL_GZIP_TYPES = new Set(["application/tlsrpt+gzip", "application/gzip", "application/x-gzip"]);
const MAIL_JSON_TYPES = new Set(["application/tlsrpt+json", "application/json"]);

export function reportParts(parsed) {
  return (parsed.attachments || []).filter((a) => {
    const type = mediaType(a.mimeType);
    const name = (a.filename || "").toLowerCase();
    return MAIL_GZIP_TYPES.has(type) || MAIL_JSON_TYPES.has(type) || /\.json(\.gz)?$|\.gz$/.test(name);
  });
}

function partBytes(content) {
  if (content instanceof Uint8Array) return content;
  if (content instanceof ArrayBuffer) return new Uint8Array(content);
  return encoder.encode(String(content));
}

export async function receiveMail(message, db, bucket, settings, prepare, now) {
  if (message.rawSize > settings.maxMessageBytes) {
    message.setReject(`message is larger than ${settings.maxMessageBytes} bytes`);
    return { status: "rejected" };
  }
  let raw;
  try {
    raw = await readCapped(message.raw, settings.maxMessageBytes, "message");
  } catch (error) {
    if (!(error instanceof Rejected)) throw error;
    message.setReject(error.message);
    return { status: "rejected" };
  }
  await prepare(db);
  const meta = {
    receivedAt: new Date(now).toISOString(),
    channel: "mail",
    client: message.from,
    contentType: "message/rfc822",
    size: raw.byteLength,
  };
  // The whole message is archived first: whatever happens next, the report can be read back.
  const stored = await archive(bucket, raw, ".eml", meta);
  let parts;
  try {
    parts = reportParts(await PostalMime.parse(raw, { attachmentEncoding: "arraybuffer" }));
  } catch (error) {
    await record(db, meta, stored, "unparsed", `not a readable MIME message: ${error && error.message}`);
    return { status: "unparsed" };
  }
  if (parts.length === 0) {
    await record(db, meta, stored, "unparsed", "no application/tlsrpt+gzip or +json part in the message");
    return { status: "unparsed" };
  }
  const results = [];
  if (parts.length > settings.maxParts) {
    await record(db, meta, stored, "unparsed", `${parts.length} report parts; only the first ${settings.maxParts} were read`);
    parts = parts.slice(0, settings.maxParts);
  }
  for (const part of parts) {
    const bytes = partBytes(part.content);
    const type = mediaType(part.mimeType);
    const partMeta = { ...meta, contentType: type, size: bytes.byteLength };
    const gzip = MAIL_GZIP_TYPES.has(type) || /\.gz$/.test((part.filename || "").toLowerCase());
    if (bytes.byteLength > settings.maxCompressedBytes) {
      await record(db, partMeta, stored, "unparsed", `report is larger than ${settings.maxCompressedBytes} bytes`);
      results.push("unparsed");
      continue;
    }
    results.push((await ingest(db, settings, bytes, { gzip }, partMeta, stored)).body.status);
  }
  return { status: results.join(",") };
}
