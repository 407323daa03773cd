// The program's derived addresses: a thread's PDA and the event authority.
//
// Owns: seeds and the id rules a thread address depends on. Must not: fetch.
import { PublicKey } from "@solana/web3.js";

import { THREAD_PROGRAM_ID } from "./program.js";

/** Seed prefix of every thread PDA (`Thread::SEED`). */
export const THREAD_SEED = Buffer.from("thread");
/** Longest thread id, in bytes: one PDA seed. */
export const MAX_ID_LEN = 32;
/** Seed of the account `emit_cpi!` events are signed by. */
const EVENT_AUTHORITY_SEED = Buffer.from("__event_authority");

/**
 * A thread id as the program stores it: a string as its UTF-8 bytes, or the bytes given.
 * Throws, naming the rule, for an id the program would refuse.
 */
export function threadId(id: string | Uint8Array): Buffer {
  const bytes = typeof id === "string" ? Buffer.from(id, "utf8") : Buffer.from(id);
  if (bytes.length < 1 || bytes.length > MAX_ID_LEN) {
    throw new RangeError(
      `id: ${bytes.length} bytes; a thread id is 1 to ${MAX_ID_LEN} bytes (shorten it, or hash a longer name)`,
    );
  }
  return bytes;
}

/** The thread PDA of `owner` and `id`, with its bump. */
export function threadAddressAndBump(owner: PublicKey, id: string | Uint8Array): [PublicKey, number] {
  return PublicKey.findProgramAddressSync(
    [THREAD_SEED, owner.toBuffer(), threadId(id)],
    THREAD_PROGRAM_ID,
  );
}

/** The thread PDA of `owner` and `id`. */
export function threadAddress(owner: PublicKey, id: string | Uint8Array): PublicKey {
  return threadAddressAndBump(owner, id)[0];
}

/** The event authority: the account the program's self-CPI events are signed by. */
export function eventAuthorityAddress(): PublicKey {
  return PublicKey.findProgramAddressSync([EVENT_AUTHORITY_SEED], THREAD_PROGRAM_ID)[0];
}
