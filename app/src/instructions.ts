// One typed builder per program instruction, each returning plain web3 instructions
// (and the keypairs that must sign besides the caller, where the instruction creates an
// account).
//
// Owns: the arguments' validation (by field, before anything is signed), the accounts
// the IDL cannot resolve (an existing thread's address, optional accounts), the
// `update_thread` priority reset the Anchor client cannot encode, and an execution's
// remaining accounts, in the order the Rust builders use. Must not: sign, send or fetch.
import {
  AccountMeta,
  Keypair,
  NONCE_ACCOUNT_LENGTH,
  PublicKey,
  SystemProgram,
  SYSVAR_INSTRUCTIONS_PUBKEY,
  TransactionInstruction,
} from "@solana/web3.js";

import { decodeInstructionData, encodeInstructionData } from "./instruction-data.js";
import { threadAddress, threadId } from "./pda.js";
import { threadProgram, type ThreadAccount } from "./program.js";
import {
  priorityData,
  rateLimitData,
  storedAccounts,
  storedInstructions,
  u64,
  type Amount,
  type Priority,
  type RateLimit,
  type Trigger,
} from "./values.js";

export { NONCE_ACCOUNT_LENGTH };

/**
 * The rate limit of a thread created without one (the program's `RateLimit::default`,
 * as the owner CLI uses): one execution per slot, so a catch-up still proceeds but a
 * burst cannot drain the thread in one block.
 */
export const DEFAULT_RATE_LIMIT: RateLimit = { maxExecs: 1, windowSlots: 1 };

/** What a new thread is: its trigger, what it runs and how it is paid for. */
export interface NewThread {
  owner: PublicKey;
  /** 1 to 32 bytes (a string is taken as UTF-8), unique per owner. */
  id: string | Uint8Array;
  trigger: Trigger;
  /** What every execution runs, signed by the thread where an account says so. */
  instructions: readonly TransactionInstruction[];
  /** Lamports paid to the executor of each execution. */
  feePerExec: Amount;
  /** Lamports beyond rent moved into the thread to pay for executions. */
  deposit: Amount;
  /** Executions per window of slots (default: [`DEFAULT_RATE_LIMIT`]). */
  rateLimit?: RateLimit;
  /** How urgently keepers should run it (default: each keeper's own default). */
  priority?: Priority;
  /**
   * Address lookup tables keepers build executions with (at most 4), for a thread whose
   * accounts do not fit a legacy transaction.
   */
  lookupTables?: readonly PublicKey[];
}

/** A built instruction and the thread it is for. */
export interface Built {
  instruction: TransactionInstruction;
  thread: PublicKey;
}

/** A built instruction that also needs `signers` (a new nonce account's keypair). */
export interface BuiltWithSigners extends Built {
  signers: Keypair[];
}

function createArgs(thread: NewThread, address: PublicKey) {
  return {
    id: threadId(thread.id),
    trigger: thread.trigger,
    instructions: storedInstructions("instructions", address, thread.instructions),
    feePerExec: u64("feePerExec", thread.feePerExec),
    rateLimit: rateLimitData("rateLimit", thread.rateLimit ?? DEFAULT_RATE_LIMIT),
    deposit: u64("deposit", thread.deposit),
    priority: thread.priority === undefined ? null : priorityData("priority", thread.priority),
    lookupTables: lookupTables("lookupTables", thread.lookupTables ?? []),
  };
}

/** At most `MAX_LOOKUP_TABLES` tables, none twice, or an error naming `field`. */
function lookupTables(field: string, tables: readonly PublicKey[]): PublicKey[] {
  if (tables.length > MAX_LOOKUP_TABLES) {
    throw new Error(`${field}: ${tables.length} tables, at most ${MAX_LOOKUP_TABLES}; drop some`);
  }
  tables.forEach((table, index) => {
    if (tables.findIndex((other) => other.equals(table)) !== index) {
      throw new Error(`${field}[${index}]: ${table.toBase58()} is named twice; name each table once`);
    }
  });
  return [...tables];
}

/** The account an `account` or `condition` trigger watches, which the program reads. */
function watchedAccount(trigger: Trigger): PublicKey | undefined {
  return trigger.account?.address ?? trigger.condition?.address;
}

/**
 * The remaining accounts of setting `trigger` and `tables`, as the Rust builders pass
 * them: an `account` or `condition` trigger's watched account, then each table, read-only.
 */
