// Thread responses: what a stored instruction's program returns (through return data) to
// steer its thread. Programs written in Rust use `thread::state::ThreadResponse`; this is
// the same wire format for TypeScript: tests that stage answers, tools that show them.
//
// Wire format: the 8-byte tag "thrdresp", a version byte (1), then the Borsh encoding
// of a `ThreadAction` (IDL type `threadAction`). Data without the tag is not a response.
//
// Owns: encoding and decoding that format. Must not: fetch or send.
import { threadProgram, type ThreadTypes } from "./program.js";

/** Marks return data meant for the thread program. */
export const THREAD_RESPONSE_TAG = Buffer.from("thrdresp", "latin1");
/** The wire format version the program reads. */
export const THREAD_RESPONSE_VERSION = 1;

/**
 * One answer: `{ trigger: { 0: trigger } }`, `{ instructions: { 0: [...] } }`,
 * `{ pause: {} }`, `{ chain: {} }` or `{ close: {} }`, as the Anchor client names them.
 */
export type ThreadAction = ThreadTypes["threadAction"];

/** Tag, version and body: the bytes a program returns to answer `action`. */
export function encodeThreadResponse(action: ThreadAction): Buffer {
  const body = threadProgram().coder.types.encode("threadAction", action);
  return Buffer.concat([THREAD_RESPONSE_TAG, Buffer.from([THREAD_RESPONSE_VERSION]), body]);
}

/**
 * The action in return data, or `null` for data that is not a response (no tag). Tagged
 * data of another version, or that does not decode, throws: the program refuses it too
 * (`UnsupportedResponseVersion`, `InvalidThreadResponse`).
 */
export function decodeThreadResponse(data: Buffer | Uint8Array): ThreadAction | null {
  const bytes = Buffer.from(data);
  if (!bytes.subarray(0, THREAD_RESPONSE_TAG.length).equals(THREAD_RESPONSE_TAG)) return null;
  const version = bytes[THREAD_RESPONSE_TAG.length];
  if (version !== THREAD_RESPONSE_VERSION) {
    throw new Error(
      `thread response version ${version ?? "(missing)"} is not one the program reads (${THREAD_RESPONSE_VERSION})`,
    );
  }
  const body = bytes.subarray(THREAD_RESPONSE_TAG.length + 1);
  const action = threadProgram().coder.types.decode("threadAction", body) as ThreadAction;
  const reencoded = encodeThreadResponse(action);
  if (!reencoded.equals(bytes)) {
    throw new Error("thread response has bytes after its action: the program refuses it (InvalidThreadResponse)");
  }
  return action;
}
