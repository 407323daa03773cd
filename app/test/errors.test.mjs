// Error mapping: every code of the IDL has its name and message, Anchor's own codes are
// named too, and a code is found in each shape a failure reaches a client in. (The
// over-the-wire test maps a real refusal: localnet/tests/over_the_wire/sdk.rs.)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import * as sdk from "../dist/index.js";

const idl = JSON.parse(readFileSync(new URL("../../idl/thread.json", import.meta.url), "utf8"));
const withdraw = idl.errors.find((e) => e.name === "WithdrawExceedsAvailable");

test("every error of the IDL maps to its name and message", () => {
  assert.ok(idl.errors.length > 0);
  for (const { code, name, msg } of idl.errors) {
    assert.deepEqual(sdk.threadErrorByCode(code), { code, name, msg });
  }
});

test("Anchor's own codes are named, unknown ones are not invented", () => {
  assert.equal(sdk.threadErrorByCode(2000)?.name, "ConstraintMut");
  assert.equal(sdk.threadErrorByCode(3012)?.name, "AccountNotInitialized");
  assert.equal(sdk.threadErrorByCode(5_999), null);
  assert.equal(sdk.threadErrorByCode(6_000 + idl.errors.length + 100), null);
});

test("a code is found in each shape a failure arrives in", () => {
  const expected = { code: withdraw.code, name: withdraw.name, msg: withdraw.msg };
  const hex = withdraw.code.toString(16);
  const shapes = [
    [{ InstructionError: [1, { Custom: withdraw.code }] }, 1],
    [{ err: { InstructionError: [0, { Custom: withdraw.code }] } }, 0],
    [
      {
        message: "Simulation failed.",
        logs: [
          "Program Ft6MdnsXTQt94meJ2SY1pe8UX5ZncJ5V3TVd8XR5rydz invoke [1]",
          `Program log: AnchorError occurred. Error Code: ${withdraw.name}. Error Number: ${withdraw.code}. Error Message: ${withdraw.msg}.`,
        ],
      },
      null,
    ],
    [new Error(`failed to send transaction: Transaction simulation failed: Error processing Instruction 0: custom program error: 0x${hex}`), null],
    [{ error: { errorCode: { code: withdraw.name, number: withdraw.code } } }, null],
    [[`Program failed: custom program error: 0x${hex}`], null],
  ];
  for (const [failure, instructionIndex] of shapes) {
    assert.deepEqual(sdk.parseThreadError(failure), { ...expected, instructionIndex }, JSON.stringify(failure));
  }
});

test("a failure that is not a program error maps to nothing", () => {
  for (const failure of [
    null,
    undefined,
    "blockhash not found",
    new Error("fetch failed"),
    { InstructionError: [0, "InvalidAccountData"] },
    { InsufficientFundsForFee: null },
    ["Program log: hello"],
  ]) {
    assert.equal(sdk.parseThreadError(failure), null, String(failure));
  }
});
