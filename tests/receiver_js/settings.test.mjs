import assert from "node:assert/strict";
import { test } from "node:test";
import { settingsFrom } from "../../mtasts/worker/receiver/settings.js";
import { CONTRACT, settings } from "./helpers.mjs";

test("the contract's settings are complete; domains are normalized", () => {
  const s = settings({ "Example.COM.": { builtin: true } });
  assert.deepEqual(s.problems, []);
  assert.ok(s.builtinSet.has("example.com"));
  assert.equal(s.maxMessageBytes, 1660245);
});

test("without its settings the receiver has no defaults: each missing entry is named", () => {
  const empty = settingsFrom({ domains: {}, fields: {}, limits: {}, paths: {}, rua: [] });
  assert.ok(empty.problems.includes("limits.maxCompressedBytes must be a positive whole number"));
  assert.ok(empty.problems.includes("paths.summary must be a path"));
  assert.equal(empty.maxCompressedBytes, undefined);
  const { maxMessageBytes, ...limits } = CONTRACT.limits;
  assert.ok(maxMessageBytes > 0);
  const partial = settingsFrom({ ...CONTRACT, domains: {}, limits });
  assert.deepEqual(partial.problems, ["limits.maxMessageBytes must be a positive whole number"]);
});
