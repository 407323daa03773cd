//! Every trigger against the bank's clock: when a thread is first due, that it is not due a
//! moment earlier, that each execution consumes exactly one due time, and how schedules
//! catch up (or skip) after a gap. Time is pinned with `set_unix_time` so cron math is
//! reproducible; a warp resets the bank's time, so every warp is followed by a set.

use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use thread::client;
use thread::cron::CronSchedule;
use thread::errors::ThreadError;
use thread::instructions::UpdateThreadArgs;
use thread::schedule::jitter_offset;
use thread::state::{Due, RateLimit, Thread, Trigger};
use thread_tests::{
    program_test, recorder, system_account, Fixture, Outcome, ThreadSpec, STARTING_LAMPORTS,
};

use crate::common::{fixture_with_record, record_of};

/// 2025-03-14T15:09:26Z, a Friday: the bank time every test starts from.
const T0: i64 = 1_741_964_966;
/// 2025-03-14T16:00:00Z, the first `0 * * * *` fire after `T0`.
const T0_NEXT_HOUR: i64 = 1_741_968_000;
const HOUR: i64 = 3_600;

/// A fixture with a record account, its clock pinned at `T0`.
async fn fixture_at_t0() -> (Fixture, Pubkey) {
    let (mut fx, record) = fixture_with_record().await;
    fx.set_unix_time(T0).await;
    (fx, record)
}

/// `create_thread` of `spec` by `fx.owner`, as the client builds it (with an Account
/// trigger's watched account), and the thread's address.
fn create_ix(fx: &Fixture, spec: ThreadSpec) -> (Pubkey, Instruction) {
    let owner = fx.owner.pubkey();
    let spec = spec.for_owner(&owner);
    let (thread, _) = Thread::address(&owner, &spec.id);
    (
        thread,
        client::create_thread(&owner, &thread, spec.into_args()),
    )
}

/// Creates a thread of `fx.owner` from `spec`.
async fn create_with(fx: &mut Fixture, spec: ThreadSpec) -> (Pubkey, Outcome) {
    let (thread, ix) = create_ix(fx, spec);
    let owner = fx.owner.insecure_clone();
    (thread, fx.process(&[ix], &[&owner]).await)
}

/// Creates a thread with `trigger` that records into `record`, and asserts it succeeded.
async fn create(fx: &mut Fixture, id: &str, trigger: Trigger, record: Pubkey) -> Pubkey {
    let (thread, outcome) = create_with(fx, ThreadSpec::new(id, trigger, record)).await;
    outcome.assert_ok();
    thread
}

/// A thread due once at `T0 + 100`, created at `T0`, that records into `record`.
async fn create_due_at_t0_plus_100(fx: &mut Fixture, record: Pubkey) -> Pubkey {
    create(fx, "ts", Trigger::Timestamp { unix_ts: T0 + 100 }, record).await
}

/// Moves to the next slot (a fresh rate-limit window) and pins the clock at `unix_ts`.
async fn next_slot_at(fx: &mut Fixture, unix_ts: i64) {
    fx.warp_slots(1).await;
    fx.set_unix_time(unix_ts).await;
}

async fn calls(fx: &mut Fixture, record: Pubkey) -> u64 {
    record_of(fx, record).await.1
}

fn at(unix_ts: i64) -> Due {
    Due::At { unix_ts }
}

fn cron(schedule: &str, skippable: bool, jitter: u32) -> Trigger {
    Trigger::Cron {
        schedule: schedule.to_string(),
        skippable,
        jitter,
    }
}

fn cron_next(schedule: &str, after: i64) -> i64 {
    CronSchedule::parse(schedule)
        .unwrap()
        .next_after(after)
        .unwrap()
}

fn interval(seconds: i64, skippable: bool) -> Trigger {
    Trigger::Interval { seconds, skippable }
}

/// `update_thread` setting only the trigger, as the client builds it.
fn update_trigger_ix(fx: &Fixture, thread: Pubkey, trigger: Trigger) -> Instruction {
    let args = UpdateThreadArgs {
        trigger: Some(trigger),
        ..Default::default()
    };
    client::update_thread(&fx.owner.pubkey(), &thread, args)
}

