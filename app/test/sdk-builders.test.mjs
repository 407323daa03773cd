// The SDK's owner builders make, key for key and byte for byte, what the program's Rust
// builders make (golden/owner-instructions.json, written and checked by
// tests/tests/program/golden.rs), from the owner, the thread and friendly arguments; and
// they refuse, naming the field, what the program would refuse.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Keypair, PublicKey, TransactionInstruction } from "@solana/web3.js";

import * as sdk from "../dist/index.js";
import { plainInstruction } from "./support.mjs";

const golden = JSON.parse(readFileSync(new URL("./golden/owner-instructions.json", import.meta.url), "utf8"));
const key = (name) => new PublicKey(golden.keys[name]);
const owner = key("owner");
const entry = (name) => golden.instructions.find((candidate) => candidate.name === name);
const plain = new PublicKey(entry("createThread").thread);
const durable = new PublicKey(entry("createThreadWithNonce").thread);
// Only the public key of a nonce keypair is in an instruction.
const asKeypair = (publicKey) => ({ publicKey });

const stored = new TransactionInstruction({
  programId: key("targetProgram"),
  keys: [{ pubkey: key("targetAccount"), isSigner: false, isWritable: true }],
  data: Buffer.from([1, 2, 3]),
});
const newThread = (id, trigger) => ({
  owner,
  id,
  trigger,
  instructions: [stored],
  feePerExec: 5_000,
  deposit: 1_000_000n,
  rateLimit: { maxExecs: 2, windowSlots: 10 },
  priority: "high",
  lookupTables: [key("lookupTable")],
});

const built = {
  createThread: async () =>
    (await sdk.createThread(newThread("golden-plain", sdk.Trigger.cron("0 */5 * * * *", { skippable: true, jitter: 30 }))))
      .instruction,
  createThreadWithNonce: async () =>
    (
      await sdk.createThreadWithNonce({
        ...newThread("golden-durable", sdk.Trigger.interval(3_600)),
        maxLeaseSlots: 150,
        nonce: asKeypair(key("nonce")),
      })
    ).instruction,
  updateThread: () =>
    sdk.updateThread(owner, plain, {
      trigger: sdk.Trigger.timestamp(new Date(1_900_000_000_000)),
      feePerExec: "7500",
      priority: "low",
      lookupTables: [key("lookupTable")],
    }),
  appendThreadInstruction: () =>
    sdk.appendThreadInstruction(owner, plain, {
      continuation: { keys: [{ pubkey: key("targetAccount"), isSigner: false, isWritable: true }], data: Buffer.from([4, 5, 6]) },
    }),
  pauseThread: () => sdk.pauseThread(owner, plain),
  resumeThread: () => sdk.resumeThread(owner, plain),
  withdrawThread: () => sdk.withdrawThread(owner, plain, 250_000),
  deleteThread: () => sdk.deleteThread(owner, plain),
  deleteDurableThread: () => sdk.deleteThread(owner, durable, { nonceAccount: key("nonce") }),
  makeThreadDurable: async () =>
    (await sdk.makeThreadDurable(owner, plain, { maxLeaseSlots: 300, nonce: asKeypair(key("nonce")) })).instruction,
  makeThreadNonDurable: () => sdk.makeThreadNonDurable(owner, durable, key("nonce")),
  rotateThreadNonce: async () =>
    (
      await sdk.rotateThreadNonce(owner, durable, {
        oldNonceAccount: key("nonce"),
        newNonce: asKeypair(key("newNonce")),
      })
    ).instruction,
  revokeLease: () => sdk.revokeLease(owner, durable),
};


test("every golden owner instruction has an SDK builder here, and back", () => {
  assert.deepEqual(Object.keys(built).sort(), golden.instructions.map((e) => e.name).sort());
});

for (const [name, build] of Object.entries(built)) {
  test(`${name}: the SDK's instruction equals the Rust builder's`, async () => {
    const { programId, keys, data } = entry(name);
    assert.deepEqual(plainInstruction(await build()), { programId, keys, data });
  });
}

test("the thread PDA is the Rust side's, from owner and id", () => {
  assert.equal(sdk.threadAddress(owner, "golden-plain").toBase58(), plain.toBase58());
  assert.equal(sdk.threadAddress(owner, Buffer.from("golden-durable")).toBase58(), durable.toBase58());
});

