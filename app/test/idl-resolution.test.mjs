// The committed IDL is enough for the official Anchor TS client: every owner instruction
// is built from the owner (plus the fresh nonce keypair where one is created) and its
// arguments, the client resolving sysvars, the System program, the event authority, the
// program and a new thread's PDA itself; the result must equal, key for key and byte for
// byte, what the program's Rust builders make (golden/owner-instructions.json, written
// and checked by tests/tests/program/golden.rs).
//
// The thread of an existing thread's instructions is passed explicitly: its seeds are the
// thread account's own `owner` and `id` fields, which the client could only read from
// the chain, and this test runs offline (its Connection is never used).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import anchor from "@anchor-lang/core";
import { Connection, Keypair, PublicKey } from "@solana/web3.js";
import { plainInstruction } from "./support.mjs";

// The package is CommonJS: its names come from the default export.
const { AnchorProvider, BN, Program, Wallet, convertIdlToCamelCase } = anchor;

const read = (path) => readFileSync(new URL(path, import.meta.url), "utf8");
const idl = JSON.parse(read("../../idl/thread.json"));
const golden = JSON.parse(read("./golden/owner-instructions.json"));

const key = (name) => new PublicKey(golden.keys[name]);
const owner = key("owner");
const nonceAccount = key("nonce");
const newNonceAccount = key("newNonce");

// An address nothing listens on: resolution must not need the network.
const connection = new Connection("http://127.0.0.1:9");
const provider = new AnchorProvider(connection, new Wallet(Keypair.generate()), {});
const program = new Program(idl, provider);

const goldenEntry = (name) => {
  const entry = golden.instructions.find((candidate) => candidate.name === name);
  assert.ok(entry, `no golden instruction ${name}`);
  return entry;
};
const threadOf = (name) => new PublicKey(goldenEntry(name).thread);

// The same arguments as tests/tests/program/golden.rs.
const storedInstruction = {
  programId: key("targetProgram"),
  accounts: [{ pubkey: key("targetAccount"), isSigner: false, isWritable: true }],
  data: Buffer.from([1, 2, 3]),
};
const createArgs = (id, trigger) => ({
  id: Buffer.from(id),
  trigger,
  instructions: [storedInstruction],
  feePerExec: new BN(5_000),
  rateLimit: { maxExecs: 2, windowSlots: new BN(10) },
  deposit: new BN(1_000_000),
  priority: { high: {} },
  lookupTables: [key("lookupTable")],
});
// Tables being set ride along as read-only remaining accounts, for the program to check.
const tableAccounts = [{ pubkey: key("lookupTable"), isSigner: false, isWritable: false }];
const cron = { cron: { schedule: "0 */5 * * * *", skippable: true, jitter: 30 } };
const interval = { interval: { seconds: new BN(3_600), skippable: false } };

const plain = threadOf("createThread");
const durable = threadOf("createThreadWithNonce");

const built = {
  createThread: () =>
    program.methods
      .createThread(createArgs("golden-plain", cron))
      .accounts({ owner })
      .remainingAccounts(tableAccounts),
  createThreadWithNonce: () =>
    program.methods
      .createThreadWithNonce(createArgs("golden-durable", interval), new BN(150))
      .accounts({ owner, nonceAccount })
      .remainingAccounts(tableAccounts),
  updateThread: () =>
    program.methods
      .updateThread({
        trigger: { timestamp: { unixTs: new BN(1_900_000_000) } },
        instructions: null,
        feePerExec: new BN(7_500),
        rateLimit: null,
        priority: { low: {} },
        lookupTables: [key("lookupTable")],
      })
      .accountsPartial({ owner, thread: plain })
      .remainingAccounts(tableAccounts),
  appendThreadInstruction: () =>
    program.methods
      .appendThreadInstruction({ continuation: { accounts: storedInstruction.accounts, data: Buffer.from([4, 5, 6]) } })
      .accountsPartial({ owner, thread: plain }),
  pauseThread: () => program.methods.pauseThread().accountsPartial({ owner, thread: plain }),
  resumeThread: () => program.methods.resumeThread().accountsPartial({ owner, thread: plain }),
  withdrawThread: () =>
    program.methods.withdrawThread(new BN(250_000)).accountsPartial({ owner, thread: plain }),
  // Absent optional accounts are passed as null; the client sends the program id, as the
  // program expects.
  deleteThread: () =>
    program.methods
      .deleteThread()
      .accountsPartial({ owner, thread: plain, nonceAccount: null, leaseHolder: null }),
  deleteDurableThread: () =>
    program.methods
      .deleteThread()
      .accountsPartial({ owner, thread: durable, nonceAccount, leaseHolder: null }),
  makeThreadDurable: () =>
    program.methods
      .makeThreadDurable(new BN(300))
      .accountsPartial({ owner, thread: plain, nonceAccount }),
  makeThreadNonDurable: () =>
    program.methods
      .makeThreadNonDurable()
      .accountsPartial({ owner, thread: durable, nonceAccount }),
  rotateThreadNonce: () =>
    program.methods
      .rotateThreadNonce()
      .accountsPartial({ owner, thread: durable, oldNonceAccount: nonceAccount, newNonceAccount }),
  revokeLease: () => program.methods.revokeLease().accountsPartial({ owner, thread: durable }),
};


test("every golden instruction has a TypeScript builder here, and back", () => {
  assert.deepEqual(
    Object.keys(built).sort(),
    golden.instructions.map((entry) => entry.name).sort(),
  );
});

for (const [name, build] of Object.entries(built)) {
  test(`${name}: the client's instruction equals the Rust builder's`, async () => {
    const { programId, keys, data } = goldenEntry(name);
    assert.deepEqual(plainInstruction(await build().instruction()), { programId, keys, data });
  });
}

test("the thread of a new thread is resolved from owner and args.id alone", async () => {
  const { pubkeys } = await built.createThread().prepare();
  assert.equal(pubkeys.thread.toBase58(), plain.toBase58());
  assert.equal(pubkeys.systemProgram.toBase58(), "11111111111111111111111111111111");
  assert.equal(pubkeys.program.toBase58(), idl.address);
});

test("idl/thread.ts is the IDL as the client holds it, camelCased", () => {
  const source = read("../../idl/thread.ts");
  const body = source.slice(source.indexOf("export type Thread = ") + "export type Thread = ".length);
  assert.deepEqual(JSON.parse(body.trimEnd().replace(/;$/, "")), convertIdlToCamelCase(idl));
});
