// A durable thread from the SDK alone, against a running cluster with a keeper: create
// it (its nonce account made by the program), wait for a keeper to execute it, read it
// back with its runway, read the events of both transactions, and see a refusal mapped
// to the program's error name.
//
//   npm run build --prefix app
//   THREAD_RPC_URL=http://127.0.0.1:8899 THREAD_OWNER_KEYPAIR=~/.config/solana/id.json \
//     node app/examples/durable-thread.mjs
//
// Progress goes to stderr; a JSON summary to stdout (localnet/tests/over_the_wire/sdk.rs
// runs this against localnet and judges the summary on chain).
import { readFileSync } from "node:fs";
import { homedir } from "node:os";

import {
  Connection,
  Keypair,
  PublicKey,
  sendAndConfirmRawTransaction,
  Transaction,
  TransactionInstruction,
} from "@solana/web3.js";

import anchor from "@anchor-lang/core";
import * as sdk from "@thread/app";

const MEMO_PROGRAM = new PublicKey("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
const EXECUTED_WITHIN_MS = 120_000;

const rpcUrl = process.env.THREAD_RPC_URL ?? "http://127.0.0.1:8899";
const keypairPath = (process.env.THREAD_OWNER_KEYPAIR ?? "~/.config/solana/id.json").replace(/^~/, homedir());
const log = (message) => process.stderr.write(`${message}\n`);

function readKeypair(path) {
  try {
    return Keypair.fromSecretKey(Uint8Array.from(JSON.parse(readFileSync(path, "utf8"))));
  } catch (error) {
    throw new Error(`THREAD_OWNER_KEYPAIR: cannot read a keypair from ${path} (${error.message}); point it at a JSON keypair file`);
  }
}

const connection = new Connection(rpcUrl, "confirmed");
const owner = readKeypair(keypairPath);
// Signed on a blockhash fetched for it: web3.js's own cache, once 30 s old, insists on
// a blockhash it has not seen yet, which a slow local validator may not make in time.
async function send(instructions, signers = []) {
  const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash("confirmed");
  const tx = new Transaction({ feePayer: owner.publicKey, blockhash, lastValidBlockHeight }).add(...instructions);
  tx.sign(owner, ...signers);
  const signature = anchor.utils.bytes.bs58.encode(tx.signature);
  return sendAndConfirmRawTransaction(
    connection,
    tx.serialize(),
    { signature, blockhash, lastValidBlockHeight },
    { commitment: "confirmed" },
  );
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// A node records a transaction in its history a moment after confirming it (a small
// local validator under load: only once its slot is rooted, up to a minute later).
const HISTORY_WITHIN_MS = 120_000;
async function fetchTransaction(signature) {
  const deadline = Date.now() + HISTORY_WITHIN_MS;
  for (;;) {
    const tx = await connection.getTransaction(signature, { commitment: "confirmed", maxSupportedTransactionVersion: 0 });
    if (tx !== null) return tx;
    if (Date.now() > deadline) {
      throw new Error(`${signature} is confirmed but not in the node's transaction history after ${HISTORY_WITHIN_MS / 1000} s`);
    }
    await sleep(500);
  }
}

// 1. Create: every 2 s, a memo signed by the thread.
const id = `sdk-${Date.now().toString(36)}`;
const thread = sdk.threadAddress(owner.publicKey, id);
const memo = new TransactionInstruction({
  programId: MEMO_PROGRAM,
  keys: [{ pubkey: thread, isSigner: true, isWritable: false }],
  data: Buffer.from("made by the TypeScript SDK"),
});
const created = await sdk.createThreadWithNonce({
  owner: owner.publicKey,
  id,
  trigger: sdk.Trigger.interval(2, { skippable: true }),
  instructions: [memo],
  feePerExec: 20_000,
  deposit: 100_000_000,
  maxLeaseSlots: 150,
});
const createSignature = await send([created.instruction], created.signers);
log(`created ${thread.toBase58()} (nonce ${created.nonce.publicKey.toBase58()}) in ${createSignature}`);

// 2. Wait for a keeper to run it.
const deadline = Date.now() + EXECUTED_WITHIN_MS;
let view = await sdk.fetchThread(connection, thread);
while (view === null || view.execCount < 1n) {
  if (Date.now() > deadline) throw new Error(`no keeper executed ${thread.toBase58()} within ${EXECUTED_WITHIN_MS / 1000} s`);
  await sleep(500);
  view = await sdk.fetchThread(connection, thread);
}
log(`executed ${view.execCount} time(s); runway ${view.runway} executions`);
// The owner's threads, filtered on the node (memcmp on the discriminator and owner).
const listed = (await sdk.fetchThreadsByOwner(connection, owner.publicKey)).map((t) => t.address);

// 3. The events of the creation and of an execution, from the node's history.
async function findExecution() {
  for (const { signature, err } of await connection.getSignaturesForAddress(thread, { limit: 20 }, "confirmed")) {
    if (err !== null) continue;
    const event = sdk.parseThreadEvents(await fetchTransaction(signature)).find((e) => e.name === "threadExecuted");
    if (event) return { signature, event };
  }
  return null;
}
const historyDeadline = Date.now() + HISTORY_WITHIN_MS;
let executed = await findExecution();
while (executed === null) {
  if (Date.now() > historyDeadline) throw new Error("no transaction of the thread in the node's history carries a threadExecuted event");
  log("waiting for the node to record the execution's transaction");
  await sleep(1_000);
  executed = await findExecution();
}

const createEvents = sdk.parseThreadEvents(await fetchTransaction(createSignature));

// 4. A withdrawal beyond the spare balance is refused by the program, by name.
let refusal = null;
try {
  await send([await sdk.withdrawThread(owner.publicKey, thread, view.spare + 1_000_000_000n)]);
} catch (error) {
  refusal = sdk.parseThreadError(error);
  if (refusal === null) throw error;
}
log(`refused: ${refusal?.name}: ${refusal?.msg}`);

// PublicKeys print as base58 (their toJSON); bigints as decimal strings.
const text = (value) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2);
process.stdout.write(
  text({
    thread,
    nonceAccount: created.nonce.publicKey,
    created: { signature: createSignature, events: createEvents.map((e) => e.name) },
    executed: {
      signature: executed.signature,
      thread: executed.event.data.thread,
      executor: executed.event.data.executor,
      execCount: executed.event.data.execCount.toString(),
    },
    view: {
      execCount: view.execCount,
      durable: view.durable,
      nonceAccount: view.nonceAccount,
      nextDue: view.nextDue.kind,
      lease: view.lease && { holder: view.lease.holder, live: view.lease.live },
      spare: view.spare,
      runway: view.runway,
    },
    listed,
    refusal,
  }) + "\n",
);
