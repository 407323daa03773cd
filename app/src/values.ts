// The values a caller hands the builders: triggers, priorities, amounts and the
// instructions a thread stores, in the shapes the Anchor client encodes.
//
// Owns: turning friendly inputs (a Date, a bigint, a web3 `TransactionInstruction`) into
// those shapes, and refusing, by field, what the program would refuse anyway.
// Must not: build program instructions (instructions.ts does).
import anchor from "@anchor-lang/core";
import type { BN as BNType } from "@anchor-lang/core";
import { PublicKey, TransactionInstruction } from "@solana/web3.js";

import type { ThreadTypes } from "./program.js";

const { BN } = anchor;

export type Trigger = ThreadTypes["trigger"];
export type ValueSourceData = ThreadTypes["valueSource"];
export type Due = ThreadTypes["due"];
export type ThreadInstructionData = ThreadTypes["threadInstruction"];
export type RateLimitData = ThreadTypes["rateLimit"];
export type PriorityData = ThreadTypes["threadPriority"];

/** An integer amount: lamports, seconds, slots. */
export type Amount = number | bigint | BNType | string;

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const U32_MAX = 0xffff_ffff;
/** Widths a `ValueSource.integer` reads, in bytes (`condition::INTEGER_WIDTHS`). */
const INTEGER_WIDTHS = [1, 2, 4, 8];
/** Largest magnitude of a price condition's exponent (`condition::MAX_EXPONENT`). */
const MAX_EXPONENT = 18;

function toBigInt(field: string, value: Amount): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new RangeError(`${field}: ${value} is not a whole number within 2^53; pass a bigint`);
    }
    return BigInt(value);
  }
  if (typeof value === "string") {
    if (!/^-?\d+$/.test(value)) throw new RangeError(`${field}: "${value}" is not a whole number`);
    return BigInt(value);
  }
  return BigInt(value.toString());
}

/** `value` as a u64 for the Anchor client; throws naming `field` when out of range. */
export function u64(field: string, value: Amount): BNType {
  const n = toBigInt(field, value);
  if (n < 0n || n > U64_MAX) throw new RangeError(`${field}: ${n} is outside 0..2^64-1`);
  return new BN(n.toString());
}

/** `value` as an i64 for the Anchor client; throws naming `field` when out of range. */
export function i64(field: string, value: Amount): BNType {
  const n = toBigInt(field, value);
  if (n < I64_MIN || n > I64_MAX) throw new RangeError(`${field}: ${n} is outside the i64 range`);
  return new BN(n.toString());
}

/** `value` as a u32; throws naming `field` when out of range. */
export function u32(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new RangeError(`${field}: ${value} is outside 0..2^32-1`);
  }
  return value;
}

function unixSeconds(field: string, at: Date | Amount): BNType {
  if (at instanceof Date) {
    const ms = at.getTime();
    if (Number.isNaN(ms)) throw new RangeError(`${field}: an invalid Date`);
    return new BN(Math.floor(ms / 1000));
  }
  return i64(field, at);
}

/** Builders of every trigger kind. */
export const Trigger = {
  /** Due once, as soon as created. */
  now: (): Trigger => ({ now: {} }),
  /** Due once, at `at` (a Date, or unix seconds). */
  timestamp: (at: Date | Amount): Trigger => ({ timestamp: { unixTs: unixSeconds("trigger.timestamp", at) } }),
  /** Due every `seconds`; `skippable`: missed runs are skipped rather than caught up. */
  interval: (seconds: Amount, { skippable = false } = {}): Trigger => {
    const s = i64("trigger.interval.seconds", seconds);
    if (s.lten(0)) throw new RangeError("trigger.interval.seconds: must be at least 1");
    return { interval: { seconds: s, skippable } };
  },
  /**
   * Due on a cron schedule in UTC: 5 fields (minute first), 6 (seconds first) or 7 (with
   * the year), as the program parses it; `jitter`: up to that many seconds later.
   */
  cron: (schedule: string, { skippable = false, jitter = 0 } = {}): Trigger => {
    const fields = schedule.trim().split(/\s+/).filter(Boolean).length;
    if (fields < 5 || fields > 7) {
      throw new RangeError(
        `trigger.cron.schedule: "${schedule}" has ${fields} fields; write 5 (min hour day month weekday), ` +
          '6 (seconds first, e.g. "0 */5 * * * *") or 7 (with the year)',
      );
    }
    return { cron: { schedule, skippable, jitter: u32("trigger.cron.jitter", jitter) } };
  },
  /** Due once, at slot `slot`. */
  slot: (slot: Amount): Trigger => ({ slot: { slot: u64("trigger.slot", slot) } }),
  /** Due once, at the start of epoch `epoch`. */
  epoch: (epoch: Amount): Trigger => ({ epoch: { epoch: u64("trigger.epoch", epoch) } }),
  /** Due whenever `size` bytes at `offset` of the account at `address` change. */
  account: (address: PublicKey, { offset = 0, size }: { offset?: number; size: number }): Trigger => ({
    account: {
      address,
      offset: u32("trigger.account.offset", offset),
      size: u32("trigger.account.size", size),
    },
  }),
  /**
   * Due when the value `source` reads from the account at `address` compares to
   * `threshold` as `comparison` says: `atLeast`/`atMost` while it holds (paced by the rate
   * limit), `crossesAbove`/`crossesBelow` once per crossing.
   */
  condition: (address: PublicKey, source: ValueSourceData, comparison: Comparison, threshold: Amount): Trigger => {
    if (!COMPARISONS.includes(comparison)) {
      throw new RangeError(`trigger.condition.comparison: "${comparison}"; use one of ${COMPARISONS.join(", ")}`);
    }
    return {
      condition: {
        address,
        source,
        comparison: { [comparison]: {} } as ThreadTypes["comparison"],
        threshold: i64("trigger.condition.threshold", threshold),
      },
    };
  },
};

