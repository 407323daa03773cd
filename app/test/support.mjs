// What the tests share: an instruction as plain JSON, in the golden files' shape.
// (node --test runs this file too; it has no tests.)

/** `ix` (a web3 TransactionInstruction) as the golden files write one. */
export const plainInstruction = (ix) => ({
  programId: ix.programId.toBase58(),
  keys: ix.keys.map(({ pubkey, isSigner, isWritable }) => ({
    pubkey: pubkey.toBase58(),
    isSigner,
    isWritable,
  })),
  data: Buffer.from(ix.data).toString("hex"),
});
