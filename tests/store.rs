//! The ledger shell over a store: a lost race is retried on fresh data. (Concurrent writers on
//! every store, the memory store included, are tested in `tests/conformance.rs`.)

mod common;

use common::{decimal, member, one_item_purchase, program, redemption};
use loyalty_engine::{
    Commit, CommitStatus, Engine, EvalError, Event, EventId, Ledger, LedgerError, MemberId, MemoryStore, Recorded,
    Store, Versioned,
};

const SHOP: &str = r#"{"id":"shop","currency":"TRY","owner":"shop",
    "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
    "redemption":{"point_value":"1"}}"#;

fn engine() -> Engine {
    program(SHOP).compile().unwrap()
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
    Ledger::new(engine(), inner.clone()).apply(&one_item_purchase("e-1", "m", "o-1", "100")).unwrap();
    let rival = Some(redemption("rival", "m", "60"));
    let mut ledger = Ledger::new(engine(), RacingStore { inner: inner.clone(), rival });

    let mine = ledger.apply(&redemption("mine", "m", "60"));

    assert!(
        matches!(mine, Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. }))),
        "re-evaluated after the rival's commit, 60 more points are not there: {mine:?}"
    );
    let state = Ledger::new(engine(), inner.clone()).state(&member("m")).unwrap();
    assert_eq!(state.points().available.value(), decimal("40"));
    assert_eq!(inner.committed().unwrap().len(), 2);
}