async fn update_trigger(fx: &mut Fixture, thread: Pubkey, trigger: Trigger) -> Outcome {
    let ix = update_trigger_ix(fx, thread, trigger);
    let owner = fx.owner.insecure_clone();
    fx.process(&[ix], &[&owner]).await
}

// ---------------------------------------------------------------------------------------
// Timestamp
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn timestamp_thread_is_not_due_one_second_early() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create_due_at_t0_plus_100(&mut fx, record).await;
    assert_eq!(fx.thread(thread).await.next_due, at(T0 + 100));

    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    fx.set_unix_time(T0 + 99).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    assert_eq!(calls(&mut fx, record).await, 0);
    assert_eq!(fx.thread(thread).await.exec_count, 0);
}

#[tokio::test]
async fn timestamp_thread_runs_once_at_exactly_its_time_then_completes() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create_due_at_t0_plus_100(&mut fx, record).await;

    fx.set_unix_time(T0 + 100).await;
    fx.exec(thread).await.assert_ok();
    assert_eq!(calls(&mut fx, record).await, 1);
    let state = fx.thread(thread).await;
    assert_eq!(state.next_due, Due::Never);
    assert_eq!((state.exec_count, state.last_exec_at), (1, T0 + 100));

    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadCompleted);
    next_slot_at(&mut fx, T0 + 10_000).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadCompleted);
    assert_eq!(calls(&mut fx, record).await, 1);
}

// ---------------------------------------------------------------------------------------
// Interval
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn interval_is_first_due_one_period_after_creation() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "iv", interval(60, false), record).await;
    let state = fx.thread(thread).await;
    assert_eq!(state.created_at, T0);
    assert_eq!(state.next_due, at(T0 + 60));
    assert_eq!(state.schedule_base, T0 + 60);

    fx.set_unix_time(T0 + 59).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    fx.set_unix_time(T0 + 60).await;
    fx.exec(thread).await.assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, at(T0 + 120));
    assert_eq!(calls(&mut fx, record).await, 1);
}

#[tokio::test]
async fn non_skippable_interval_catches_up_one_period_per_execution() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "iv", interval(60, false), record).await;

    // Five periods (T0+60 ..= T0+300) have passed; the sixth (T0+360) has not.
    let now = T0 + 5 * 60 + 30;
    fx.set_unix_time(now).await;
    for period in 1..=5 {
        fx.exec(thread).await.assert_ok();
        let state = fx.thread(thread).await;
        assert_eq!(
            state.next_due,
            at(T0 + (period + 1) * 60),
            "after exec {period}"
        );
        assert_eq!(state.schedule_base, T0 + (period + 1) * 60);
        next_slot_at(&mut fx, now).await;
    }
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    assert_eq!(calls(&mut fx, record).await, 5);
    assert_eq!(fx.thread(thread).await.exec_count, 5);
}

#[tokio::test]
async fn catch_up_is_rate_limited_to_one_execution_per_slot_by_default() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "iv", interval(60, false), record).await;
    assert_eq!(fx.thread(thread).await.rate_limit, RateLimit::default());

    let now = T0 + 10 * 60;
    fx.set_unix_time(now).await;
    fx.exec(thread).await.assert_ok();
    // Still due (T0+120 <= now), but this slot's one execution is spent.
    fx.exec(thread).await.assert_error(ThreadError::RateLimited);
    let state = fx.thread(thread).await;
    assert_eq!(state.next_due, at(T0 + 120));
    assert_eq!(state.exec_count, 1);

    next_slot_at(&mut fx, now).await;
    fx.exec(thread).await.assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, at(T0 + 180));
    fx.exec(thread).await.assert_error(ThreadError::RateLimited);
    assert_eq!(calls(&mut fx, record).await, 2);
}

