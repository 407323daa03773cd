// The `Thread` account: decode and encode its bytes, read it as an owner wants to see it
// (next due time as a date, lease, durability, balance and runway), and fetch it.
//
// Owns: the account's layout through the IDL, the owner filter of a listing, and the
// balance rules (`Thread::reserve`: rent at the account's size plus a held lease's bond;
// the rest pays fees). Must not: build instructions or send.
import anchor from "@anchor-lang/core";
import type { AccountInfo, Commitment, Connection, PublicKey } from "@solana/web3.js";

import { IDL, THREAD_PROGRAM_ID, threadProgram, type ThreadAccount } from "./program.js";
import { priorityName, type Priority, type Trigger } from "./values.js";

const ACCOUNT_NAME = "thread";
/** Byte offset of `owner` in the account: discriminator (8), version (1), bump (1). */
export const THREAD_OWNER_OFFSET = 10;

/** The account discriminator of `Thread`, from the IDL. */
export const THREAD_DISCRIMINATOR = Buffer.from(
  IDL.accounts.find((account) => account.name.toLowerCase() === ACCOUNT_NAME)!.discriminator,
);

/** Decodes a `Thread` account's data; throws when the data is not a thread. */
export function decodeThread(data: Buffer | Uint8Array): ThreadAccount {
  const bytes = Buffer.from(data);
  if (!bytes.subarray(0, 8).equals(THREAD_DISCRIMINATOR)) {
    throw new Error("not a Thread account: its first 8 bytes are not the Thread discriminator");
  }
  return threadProgram().coder.accounts.decode<ThreadAccount>(ACCOUNT_NAME, bytes);
}

// The layout Anchor's coder keeps per account. Its own `encode` writes into a fixed
// 1,000-byte buffer, and a thread storing instructions can be larger than that.
interface Layout {
  encode(value: unknown, buffer: Buffer, offset?: number): number;
}

/**
 * Encodes `account` as the program stores it: discriminator, then the fields; padded with
 * zeros to `space` bytes when given (an account is allocated for its largest trigger and
 * id, so its data ends in unused zeros).
 */
export function encodeThread(account: ThreadAccount, space?: number): Buffer {
  const layouts = (threadProgram().coder.accounts as unknown as { accountLayouts: Map<string, { layout: Layout }> })
    .accountLayouts;
  const layout = layouts.get(ACCOUNT_NAME)?.layout;
  if (layout === undefined) throw new Error("the IDL has no Thread account layout");
  const buffer = Buffer.alloc(64 * 1024);
  const length = layout.encode(account, buffer);
  const encoded = Buffer.concat([THREAD_DISCRIMINATOR, buffer.subarray(0, length)]);
  if (space === undefined) return encoded;
  if (encoded.length > space) {
    throw new RangeError(`the thread encodes to ${encoded.length} bytes, more than space ${space}`);
  }
  return Buffer.concat([encoded, Buffer.alloc(space - encoded.length)]);
}

/** When a thread is next due. */
export type NextDue =
  | { kind: "immediately" }
  | { kind: "at"; at: Date; unixTs: bigint }
  | { kind: "atSlot"; slot: bigint }
  | { kind: "atEpoch"; epoch: bigint }
  | { kind: "onChange"; lastHash: Buffer }
  /**
   * A `condition` trigger: due when its comparison is met. A crossing that is not
   * `armed` must first see its value back on the far side of the threshold (a run that
   * only re-arms it, fee paid) before it can fire again.
   */
  | { kind: "onCondition"; armed: boolean }
  | { kind: "never" };

/** The keeper holding a durable thread's nonce authority. */
export interface LeaseView {
  holder: PublicKey;
  claimedSlot: bigint;
  expiresSlot: bigint;
  bond: bigint;
  revokedSlot: bigint | null;
  /** Whether the holder may still execute and renew at the slot the view was read at. */
  live: boolean;
}

/** A thread as its owner reads it. */
export interface ThreadView {
  address: PublicKey;
  owner: PublicKey;
  id: Buffer;
  /** The id as text, when it is printable UTF-8. */
  idText: string | null;
  trigger: Trigger;
  nextDue: NextDue;
  paused: boolean;
  execCount: bigint;
  lastExecAt: Date | null;
  createdAt: Date;
  feePerExec: bigint;
  rateLimit: { maxExecs: number; windowSlots: bigint };
  /** The owner's priority; `null`: each keeper's default. */
  priority: Priority | null;
  durable: boolean;
  nonceAccount: PublicKey | null;
  maxLeaseSlots: bigint;
  lease: LeaseView | null;
  /** Address lookup tables keepers build its executions with. */
  lookupTables: PublicKey[];
  /** Lamports in the account. */
  balance: bigint;
  /** Lamports the account must keep: rent at its size plus a held lease's bond. */
  reserved: bigint;
  /** Lamports that pay fees. */
  spare: bigint;
  /**
   * What `withdraw_thread` may take: `spare` less one execution's fee while the thread
   * is active (`Thread::withdrawable`); pausing first frees that fee.
   */
  withdrawable: bigint;
  /** Executions the spare balance still pays for; `null` when the fee is zero. */
  runway: bigint | null;
  /** The decoded account, as the Anchor client reads it. */
  account: ThreadAccount;
}

const big = (value: { toString(): string }): bigint => BigInt(value.toString());

