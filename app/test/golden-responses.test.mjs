// The SDK's thread responses against the program's (tests/tests/program/golden_responses.rs):
// every action kind decoded and re-encoded byte for byte, built from scratch the way a
// caller writes it, and malformed answers refused as the program refuses them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import anchor from "@anchor-lang/core";

import * as sdk from "../dist/index.js";

const golden = JSON.parse(readFileSync(new URL("./golden/thread-responses.json", import.meta.url), "utf8"));
const vector = (name) => Buffer.from(golden.responses.find((entry) => entry.name === name).data, "hex");

for (const { name, data } of golden.responses) {
  test(`response ${name}: decoded and re-encoded byte for byte`, () => {
    const bytes = Buffer.from(data, "hex");
    const action = sdk.decodeThreadResponse(bytes);
    assert.ok(action, "decodes");
    assert.ok(name.split("/")[0] in action, `${name} decodes to ${Object.keys(action)}`);
    assert.equal(sdk.encodeThreadResponse(action).toString("hex"), data);
  });
}

test("a caller builds answers the program reads", () => {
  assert.deepEqual(sdk.encodeThreadResponse({ pause: {} }), vector("pause"));
  assert.deepEqual(sdk.encodeThreadResponse({ chain: {} }), vector("chain"));
  assert.deepEqual(sdk.encodeThreadResponse({ close: {} }), vector("close"));
  const interval = { interval: { seconds: new anchor.BN(120), skippable: true } };
  assert.deepEqual(sdk.encodeThreadResponse({ trigger: { 0: interval } }), vector("trigger/interval"));
});

test("data without the tag is not a response; a bad one throws as the program refuses it", () => {
  assert.equal(sdk.decodeThreadResponse(Buffer.from("42")), null);
  const newer = Buffer.from(vector("pause"));
  newer[sdk.THREAD_RESPONSE_TAG.length] = 2;
  assert.throws(() => sdk.decodeThreadResponse(newer), /version 2/);
  const trailing = Buffer.concat([vector("pause"), Buffer.from([0])]);
  assert.throws(() => sdk.decodeThreadResponse(trailing), /InvalidThreadResponse/);
});
