// The program as this SDK sees it: its id, its IDL (the committed idl/thread.json, copied
// in at build time) and an Anchor client over it.
//
// Owns: loading the IDL once and the Anchor `Program` every builder and decoder uses.
// Must not: sign or send; a connection is only needed to fetch accounts.
import anchor from "@anchor-lang/core";
import type { IdlAccounts, IdlEvents, IdlTypes, Program } from "@anchor-lang/core";
import { Connection, PublicKey } from "@solana/web3.js";

import idlJson from "./idl/thread.json" with { type: "json" };
import type { Thread as ThreadIdl } from "./idl/thread-type.js";

export type { ThreadIdl };

/** The IDL as the Anchor client takes it (snake_case JSON; the client camelCases it). */
export const IDL = idlJson as unknown as ThreadIdl;

/** The thread program's address, from the IDL. */
export const THREAD_PROGRAM_ID = new PublicKey(idlJson.address);

/** The Anchor client of the thread program. */
export type ThreadProgram = Program<ThreadIdl>;

/** The program's types as the Anchor client encodes and decodes them (camelCase, BN). */
export type ThreadTypes = IdlTypes<ThreadIdl>;
/** A decoded `Thread` account. */
export type ThreadAccount = IdlAccounts<ThreadIdl>["thread"];
/** The program's events, by name. */
export type ThreadEvents = IdlEvents<ThreadIdl>;

// Building an instruction never touches the network: resolution uses only the IDL and
// the accounts passed. This address is never dialled.
const OFFLINE = new Connection("http://127.0.0.1:9");

let offline: ThreadProgram | undefined;

/**
 * The Anchor client of the thread program over `connection` (for fetching accounts and
 * simulating); without one, an offline client that only builds and decodes.
 */
export function threadProgram(connection?: Connection): ThreadProgram {
  if (connection === undefined) {
    offline ??= new anchor.Program<ThreadIdl>(IDL, { connection: OFFLINE });
    return offline;
  }
  return new anchor.Program<ThreadIdl>(IDL, { connection });
}