#[tokio::test]
async fn a_wider_rate_limit_allows_that_many_catch_up_executions_per_window() {
    let (mut fx, record) = fixture_at_t0().await;
    let mut spec = ThreadSpec::new("iv", interval(60, false), record);
    spec.rate_limit = RateLimit {
        max_execs: 2,
        window_slots: 3,
    };
    let (thread, outcome) = create_with(&mut fx, spec).await;
    outcome.assert_ok();
    let created_slot = fx.clock().await.slot;

    let now = T0 + 10 * 60;
    fx.set_unix_time(now).await;
    fx.exec(thread).await.assert_ok();
    fx.exec(thread).await.assert_ok();
    fx.exec(thread).await.assert_error(ThreadError::RateLimited);
    // One slot later is still inside the 3-slot window opened at creation.
    next_slot_at(&mut fx, now).await;
    fx.exec(thread).await.assert_error(ThreadError::RateLimited);
    fx.ctx.warp_to_slot(created_slot + 3).unwrap();
    fx.set_unix_time(now).await;
    fx.exec(thread).await.assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, at(T0 + 4 * 60));
    assert_eq!(calls(&mut fx, record).await, 3);
}

#[tokio::test]
async fn skippable_interval_runs_once_after_a_gap_and_jumps_to_the_next_boundary_on_its_grid() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "iv", interval(60, true), record).await;
    assert_eq!(fx.thread(thread).await.next_due, at(T0 + 60));

    let now = T0 + 10 * 60 + 25;
    fx.set_unix_time(now).await;
    fx.exec(thread).await.assert_ok();
    let state = fx.thread(thread).await;
    assert_eq!(state.next_due, at(T0 + 11 * 60));
    assert_eq!(state.schedule_base, T0 + 11 * 60);

    next_slot_at(&mut fx, now).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    assert_eq!(calls(&mut fx, record).await, 1);
}

#[tokio::test]
async fn skippable_interval_executed_exactly_on_a_boundary_moves_to_the_following_one() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "iv", interval(60, true), record).await;

    fx.set_unix_time(T0 + 10 * 60).await;
    fx.exec(thread).await.assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, at(T0 + 11 * 60));
}

// ---------------------------------------------------------------------------------------
// Cron
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn cron_next_due_on_chain_matches_the_cron_module_and_the_calendar() {
    let (mut fx, record) = fixture_at_t0().await;
    // (expression, first fire after T0, worked out by hand and checked with a calendar)
    let cases: &[(&str, i64)] = &[
        ("*/15 * * * *", 1_741_965_300),            // 15:15:00 today
        ("0 * * * *", T0_NEXT_HOUR),                // 16:00:00 today
        ("0 9-17/4 * * *", 1_741_971_600),          // 17:00:00 today
        ("0 0 * * MON", 1_742_169_600),             // Monday 2025-03-17
        ("30 12 1 * *", 1_743_510_600),             // 2025-04-01 12:30
        ("0 0 13 * FRI", 1_742_515_200),            // Vixie OR: Friday 03-21 before the 13th
        ("@daily", 1_741_996_800),                  // 2025-03-15 00:00
        ("*/20 * * * * *", 1_741_964_980),          // 6 fields: 15:09:40
        ("0 0 12 * * *", 1_742_040_000),            // 6 fields: 2025-03-15 12:00
        ("0 30 9 * * MON-FRI 2026", 1_767_259_800), // 7 fields: Thu 2026-01-01 09:30
    ];
    for (i, (expr, expected)) in cases.iter().enumerate() {
        let thread = create(&mut fx, &format!("cron{i}"), cron(expr, false, 0), record).await;
        let state = fx.thread(thread).await;
        assert_eq!(cron_next(expr, T0), *expected, "cron module, {expr:?}");
        assert_eq!(state.next_due, at(*expected), "next_due of {expr:?}");
        assert_eq!(state.schedule_base, *expected, "schedule_base of {expr:?}");
    }
}

#[tokio::test]
async fn cron_thread_is_due_at_its_fire_time_not_a_second_before_then_at_the_next_fire() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "cron", cron("0 * * * *", false, 0), record).await;
    assert_eq!(fx.thread(thread).await.next_due, at(T0_NEXT_HOUR));

    fx.set_unix_time(T0_NEXT_HOUR - 1).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    fx.set_unix_time(T0_NEXT_HOUR).await;
    fx.exec(thread).await.assert_ok();
    let state = fx.thread(thread).await;
    assert_eq!(state.next_due, at(T0_NEXT_HOUR + HOUR));
    assert_eq!(state.schedule_base, T0_NEXT_HOUR + HOUR);
    assert_eq!(calls(&mut fx, record).await, 1);

    next_slot_at(&mut fx, T0_NEXT_HOUR + HOUR - 1).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
}

