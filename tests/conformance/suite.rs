//! The conformance suite, written once over any [`Backend`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::thread;
use std::time::Duration;

use loyalty_engine::{
    Account, Asset, Commit, CommitStatus, EvalError, Event, EventId, Ledger, LedgerError, MAX_COMMIT_ATTEMPTS,
    MemberId, MemberState, Recorded, Store, Versioned,
};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use rust_decimal::Decimal;

use crate::backends::{Backend, Fault, SqlBackend};
use crate::common::{one_item_purchase as buy, redemption as redeem};
use crate::model::{self, Expect, Model, check_matches, event, member, observed};

/// Generated histories per store: each case runs real transactions, so fewer than the pure
/// property tests run; the sequences are the same for every store (a fixed seed).
pub const CASES: u32 = 64;

const STORY: &str = r#"{"id":"story","currency":"EUR","owner":"shop",
    "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}},
                     {"id":"acme-double","when":{"suppliers":["acme"]},"effect":{"multiplier":"2"},
                      "funded_by":{"shop":"0.5","acme":"0.5"}}]},
    "redemption":{"point_value":"0.01","min_balance":"10","max_share_of_order":"0.5"},
    "returns":{"vesting_days":7,"when_points_spent":"negative_balance"},
    "expiry":{"after_days":90}}"#;

