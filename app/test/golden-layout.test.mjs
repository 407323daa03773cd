// The SDK against the program's byte layouts, from golden files the Rust side writes and
// checks (tests/tests/program/golden_layout.rs): every instruction's data (each trigger
// kind, each update field) and Thread accounts (durable and not, every `Due` kind) are
// decoded and re-encoded byte for byte; the decoded accounts read as the Rust side says;
// and the SDK builds the same executions and lease instructions as the Rust builders.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { PublicKey } from "@solana/web3.js";

import * as sdk from "../dist/index.js";
import { plainInstruction } from "./support.mjs";

const read = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"));
const instructionData = read("./golden/instruction-data.json");
const threadAccounts = read("./golden/thread-accounts.json");

const goldenInstruction = ({ programId, keys, data }) => ({ programId, keys, data });
const key = (byte) => new PublicKey(new Uint8Array(32).fill(byte));

for (const { name, instruction, data } of instructionData.instructions) {
  test(`instruction data ${name}: decoded and re-encoded byte for byte`, () => {
    const bytes = Buffer.from(data, "hex");
    const decoded = sdk.decodeInstructionData(bytes);
    assert.ok(decoded, "decodes");
    assert.equal(decoded.name, instruction);
    assert.equal(sdk.encodeInstructionData(decoded).toString("hex"), data);
  });
}

test("every trigger kind and every update field has a vector", () => {
  const names = instructionData.instructions.map((entry) => entry.name);
  for (const kind of ["now", "timestamp", "interval", "cron", "slot", "epoch", "account", "conditionInteger", "conditionPythPrice"]) {
    assert.ok(names.includes(`createThread/${kind}`), kind);
  }
  const idlNames = sdk.IDL.instructions.map((ix) => ix.name.replace(/_(\w)/g, (_, c) => c.toUpperCase()));
  for (const name of idlNames) {
    assert.ok(names.some((entry) => entry.split("/")[0] === name), `no vector of ${name}`);
  }
});

test("the condition builders make the triggers the Rust side encodes", () => {
  const trigger = (name) =>
    sdk.decodeInstructionData(Buffer.from(instructionData.instructions.find((entry) => entry.name === name).data, "hex")).data
      .args.trigger;
  const same = (built, golden) => assert.equal(JSON.stringify(built), JSON.stringify(golden));
  same(
    sdk.Trigger.condition(key(8), sdk.ValueSource.integer({ offset: 64, width: 8, signed: true }), "crossesBelow", -250),
    trigger("createThread/conditionInteger"),
  );
  same(
    sdk.Trigger.condition(key(11), sdk.ValueSource.pythPrice("0x" + "ef".repeat(32), { exponent: -2, maxAgeSecs: 60 }), "atLeast", 15_000),
    trigger("createThread/conditionPythPrice"),
  );
});

test("update_thread's priority reset decodes as \"default\", a set priority as itself", () => {
  const of = (name) => instructionData.instructions.find((entry) => entry.name === name);
  const reset = sdk.decodeInstructionData(Buffer.from(of("updateThread/priorityReset").data, "hex"));
  assert.equal(reset.data.args.priority, "default");
  const untouched = sdk.decodeInstructionData(Buffer.from(of("updateThread/nothing").data, "hex"));
  assert.equal(untouched.data.args.priority, null);
  const set = sdk.decodeInstructionData(Buffer.from(of("updateThread/prioritySet").data, "hex"));
  assert.deepEqual(set.data.args.priority, { medium: {} });
});

test("the SDK's update builder encodes each priority change as the program reads it", async () => {
  const of = (name) => instructionData.instructions.find((entry) => entry.name === name).data;
  const thread = key(9);
  const built = async (update) => Buffer.from((await sdk.updateThread(key(1), thread, update)).data).toString("hex");
  assert.equal(await built({ priority: "default" }), of("updateThread/priorityReset"));
  assert.equal(await built({ priority: "medium" }), of("updateThread/prioritySet"));
  assert.equal(await built({}), of("updateThread/nothing"));
  assert.equal(await built({ feePerExec: 2n ** 64n - 1n }), of("updateThread/feePerExec"));
});

const seconds = (date) => String(Math.floor(date.getTime() / 1000));

