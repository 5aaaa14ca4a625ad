import assert from "node:assert/strict";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { inflate } from "../../mtasts/worker/receiver/bytes.js";

const text = (bytes) => new TextDecoder().decode(bytes);

test("every member of a multi-member gzip file is read (RFC 1952 §2.2)", async () => {
  const file = Buffer.concat([gzipSync('{"a":'), gzipSync("1"), gzipSync("}")]);
  assert.equal(text(await inflate(new Uint8Array(file), 100)), '{"a":1}');
});

test("a truncated or corrupt member is unparsable, a bomb stops at the cap with 413", async () => {
  const one = gzipSync("hello");
  await assert.rejects(inflate(one.subarray(0, one.length - 3), 100), { name: "Error", message: /not valid gzip data/ });
  const badCrc = Buffer.from(one);
  badCrc[badCrc.length - 8] ^= 0xff;
  await assert.rejects(inflate(new Uint8Array(Buffer.concat([badCrc, gzipSync("x")])), 100), /not valid gzip data/);
  const bomb = Buffer.concat([gzipSync("a"), gzipSync(Buffer.alloc(5_000_000))]);
  await assert.rejects(inflate(new Uint8Array(bomb), 1_000_000), (e) => e.status === 413);
});

test("many members past the cap are 413 naming the cap, not trailing bytes or a smaller cap", async () => {
  const member = gzipSync(Buffer.alloc(100_000, 0x20));
  for (const n of [11, 30]) {
    const file = new Uint8Array(Buffer.concat(Array(n).fill(member)));
    await assert.rejects(inflate(file, 1_000_000), { status: 413, message: "decompressed report is larger than 1000000 bytes" });
  }
});
