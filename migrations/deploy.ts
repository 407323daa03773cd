// The deploy script `anchor migrate` runs after `anchor deploy`, with a provider for the
// cluster Anchor.toml names (or --provider.cluster).
//
// Owns: checking that what was deployed is this workspace's program (the id in Anchor.toml
// for that cluster, the committed IDL's address, an executable account), whether the
// committed IDL (idl/thread.json) is the one published on-chain, and telling the deployer
// what to do next. Must not: deploy, upgrade or write anything on-chain itself: every
// change is a command printed for the deployer to run, so running this twice is harmless.
//
// Resolves @anchor-lang/core from app/ (`npm ci --prefix app`, then
// `NODE_PATH=app/node_modules anchor migrate`): the workspace keeps one node package.
import * as anchor from "@anchor-lang/core";
import { readFileSync } from "fs";
import { join } from "path";

const ROOT = join(__dirname, "..");
const IDL_PATH = "idl/thread.json";

/** Anchor.toml's `[programs.<cluster>] thread = "..."`, for the clusters it names. */
function anchorTomlProgramIds(): Map<string, string> {
  const ids = new Map<string, string>();
  let cluster: string | undefined;
  for (const line of readFileSync(join(ROOT, "Anchor.toml"), "utf8").split("\n")) {
    const section = line.match(/^\[programs\.(\w+)\]/);
    if (section) {
      cluster = section[1];
      continue;
    }
    if (line.startsWith("[")) cluster = undefined;
    const entry = line.match(/^thread\s*=\s*"(\w+)"/);
    if (cluster && entry) ids.set(cluster, entry[1]);
  }
  return ids;
}

/** The Anchor.toml cluster name of an RPC endpoint, as `anchor` itself maps them. */
function clusterOf(endpoint: string): string {
  if (/localhost|127\.0\.0\.1|0\.0\.0\.0/.test(endpoint)) return "localnet";
  if (endpoint.includes("devnet")) return "devnet";
  if (endpoint.includes("testnet")) return "testnet";
  return "mainnet";
}

/** The keeper's `-u` moniker of an Anchor.toml cluster name. */
function keeperMoniker(cluster: string): string {
  if (cluster === "localnet") return "localhost";
  if (cluster === "mainnet") return "mainnet-beta";
  return cluster;
}

module.exports = async function (provider: anchor.AnchorProvider) {
  anchor.setProvider(provider);
  const endpoint = provider.connection.rpcEndpoint;
  const cluster = clusterOf(endpoint);
  const idl = JSON.parse(readFileSync(join(ROOT, IDL_PATH), "utf8")) as anchor.Idl;

  const configured = anchorTomlProgramIds().get(cluster);
  if (!configured) {
    throw new Error(`Anchor.toml has no [programs.${cluster}] thread id (endpoint ${endpoint})`);
  }
  if (configured !== idl.address) {
    throw new Error(
      `Anchor.toml's ${cluster} id ${configured} is not the program's id ${idl.address} ` +
        `(declare_id! in programs/thread/src/lib.rs, and ${IDL_PATH}): ` +
        "make them one key, rebuild and deploy again",
    );
  }
  const programId = new anchor.web3.PublicKey(configured);
  const account = await provider.connection.getAccountInfo(programId);
  if (!account || !account.executable) {
    throw new Error(
      `no executable program at ${programId.toBase58()} on ${endpoint}: ` +
        `run \`anchor deploy --provider.cluster ${cluster}\` first`,
    );
  }
  console.log(`deployed: thread ${programId.toBase58()} on ${cluster} (${endpoint})`);

  const published = await anchor.Program.fetchIdl(programId, provider);
  const idlCommand = (verb: string) =>
    `anchor idl ${verb} --filepath ${IDL_PATH} ${programId.toBase58()} --provider.cluster ${cluster}`;
  if (!published) {
    console.log(`IDL: not published yet; publish it with\n  ${idlCommand("init")}`);
  } else if (JSON.stringify(published) !== JSON.stringify(idl)) {
    console.log(`IDL: the published one differs from ${IDL_PATH}; update it with\n  ${idlCommand("upgrade")}`);
  } else {
    console.log(`IDL: the published one is ${IDL_PATH}`);
  }

  console.log(
    [
      "next:",
      `  keeper run -u ${keeperMoniker(cluster)}   # a keeper executing due threads`,
      "  clients: load idl/thread.json (TypeScript type: idl/thread.ts) with @anchor-lang/core",
    ].join("\n"),
  );
};
