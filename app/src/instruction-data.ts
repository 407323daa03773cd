// Instruction data, decoded and encoded without building an instruction: for reading
// what a transaction asked the program to do, or checking a layout.
//
// Owns: the one argument the Anchor client cannot round-trip, `update_thread`'s
// `priority: Some(None)` (reset to the keepers' default), which reads and writes here as
// the string "default". Must not: resolve accounts.
import type { BorshInstructionCoder } from "@anchor-lang/core";

import { threadProgram } from "./program.js";

/** A decoded instruction: its camelCase name and arguments. */
export interface DecodedInstruction {
  name: string;
  data: Record<string, unknown>;
}

const UPDATE_THREAD = "updateThread";

/** Decodes a thread program instruction's data; `null` when it is none of the program's. */
export function decodeInstructionData(data: Buffer | Uint8Array): DecodedInstruction | null {
  const bytes = Buffer.from(data);
  const coder = threadProgram().coder.instruction as BorshInstructionCoder;
  const decoded = coder.decode(bytes) as DecodedInstruction | null;
  if (decoded === null || decoded.name !== UPDATE_THREAD) return decoded;
  const args = decoded.data["args"] as Record<string, unknown>;
  // The coder reads Some(None) as null, as it reads None: the re-encoding is one byte
  // short exactly when the priority byte pair was `1, 0`.
  if (args["priority"] === null && coder.encode(UPDATE_THREAD, decoded.data).length === bytes.length - 1) {
    args["priority"] = "default";
  }
  return decoded;
}

/** Encodes `instruction` as the program reads it (the inverse of `decodeInstructionData`). */
export function encodeInstructionData(instruction: DecodedInstruction): Buffer {
  const coder = threadProgram().coder.instruction;
  if (instruction.name !== UPDATE_THREAD) return coder.encode(instruction.name, instruction.data);
  const args = instruction.data["args"] as Record<string, unknown>;
  if (args["priority"] !== "default") return coder.encode(UPDATE_THREAD, instruction.data);
  // The priority's byte sits just before the fields after it (`lookup_tables`): found
  // from an encoding with both absent, where it is the last byte but one.
  const bare = coder.encode(UPDATE_THREAD, {
    ...instruction.data,
    args: { ...args, priority: null, lookupTables: null },
  });
  const at = bare.length - 2;
  const absent = coder.encode(UPDATE_THREAD, { ...instruction.data, args: { ...args, priority: null } });
  return Buffer.concat([absent.subarray(0, at), Buffer.from([1, 0]), absent.subarray(at + 1)]);
}
