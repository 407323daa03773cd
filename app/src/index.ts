// The thread program's TypeScript SDK: addresses, one builder per instruction, the
// `Thread` account read as an owner wants it, events and errors. Built on the official
// Anchor 1.x client (`@anchor-lang/core`) over the committed IDL (idl/thread.json).
export * from "./program.js";
export * from "./pda.js";
export * from "./values.js";
export * from "./instructions.js";
export * from "./pieces.js";
export * from "./instruction-data.js";
export * from "./account.js";
export * from "./events.js";
export * from "./errors.js";
export * from "./response.js";
