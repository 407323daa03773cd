// The SDK writes a thread too large for one transaction as the Rust client does
// (golden/pieces.json, written and checked by tests/tests/program/golden.rs): the same
// cut, the same creation and pause, the same appends, the last resuming.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { PublicKey, TransactionInstruction } from "@solana/web3.js";

import * as sdk from "../dist/index.js";
import { plainInstruction } from "./support.mjs";

const golden = JSON.parse(readFileSync(new URL("./golden/pieces.json", import.meta.url), "utf8"));
const key = (name) => new PublicKey(golden.keys[name]);
const instructions = golden.instructions.map(
  ({ programId, keys, data }) =>
    new TransactionInstruction({
      programId: new PublicKey(programId),
      keys: keys.map(({ pubkey, isSigner, isWritable }) => ({ pubkey: new PublicKey(pubkey), isSigner, isWritable })),
      data: Buffer.from(data, "hex"),
    }),
);
const wide = {
  owner: key("owner"),
  id: "golden-wide",
  trigger: sdk.Trigger.cron("0 */5 * * * *", { skippable: true, jitter: 30 }),
  instructions,
  feePerExec: 5_000,
  deposit: 1_000_000n,
  rateLimit: { maxExecs: 2, windowSlots: 10 },
  priority: "high",
  lookupTables: [key("lookupTable")],
};
const plain = (ixs) => ixs.map(plainInstruction);
const fromGolden = (entries) => entries.map(({ programId, keys, data }) => ({ programId, keys, data }));

test("createThreadInPieces makes the Rust client's transactions, instruction for instruction", async () => {
  const written = await sdk.createThreadInPieces(wide, golden.budget);
  assert.deepEqual(plain(written.create), fromGolden(golden.create));
  assert.deepEqual(written.appends.map(plain), golden.appends.map(fromGolden));
  assert.deepEqual(written.signers, []);
  assert.equal(written.thread.toBase58(), sdk.threadAddress(key("owner"), "golden-wide").toBase58());
});

test("pieces rebuild the list exactly within the budget", () => {
  for (const budget of [sdk.MIN_PIECE_BUDGET, 100, golden.budget, 641, 5_000]) {
    const pieces = sdk.instructionPieces(instructions, budget);
    const rebuilt = [];
    for (const piece of pieces) {
      if ("instruction" in piece) {
        rebuilt.push({ programId: piece.instruction.programId, keys: [...piece.instruction.keys], data: Buffer.from(piece.instruction.data) });
        assert.ok(41 + piece.instruction.keys.length * 34 + piece.instruction.data.length <= budget, `budget ${budget}`);
      } else {
        const last = rebuilt[rebuilt.length - 1];
        last.keys.push(...piece.continuation.keys);
        last.data = Buffer.concat([last.data, Buffer.from(piece.continuation.data)]);
        assert.ok(41 + piece.continuation.keys.length * 34 + piece.continuation.data.length <= budget, `budget ${budget}`);
      }
    }
    assert.deepEqual(plain(rebuilt.map((ix) => new TransactionInstruction(ix))), plain(instructions), `budget ${budget}`);
  }
});

test("a one-piece thread is created without a pause, a durable one with its nonce signer", async () => {
  const small = await sdk.createThreadInPieces({ ...wide, instructions: instructions.slice(0, 1) }, golden.budget);
  assert.equal(small.create.length, 1);
  assert.deepEqual(small.appends, []);
  const durable = await sdk.createThreadInPieces({ ...wide, maxLeaseSlots: 150 }, golden.budget);
  assert.equal(durable.signers.length, 1);
  assert.ok(durable.create[0].keys.some((meta) => meta.pubkey.equals(durable.signers[0].publicKey) && meta.isSigner));
});

test("a budget without room for an account, or no instructions, is refused by name", () => {
  assert.throws(() => sdk.instructionPieces(instructions, sdk.MIN_PIECE_BUDGET - 1), /budget: .* holds no account/);
  assert.throws(() => sdk.instructionPieces([], 500), /instructions: a thread stores at least one instruction/);
});
