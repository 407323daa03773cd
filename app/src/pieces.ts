// Writing a thread whose instructions do not fit one transaction, as the Rust client's
// `client::pieces` does: the list is cut into pieces of at most a byte budget each; the
// thread is created with the first piece and paused in the same transaction (so no
// keeper runs a list half written), each further piece is appended by
// `append_thread_instruction`, and the last transaction resumes it.
//
// Owns: the cutting (byte for byte the Rust client's, `app/test/golden/pieces.json`)
// and the order of the transactions. Must not: sign, send or fetch.
import { Keypair, PublicKey, TransactionInstruction } from "@solana/web3.js";

import {
  appendThreadInstruction,
  createThread,
  createThreadWithNonce,
  pauseThread,
  resumeThread,
  type InstructionPiece,
  type NewThread,
} from "./instructions.js";
import type { Amount } from "./values.js";

/** Serialized bytes of one stored account (pubkey, two flags). */
const ACCOUNT_META_SPACE = 34;
/** What a piece spends besides its accounts and data (`client::pieces`). */
const PIECE_OVERHEAD = 32 + 4 + 4 + 1;
/** The smallest budget: room for one account. */
export const MIN_PIECE_BUDGET = PIECE_OVERHEAD + ACCOUNT_META_SPACE;
/** Bytes of accounts and data per piece unless told: well inside a transaction. */
export const DEFAULT_PIECE_BUDGET = 500;

/**
 * `instructions` cut into pieces of at most `budget` bytes of program id, accounts and
 * data each: every instruction starts with an `instruction` piece (as many of its
 * accounts as fit, then its data) and continues with `continuation`s. Applied in order,
 * they rebuild the list exactly.
 */
export function instructionPieces(
  instructions: readonly TransactionInstruction[],
  budget: number = DEFAULT_PIECE_BUDGET,
): InstructionPiece[] {
  if (!Number.isInteger(budget) || budget < MIN_PIECE_BUDGET) {
    throw new RangeError(`budget: ${budget} bytes holds no account; use at least ${MIN_PIECE_BUDGET}`);
  }
  if (instructions.length === 0) throw new RangeError("instructions: a thread stores at least one instruction");
  const room = budget - PIECE_OVERHEAD;
  const pieces: InstructionPiece[] = [];
  for (const ix of instructions) {
    let keys = ix.keys;
    let data = Buffer.from(ix.data);
    let first = true;
    while (first || keys.length > 0 || data.length > 0) {
      const takenKeys = Math.min(keys.length, Math.floor(room / ACCOUNT_META_SPACE));
      const left = room - takenKeys * ACCOUNT_META_SPACE;
      const takenData = takenKeys === keys.length ? Math.min(data.length, left) : 0;
      const theseKeys = keys.slice(0, takenKeys);
      const thisData = data.subarray(0, takenData);
      pieces.push(
        first
          ? { instruction: new TransactionInstruction({ programId: ix.programId, keys: theseKeys, data: thisData }) }
          : { continuation: { keys: theseKeys, data: thisData } },
      );
      keys = keys.slice(takenKeys);
      data = data.subarray(takenData);
      first = false;
    }
  }
  return pieces;
}

/** The transactions that write a thread in pieces, each a list the owner signs, in order. */
export interface PiecewiseCreation {
  thread: PublicKey;
  /** The creation with the first piece, then `pause_thread` (alone when one piece is all). */
  create: TransactionInstruction[];
  /** Co-signers of the creation (a durable thread's new nonce keypair). */
  signers: Keypair[];
  /** One `append_thread_instruction` per transaction; the last also resumes the thread. */
  appends: TransactionInstruction[][];
}

/**
 * `thread` written in pieces of `budget` bytes: plain, or durable when `maxLeaseSlots` is
 * given (with a fresh nonce keypair unless `nonce` is). Send `create` (signed by the owner
 * and `signers`), then each of `appends` in order.
 */
export async function createThreadInPieces(
  thread: NewThread & { maxLeaseSlots?: Amount; nonce?: Keypair },
  budget: number = DEFAULT_PIECE_BUDGET,
): Promise<PiecewiseCreation> {
  const [first, ...rest] = instructionPieces(thread.instructions, budget);
  if (first === undefined || !("instruction" in first)) {
    throw new RangeError("instructions: a thread stores at least one instruction");
  }
  const withFirst = { ...thread, instructions: [first.instruction] };
  const built =
    thread.maxLeaseSlots === undefined
      ? { ...(await createThread(withFirst)), signers: [] as Keypair[] }
      : await createThreadWithNonce({ ...withFirst, maxLeaseSlots: thread.maxLeaseSlots });
  const address = built.thread;
  const appends = await Promise.all(
    rest.map(async (piece) => [await appendThreadInstruction(thread.owner, address, piece)]),
  );
  const create = [built.instruction];
  const last = appends[appends.length - 1];
  if (last !== undefined) {
    create.push(await pauseThread(thread.owner, address));
    last.push(await resumeThread(thread.owner, address));
  }
  return { thread: address, create, signers: built.signers, appends };
}
