// The program's events, read from a transaction. They are `emit_cpi!` events: a call of
// the program by itself, signed by the event authority, whose data is Anchor's event tag,
// the event's discriminator and its fields. Logs can be truncated; these cannot.
//
// Owns: finding those calls among a transaction's inner instructions and decoding them.
// Must not: fetch (the caller passes the transaction it got).
import anchor from "@anchor-lang/core";
import type {
  CompiledInstruction,
  MessageCompiledInstruction,
  ParsedTransactionWithMeta,
  PublicKey,
  TransactionResponse,
  VersionedTransactionResponse,
} from "@solana/web3.js";

import { THREAD_PROGRAM_ID, threadProgram, type ThreadEvents } from "./program.js";

/** Anchor's `EVENT_IX_TAG` (0x1d9acb512ea545e4), little-endian: the first 8 data bytes. */
export const EVENT_IX_TAG = Buffer.from([0xe4, 0x45, 0xa5, 0x2e, 0x51, 0xcb, 0x9a, 0x1d]);

/** One event: its name (camelCase, as the Anchor client names it) and fields. */
export type ThreadEvent = {
  [Name in keyof ThreadEvents]: {
    name: Name;
    data: ThreadEvents[Name];
    /** The top-level instruction of the transaction that emitted it. */
    instructionIndex: number;
  };
}[keyof ThreadEvents];

/**
 * Decodes the data of an event call: `null` for data that is not one of this program's
 * events.
 */
export function decodeEventData(data: Buffer | Uint8Array): Omit<ThreadEvent, "instructionIndex"> | null {
  const bytes = Buffer.from(data);
  if (bytes.length < 16 || !bytes.subarray(0, 8).equals(EVENT_IX_TAG)) return null;
  const decoded = threadProgram().coder.events.decode(bytes.subarray(8).toString("base64"));
  return decoded as Omit<ThreadEvent, "instructionIndex"> | null;
}

/** A transaction as `getTransaction` or `getParsedTransaction` returns it. */
export type FetchedTransaction = TransactionResponse | VersionedTransactionResponse | ParsedTransactionWithMeta;

/**
 * Every event the thread program emitted in `tx`, in order. A transaction fetched
 * without its inner instructions (`meta` missing) has none to read: that throws, rather
 * than reporting no events.
 */
export function parseThreadEvents(tx: FetchedTransaction | null): ThreadEvent[] {
  if (tx === null) {
    throw new Error(
      "no transaction to read events from: the node did not find it (not yet recorded, or it keeps no transaction history); fetch it again",
    );
  }
  const inner = tx.meta?.innerInstructions;
  if (tx.meta === null || tx.meta === undefined || inner === undefined || inner === null) {
    throw new Error("the transaction has no inner instructions to read events from (fetch it with its meta)");
  }
  const keyAt = accountKeyLookup(tx);
  const events: ThreadEvent[] = [];
  for (const { index, instructions } of inner) {
    for (const ix of instructions) {
      const call = asProgramCall(ix, keyAt);
      if (call === null || !call.programId.equals(THREAD_PROGRAM_ID)) continue;
      const event = decodeEventData(call.data);
      if (event !== null) events.push({ ...event, instructionIndex: index } as ThreadEvent);
    }
  }
  return events;
}

type InnerInstruction = NonNullable<NonNullable<FetchedTransaction["meta"]>["innerInstructions"]>[number]["instructions"][number];

function asProgramCall(
  ix: InnerInstruction,
  keyAt: (index: number) => PublicKey,
): { programId: PublicKey; data: Buffer } | null {
  if ("programIdIndex" in ix) {
    const compiled = ix as CompiledInstruction | MessageCompiledInstruction;
    const data = typeof compiled.data === "string" ? anchor.utils.bytes.bs58.decode(compiled.data) : compiled.data;
    return { programId: keyAt(compiled.programIdIndex), data: Buffer.from(data) };
  }
  // jsonParsed: this program's instructions come back partially decoded (base58 data).
  if ("data" in ix && typeof ix.data === "string") {
    return { programId: ix.programId, data: Buffer.from(anchor.utils.bytes.bs58.decode(ix.data)) };
  }
  return null;
}

function accountKeyLookup(tx: FetchedTransaction): (index: number) => PublicKey {
  const message = tx.transaction.message;
  if ("getAccountKeys" in message) {
    const loaded = tx.meta && "loadedAddresses" in tx.meta ? tx.meta.loadedAddresses : undefined;
    const keys = message.getAccountKeys(loaded ? { accountKeysFromLookups: loaded } : undefined);
    return (index) => {
      const key = keys.get(index);
      if (key === undefined) throw new Error(`account index ${index} is outside the transaction's keys`);
      return key;
    };
  }
  // A parsed transaction names programs by key; indexes are not used.
  return () => {
    throw new Error("a parsed transaction's instructions name their program directly");
  };
}