#[tokio::test]
async fn non_skippable_cron_runs_every_missed_fire_in_turn() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "cron", cron("0 * * * *", false, 0), record).await;

    // Fires at 16:00, 17:00, 18:00, 19:00 and 20:00 were missed; it is now 20:30.
    let now = T0_NEXT_HOUR + 4 * HOUR + 30 * 60;
    fx.set_unix_time(now).await;
    for missed in 1..=5 {
        fx.exec(thread).await.assert_ok();
        let expected = T0_NEXT_HOUR + missed * HOUR;
        assert_eq!(
            fx.thread(thread).await.next_due,
            at(expected),
            "after exec {missed}"
        );
        next_slot_at(&mut fx, now).await;
    }
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    assert_eq!(calls(&mut fx, record).await, 5);
}

#[tokio::test]
async fn skippable_cron_runs_once_after_missed_fires_and_moves_past_now() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "cron", cron("0 * * * *", true, 0), record).await;

    let now = T0_NEXT_HOUR + 4 * HOUR + 30 * 60;
    fx.set_unix_time(now).await;
    fx.exec(thread).await.assert_ok();
    let state = fx.thread(thread).await;
    assert_eq!(state.next_due, at(T0_NEXT_HOUR + 5 * HOUR));
    assert_eq!(state.next_due, at(cron_next("0 * * * *", now)));
    assert_eq!(state.schedule_base, T0_NEXT_HOUR + 5 * HOUR);

    next_slot_at(&mut fx, now).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    assert_eq!(calls(&mut fx, record).await, 1);
}

#[tokio::test]
async fn cron_jitter_delays_each_fire_by_the_thread_offset_and_never_shifts_the_base() {
    let (mut fx, record) = fixture_at_t0().await;
    let jitter = 600;
    let thread = create(&mut fx, "jit", cron("0 * * * *", false, jitter), record).await;

    let mut base = T0_NEXT_HOUR;
    for round in 0..3 {
        let state = fx.thread(thread).await;
        let Due::At { unix_ts: due } = state.next_due else {
            panic!(
                "round {round}: cron thread not due at a time: {:?}",
                state.next_due
            );
        };
        assert_eq!(
            state.schedule_base, base,
            "round {round}: base stays unjittered"
        );
        assert!(
            (base..=base + i64::from(jitter)).contains(&due),
            "round {round}: due {due} outside [{base}, {base} + {jitter}]"
        );
        assert_eq!(
            due,
            base + jitter_offset(&thread, base, jitter),
            "round {round}"
        );

        next_slot_at(&mut fx, due - 1).await;
        fx.exec(thread)
            .await
            .assert_error(ThreadError::ThreadNotDue);
        fx.set_unix_time(due).await;
        fx.exec(thread).await.assert_ok();
        base += HOUR;
    }
    assert_eq!(calls(&mut fx, record).await, 3);
}

#[tokio::test]
async fn threads_on_the_same_cron_schedule_get_different_jitter() {
    // A fixed owner makes the thread addresses, hence the offsets, the same on every run.
    let mut pt = program_test();
    let record = Keypair::new().pubkey();
    pt.add_account(record, recorder::record_account());
    let owner = Keypair::new_from_array([42; 32]);
    pt.add_account(owner.pubkey(), system_account(STARTING_LAMPORTS));
    let mut fx = Fixture::with(pt).await;
    fx.owner = owner;
    fx.set_unix_time(T0).await;

    let jitter = 3_000;
    let trigger = cron("0 * * * *", false, jitter);
    let a = create(&mut fx, "a", trigger.clone(), record).await;
    let b = create(&mut fx, "b", trigger, record).await;
    let (sa, sb) = (fx.thread(a).await, fx.thread(b).await);
    assert_eq!(sa.schedule_base, T0_NEXT_HOUR);
    assert_eq!(sb.schedule_base, T0_NEXT_HOUR);
    let offset_a = jitter_offset(&a, T0_NEXT_HOUR, jitter);
    let offset_b = jitter_offset(&b, T0_NEXT_HOUR, jitter);
    assert_eq!(sa.next_due, at(T0_NEXT_HOUR + offset_a));
    assert_eq!(sb.next_due, at(T0_NEXT_HOUR + offset_b));
    assert_ne!(
        offset_a, offset_b,
        "two threads on one schedule landed together"
    );
}