/// A story through the ledger (purchases, a partial return, vesting, a redemption, a refused
/// redemption, a replay, a reused id, an out-of-order event, a clawback into debt), then the
/// store's own answers: stale versions, known event ids, a member's first commit.
pub fn scenarios<B: Backend>(backend: &mut B) {
    let mut model = Model::new(model::engine(STORY));
    let mut ledger = Ledger::new(model.engine.clone(), backend.fresh());
    let mut step = |json: &str| {
        let event = event(json);
        let expected = model.apply(&event);
        let got = observed(ledger.apply(&event));
        assert_eq!(got, expected, "{json}");
        got
    };
    step(r#"{"type":"enroll","id":"s-1","member":"m-1","at":"2026-03-01T09:00:00Z","birthday":"1990-05-01"}"#);
    let purchase = r#"{"type":"purchase","id":"s-2","member":"m-1","at":"2026-03-01T10:00:00Z","order":"o-1",
        "lines":[{"sku":"tv","qty":"1","unit_price":"1000.00","supplier":"acme"},
                 {"sku":"cable","qty":"2","unit_price":"15.50"}]}"#;
    let first = step(purchase);
    step(
        r#"{"type":"purchase","id":"s-3","member":"m-2","at":"2026-03-01T11:00:00Z","order":"o-2",
            "lines":[{"sku":"cable","qty":"3","unit_price":"15.50"}]}"#,
    );
    step(
        r#"{"type":"return","id":"s-4","member":"m-1","at":"2026-03-03T10:00:00Z","order":"o-1",
            "lines":[{"sku":"cable","qty":"1"}]}"#,
    );
    step(r#"{"type":"tick","id":"s-5","member":"m-1","at":"2026-03-10T10:00:00Z"}"#);
    let spent = step(r#"{"type":"redeem","id":"s-6","member":"m-1","at":"2026-03-11T10:00:00Z","points":"1500"}"#);
    assert!(matches!(spent, Expect::Applied(_)), "{spent:?}");
    let refused = step(r#"{"type":"redeem","id":"s-7","member":"m-1","at":"2026-03-11T10:00:00Z","points":"1000000"}"#);
    assert!(matches!(refused, Expect::Rejected(EvalError::InsufficientPoints { .. })), "{refused:?}");
    assert_eq!(step(purchase), first, "a replay gets the first outcome");
    let reused = step(r#"{"type":"tick","id":"s-2","member":"m-1","at":"2026-03-12T10:00:00Z"}"#);
    assert_eq!(reused, Expect::Conflict);
    let stale = step(r#"{"type":"tick","id":"s-8","member":"m-1","at":"2026-03-01T00:00:00Z"}"#);
    assert!(matches!(stale, Expect::Rejected(EvalError::OutOfOrder { .. })), "{stale:?}");
    step(r#"{"type":"custom","id":"s-9","member":"m-2","at":"2026-03-12T10:00:00Z","name":"review_written"}"#);
    let clawback = step(
        r#"{"type":"return","id":"s-10","member":"m-1","at":"2026-03-12T10:00:00Z","order":"o-1",
            "lines":[{"sku":"tv","qty":"1"}]}"#,
    );
    let Expect::Applied(clawback) = clawback else { panic!("the return is refused: {clawback:?}") };
    assert!(clawback.postings.iter().any(|posting| posting.from == Account::Debt), "spent points become debt");
    drop(ledger);
    check_matches(backend, &model).unwrap();

    // The store's own answers, through another connection.
    let mut store = backend.connect();
    let m2 = member("m-2");
    let loaded = store.load(&m2).unwrap();
    assert_eq!(loaded.version, 2);
    let before = backend.snapshot();

    let tick = event(r#"{"type":"tick","id":"s-11","member":"m-2","at":"2026-03-13T10:00:00Z"}"#);
    let status = commit(&mut store, &model, &loaded.state, &tick, 1);
    assert_eq!(status, CommitStatus::VersionConflict, "a stale version");
    let reused = event(r#"{"type":"tick","id":"s-3","member":"m-2","at":"2026-03-13T10:00:00Z"}"#);
    let status = commit(&mut store, &model, &loaded.state, &reused, 2);
    assert_eq!(status, CommitStatus::DuplicateEvent, "an event id recorded before");
    let newcomer = event(r#"{"type":"tick","id":"s-12","member":"m-3","at":"2026-03-13T10:00:00Z"}"#);
    let fresh = MemberState::new(member("m-3"));
    let status = commit(&mut store, &model, &fresh, &newcomer, 1);
    assert_eq!(status, CommitStatus::VersionConflict, "a member never committed is at version 0");
    assert_eq!(backend.snapshot(), before, "refused commits write nothing");

    assert_eq!(commit(&mut store, &model, &fresh, &newcomer, 0), CommitStatus::Committed { version: 1 });
    model.apply(&newcomer);
    let again = event(r#"{"type":"tick","id":"s-13","member":"m-3","at":"2026-03-13T10:00:00Z"}"#);
    let status = commit(&mut store, &model, &fresh, &again, 0);
    assert_eq!(status, CommitStatus::VersionConflict, "a second first commit for one member");
    assert_eq!(store.recorded(&EventId::new("s-13").unwrap()).unwrap(), None);
    assert_eq!(store.load(&member("m-9")).unwrap(), Versioned { state: MemberState::new(member("m-9")), version: 0 });
    check_matches(backend, &model).unwrap();
}

/// Commits `event` evaluated on `state`, claiming `expected_version`.
fn commit<S: Store>(
    store: &mut S,
    model: &Model,
    state: &MemberState,
    event: &Event,
    expected_version: u64,
) -> CommitStatus {
    let outcome = model.engine.evaluate(state, event).unwrap();
    let mut next_state = state.clone();
    next_state.apply(&outcome);
    store.commit(Commit { expected_version, event, outcome: &outcome, next_state }).unwrap()
}

/// The same generated histories (a fixed seed) through the ledger, and through batches where
/// the store has them, give exactly what the pure engine gives: outcomes, refusals, conflicts,
/// and then states, versions, committed events, postings and balances.
pub fn generated_histories<B: Backend>(backend: &mut B) {
    let config = Config { cases: CASES, failure_persistence: None, max_shrink_iters: 256, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let backend = RefCell::new(backend);
    let ran = RefCell::new((0usize, 0usize, 0usize));
    let result = runner.run(&(model::setups(), model::steps()), |(setup, steps)| {
        let mut backend = backend.borrow_mut();
        let mut model = Model::new(setup.engine());
        let chunks = model::resolve(&mut model, &steps);
        let mut ledger = Ledger::new(model.engine.clone(), backend.fresh());
        for (index, chunk) in chunks.iter().enumerate() {
            let events: Vec<Event> = chunk.iter().map(|(event, _)| event.clone()).collect();
            let batch = if index % 2 == 1 { B::apply_batch(ledger.store_mut(), &model.engine, &events) } else { None };
            ran.borrow_mut().1 += usize::from(batch.is_some());
            let got: Vec<Expect> = match batch {
                Some(results) => results.unwrap().into_iter().map(observed).collect(),
                None => events.iter().map(|event| observed(ledger.apply(event))).collect(),
            };
            for ((event, expected), got) in chunk.iter().zip(got) {
                if got != *expected {
                    let message = format!("event {}: expected {expected:?}, got {got:?}", event.id());
                    return Err(TestCaseError::fail(message));
                }
            }
        }
        drop(ledger);
        check_matches(&**backend, &model).map_err(TestCaseError::fail)?;
        ran.borrow_mut().0 += model.recorded_count();
        ran.borrow_mut().2 += model.follow_up_count();
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let (events, batches, follow_ups) = *ran.borrow();
    eprintln!("{CASES} generated histories: {events} events committed ({follow_ups} follow-ups), {batches} batches");
    assert!(events > usize::try_from(CASES).unwrap() * 3, "the histories commit events");
    assert!(follow_ups > usize::try_from(CASES).unwrap() / 2, "the histories transfer points between members");
}

/// An error a test wrapper injects, or the wrapped store's own.
#[derive(Debug)]
pub enum Faulty<E> {
    Store(E),
    Injected(&'static str),
}

impl<E: fmt::Display> fmt::Display for Faulty<E> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Faulty::Store(error) => error.fmt(formatter),
            Faulty::Injected(what) => formatter.write_str(what),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Faulty<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Faulty::Store(error) => Some(error),
            Faulty::Injected(_) => None,
        }
    }
}

/// A host that crashes around a commit: before it (nothing is written), or right after `COMMIT`
/// (the commit happened, but the host never hears back).
struct Crash<S> {
    store: S,
    after_commit: bool,
}

impl<S: Store> Store for Crash<S> {
    type Error = Faulty<S::Error>;

    fn load(&mut self, member: &MemberId) -> Result<Versioned, Self::Error> {
        self.store.load(member).map_err(Faulty::Store)
    }

    fn recorded(&mut self, event: &EventId) -> Result<Option<Recorded>, Self::Error> {
        self.store.recorded(event).map_err(Faulty::Store)
    }

    fn commit(&mut self, commit: Commit<'_>) -> Result<CommitStatus, Self::Error> {
        if !self.after_commit {
            return Err(Faulty::Injected("the host crashed before COMMIT"));
        }
        self.store.commit(commit).map_err(Faulty::Store)?;
        Err(Faulty::Injected("the host crashed after COMMIT, before it heard the answer"))
    }
}

const PURCHASE_1: &str = r#"{"type":"purchase","id":"c-1","member":"m-1","at":"2026-03-01T10:00:00Z","order":"o-1",
    "lines":[{"sku":"tv","qty":"1","unit_price":"1000.00","supplier":"acme"}]}"#;
const PURCHASE_2: &str = r#"{"type":"purchase","id":"c-2","member":"m-1","at":"2026-03-02T10:00:00Z","order":"o-2",
    "lines":[{"sku":"cable","qty":"2","unit_price":"15.50"}]}"#;

/// A host that crashes after a commit and resends the event gets the stored outcome, not a
/// second accrual; a host that crashes before its commit loses nothing: resending applies
/// the event once.
pub fn crashes_around_commit_apply_events_once<B: Backend>(backend: &mut B) {
    let mut model = Model::new(model::engine(STORY));
    backend.fresh();
    let engine = model.engine.clone();

    let purchase = event(PURCHASE_1);
    let error = Ledger::new(engine.clone(), Crash { store: backend.connect(), after_commit: true })
        .apply(&purchase)
        .unwrap_err();
    assert!(matches!(error, LedgerError::Store(_)), "{error}");
    let expected = model.apply(&purchase);
    let mut restarted = Ledger::new(engine.clone(), backend.connect());
    assert_eq!(observed(restarted.apply(&purchase)), expected, "the resent event gets the stored outcome");
    assert_eq!(observed(restarted.apply(&purchase)), expected);
    check_matches(backend, &model).unwrap();
    assert_eq!(backend.committed().len(), 1, "one accrual");

    let before = backend.snapshot();
    let second = event(PURCHASE_2);
    let error = Ledger::new(engine.clone(), Crash { store: backend.connect(), after_commit: false })
        .apply(&second)
        .unwrap_err();
    assert!(matches!(error, LedgerError::Store(_)), "{error}");
    assert_eq!(backend.snapshot(), before, "nothing of an uncommitted event is stored");
    let expected = model.apply(&second);
    assert_eq!(observed(restarted.apply(&second)), expected, "the resent event is applied once");
    check_matches(backend, &model).unwrap();
    assert_eq!(backend.committed().len(), 2);
}

const FRIENDS: &str = r#"{"id":"friends","currency":"EUR","owner":"shop",
    "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
    "redemption":{"point_value":"0.01"},
    "transfers":{"min_points":"10"},
    "bonuses":[{"id":"referrer","on":"referral","points":"300"}],
    "expiry":{"after_days":365}}"#;

/// Follow-ups reach the other member, in every store: a referrer's bonus and a transfer's
/// points, through the ledger and through a batch; a host that crashes after committing a
/// transfer completes it by sending the transfer again.
pub fn follow_ups<B: Backend>(backend: &mut B) {
    let mut model = Model::new(model::engine(FRIENDS));
    let mut ledger = Ledger::new(model.engine.clone(), backend.fresh());
    let mut step = |json: &str| {
        let event = event(json);
        let expected = model.apply(&event);
        assert_eq!(observed(ledger.apply(&event)), expected, "{json}");
        expected
    };
    step(r#"{"type":"enroll","id":"f-1","member":"m-1","at":"2026-03-01T09:00:00Z","referred_by":"m-9"}"#);
    step(
        r#"{"type":"purchase","id":"f-2","member":"m-1","at":"2026-03-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"tv","qty":"1","unit_price":"1000.00"}]}"#,
    );
    step(r#"{"type":"transfer","id":"f-3","member":"m-1","at":"2026-03-02T10:00:00Z","to":"m-2","points":"400"}"#);
    drop(ledger);
    check_matches(backend, &model).unwrap();
    assert_eq!(model.state(&member("m-9")).points().available.value(), Decimal::from(300));
    assert_eq!(model.state(&member("m-2")).points().available.value(), Decimal::from(400));

    let transfer =
        event(r#"{"type":"transfer","id":"f-4","member":"m-1","at":"2026-03-03T10:00:00Z","to":"m-2","points":"100"}"#);
    let error = Ledger::new(model.engine.clone(), Crash { store: backend.connect(), after_commit: true })
        .apply(&transfer)
        .unwrap_err();
    assert!(matches!(error, LedgerError::Store(_)), "{error}");
    let expected = model.apply(&transfer);
    let mut restarted = Ledger::new(model.engine.clone(), backend.connect());
    assert_eq!(observed(restarted.apply(&transfer)), expected, "the resent transfer gets its stored outcome");
    check_matches(backend, &model).unwrap();
    assert_eq!(model.state(&member("m-2")).points().available.value(), Decimal::from(500), "and its follow-up");

    // m-3 is in the batch, so the transfer's follow-up comes right after it, as one by one;
    // m-9 is not, so the referral comes after the batch.
    let batch = [
        event(r#"{"type":"transfer","id":"f-5","member":"m-1","at":"2026-03-04T10:00:00Z","to":"m-3","points":"50"}"#),
        event(r#"{"type":"redeem","id":"f-7","member":"m-3","at":"2026-03-04T11:00:00Z","points":"30"}"#),
        event(r#"{"type":"enroll","id":"f-6","member":"m-4","at":"2026-03-04T10:00:00Z","referred_by":"m-9"}"#),
    ];
    if let Some(results) = B::apply_batch(restarted.store_mut(), &model.engine, &batch) {
        for (event, result) in batch.iter().zip(results.unwrap()) {
            assert_eq!(observed(result), model.apply(event), "{}", event.id());
        }
        check_matches(backend, &model).unwrap();
        assert_eq!(model.state(&member("m-3")).points().available.value(), Decimal::from(20));
        assert_eq!(model.state(&member("m-9")).points().available.value(), Decimal::from(600));
    }
}

const SHOP: &str = r#"{"id":"shop","currency":"TRY","owner":"shop",
    "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
    "redemption":{"point_value":"1"}}"#;
const THREADS: usize = 4;
const ROUNDS: usize = 50;

/// A store that skips the version check: it commits over whatever version is there now, after
/// a pause as long as a network round trip. The bug the concurrency test must catch.
struct SkipsVersionCheck<S>(S);

impl<S: Store> Store for SkipsVersionCheck<S> {
    type Error = S::Error;

    fn load(&mut self, member: &MemberId) -> Result<Versioned, S::Error> {
        self.0.load(member)
    }

    fn recorded(&mut self, event: &EventId) -> Result<Option<Recorded>, S::Error> {
        self.0.recorded(event)
    }

    fn commit(&mut self, mut commit: Commit<'_>) -> Result<CommitStatus, S::Error> {
        thread::sleep(Duration::from_micros(300));
        commit.expected_version = self.0.load(commit.next_state.member())?.version;
        self.0.commit(commit)
    }
}

/// Threads, each through its own connection, interleave redemptions from one member (1,000
/// points, 200 redemptions of 10), purchases for a member they share and purchases for a
/// member of their own.
pub fn concurrent_writers<B: Backend>(backend: &mut B) {
    backend.fresh();
    match race(backend, B::connect, true) {
        Ok(report) => eprintln!("{}: {report}", std::any::type_name::<B>()),
        Err(failure) => panic!("{failure}"),
    }
}

/// As [`concurrent_writers`], with each thread's connection made by `connect` (the memory store
/// lets connections take different paths through `Store::apply`, and they must agree).
pub fn concurrent_writers_through<B: Backend, S: Store + Send + 'static>(backend: &mut B, connect: impl Fn(&B) -> S) {
    backend.fresh();
    match race(backend, connect, false) {
        Ok(report) => eprintln!("{}: {report}", std::any::type_name::<S>()),
        Err(failure) => panic!("{failure}"),
    }
}

/// The concurrency test fails for a store that skips the version check.
pub fn concurrency_test_catches_a_store_that_skips_the_version_check<B: Backend>(backend: &mut B) {
    for attempt in 1..=3 {
        backend.fresh();
        match race(backend, |backend| SkipsVersionCheck(backend.connect()), false) {
            Err(caught) => {
                eprintln!("{}: caught on attempt {attempt}: {caught}", std::any::type_name::<B>());
                return;
            }
            Ok(report) => eprintln!("attempt {attempt}: a store without version checks got through: {report}"),
        }
    }
    panic!("the concurrency test did not catch a store that skips the version check");
}

/// Applies an event, retrying while other writers keep winning: what a host does. `Ok(false)`
/// for a redemption refused for want of points.
fn apply_until_settled<S: Store>(ledger: &mut Ledger<S>, event: &Event, retries: &mut u32) -> Result<bool, String> {
    for _ in 0..1_000 {
        match ledger.apply(event) {
            Ok(_) => return Ok(true),
            Err(LedgerError::Contended { .. }) => *retries += 1,
            Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. })) => return Ok(false),
            Err(other) => return Err(format!("event {}: {other}", event.id())),
        }
    }
    Err(format!("event {}: contended 1,000 times", event.id()))
}

/// One round of a thread: a redemption from the contended member, a purchase for the shared
/// member, a purchase for the thread's own member.
fn round_events(thread: usize, round: usize) -> [Event; 3] {
    [
        redeem(&format!("r-{thread}-{round}"), "m", "10"),
        buy(&format!("s-{thread}-{round}"), "shared", &format!("o-{thread}-{round}"), "5"),
        buy(&format!("p-{thread}-{round}"), &format!("own-{thread}"), &format!("o-{round}"), "5"),
    ]
}

/// Runs the threads, then checks: no double spend, no lost update, and every member's stored
/// state and outcomes equal a serial replay of the committed events in commit order. With
/// `batches`, the first thread applies each of its rounds as one batch, where the store has them.
fn race<B: Backend, S: Store + Send + 'static>(
    backend: &B,
    connect: impl Fn(&B) -> S,
    batches: bool,
) -> Result<String, String> {
    let engine = model::engine(SHOP);
    let mut setup = Ledger::new(engine.clone(), backend.connect());
    setup.apply(&buy("buy", "m", "o-0", "1000")).map_err(|error| error.to_string())?;
    let mut batcher = backend.connect();
    let batches = batches && B::apply_batch(&mut batcher, &engine, &[]).is_some();
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let engine = engine.clone();
            if batches && thread == 0 {
                let mut store = backend.connect();
                return thread::spawn(move || -> Result<(u32, u32), String> {
                    let mut accepted = 0;
                    for round in 0..ROUNDS {
                        let results = B::apply_batch(&mut store, &engine, &round_events(thread, round)).unwrap()?;
                        for (index, result) in results.into_iter().enumerate() {
                            match result {
                                Ok(_) => accepted += u32::from(index == 0),
                                Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. })) if index == 0 => {}
                                Err(other) => return Err(format!("a batch of round {round}: {other}")),
                            }
                        }
                    }
                    Ok((accepted, 0))
                });
            }
            let mut ledger = Ledger::new(engine, connect(backend));
            thread::spawn(move || -> Result<(u32, u32), String> {
                let (mut accepted, mut retries) = (0, 0);
                for round in 0..ROUNDS {
                    let [spend, shared, own] = round_events(thread, round);
                    accepted += u32::from(apply_until_settled(&mut ledger, &spend, &mut retries)?);
                    apply_until_settled(&mut ledger, &shared, &mut retries)?;
                    apply_until_settled(&mut ledger, &own, &mut retries)?;
                }
                Ok((accepted, retries))
            })
        })
        .collect();
    let (mut accepted, mut retries) = (0, 0);
    for thread in threads {
        let (thread_accepted, thread_retries) = thread.join().map_err(|_| "a thread panicked".to_owned())??;
        accepted += thread_accepted;
        retries += thread_retries;
    }

    let points = |state: &MemberState, account: Account| state.balance(&account, Asset::Points);
    let stored: HashMap<MemberId, MemberState> =
        backend.members().into_iter().map(|state| (state.member().clone(), state)).collect();
    let state = |id: &str| stored.get(&member(id)).cloned().ok_or_else(|| format!("member {id} is not stored"));
    if accepted != 100 {
        return Err(format!("{accepted} redemptions of 10 accepted from 1,000 points: points were spent twice"));
    }
    let spender = state("m")?;
    if points(&spender, Account::Available) != Decimal::ZERO
        || points(&spender, Account::Redeemed) != Decimal::from(1000)
    {
        return Err(format!(
            "member m holds {} available and {} redeemed, not 0 and 1,000: an update was lost",
            points(&spender, Account::Available),
            points(&spender, Account::Redeemed)
        ));
    }
    let shared = points(&state("shared")?, Account::Available);
    if shared != Decimal::from(1000) {
        return Err(format!("the shared member holds {shared} points, not 1,000: purchases were lost"));
    }
    for thread in 0..THREADS {
        let own = points(&state(&format!("own-{thread}"))?, Account::Available);
        if own != Decimal::from(250) {
            return Err(format!("member own-{thread} holds {own} points, not 250"));
        }
    }
    let committed = backend.committed();
    let expected_events = 1 + 100 + 2 * THREADS * ROUNDS;
    if committed.len() != expected_events {
        return Err(format!("{} events committed, not {expected_events}", committed.len()));
    }
    let mut replayed: HashMap<MemberId, MemberState> = HashMap::new();
    let mut versions: HashMap<MemberId, u64> = HashMap::new();
    for recorded in &committed {
        let member = recorded.event.member().clone();
        let state = replayed.entry(member.clone()).or_insert_with(|| MemberState::new(member.clone()));
        let outcome = engine
            .evaluate(state, &recorded.event)
            .map_err(|error| format!("replaying {} in commit order: {error}", recorded.event.id()))?;
        if outcome != *recorded.outcome {
            return Err(format!("replaying {} in commit order gives another outcome", recorded.event.id()));
        }
        state.apply(&outcome);
        *versions.entry(member).or_default() += 1;
    }
    if replayed != stored {
        return Err("the stored states differ from a serial replay in commit order".to_owned());
    }
    let mut store = backend.connect();
    for (member, version) in versions {
        let loaded = store.load(&member).map_err(|error| error.to_string())?.version;
        if loaded != version {
            return Err(format!("member {member} is at version {loaded} after {version} commits"));
        }
    }
    let batched = if batches { format!(", one thread in {ROUNDS} batches of 3") } else { String::new() };
    Ok(format!(
        "{accepted} redemptions accepted, {retries} events retried after {MAX_COMMIT_ATTEMPTS} lost races, \
         {expected_events} events committed{batched}"
    ))
}

/// A commit that fails midway (an error raised while inserting its postings, after the member
/// and event rows; a posting that violates a constraint) leaves the database as it was, the
/// shell says so, and the connection goes on working.
pub fn failed_commits_leave_the_database_unchanged<B: SqlBackend>(backend: &mut B) {
    let mut model = Model::new(model::engine(STORY));
    let mut ledger = Ledger::new(model.engine.clone(), backend.fresh());
    let first = event(PURCHASE_1);
    assert_eq!(observed(ledger.apply(&first)), model.apply(&first));

    let before = backend.snapshot();
    let second = event(PURCHASE_2);
    backend.inject(Fault::Error, "c-2");
    let error = ledger.apply(&second).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, LedgerError::Store(_)), "{message}");
    assert!(message.contains("c-2") && message.contains("rolled back, nothing was written"), "{message}");
    assert!(message.contains("injected fault"), "the database's error is carried: {message}");
    assert_eq!(backend.snapshot(), before, "a commit that failed midway left the database unchanged");
    eprintln!("{}: {message}", std::any::type_name::<B>());

    backend.clear_faults();
    assert_eq!(observed(ledger.apply(&second)), model.apply(&second), "the same connection goes on");
    check_matches(backend, &model).unwrap();

    // A posting that violates a constraint (an amount of zero), after valid ones.
    let before = backend.snapshot();
    let third = event(
        r#"{"type":"purchase","id":"c-3","member":"m-1","at":"2026-03-03T10:00:00Z","order":"o-3",
        "lines":[{"sku":"tv","qty":"1","unit_price":"500.00","supplier":"acme"}]}"#,
    );
    let loaded = ledger.store_mut().load(&member("m-1")).unwrap();
    let mut outcome = model.engine.evaluate(&loaded.state, &third).unwrap();
    assert!(!outcome.postings.is_empty());
    let mut zero = outcome.postings[0].clone();
    zero.id.index = u32::try_from(outcome.postings.len()).unwrap();
    zero.amount = Decimal::ZERO;
    outcome.postings.push(zero);
    let mut next_state = loaded.state.clone();
    next_state.apply(&model.engine.evaluate(&loaded.state, &third).unwrap());
    let commit = Commit { expected_version: loaded.version, event: &third, outcome: &outcome, next_state };
    let error = ledger.store_mut().commit(commit).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("c-3") && message.contains("rolled back, nothing was written"), "{message}");
    assert!(std::error::Error::source(&error).is_some(), "the database's error is the source");
    assert_eq!(backend.snapshot(), before, "a constraint violation midway left the database unchanged");
    eprintln!("{}: {message}", std::any::type_name::<B>());
    assert_eq!(observed(ledger.apply(&third)), model.apply(&third));
    check_matches(backend, &model).unwrap();
}