for (const golden of threadAccounts.threads) {
  test(`Thread account ${golden.name}: decoded, read and re-encoded byte for byte`, () => {
    const data = Buffer.from(golden.data, "hex");
    const account = sdk.decodeThread(data);
    assert.equal(sdk.encodeThread(account, golden.space).toString("hex"), golden.data);

    const address = new PublicKey(golden.address);
    const { expect } = golden;
    const lamports = Number(expect.lamports);
    const rentExemptMinimum = Number(expect.rentExemptMinimum);
    const view = sdk.threadView(
      address,
      { data, lamports, owner: sdk.THREAD_PROGRAM_ID, executable: false, rentEpoch: 0 },
      { rentExemptMinimum, slot: 1_250 },
    );
    assert.equal(view.owner.toBase58(), expect.owner);
    assert.equal(view.id.toString("hex"), expect.id);
    assert.equal(view.paused, expect.paused);
    assert.equal(String(view.execCount), expect.execCount);
    assert.equal(view.lastExecAt === null ? "0" : seconds(view.lastExecAt), expect.lastExecAt);
    assert.equal(seconds(view.createdAt), expect.createdAt);
    assert.equal(String(view.feePerExec), expect.feePerExec);
    assert.equal(view.priority, expect.priority);
    assert.equal(view.durable, expect.durable);
    assert.equal(view.nonceAccount?.toBase58() ?? null, expect.nonceAccount);
    assert.equal(String(view.maxLeaseSlots), expect.maxLeaseSlots);
    assert.equal(view.account.instructions.length, expect.instructions);
    assert.deepEqual(view.lookupTables.map((table) => table.toBase58()), expect.lookupTables);

    const due = { kind: view.nextDue.kind };
    if (view.nextDue.kind === "at") {
      due.unixTs = String(view.nextDue.unixTs);
      assert.equal(seconds(view.nextDue.at), due.unixTs, "the date is the unix time");
    }
    if (view.nextDue.kind === "atSlot") due.slot = String(view.nextDue.slot);
    if (view.nextDue.kind === "atEpoch") due.epoch = String(view.nextDue.epoch);
    if (view.nextDue.kind === "onChange") due.lastHash = view.nextDue.lastHash.toString("hex");
    if (view.nextDue.kind === "onCondition") due.armed = view.nextDue.armed;
    assert.deepEqual(due, expect.nextDue);

    if (expect.lease === null) {
      assert.equal(view.lease, null);
    } else {
      const { live, ...lease } = view.lease;
      assert.deepEqual(
        {
          holder: lease.holder.toBase58(),
          claimedSlot: String(lease.claimedSlot),
          expiresSlot: String(lease.expiresSlot),
          bond: String(lease.bond),
          revokedSlot: lease.revokedSlot === null ? null : String(lease.revokedSlot),
        },
        expect.lease,
      );
      // Read at slot 1 250: before the expiry, but a revoked lease is never live.
      assert.equal(live, expect.lease.revokedSlot === null);
    }

    // The balance beyond rent and a held bond pays the fees; the owner may take it
    // less a running thread's next fee. The Rust side computed these.
    assert.deepEqual(
      [view.reserved, view.spare, view.withdrawable, view.runway].map((n) => (n === null ? null : String(n))),
      [expect.reserved, expect.spare, expect.withdrawable, expect.runway],
    );
  });

  test(`Thread account ${golden.name}: the SDK builds the keeper's execution`, async () => {
    const account = sdk.decodeThread(Buffer.from(golden.data, "hex"));
    const built = await sdk.execThread(new PublicKey(golden.executor), new PublicKey(golden.address), account);
    assert.deepEqual(built.map(plainInstruction), golden.execution.map(goldenInstruction));
  });
}

test("a Thread re-encodes past the Anchor coder's 1,000-byte buffer", () => {
  const golden = threadAccounts.threads[0];
  const account = sdk.decodeThread(Buffer.from(golden.data, "hex"));
  const big = { ...account, instructions: Array.from({ length: 12 }, () => account.instructions[1]) };
  const encoded = sdk.encodeThread(big);
  assert.ok(encoded.length > 1_000, `${encoded.length} bytes`);
  assert.equal(sdk.decodeThread(encoded).instructions.length, 12);
});

test("data that is not a Thread is refused, not misread", () => {
  assert.throws(() => sdk.decodeThread(Buffer.alloc(600)), /not a Thread account/);
});

test("the SDK builds the lease instructions the keeper sends", async () => {
  const [claim, renew, handBack, releaseOwn, releaseByAnyone, forfeit] = threadAccounts.leaseInstructions;
  const thread = new PublicKey(claim.thread);
  const [keeper, nonce, newNonce, anyone, owner] = [key(7), key(2), key(3), key(6), key(1)];
  const built = [
    await sdk.claimLease(keeper, thread, nonce, { slots: 300, bond: 1_447_680 }),
    await sdk.renewLease(keeper, thread, nonce, 450),
    ...(await sdk.releaseLease(keeper, thread, keeper, nonce, { authorityIsCaller: true })),
    ...(await sdk.releaseLease(anyone, thread, keeper, nonce, { authorityIsCaller: false })),
  ];
  const { instruction: forfeitBuilt } = await sdk.forfeitLease(anyone, thread, owner, {
    oldNonceAccount: nonce,
    newNonce: { publicKey: newNonce },
  });
  assert.deepEqual(
    [...built, forfeitBuilt].map(plainInstruction),
    [claim, renew, handBack, releaseOwn, releaseByAnyone, forfeit].map(goldenInstruction),
  );
});