#[tokio::test]
async fn monthly_cron_crosses_the_year_boundary() {
    const DEC_15_2025: i64 = 1_765_800_000; // 2025-12-15 12:00
    const JAN_1_2026: i64 = 1_767_225_600;
    const FEB_1_2026: i64 = 1_769_904_000;
    let (mut fx, record) = fixture_with_record().await;
    fx.set_unix_time(DEC_15_2025).await;
    let thread = create(&mut fx, "monthly", cron("0 0 1 * *", false, 0), record).await;
    assert_eq!(fx.thread(thread).await.next_due, at(JAN_1_2026));

    fx.set_unix_time(JAN_1_2026 - 1).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    fx.set_unix_time(JAN_1_2026).await;
    fx.exec(thread).await.assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, at(FEB_1_2026));
}

#[tokio::test]
async fn feb_29_cron_created_in_2025_first_fires_on_2028_02_29() {
    const FEB_29_2028: i64 = 1_835_395_200;
    const FEB_29_2032: i64 = 1_961_625_600;
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "leap", cron("0 0 29 2 *", false, 0), record).await;
    assert_eq!(fx.thread(thread).await.next_due, at(FEB_29_2028));
    assert_eq!(cron_next("0 0 29 2 *", T0), FEB_29_2028);

    fx.set_unix_time(FEB_29_2028).await;
    fx.exec(thread).await.assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, at(FEB_29_2032));
}

#[tokio::test]
async fn year_restricted_cron_created_after_its_last_year_fails_with_cron_never_fires() {
    let (mut fx, record) = fixture_at_t0().await;
    let spec = ThreadSpec::new("past", cron("0 0 0 1 1 * 2020-2024", false, 0), record);
    let (thread, outcome) = create_with(&mut fx, spec).await;
    outcome.assert_error(ThreadError::CronNeverFires);
    assert!(fx.account(thread).await.is_none());
}

#[tokio::test]
async fn year_restricted_cron_completes_after_its_last_fire() {
    const JAN_1_2026: i64 = 1_767_225_600;
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "once", cron("0 0 0 1 1 * 2026", false, 0), record).await;
    assert_eq!(fx.thread(thread).await.next_due, at(JAN_1_2026));

    fx.set_unix_time(JAN_1_2026).await;
    fx.exec(thread).await.assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, Due::Never);
    next_slot_at(&mut fx, JAN_1_2026 + 400 * 86_400).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadCompleted);
}

#[tokio::test]
async fn malformed_cron_fails_create_with_invalid_cron() {
    let (mut fx, record) = fixture_at_t0().await;
    let too_long = format!("0 0 * * *{}", " ".repeat(60));
    let cases = [
        "61 * * * *",
        "* * *",
        "not a cron at all",
        "0 0 L * *",
        "*/0 * * * *",
        "@reboot",
        too_long.as_str(),
    ];
    for (i, expr) in cases.iter().enumerate() {
        let spec = ThreadSpec::new(&format!("bad{i}"), cron(expr, false, 0), record);
        let (thread, outcome) = create_with(&mut fx, spec).await;
        assert!(
            CronSchedule::parse(expr).is_err(),
            "{expr:?} parses off-chain"
        );
        outcome.assert_error(ThreadError::InvalidCron);
        assert!(
            fx.account(thread).await.is_none(),
            "{expr:?} created a thread"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Slot and epoch
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn slot_thread_runs_once_at_its_slot() {
    let (mut fx, record) = fixture_with_record().await;
    let target = fx.clock().await.slot + 3;
    let thread = create(&mut fx, "slot", Trigger::Slot { slot: target }, record).await;
    assert_eq!(
        fx.thread(thread).await.next_due,
        Due::AtSlot { slot: target }
    );

    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    fx.warp_slots(2).await;
    assert_eq!(fx.clock().await.slot, target - 1);
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    fx.warp_slots(1).await;
    assert_eq!(fx.clock().await.slot, target);
    fx.exec(thread).await.assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, Due::Never);
    assert_eq!(calls(&mut fx, record).await, 1);

    fx.warp_slots(1).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadCompleted);
}

#[tokio::test]
async fn epoch_thread_runs_once_after_its_epoch_begins() {
    let (mut fx, record) = fixture_with_record().await;
    let target = fx.clock().await.epoch + 1;
    let thread = create(&mut fx, "epoch", Trigger::Epoch { epoch: target }, record).await;
    assert_eq!(
        fx.thread(thread).await.next_due,
        Due::AtEpoch { epoch: target }
    );

    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    fx.warp_slots(1).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);

    fx.warp_to_epoch(target).await;
    assert_eq!(fx.clock().await.epoch, target);
    fx.exec(thread).await.assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, Due::Never);
    fx.warp_slots(1).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadCompleted);
    assert_eq!(calls(&mut fx, record).await, 1);
}

