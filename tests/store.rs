//! The ledger shell over a store: retries on lost races, no lost update, no double spend.

mod common;

use std::collections::HashMap;
use std::thread;

use common::{decimal, event, member, program};
use loyalty_engine::{
    Commit, CommitStatus, Engine, EvalError, Event, EventId, Ledger, LedgerError, MemberId, MemberState, MemoryStore,
    Recorded, Store, Versioned,
};

const SHOP: &str = r#"{"id":"shop","currency":"TRY","owner":"shop",
    "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
    "redemption":{"point_value":"1"}}"#;

fn engine() -> Engine {
    program(SHOP).compile().unwrap()
}

fn purchase(id: &str, member: &str, order: &str, price: &str) -> Event {
    event(&format!(
        r#"{{"type":"purchase","id":"{id}","member":"{member}","at":"2026-03-01T10:00:00Z","order":"{order}",
            "lines":[{{"sku":"x","qty":"1","unit_price":"{price}"}}]}}"#
    ))
}

fn redeem(id: &str, member: &str, points: &str) -> Event {
    event(&format!(
        r#"{{"type":"redeem","id":"{id}","member":"{member}","at":"2026-03-02T10:00:00Z","points":"{points}"}}"#
    ))
}

/// Applies an event, retrying while other writers keep winning the race: what a host does.
fn apply_until_settled(ledger: &mut Ledger<MemoryStore>, event: &Event) -> Result<(), EvalError> {
    loop {
        match ledger.apply(event) {
            Ok(_) => return Ok(()),
            Err(LedgerError::Contended { .. }) => continue,
            Err(LedgerError::Rejected(error)) => return Err(error),
            Err(other) => panic!("unexpected ledger error: {other}"),
        }
    }
}

#[test]
fn concurrent_redemptions_never_spend_the_same_points_twice() {
    let store = MemoryStore::new();
    let mut setup = Ledger::new(engine(), store.clone());
    setup.apply(&purchase("buy", "m", "o-1", "1000")).unwrap();

    let threads: Vec<_> = (0..4)
        .map(|thread_index| {
            let mut ledger = Ledger::new(engine(), store.clone());
            thread::spawn(move || {
                let mut accepted = 0;
                for index in 0..50 {
                    let spend = redeem(&format!("r-{thread_index}-{index}"), "m", "10");
                    accepted += u32::from(apply_until_settled(&mut ledger, &spend).is_ok());
                    let other = format!("other-{thread_index}");
                    let buy = purchase(&format!("p-{thread_index}-{index}"), &other, &format!("o-{index}"), "5");
                    apply_until_settled(&mut ledger, &buy).unwrap();
                }
                accepted
            })
        })
        .collect();
    let accepted: u32 = threads.into_iter().map(|handle| handle.join().unwrap()).sum();

    assert_eq!(accepted, 100, "1,000 points pay for exactly 100 redemptions of 10");
    let state = setup.state(&member("m")).unwrap();
    assert!(state.points().available.value().is_zero());
    for thread_index in 0..4 {
        let other = setup.state(&member(&format!("other-{thread_index}"))).unwrap();
        assert_eq!(other.points().available.value(), decimal("250"), "no purchase was lost");
    }
    assert_serial_replay_matches(&store);
}

/// Re-evaluating the committed events one by one, in commit order, gives the same outcomes and
/// the stored states.
fn assert_serial_replay_matches(store: &MemoryStore) {
    let engine = engine();
    let mut replayed: HashMap<MemberId, MemberState> = HashMap::new();
    for recorded in store.committed().unwrap() {
        let member = recorded.event.member().clone();
        let state = replayed.entry(member.clone()).or_insert_with(|| MemberState::new(member));
        let outcome = engine.evaluate(state, &recorded.event).unwrap();
        assert_eq!(outcome, recorded.outcome);
        state.apply(&outcome);
    }
    let mut compared = 0;
    store
        .for_each_member(|stored| {
            assert_eq!(&replayed[stored.member()], stored);
            compared += 1;
        })
        .unwrap();
    assert_eq!(compared, replayed.len());
}

/// A store that lets another writer commit for the same member between the ledger's load and
/// its first commit, as a concurrent host would.
struct RacingStore {
    inner: MemoryStore,
    rival: Option<Event>,
}

impl Store for RacingStore {
    type Error = <MemoryStore as Store>::Error;

    fn load(&mut self, member: &MemberId) -> Result<Versioned, Self::Error> {
        self.inner.load(member)
    }

    fn recorded(&mut self, event: &EventId) -> Result<Option<Recorded>, Self::Error> {
        self.inner.recorded(event)
    }

    fn commit(&mut self, commit: Commit<'_>) -> Result<CommitStatus, Self::Error> {
        if let Some(rival) = self.rival.take() {
            Ledger::new(engine(), self.inner.clone()).apply(&rival).unwrap();
        }
        self.inner.commit(commit)
    }
}

#[test]
fn a_lost_race_is_retried_on_the_fresh_state_and_nothing_is_lost() {
    let inner = MemoryStore::new();
    Ledger::new(engine(), inner.clone()).apply(&purchase("e-1", "m", "o-1", "100")).unwrap();
    let rival = Some(redeem("rival", "m", "60"));
    let mut ledger = Ledger::new(engine(), RacingStore { inner: inner.clone(), rival });

    let mine = ledger.apply(&redeem("mine", "m", "60"));

    assert!(
        matches!(mine, Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. }))),
        "re-evaluated after the rival's commit, 60 more points are not there: {mine:?}"
    );
    let state = Ledger::new(engine(), inner.clone()).state(&member("m")).unwrap();
    assert_eq!(state.points().available.value(), decimal("40"));
    assert_eq!(inner.committed().unwrap().len(), 2);
}