function nextDueOf(due: ThreadAccount["nextDue"]): NextDue {
  if (due.at) {
    const unixTs = big(due.at.unixTs);
    return { kind: "at", at: new Date(Number(unixTs) * 1000), unixTs };
  }
  if (due.atSlot) return { kind: "atSlot", slot: big(due.atSlot.slot) };
  if (due.atEpoch) return { kind: "atEpoch", epoch: big(due.atEpoch.epoch) };
  if (due.onChange) return { kind: "onChange", lastHash: Buffer.from(due.onChange.lastHash) };
  if (due.onCondition) return { kind: "onCondition", armed: due.onCondition.armed };
  if (due.never) return { kind: "never" };
  if (due.immediately) return { kind: "immediately" };
  throw new RangeError(`nextDue: unknown variant ${JSON.stringify(Object.keys(due))}; update the SDK`);
}

function printable(id: Buffer): string | null {
  const text = id.toString("utf8");
  return Buffer.from(text, "utf8").equals(id) && !/[\u0000-\u001f\u007f]/.test(text) ? text : null;
}

/**
 * `account` (the thread at `address`) as its owner reads it. `rentExemptMinimum`: the
 * rent-exempt minimum for the account's data length; `slot`: the slot it was read at
 * (for whether its lease is live).
 */
export function threadView(
  address: PublicKey,
  account: AccountInfo<Buffer>,
  { rentExemptMinimum, slot }: { rentExemptMinimum: number | bigint; slot: number | bigint },
): ThreadView {
  const state = decodeThread(account.data);
  const lease = state.lease
    ? {
        holder: state.lease.holder,
        claimedSlot: big(state.lease.claimedSlot),
        expiresSlot: big(state.lease.expiresSlot),
        bond: big(state.lease.bond),
        revokedSlot: state.lease.revokedSlot === null ? null : big(state.lease.revokedSlot),
        live: false,
      }
    : null;
  if (lease) lease.live = lease.revokedSlot === null && BigInt(slot) < lease.expiresSlot;
  const balance = BigInt(account.lamports);
  const reserved = BigInt(rentExemptMinimum) + (lease?.bond ?? 0n);
  const spare = balance > reserved ? balance - reserved : 0n;
  const feePerExec = big(state.feePerExec);
  const runningFee = state.paused ? 0n : feePerExec;
  const withdrawable = spare > runningFee ? spare - runningFee : 0n;
  const lastExecAt = big(state.lastExecAt);
  const nonceAccount = state.durability.durable?.nonceAccount ?? null;
  const id = Buffer.from(state.id);
  return {
    address,
    owner: state.owner,
    id,
    idText: printable(id),
    trigger: state.trigger,
    nextDue: nextDueOf(state.nextDue),
    paused: state.paused,
    execCount: big(state.execCount),
    lastExecAt: lastExecAt === 0n ? null : new Date(Number(lastExecAt) * 1000),
    createdAt: new Date(Number(big(state.createdAt)) * 1000),
    feePerExec,
    rateLimit: { maxExecs: state.rateLimit.maxExecs, windowSlots: big(state.rateLimit.windowSlots) },
    priority: state.priority === null ? null : priorityName(state.priority),
    durable: nonceAccount !== null,
    nonceAccount,
    maxLeaseSlots: big(state.maxLeaseSlots),
    lease,
    lookupTables: state.lookupTables,
    balance,
    reserved,
    spare,
    withdrawable,
    runway: feePerExec === 0n ? null : spare / feePerExec,
    account: state,
  };
}

/** The thread at `address`, read at `commitment`; `null` when no account is there. */
export async function fetchThread(
  connection: Connection,
  address: PublicKey,
  commitment: Commitment = "confirmed",
): Promise<ThreadView | null> {
  const { context, value } = await connection.getAccountInfoAndContext(address, commitment);
  if (value === null) return null;
  if (!value.owner.equals(THREAD_PROGRAM_ID)) {
    throw new Error(`${address.toBase58()} is owned by ${value.owner.toBase58()}, not the thread program`);
  }
  const rentExemptMinimum = await connection.getMinimumBalanceForRentExemption(value.data.length, commitment);
  return threadView(address, value, { rentExemptMinimum, slot: context.slot });
}

/** Every thread of `owner`, by a `getProgramAccounts` filtered on the node. */
export async function fetchThreadsByOwner(
  connection: Connection,
  owner: PublicKey,
  commitment: Commitment = "confirmed",
): Promise<ThreadView[]> {
  const [accounts, slot] = await Promise.all([
    connection.getProgramAccounts(THREAD_PROGRAM_ID, {
      commitment,
      filters: [
        { memcmp: { offset: 0, bytes: anchor.utils.bytes.bs58.encode(THREAD_DISCRIMINATOR) } },
        { memcmp: { offset: THREAD_OWNER_OFFSET, bytes: owner.toBase58() } },
      ],
    }),
    connection.getSlot(commitment),
  ]);
  const rents = new Map<number, number>();
  const views: ThreadView[] = [];
  for (const { pubkey, account } of accounts) {
    const length = account.data.length;
    if (!rents.has(length)) {
      rents.set(length, await connection.getMinimumBalanceForRentExemption(length, commitment));
    }
    views.push(threadView(pubkey, account, { rentExemptMinimum: rents.get(length)!, slot }));
  }
  return views;
}