// ---------------------------------------------------------------------------------------
// Account
// ---------------------------------------------------------------------------------------

/// Genesis for the Account-trigger tests: the record the thread writes, a second recorder
/// account the thread watches, and a funded `poker` that changes it by recorder calls.
struct Watched {
    fx: Fixture,
    record: Pubkey,
    watched: Pubkey,
    poker: Keypair,
}

impl Watched {
    async fn new() -> Self {
        let mut pt = program_test();
        let record = Keypair::new().pubkey();
        let watched = Keypair::new().pubkey();
        let poker = Keypair::new();
        pt.add_account(record, recorder::record_account());
        pt.add_account(watched, recorder::record_account());
        pt.add_account(poker.pubkey(), system_account(STARTING_LAMPORTS));
        Self {
            fx: Fixture::with(pt).await,
            record,
            watched,
            poker,
        }
    }

    /// Watches `total` (bytes 40..48) of the watched record.
    fn total_trigger(&self) -> Trigger {
        Trigger::Account {
            address: self.watched,
            offset: 40,
            size: 8,
        }
    }

    fn spec(&self, trigger: Trigger) -> ThreadSpec {
        ThreadSpec::new("watch", trigger, self.record)
    }

    async fn create(&mut self, trigger: Trigger) -> (Pubkey, Outcome) {
        let spec = self.spec(trigger);
        create_with(&mut self.fx, spec).await
    }

    /// Processes `ix` signed by the fixture's owner.
    async fn as_owner(&mut self, ix: Instruction) -> Outcome {
        let owner = self.fx.owner.insecure_clone();
        self.fx.process(&[ix], &[&owner]).await
    }

    /// A recorder call on `account`: rewrites its authority, bumps its call count and adds
    /// `amount` to its total.
    async fn poke(&mut self, account: Pubkey, amount: u64) {
        let ix = recorder::record_ix(self.poker.pubkey(), account, amount);
        let poker = self.poker.insecure_clone();
        self.fx.process(&[ix], &[&poker]).await.assert_ok();
    }

    async fn exec_with(&mut self, ix: Instruction) -> Outcome {
        let executor = self.fx.executor.insecure_clone();
        self.fx.process(&[ix], &[&executor]).await
    }
}

#[tokio::test]
async fn account_trigger_runs_once_per_change_of_the_watched_bytes() {
    let mut w = Watched::new().await;
    let (thread, outcome) = w.create(w.total_trigger()).await;
    outcome.assert_ok();
    assert!(matches!(
        w.fx.thread(thread).await.next_due,
        Due::OnChange { .. }
    ));

    w.fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    w.poke(w.watched, 7).await;
    w.fx.exec(thread).await.assert_ok();
    assert_eq!(calls(&mut w.fx, w.record).await, 1);

    // Consumed: no second run for the same change, in this slot or a later one.
    w.fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    w.fx.warp_slots(1).await;
    w.fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);

    w.poke(w.watched, 1).await;
    w.fx.exec(thread).await.assert_ok();
    assert_eq!(calls(&mut w.fx, w.record).await, 2);
    assert_eq!(w.fx.thread(thread).await.exec_count, 2);
}

#[tokio::test]
async fn account_trigger_ignores_changes_outside_the_watched_range() {
    let mut w = Watched::new().await;
    let (thread, outcome) = w.create(w.total_trigger()).await;
    outcome.assert_ok();

    // Adding 0 rewrites authority and call count (bytes 0..40) but not total (40..48).
    let before = w.fx.account(w.watched).await.unwrap().data;
    w.poke(w.watched, 0).await;
    let after = w.fx.account(w.watched).await.unwrap().data;
    assert_ne!(before[..40], after[..40]);
    assert_eq!(before[40..48], after[40..48]);
    w.fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);

    w.poke(w.watched, 3).await;
    w.fx.exec(thread).await.assert_ok();
}