/** How a `condition` trigger compares its value with the threshold. */
export type Comparison = "atLeast" | "atMost" | "crossesAbove" | "crossesBelow";

const COMPARISONS: readonly Comparison[] = ["atLeast", "atMost", "crossesAbove", "crossesBelow"];

/** Where a `condition` trigger reads its value. */
export const ValueSource = {
  /**
   * A little-endian integer of `width` bytes (1, 2, 4 or 8; default 8) at `offset` of the
   * account's data, two's complement when `signed`: a token amount, a vault's health.
   */
  integer: ({ offset = 0, width = 8, signed = false }: { offset?: number; width?: number; signed?: boolean } = {}): ValueSourceData => {
    if (!INTEGER_WIDTHS.includes(width)) {
      throw new RangeError(`trigger.condition.source.width: ${width}; an integer is 1, 2, 4 or 8 bytes wide`);
    }
    return { integer: { offset: u32("trigger.condition.source.offset", offset), width, signed } };
  },
  /**
   * The price of a Pyth `PriceUpdateV2` account (owned by the Pyth receiver, fully
   * verified) of `feedId` (32 bytes, or 64 hex digits with or without `0x`); the
   * threshold counts in units of `10^exponent`; a price older than `maxAgeSecs` (default
   * 60) is refused.
   */
  pythPrice: (
    feedId: Uint8Array | string,
    { exponent, maxAgeSecs = 60 }: { exponent: number; maxAgeSecs?: number },
  ): ValueSourceData => {
    if (!Number.isInteger(exponent) || Math.abs(exponent) > MAX_EXPONENT) {
      throw new RangeError(`trigger.condition.source.exponent: ${exponent} is outside -${MAX_EXPONENT}..${MAX_EXPONENT}`);
    }
    if (u32("trigger.condition.source.maxAgeSecs", maxAgeSecs) < 1) {
      throw new RangeError("trigger.condition.source.maxAgeSecs: must be at least 1");
    }
    return { pythPrice: { feedId: feedIdBytes(feedId), exponent, maxAgeSecs } };
  },
};

function feedIdBytes(feedId: Uint8Array | string): number[] {
  const bytes =
    typeof feedId === "string"
      ? /^(0x)?[0-9a-fA-F]{64}$/.test(feedId)
        ? Buffer.from(feedId.replace(/^0x/, ""), "hex")
        : undefined
      : feedId;
  if (bytes === undefined || bytes.length !== 32) {
    throw new RangeError("trigger.condition.source.feedId: a feed id is 32 bytes (64 hex digits)");
  }
  return [...bytes];
}

/** An owner's priority for a thread's executions. */
export type Priority = "low" | "medium" | "high" | "critical";

const PRIORITIES: readonly Priority[] = ["low", "medium", "high", "critical"];

/** `priority` as the Anchor client encodes it; throws for a name it does not know. */
export function priorityData(field: string, priority: Priority): PriorityData {
  if (!PRIORITIES.includes(priority)) {
    throw new RangeError(`${field}: "${priority}"; use one of ${PRIORITIES.join(", ")}`);
  }
  return { [priority]: {} } as PriorityData;
}

/** The name of a decoded priority. */
export function priorityName(data: PriorityData): Priority {
  const name = Object.keys(data)[0] as Priority | undefined;
  if (name === undefined || !PRIORITIES.includes(name)) {
    throw new RangeError(`priority: unknown variant ${JSON.stringify(data)}`);
  }
  return name;
}

/** Executions allowed per window of slots. */
export interface RateLimit {
  maxExecs: number;
  windowSlots: Amount;
}

/** `rateLimit` for the Anchor client; both parts at least 1. */
export function rateLimitData(field: string, rateLimit: RateLimit): RateLimitData {
  const maxExecs = u32(`${field}.maxExecs`, rateLimit.maxExecs);
  const windowSlots = u64(`${field}.windowSlots`, rateLimit.windowSlots);
  if (maxExecs < 1) throw new RangeError(`${field}.maxExecs: must be at least 1`);
  if (windowSlots.ltn(1)) throw new RangeError(`${field}.windowSlots: must be at least 1`);
  return { maxExecs, windowSlots };
}

/**
 * The instructions a thread stores, from web3 `TransactionInstruction`s. Only the thread
 * PDA's signature is supplied by the program: an instruction naming any other signer
 * could never run, so it is refused here, naming the account.
 */
export function storedInstructions(
  field: string,
  thread: PublicKey,
  instructions: readonly TransactionInstruction[],
): ThreadInstructionData[] {
  if (instructions.length === 0) {
    throw new RangeError(`${field}: a thread stores at least one instruction`);
  }
  return instructions.map((ix, i) => ({
    programId: ix.programId,
    accounts: storedAccounts(`${field}[${i}].keys`, thread, ix.keys),
    data: Buffer.from(ix.data),
  }));
}

/** The accounts of a stored instruction; throws naming `field` for a signer other than the thread. */
export function storedAccounts(
  field: string,
  thread: PublicKey,
  keys: readonly { pubkey: PublicKey; isSigner: boolean; isWritable: boolean }[],
): ThreadInstructionData["accounts"] {
  return keys.map((meta, j) => {
    if (meta.isSigner && !meta.pubkey.equals(thread)) {
      throw new RangeError(
        `${field}[${j}]: ${meta.pubkey.toBase58()} is a signer, but only the thread ` +
          `(${thread.toBase58()}) can sign a stored instruction; make that account the thread or not a signer`,
      );
    }
    return { pubkey: meta.pubkey, isSigner: meta.isSigner, isWritable: meta.isWritable };
  });
}