test("a durable create hands back a fresh nonce keypair that must sign", async () => {
  const created = await sdk.createThreadWithNonce({ ...newThread("fresh", sdk.Trigger.now()), maxLeaseSlots: 150 });
  assert.ok(created.nonce instanceof Keypair);
  assert.deepEqual(created.signers, [created.nonce]);
  const meta = created.instruction.keys.find((k) => k.pubkey.equals(created.nonce.publicKey));
  assert.ok(meta?.isSigner && meta.isWritable);
});

test("bad input is refused before anything is built, naming the field", async () => {
  const refusals = [
    [() => sdk.threadAddress(owner, ""), /^RangeError: id: 0 bytes; a thread id is 1 to 32 bytes/],
    [() => sdk.threadAddress(owner, "x".repeat(33)), /id: 33 bytes/],
    [() => sdk.Trigger.cron("*/5 * * *"), /trigger\.cron\.schedule: .* has 4 fields; write 5/],
    [() => sdk.Trigger.cron("0 0 0 1 1 * 2030 x"), /has 8 fields/],
    [() => sdk.Trigger.interval(0), /trigger\.interval\.seconds: must be at least 1/],
    [() => sdk.Trigger.timestamp(new Date("nonsense")), /trigger\.timestamp: an invalid Date/],
    [() => sdk.Trigger.account(owner, { size: -1 }), /trigger\.account\.size/],
    [() => sdk.ValueSource.integer({ width: 3 }), /trigger\.condition\.source\.width: 3; an integer is 1, 2, 4 or 8 bytes wide/],
    [() => sdk.ValueSource.integer({ offset: -1 }), /trigger\.condition\.source\.offset/],
    [() => sdk.ValueSource.pythPrice("0x12", { exponent: -2 }), /trigger\.condition\.source\.feedId: a feed id is 32 bytes/],
    [() => sdk.ValueSource.pythPrice(new Uint8Array(32), { exponent: -19 }), /trigger\.condition\.source\.exponent: -19 is outside/],
    [() => sdk.ValueSource.pythPrice(new Uint8Array(32), { exponent: -2, maxAgeSecs: 0 }), /maxAgeSecs: must be at least 1/],
    [() => sdk.Trigger.condition(owner, sdk.ValueSource.integer(), "above", 1), /trigger\.condition\.comparison: "above"; use one of atLeast/],
    [() => sdk.Trigger.condition(owner, sdk.ValueSource.integer(), "atLeast", 2n ** 63n), /trigger\.condition\.threshold: .* outside the i64 range/],
  ];
  for (const [call, message] of refusals) assert.throws(call, message);
  const stranger = key("targetAccount");
  await assert.rejects(
    sdk.appendThreadInstruction(owner, plain, {
      continuation: { keys: [{ pubkey: stranger, isSigner: true, isWritable: false }], data: new Uint8Array() },
    }),
    /piece\.continuation\.keys\[0\]: .* is a signer, but only the thread/,
  );
  const rejects = [
    [{ feePerExec: -1 }, /feePerExec: -1 is outside 0\.\.2\^64-1/],
    [{ feePerExec: 1.5 }, /feePerExec: 1\.5 is not a whole number/],
    [{ deposit: 2n ** 64n }, /deposit: .* is outside/],
    [{ rateLimit: { maxExecs: 0, windowSlots: 1 } }, /rateLimit\.maxExecs: must be at least 1/],
    [{ priority: "urgent" }, /priority: "urgent"; use one of low, medium, high, critical/],
    [{ instructions: [] }, /instructions: a thread stores at least one instruction/],
    [
      {
        instructions: [
          new TransactionInstruction({ programId: key("targetProgram"), keys: [{ pubkey: owner, isSigner: true, isWritable: false }], data: Buffer.alloc(0) }),
        ],
      },
      /instructions\[0\]\.keys\[0\]: .* is a signer, but only the thread/,
    ],
    [{ lookupTables: [owner, owner] }, /lookupTables\[1\]: .* is named twice/],
    [{ lookupTables: [1, 2, 3, 4, 5].map(() => owner) }, /lookupTables: 5 tables, at most 4/],
  ];
  for (const [change, message] of rejects) {
    await assert.rejects(sdk.createThread({ ...newThread("refused", sdk.Trigger.now()), ...change }), message);
  }
});