#[tokio::test]
async fn account_trigger_is_not_woken_by_its_own_instructions() {
    let mut w = Watched::new().await;
    // The thread watches the call count of the very record its instruction bumps.
    let trigger = Trigger::Account {
        address: w.record,
        offset: 32,
        size: 8,
    };
    let (thread, outcome) = w.create(trigger).await;
    outcome.assert_ok();

    w.poke(w.record, 0).await;
    w.fx.exec(thread).await.assert_ok();
    assert_eq!(calls(&mut w.fx, w.record).await, 2);
    w.fx.warp_slots(1).await;
    w.fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
}

#[tokio::test]
async fn account_trigger_fires_when_the_watched_account_is_created() {
    let mut w = Watched::new().await;
    let fresh = Keypair::new();
    let trigger = Trigger::Account {
        address: fresh.pubkey(),
        offset: 40,
        size: 8,
    };
    // The address holds nothing yet: the clipped range is empty.
    let (thread, outcome) = w.create(trigger).await;
    outcome.assert_ok();
    w.fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);

    let lamports = w.fx.rent_for(recorder::RECORD_LEN).await;
    let ix = solana_system_interface::instruction::create_account(
        &w.poker.pubkey(),
        &fresh.pubkey(),
        lamports,
        recorder::RECORD_LEN as u64,
        &recorder::ID,
    );
    let poker = w.poker.insecure_clone();
    w.fx.process(&[ix], &[&poker, &fresh]).await.assert_ok();

    w.fx.exec(thread).await.assert_ok();
    w.fx.warp_slots(1).await;
    w.fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
}

#[tokio::test]
async fn exec_without_the_watched_account_fails_with_missing_trigger_account() {
    let mut w = Watched::new().await;
    let (thread, outcome) = w.create(w.total_trigger()).await;
    outcome.assert_ok();
    w.poke(w.watched, 7).await;

    let state = w.fx.thread(thread).await;
    let mut ix = client::exec_thread(&w.fx.executor.pubkey(), &thread, &state);
    ix.accounts.retain(|m| m.pubkey != w.watched);
    w.exec_with(ix)
        .await
        .assert_error(ThreadError::MissingTriggerAccount);
    assert_eq!(calls(&mut w.fx, w.record).await, 0);

    w.fx.exec(thread).await.assert_ok();
}

#[tokio::test]
async fn exec_with_a_decoy_in_place_of_the_watched_account_fails_with_missing_trigger_account() {
    let mut w = Watched::new().await;
    let (thread, outcome) = w.create(w.total_trigger()).await;
    outcome.assert_ok();

    // The decoy's total differs from the one hashed at creation, so a program that
    // hashed whichever account it was handed would find the thread due.
    let decoy = w.record;
    w.poke(decoy, 9).await;
    let state = w.fx.thread(thread).await;
    let mut ix = client::exec_thread(&w.fx.executor.pubkey(), &thread, &state);
    ix.accounts.retain(|m| m.pubkey != w.watched);
    assert!(ix.accounts.iter().any(|m| m.pubkey == decoy));
    w.exec_with(ix)
        .await
        .assert_error(ThreadError::MissingTriggerAccount);
    assert_eq!(calls(&mut w.fx, w.record).await, 1);
}

#[tokio::test]
async fn create_without_the_watched_account_fails_with_missing_trigger_account() {
    let mut w = Watched::new().await;
    let (thread, mut ix) = create_ix(&w.fx, w.spec(w.total_trigger()));
    ix.accounts.retain(|m| m.pubkey != w.watched);
    let outcome = w.as_owner(ix).await;
    outcome.assert_error(ThreadError::MissingTriggerAccount);
    assert!(w.fx.account(thread).await.is_none());
}

#[tokio::test]
async fn account_trigger_outside_1_to_10240_bytes_fails_with_invalid_account_trigger() {
    let mut w = Watched::new().await;
    for size in [0, 10_241] {
        let trigger = Trigger::Account {
            address: w.watched,
            offset: 0,
            size,
        };
        let (thread, outcome) = w.create(trigger).await;
        outcome.assert_error(ThreadError::InvalidAccountTrigger);
        assert!(w.fx.account(thread).await.is_none(), "size {size}");
    }
}

