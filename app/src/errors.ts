// The program's errors, by code: the IDL's own (6000 and up) and Anchor's (below 6000),
// and finding the code in whatever a failed send or confirmation hands back.
//
// Owns: code -> name and message, and reading a code out of a transaction error, a
// `SendTransactionError`'s logs or message, or an `AnchorError`. Must not: retry or send.
import anchor from "@anchor-lang/core";

import { IDL } from "./program.js";

/** A program error: its code, name and message. */
export interface ThreadErrorInfo {
  code: number;
  name: string;
  msg: string;
}

/** The thread program's own errors, from the IDL. */
export const THREAD_ERRORS: ReadonlyMap<number, ThreadErrorInfo> = new Map(
  (IDL.errors ?? []).map((error) => [error.code, { code: error.code, name: error.name, msg: error.msg ?? "" }]),
);

const ANCHOR_ERROR_NAMES = new Map<number, string>(
  Object.entries(anchor.LangErrorCode).map(([name, code]) => [code as number, name]),
);

/** The error with `code`: the program's, or Anchor's (account constraints and the like). */
export function threadErrorByCode(code: number): ThreadErrorInfo | null {
  const own = THREAD_ERRORS.get(code);
  if (own) return own;
  const name = ANCHOR_ERROR_NAMES.get(code);
  if (name === undefined) return null;
  return { code, name: name.charAt(0).toUpperCase() + name.slice(1), msg: anchor.LangErrorMessage.get(code) ?? "" };
}

/** A program error found in a failure, with the instruction that raised it when known. */
export interface ThreadFailure extends ThreadErrorInfo {
  instructionIndex: number | null;
}

/**
 * The program error in `failure`: a `TransactionError` (`{ InstructionError: [i,
 * { Custom: code }] }`, as a confirmation or `meta.err` reports it), a
 * `SendTransactionError` (its logs, then its message), an `AnchorError`, or log lines.
 * `null` when there is none (a failure of the network, a signature, the fee payer's
 * balance...), so the caller reports the failure as it is.
 */
export function parseThreadError(failure: unknown): ThreadFailure | null {
  if (failure === null || failure === undefined) return null;
  if (Array.isArray(failure)) return fromLogs(failure.map(String));
  if (typeof failure === "string") return fromText(failure, null);
  if (typeof failure !== "object") return null;
  const object = failure as Record<string, unknown>;
  const custom = fromTransactionError(object["InstructionError"] ?? (object["err"] as Record<string, unknown> | undefined)?.["InstructionError"]);
  if (custom) return custom;
  const anchorCode = (object["error"] as { errorCode?: { number?: unknown } } | undefined)?.errorCode?.number;
  if (typeof anchorCode === "number") return withIndex(threadErrorByCode(anchorCode), null);
  const logs = object["logs"] ?? object["transactionLogs"];
  if (Array.isArray(logs)) {
    const fromLogLines = fromLogs(logs.map(String));
    if (fromLogLines) return fromLogLines;
  }
  return typeof object["message"] === "string" ? fromText(object["message"], null) : null;
}

function withIndex(info: ThreadErrorInfo | null, instructionIndex: number | null): ThreadFailure | null {
  return info === null ? null : { ...info, instructionIndex };
}

function fromTransactionError(instructionError: unknown): ThreadFailure | null {
  if (!Array.isArray(instructionError) || instructionError.length !== 2) return null;
  const [index, error] = instructionError as [unknown, unknown];
  const code = (error as { Custom?: unknown } | null)?.Custom;
  if (typeof code !== "number" || typeof index !== "number") return null;
  return withIndex(threadErrorByCode(code), index);
}

// "Program log: AnchorError ... Error Number: 6012. Error Message: ..." (Anchor's log),
// or the runtime's "custom program error: 0x177c".
function fromLogs(logs: string[]): ThreadFailure | null {
  for (const line of logs) {
    const found = fromText(line, null);
    if (found) return found;
  }
  return null;
}

function fromText(text: string, instructionIndex: number | null): ThreadFailure | null {
  const number = /Error Number: (\d+)/.exec(text);
  if (number?.[1]) return withIndex(threadErrorByCode(Number(number[1])), instructionIndex);
  const hex = /custom program error: 0x([0-9a-fA-F]+)/.exec(text);
  if (hex?.[1]) return withIndex(threadErrorByCode(parseInt(hex[1], 16)), instructionIndex);
  return null;
}
