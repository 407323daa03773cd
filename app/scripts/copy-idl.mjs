// Copies the committed IDL (../idl/thread.json and its TypeScript type) into src/idl/,
// so the package carries its own copy when packed; idl/ stays the one source, checked
// against a fresh build by scripts/idl.py --check.
import { copyFileSync, mkdirSync } from "node:fs";

const from = new URL("../../idl/", import.meta.url);
const to = new URL("../src/idl/", import.meta.url);
mkdirSync(to, { recursive: true });
copyFileSync(new URL("thread.json", from), new URL("thread.json", to));
copyFileSync(new URL("thread.ts", from), new URL("thread-type.ts", to));