// ---------------------------------------------------------------------------------------
// Pause and update
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn paused_thread_fails_with_thread_paused_even_when_due_and_runs_after_resume() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "p", Trigger::Timestamp { unix_ts: T0 }, record).await;
    let owner = fx.owner.insecure_clone();
    fx.process(&[client::pause_thread(&owner.pubkey(), &thread)], &[&owner])
        .await
        .assert_ok();

    fx.set_unix_time(T0 + 1_000).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadPaused);
    assert_eq!(calls(&mut fx, record).await, 0);

    fx.process(
        &[client::resume_thread(&owner.pubkey(), &thread)],
        &[&owner],
    )
    .await
    .assert_ok();
    fx.exec(thread).await.assert_ok();
    assert_eq!(calls(&mut fx, record).await, 1);
}

#[tokio::test]
async fn update_with_a_new_trigger_restarts_the_schedule_from_now() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "u", interval(60, false), record).await;

    // Many periods of the old schedule are missed; the new one ignores them.
    let now = T0 + 1_000;
    fx.set_unix_time(now).await;
    update_trigger(&mut fx, thread, interval(100, false))
        .await
        .assert_ok();
    let state = fx.thread(thread).await;
    assert_eq!(state.next_due, at(now + 100));
    assert_eq!(state.schedule_base, now + 100);

    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    fx.set_unix_time(now + 99).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    fx.set_unix_time(now + 100).await;
    fx.exec(thread).await.assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, at(now + 200));

    // A cron trigger likewise starts from the update's time, not from creation.
    let later = now + 5 * HOUR;
    next_slot_at(&mut fx, later).await;
    update_trigger(&mut fx, thread, cron("0 * * * *", false, 0))
        .await
        .assert_ok();
    let expected = cron_next("0 * * * *", later);
    assert_eq!(fx.thread(thread).await.next_due, at(expected));
    assert_eq!(fx.thread(thread).await.schedule_base, expected);
}

#[tokio::test]
async fn update_with_a_new_trigger_revives_a_completed_thread() {
    let (mut fx, record) = fixture_at_t0().await;
    let thread = create(&mut fx, "u", Trigger::Now, record).await;
    fx.exec(thread).await.assert_ok();
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadCompleted);

    update_trigger(&mut fx, thread, Trigger::Timestamp { unix_ts: T0 + 50 })
        .await
        .assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, at(T0 + 50));
    next_slot_at(&mut fx, T0 + 49).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    fx.set_unix_time(T0 + 50).await;
    fx.exec(thread).await.assert_ok();
    assert_eq!(calls(&mut fx, record).await, 2);
}

#[tokio::test]
async fn update_to_an_account_trigger_without_the_watched_account_fails() {
    let mut w = Watched::new().await;
    let (thread, outcome) = w.create(Trigger::Now).await;
    outcome.assert_ok();
    let mut ix = update_trigger_ix(&w.fx, thread, w.total_trigger());
    ix.accounts.retain(|m| m.pubkey != w.watched);
    w.as_owner(ix)
        .await
        .assert_error(ThreadError::MissingTriggerAccount);
    assert_eq!(w.fx.thread(thread).await.trigger, Trigger::Now);
}

#[tokio::test]
async fn update_to_an_account_trigger_watches_changes_from_then_on() {
    let mut w = Watched::new().await;
    let (thread, outcome) = w.create(Trigger::Now).await;
    outcome.assert_ok();
    w.fx.exec(thread).await.assert_ok();
    w.poke(w.watched, 5).await;

    // The client passes the watched account; a change made before the update does not
    // count, one made after does.
    let trigger = w.total_trigger();
    update_trigger(&mut w.fx, thread, trigger.clone())
        .await
        .assert_ok();
    assert_eq!(w.fx.thread(thread).await.trigger, trigger);
    w.fx.warp_slots(1).await;
    w.fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
    w.poke(w.watched, 2).await;
    w.fx.exec(thread).await.assert_ok();
    assert_eq!(calls(&mut w.fx, w.record).await, 2);
}
