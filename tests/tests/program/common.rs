//! Setup shared by the program tests: a fixture with a recorder account the threads write.

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Keypair;
use thread_tests::{program_test, recorder, Fixture};

/// A fixture plus one recorder account, created at genesis.
pub async fn fixture_with_record() -> (Fixture, Pubkey) {
    let mut pt = program_test();
    let record = Keypair::new();
    let record = solana_sdk::signature::Signer::pubkey(&record);
    pt.add_account(record, recorder::record_account());
    (Fixture::with(pt).await, record)
}

/// (last authority, calls, total) of a recorder account.
pub async fn record_of(fx: &mut Fixture, record: Pubkey) -> (Pubkey, u64, u64) {
    let account = fx.account(record).await.unwrap();
    recorder::read_record(&account.data)
}