function settingAccounts(trigger: Trigger | undefined, tables: readonly PublicKey[]): AccountMeta[] {
  const watched = trigger === undefined ? undefined : watchedAccount(trigger);
  return [...(watched === undefined ? [] : [watched]), ...tables].map((pubkey) => ({
    pubkey,
    isSigner: false,
    isWritable: false,
  }));
}

/** Most lookup tables one thread may name (the program's `MAX_LOOKUP_TABLES`). */
export const MAX_LOOKUP_TABLES = 4;

/** `create_thread`: a non-durable thread (executions use a recent blockhash). */
export async function createThread(thread: NewThread): Promise<Built> {
  const address = threadAddress(thread.owner, thread.id);
  const instruction = await threadProgram()
    .methods.createThread(createArgs(thread, address))
    .accounts({ owner: thread.owner })
    .remainingAccounts(settingAccounts(thread.trigger, thread.lookupTables ?? []))
    .instruction();
  return { instruction, thread: address };
}

/**
 * `create_thread_with_nonce`: a durable thread with a nonce account the program creates
 * at `nonce` (a fresh keypair unless given), whose keypair must sign. `maxLeaseSlots`:
 * the longest lease of the nonce authority a keeper may hold.
 */
export async function createThreadWithNonce(
  thread: NewThread & { maxLeaseSlots: Amount; nonce?: Keypair },
): Promise<BuiltWithSigners & { nonce: Keypair }> {
  const address = threadAddress(thread.owner, thread.id);
  const nonce = thread.nonce ?? Keypair.generate();
  const instruction = await threadProgram()
    .methods.createThreadWithNonce(
      createArgs(thread, address),
      u64("maxLeaseSlots", thread.maxLeaseSlots),
    )
    .accounts({ owner: thread.owner, nonceAccount: nonce.publicKey })
    .remainingAccounts(settingAccounts(thread.trigger, thread.lookupTables ?? []))
    .instruction();
  return { instruction, thread: address, nonce, signers: [nonce] };
}

/** What `update_thread` changes; a field left out stays as it is. */
export interface ThreadUpdate {
  trigger?: Trigger;
  instructions?: readonly TransactionInstruction[];
  feePerExec?: Amount;
  rateLimit?: RateLimit;
  /** A new priority, or `"default"`: back to each keeper's default. */
  priority?: Priority | "default";
  /** New lookup tables; `[]` removes them all. */
  lookupTables?: readonly PublicKey[];
}

/** `update_thread` of the owner's `thread`. */
export async function updateThread(
  owner: PublicKey,
  thread: PublicKey,
  update: ThreadUpdate,
): Promise<TransactionInstruction> {
  const args = {
    trigger: update.trigger ?? null,
    instructions:
      update.instructions === undefined
        ? null
        : storedInstructions("instructions", thread, update.instructions),
    feePerExec: update.feePerExec === undefined ? null : u64("feePerExec", update.feePerExec),
    rateLimit: update.rateLimit === undefined ? null : rateLimitData("rateLimit", update.rateLimit),
    priority:
      update.priority === undefined || update.priority === "default"
        ? null
        : priorityData("priority", update.priority),
    lookupTables: update.lookupTables === undefined ? null : lookupTables("lookupTables", update.lookupTables),
  };
  const instruction = await threadProgram()
    .methods.updateThread(args)
    .accountsPartial({ owner, thread })
    .remainingAccounts(settingAccounts(update.trigger, update.lookupTables ?? []))
    .instruction();
  if (update.priority === "default") {
    const decoded = decodeInstructionData(instruction.data)!;
    (decoded.data["args"] as Record<string, unknown>)["priority"] = "default";
    instruction.data = encodeInstructionData(decoded);
  }
  return instruction;
}

/**
 * A piece of a paused thread's stored instructions: a new instruction, or more accounts
 * and data for the last one. For a list too large for one transaction: create the thread
 * with the first piece and pause it in the same transaction, append the rest, resume it
 * (the Rust client's `create_in_pieces` plans this).
 */
export type InstructionPiece =
  | { instruction: TransactionInstruction }
  | { continuation: { keys: AccountMeta[]; data: Uint8Array } };

/** `append_thread_instruction`: `piece` of a paused thread's stored instructions. */
export async function appendThreadInstruction(
  owner: PublicKey,
  thread: PublicKey,
  piece: InstructionPiece,
): Promise<TransactionInstruction> {
  const data =
    "instruction" in piece
      ? { instruction: { instruction: storedInstructions("piece.instruction", thread, [piece.instruction])[0] } }
      : {
          continuation: {
            accounts: storedAccounts("piece.continuation.keys", thread, piece.continuation.keys),
            data: Buffer.from(piece.continuation.data),
          },
        };
  return threadProgram().methods.appendThreadInstruction(data).accountsPartial({ owner, thread }).instruction();
}

