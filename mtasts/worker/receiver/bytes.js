// Bodies read with caps, gzip inflated with a cap, JSON decoded: the byte-level jobs.

import { Gunzip } from "fflate";
import { Rejected, Unparsable } from "./errors.js";

export const encoder = new TextEncoder();

export async function readCapped(
  stream,
  cap,
  what,
  tooLarge = () => new Rejected(413, `${what} is larger than ${cap} bytes`),
) {
  // Read at most cap bytes, counting as they come; past cap, throw tooLarge() (a Rejected 413
  // unless the caller says otherwise) and never read the rest.
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  return concat(chunks, total);
}

export function concat(chunks, total) {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export function isGzip(bytes) {
  return bytes.byteLength >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export function looksLikeJson(bytes) {
  for (const b of bytes) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0xef || b === 0xbb || b === 0xbf) continue;
    return b === 0x7b || b === 0x5b;
  }
  return false;
}

function tooLarge(cap) {
  return new Unparsable(`decompressed report is larger than ${cap} bytes`, 413);
}

async function inflateMember(bytes, room, cap) {
  // One gzip member, checked by the platform (CRC-32, length, nothing after it), output within
  // room bytes (what cap leaves after the members before it).
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  try {
    return await readCapped(stream, room, "decompressed report", () => tooLarge(cap));
  } catch (error) {
    if (error instanceof Unparsable) throw error;
    throw new Unparsable(`not valid gzip data: ${error && error.message ? error.message : error}`);
  }
}

// fflate is fed this many bytes at a time: deflate expands at most about 1,032 times, so past
// the cap at most a few MiB are produced before it stops.
const SCAN_STEP = 4096;

function memberStarts(bytes, cap) {
  // Where each member of a gzip file begins, as fflate's streaming Gunzip finds them while it
  // inflates (its onmember). Output past cap is tooLarge (the members not yet found would be
  // read as one, and refused as trailing bytes); corrupt data ends the scan: the members found
  // so far are returned, and inflateMember reports what is wrong with the rest.
  const starts = [0];
  let total = 0;
  const stop = tooLarge(cap);
  const gunzip = new Gunzip((chunk) => {
    total += chunk.byteLength;
    if (total > cap) throw stop;
  });
  gunzip.onmember = (offset) => starts.push(offset);
  try {
    for (let at = 0; at < bytes.byteLength; at += SCAN_STEP) {
      const end = Math.min(at + SCAN_STEP, bytes.byteLength);
      gunzip.push(bytes.subarray(at, end), end === bytes.byteLength);
    }
  } catch (error) {
    if (error === stop) throw stop;
    // Otherwise scanning only: inflateMember says what is wrong.
  }
  return starts;
}

export async function inflate(bytes, cap) {
  // Decompress every member of a gzip file (RFC 1952 §2.2: a file is a series of members),
  // counting output as it comes: past cap, stop at once (a gzip bomb costs at most cap bytes of
  // work). Truncated or corrupt data is Unparsable. The platform's DecompressionStream takes
  // one member ("Trailing bytes after end of compressed data" otherwise), so a file it refuses
  // is cut into members where fflate finds them, and each member goes through it again.
  let first;
  try {
    return await inflateMember(bytes, cap, cap);
  } catch (error) {
    first = error;
  }
  if (first.status === 413) throw first;
  const starts = memberStarts(bytes, cap);
  if (starts.length < 2) throw first;
  const parts = [];
  let total = 0;
  for (let i = 0; i < starts.length; i += 1) {
    const end = i + 1 < starts.length ? starts[i + 1] : bytes.byteLength;
    const part = await inflateMember(bytes.subarray(starts[i], end), cap - total, cap);
    total += part.byteLength;
    parts.push(part);
  }
  return concat(parts, total);
}

export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function decodeJson(bytes) {
  let source;
  try {
    source = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new Unparsable("report is not UTF-8 text");
  }
  try {
    return JSON.parse(source);
  } catch (error) {
    throw new Unparsable(`report is not valid JSON: ${error.message}`);
  }
}

export function mediaType(header) {
  return (header || "").split(";", 1)[0].trim().toLowerCase();
}