/// The server process of a connection dies in the middle of a commit: the database is
/// unchanged, the dead connection fails cleanly from then on, and a new one applies the event.
pub fn dropped_connection_mid_commit<B: SqlBackend>(backend: &mut B) {
    let mut model = Model::new(model::engine(STORY));
    let mut ledger = Ledger::new(model.engine.clone(), backend.fresh());
    let first = event(PURCHASE_1);
    assert_eq!(observed(ledger.apply(&first)), model.apply(&first));

    let before = backend.snapshot();
    let second = event(PURCHASE_2);
    backend.inject(Fault::DropConnection, "c-2");
    let error = ledger.apply(&second).unwrap_err();
    let message = error.to_string();
    eprintln!("{}: {message}", std::any::type_name::<B>());
    assert!(message.contains("c-2") && message.contains("rolled back, nothing was written"), "{message}");
    assert_eq!(backend.snapshot(), before, "the dropped commit left the database unchanged");
    let error = ledger.apply(&second).unwrap_err();
    assert!(matches!(error, LedgerError::Store(_)), "the dead connection fails cleanly: {error}");

    // Killed during COMMIT itself (by a deferred trigger, so before the commit record): the
    // shell can't know whether the commit happened and says so; it did not, and the event is
    // applied once when sent again.
    backend.clear_faults();
    backend.inject(Fault::DropConnectionAtCommit, "c-2");
    let mut reconnected = Ledger::new(model.engine.clone(), backend.connect());
    let error = reconnected.apply(&second).unwrap_err();
    let message = error.to_string();
    eprintln!("{}: {message}", std::any::type_name::<B>());
    assert!(message.contains("c-2") && message.contains("may or may not have been written"), "{message}");
    assert_eq!(backend.snapshot(), before, "the commit killed midway left the database unchanged");

    backend.clear_faults();
    let mut reconnected = Ledger::new(model.engine.clone(), backend.connect());
    assert_eq!(observed(reconnected.apply(&second)), model.apply(&second), "a new connection applies it once");
    check_matches(backend, &model).unwrap();
}