/** `pause_thread`: the thread is never due until resumed. */
export async function pauseThread(owner: PublicKey, thread: PublicKey): Promise<TransactionInstruction> {
  return threadProgram().methods.pauseThread().accountsPartial({ owner, thread }).instruction();
}

/** `resume_thread`. */
export async function resumeThread(owner: PublicKey, thread: PublicKey): Promise<TransactionInstruction> {
  return threadProgram().methods.resumeThread().accountsPartial({ owner, thread }).instruction();
}

/** `withdraw_thread`: `amount` lamports of the thread's spare balance to the owner. */
export async function withdrawThread(
  owner: PublicKey,
  thread: PublicKey,
  amount: Amount,
): Promise<TransactionInstruction> {
  return threadProgram()
    .methods.withdrawThread(u64("amount", amount))
    .accountsPartial({ owner, thread })
    .instruction();
}

/**
 * `delete_thread`: closes the thread, and a durable thread's `nonceAccount`, to the
 * owner. A thread whose lease is held needs its `leaseHolder`, who gets the bond back.
 */
export async function deleteThread(
  owner: PublicKey,
  thread: PublicKey,
  { nonceAccount = null, leaseHolder = null }: { nonceAccount?: PublicKey | null; leaseHolder?: PublicKey | null } = {},
): Promise<TransactionInstruction> {
  return threadProgram()
    .methods.deleteThread()
    .accountsPartial({ owner, thread, nonceAccount, leaseHolder })
    .instruction();
}

/** `make_thread_durable`: the program creates a nonce account at `nonce` (fresh unless given). */
export async function makeThreadDurable(
  owner: PublicKey,
  thread: PublicKey,
  { maxLeaseSlots, nonce = Keypair.generate() }: { maxLeaseSlots: Amount; nonce?: Keypair },
): Promise<BuiltWithSigners & { nonce: Keypair }> {
  const instruction = await threadProgram()
    .methods.makeThreadDurable(u64("maxLeaseSlots", maxLeaseSlots))
    .accountsPartial({ owner, thread, nonceAccount: nonce.publicKey })
    .instruction();
  return { instruction, thread, nonce, signers: [nonce] };
}

/** `make_thread_non_durable`: closes the thread's `nonceAccount` to the owner. */
export async function makeThreadNonDurable(
  owner: PublicKey,
  thread: PublicKey,
  nonceAccount: PublicKey,
): Promise<TransactionInstruction> {
  return threadProgram()
    .methods.makeThreadNonDurable()
    .accountsPartial({ owner, thread, nonceAccount })
    .instruction();
}

/** `rotate_thread_nonce`: a new nonce account at `newNonce` (fresh unless given) replaces the old one. */
export async function rotateThreadNonce(
  owner: PublicKey,
  thread: PublicKey,
  { oldNonceAccount, newNonce = Keypair.generate() }: { oldNonceAccount: PublicKey; newNonce?: Keypair },
): Promise<BuiltWithSigners & { nonce: Keypair }> {
  const instruction = await threadProgram()
    .methods.rotateThreadNonce()
    .accountsPartial({ owner, thread, oldNonceAccount, newNonceAccount: newNonce.publicKey })
    .instruction();
  return { instruction, thread, nonce: newNonce, signers: [newNonce] };
}

/** `revoke_lease`: ends the current holder's lease early (it keeps a grace window). */
export async function revokeLease(owner: PublicKey, thread: PublicKey): Promise<TransactionInstruction> {
  return threadProgram().methods.revokeLease().accountsPartial({ owner, thread }).instruction();
}

// ---------------------------------------------------------------------------------------
// What keepers send
// ---------------------------------------------------------------------------------------

/**
 * An execution of `thread` (decoded as `state`) by `executor`. A durable thread's is the
 * advance of its nonce (the executor must hold its lease, and so the nonce authority)
 * then `exec_thread` with the instructions sysvar; the transaction is signed on the
 * nonce's value as its blockhash.
 */
export async function execThread(
  executor: PublicKey,
  thread: PublicKey,
  state: ThreadAccount,
): Promise<TransactionInstruction[]> {
  const nonce = state.durability.durable?.nonceAccount;
  const exec = await threadProgram()
    .methods.execThread()
    .accountsPartial({
      executor,
      thread,
      instructionsSysvar: nonce === undefined ? null : SYSVAR_INSTRUCTIONS_PUBKEY,
    })
    .remainingAccounts(executionAccounts(executor, thread, state))
    .instruction();
  if (nonce === undefined) return [exec];
  return [SystemProgram.nonceAdvance({ noncePubkey: nonce, authorizedPubkey: executor }), exec];
}

/**
 * The remaining accounts of an execution: each stored instruction's accounts (never as
 * signers: the thread's signature is the program's to give) and program id, then an
 * `account` or `condition` trigger's watched account, then what a `close` answer needs (the owner,
 * writable; a durable thread's nonce account, writable, and the system program); each
 * once, writable if any use writes it, and without the thread and the executor, which
 * are fixed accounts already.
 */
export function executionAccounts(
  executor: PublicKey,
  thread: PublicKey,
  state: ThreadAccount,
): AccountMeta[] {
  const metas: AccountMeta[] = [];
  const push = (pubkey: PublicKey, isWritable: boolean) => {
    if (pubkey.equals(thread) || pubkey.equals(executor)) return;
    const existing = metas.find((meta) => meta.pubkey.equals(pubkey));
    if (existing) existing.isWritable ||= isWritable;
    else metas.push({ pubkey, isSigner: false, isWritable });
  };
  for (const stored of state.instructions) {
    for (const meta of stored.accounts) push(meta.pubkey, meta.isWritable);
    push(stored.programId, false);
  }
  const watched = watchedAccount(state.trigger);
  if (watched !== undefined) push(watched, false);
  // What a `close` answer pays or hands on: a thread's answer is not known before it runs.
  push(state.owner, true);
  const nonce = state.durability.durable?.nonceAccount;
  if (nonce !== undefined) {
    push(nonce, true);
    push(SystemProgram.programId, false);
  }
  return metas;
}

/** `claim_lease`: `keeper` takes the nonce authority for `slots` slots, posting `bond`. */
export async function claimLease(
  keeper: PublicKey,
  thread: PublicKey,
  nonceAccount: PublicKey,
  { slots, bond }: { slots: Amount; bond: Amount },
): Promise<TransactionInstruction> {
  return threadProgram()
    .methods.claimLease(u64("slots", slots), u64("bond", bond))
    .accountsPartial({ keeper, thread, nonceAccount })
    .instruction();
}

/** `renew_lease`: the holder extends its live lease to `slots` slots from now. */
export async function renewLease(
  keeper: PublicKey,
  thread: PublicKey,
  nonceAccount: PublicKey,
  slots: Amount,
): Promise<TransactionInstruction> {
  return threadProgram()
    .methods.renewLease(u64("slots", slots))
    .accountsPartial({ keeper, thread, nonceAccount })
    .instruction();
}

/**
 * `release_lease` of `holder`'s lease by `caller` (the holder any time, anyone once it
 * expired or was revoked), preceded, when the caller still holds the nonce authority, by
 * handing it back to the thread: the bond comes back exactly when the authority does.
 */
export async function releaseLease(
  caller: PublicKey,
  thread: PublicKey,
  holder: PublicKey,
  nonceAccount: PublicKey,
  { authorityIsCaller }: { authorityIsCaller: boolean },
): Promise<TransactionInstruction[]> {
  const release = await threadProgram()
    .methods.releaseLease()
    .accountsPartial({ caller, thread, holder, nonceAccount })
    .instruction();
  if (!authorityIsCaller) return [release];
  const handBack = SystemProgram.nonceAuthorize({
    noncePubkey: nonceAccount,
    authorizedPubkey: caller,
    newAuthorizedPubkey: thread,
  });
  return [handBack, release];
}

/**
 * `forfeit_lease` of an expired lease whose holder kept the authority: the bond pays the
 * thread's `owner` and the thread moves to a new nonce account at `newNonce`.
 */
export async function forfeitLease(
  caller: PublicKey,
  thread: PublicKey,
  owner: PublicKey,
  { oldNonceAccount, newNonce = Keypair.generate() }: { oldNonceAccount: PublicKey; newNonce?: Keypair },
): Promise<BuiltWithSigners & { nonce: Keypair }> {
  const instruction = await threadProgram()
    .methods.forfeitLease()
    .accountsPartial({ caller, thread, owner, oldNonceAccount, newNonceAccount: newNonce.publicKey })
    .instruction();
  return { instruction, thread, nonce: newNonce, signers: [newNonce] };
}
