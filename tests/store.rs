//! The ledger shell over a store: a lost race is retried on fresh data, and the memory store's
//! in-place path answers exactly as the load/evaluate/commit path every store has. (Concurrent
//! writers on every store, the memory store included, are tested in `tests/conformance.rs`.)

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::{ByCommit, decimal, event, member, one_item_purchase, program, redemption};
use loyalty_engine::{
    Commit, CommitStatus, Engine, EvalError, Event, EventId, Ledger, LedgerError, MemberId, MemberState, MemoryStore,
    Recorded, Store, Versioned,
};
use proptest::prelude::*;

const SHOP: &str = r#"{"id":"shop","currency":"TRY","owner":"shop",
    "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
    "redemption":{"point_value":"1"}}"#;

fn engine() -> Engine {
    program(SHOP).compile().unwrap()
}

/// A store that lets another writer commit for the same member between the ledger's reads and
/// its first commit, or between its first lookup of the event and its load, as a concurrent
/// host would.
struct RacingStore {
    inner: MemoryStore,
    rival: Option<Event>,
    rival_after_lookup: Option<Event>,
}

impl Store for RacingStore {
    type Error = <MemoryStore as Store>::Error;

    fn load(&mut self, member: &MemberId) -> Result<Versioned, Self::Error> {
        self.inner.load(member)
    }

    fn recorded(&mut self, event: &EventId) -> Result<Option<Recorded>, Self::Error> {
        let found = self.inner.recorded(event)?;
        if let Some(rival) = self.rival_after_lookup.take().filter(|_| found.is_none()) {
            Ledger::new(engine(), self.inner.clone()).apply(&rival).unwrap();
        }
        Ok(found)
    }

    fn commit(&mut self, commit: Commit<'_>) -> Result<CommitStatus, Self::Error> {
        if let Some(rival) = self.rival.take() {
            Ledger::new(engine(), self.inner.clone()).apply(&rival).unwrap();
        }
        self.inner.commit(commit)
    }
}

#[test]
fn the_same_event_applied_by_another_writer_while_the_ledger_reads_answers_its_first_outcome() {
    let inner = MemoryStore::new();
    let purchase = one_item_purchase("e-1", "m", "o-1", "100");
    let twin = Some(purchase.clone());
    let mut ledger = Ledger::new(engine(), RacingStore { inner: inner.clone(), rival: None, rival_after_lookup: twin });

    let answer = ledger.apply(&purchase).expect("the event was applied, by the other writer");

    let first = inner.clone().recorded(purchase.id()).unwrap().expect("recorded once").outcome;
    assert_eq!(answer, first);
    assert_eq!(inner.committed().unwrap().len(), 1);

    // The same id with other content is a conflict, not a refusal of an order placed twice.
    let other = one_item_purchase("e-2", "m", "o-2", "100");
    let mut ledger =
        Ledger::new(engine(), RacingStore { inner: inner.clone(), rival: None, rival_after_lookup: Some(other) });
    let mine = ledger.apply(&one_item_purchase("e-2", "m", "o-2", "55"));
    assert!(matches!(mine, Err(LedgerError::Conflict { .. })), "{mine:?}");
}

/// Another writer commits the same event id for another member between the ledger's reads and
/// its commit: the commit finds the id taken, and the ledger answers with a conflict, never with
/// an outcome it did not store.
#[test]
fn an_event_id_another_writer_took_for_another_member_is_a_conflict() {
    let inner = MemoryStore::new();
    let rival = Some(one_item_purchase("e-1", "someone-else", "o-9", "100"));
    let mut ledger = Ledger::new(engine(), RacingStore { inner: inner.clone(), rival, rival_after_lookup: None });

    let mine = ledger.apply(&one_item_purchase("e-1", "m", "o-1", "100"));

    assert!(matches!(mine, Err(LedgerError::Conflict { .. })), "{mine:?}");
    assert_eq!(inner.committed().unwrap().len(), 1, "only the rival's event");
    assert_eq!(Ledger::new(engine(), inner).state(&member("m")).unwrap().points().available.value(), decimal("0"));
}

#[test]
fn a_lost_race_is_retried_on_the_fresh_state_and_nothing_is_lost() {
    let inner = MemoryStore::new();
    Ledger::new(engine(), inner.clone()).apply(&one_item_purchase("e-1", "m", "o-1", "100")).unwrap();
    let rival = Some(redemption("rival", "m", "60"));
    let mut ledger = Ledger::new(engine(), RacingStore { inner: inner.clone(), rival, rival_after_lookup: None });

    let mine = ledger.apply(&redemption("mine", "m", "60"));

    assert!(
        matches!(mine, Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. }))),
        "re-evaluated after the rival's commit, 60 more points are not there: {mine:?}"
    );
    let state = Ledger::new(engine(), inner.clone()).state(&member("m")).unwrap();
    assert_eq!(state.points().available.value(), decimal("40"));
    assert_eq!(inner.committed().unwrap().len(), 2);
}

/// A host's report over the members may read the store as it goes, and a bug in the report
/// (a panic the host catches) leaves the store serving: the store is not locked while the
/// report runs. Members come in id order.
#[test]
fn a_report_over_the_members_may_use_the_store_and_may_fail_without_breaking_it() {
    let store = MemoryStore::new();
    let mut ledger = Ledger::new(engine(), store.clone());
    for (index, id) in ["m-2", "m-0", "m-1"].into_iter().enumerate() {
        ledger.apply(&one_item_purchase(&format!("e-{index}"), id, &format!("o-{index}"), "100")).unwrap();
    }
    let (done, finished) = std::sync::mpsc::channel();
    let reporting = store.clone();
    std::thread::spawn(move || {
        let mut reader = reporting.clone();
        let mut report = Vec::new();
        let visited = reporting.for_each_member(|state| {
            let version = reader.load(state.member()).unwrap().version;
            report.push((state.member().to_string(), version));
        });
        done.send((visited, report)).unwrap();
    });
    let (visited, report) = finished.recv_timeout(std::time::Duration::from_secs(30)).expect("the report finished");
    assert_eq!(visited, Ok(()));
    assert_eq!(report, [("m-0".to_string(), 1), ("m-1".to_string(), 1), ("m-2".to_string(), 1)]);

    let failing = std::panic::catch_unwind(|| store.for_each_member(|_| panic!("a bug in the report")));
    assert!(failing.is_err());
    ledger.apply(&one_item_purchase("e-3", "m-0", "o-3", "50")).unwrap();
    assert_eq!(ledger.state(&member("m-0")).unwrap().points().available.value(), decimal("150"));
}

/// Everything a memory store holds, in a comparable form: the log, and each member's state
/// and version.
fn contents(store: &MemoryStore) -> (Vec<Recorded>, Vec<Versioned>) {
    let mut members = Vec::new();
    store.for_each_member(|state| members.push(state.member().clone())).unwrap();
    members.sort();
    let mut reader = store.clone();
    let members = members.iter().map(|id| reader.load(id).unwrap()).collect();
    (store.committed().unwrap(), members)
}

const MEMBERS: [&str; 3] = ["m-0", "m-1", "m-2"];

/// One step of a generated history. Unlike the property tests', these steps are not made
/// valid: many are refused, resent or reuse an id, which is what the two paths must agree on.
#[derive(Clone, Debug)]
enum Step {
    /// A purchase, `hours` after (or, if negative, before) the previous step: out of order
    /// for its member sometimes.
    Buy { member: usize, hours: i64, price: u32 },
    /// A redemption, often of more points than there are.
    Redeem { member: usize, hours: i64, points: u32 },
    /// An earlier step's event again, as a host's retry.
    Resend { pick: usize },
    /// An earlier step's id on a new purchase: a conflict if that event was recorded, a new
    /// event if it was refused.
    Reuse { pick: usize, member: usize, price: u32 },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        4 => (0..MEMBERS.len(), -30i64..72, 1u32..400).prop_map(|(member, hours, price)| Step::Buy { member, hours, price }),
        3 => (0..MEMBERS.len(), -30i64..72, 1u32..300)
            .prop_map(|(member, hours, points)| Step::Redeem { member, hours, points }),
        2 => any::<usize>().prop_map(|pick| Step::Resend { pick }),
        1 => (any::<usize>(), 0..MEMBERS.len(), 1u32..400).prop_map(|(pick, member, price)| Step::Reuse { pick, member, price }),
    ];
    prop::collection::vec(step, 1..40)
}

fn purchase_at(id: &str, member: usize, at: DateTime<Utc>, price: u32) -> Event {
    event(&format!(
        r#"{{"type":"purchase","id":"{id}","member":"{}","at":"{}","order":"o-{id}",
            "lines":[{{"sku":"x","qty":"1","unit_price":"{price}"}}]}}"#,
        MEMBERS[member],
        at.to_rfc3339()
    ))
}

/// The events a history sends, in order (a resend is the same event again).
fn events(steps: &[Step]) -> Vec<Event> {
    let mut at: DateTime<Utc> = "2026-03-01T00:00:00Z".parse().unwrap();
    let mut sent: Vec<Event> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let id = format!("e-{index}");
        let next = match step {
            Step::Buy { member, hours, price } => {
                at += Duration::hours(*hours);
                purchase_at(&id, *member, at, *price)
            }
            Step::Redeem { member, hours, points } => {
                at += Duration::hours(*hours);
                event(&format!(
                    r#"{{"type":"redeem","id":"{id}","member":"{}","at":"{}","points":"{points}"}}"#,
                    MEMBERS[*member],
                    at.to_rfc3339()
                ))
            }
            Step::Resend { pick } if !sent.is_empty() => sent[pick % sent.len()].clone(),
            Step::Reuse { pick, member, price } if !sent.is_empty() => {
                at += Duration::hours(1);
                purchase_at(sent[pick % sent.len()].id().as_str(), *member, at, *price)
            }
            Step::Resend { .. } | Step::Reuse { .. } => continue,
        };
        sent.push(next);
    }
    sent
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The memory store's in-place path gives every event the answer the provided
    /// load/evaluate/commit path gives (the same outcome, or the same error), and leaves the
    /// same log, states and versions behind: refused events, retries and reused ids included.
    #[test]
    fn the_in_place_path_matches_the_commit_path(steps in steps()) {
        let in_place = MemoryStore::new();
        let by_commit = MemoryStore::new();
        let mut fast = Ledger::new(engine(), in_place.clone());
        let mut reference = Ledger::new(engine(), ByCommit::new(by_commit.clone()));
        for event in events(&steps) {
            let expected = reference.apply(&event);
            let got = fast.apply(&event);
            prop_assert_eq!(format!("{got:?}"), format!("{expected:?}"), "event {:?}", event);
            prop_assert_eq!(contents(&in_place), contents(&by_commit), "after event {:?}", event);
        }
    }
}

#[test]
fn a_refused_event_leaves_the_memory_store_as_it_was() {
    let store = MemoryStore::new();
    let mut ledger = Ledger::new(engine(), store.clone());
    ledger.apply(&one_item_purchase("e-1", "m", "o-1", "100")).unwrap();
    ledger.apply(&purchase_at("e-2", 0, "2026-03-05T00:00:00Z".parse().unwrap(), 10)).unwrap();
    let before = contents(&store);

    let too_much = ledger.apply(&redemption("e-3", "m", "500"));
    assert!(matches!(too_much, Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. }))), "{too_much:?}");
    assert_eq!(contents(&store), before, "a redemption of points that are not there changes nothing");
    let late = ledger.apply(&purchase_at("e-4", 0, "2026-02-01T00:00:00Z".parse().unwrap(), 10));
    assert!(matches!(late, Err(LedgerError::Rejected(EvalError::OutOfOrder { .. }))), "{late:?}");
    assert_eq!(contents(&store), before, "an event older than the member's state changes nothing");
    let newcomer = ledger.apply(&redemption("e-5", "new", "10"));
    assert!(matches!(newcomer, Err(LedgerError::Rejected(_))), "{newcomer:?}");
    assert_eq!(contents(&store), before, "a member whose only event was refused is not stored");
}

/// A commit prepared from a load still loses to an event applied in place meanwhile, for the
/// member (its version moved) and for the event id (it is recorded).
#[test]
fn a_commit_prepared_before_an_in_place_apply_loses() {
    let engine = engine();
    let store = MemoryStore::new();
    let mut ledger = Ledger::new(engine.clone(), store.clone());
    ledger.apply(&one_item_purchase("e-1", "m", "o-1", "100")).unwrap();
    let mut other = store.clone();
    let loaded = other.load(&member("m")).unwrap();
    let late = redemption("e-late", "m", "10");
    let outcome = engine.evaluate(&loaded.state, &late).unwrap();
    let mut next_state = loaded.state.clone();
    next_state.apply(&outcome);

    ledger.apply(&redemption("e-2", "m", "10")).unwrap();

    let commit = Commit { expected_version: loaded.version, event: &late, outcome: &outcome, next_state };
    assert_eq!(other.commit(commit).unwrap(), CommitStatus::VersionConflict);
    let reused = one_item_purchase("e-2", "n", "o-1", "100");
    let outcome = engine.evaluate(&MemberState::new(member("n")), &reused).unwrap();
    let mut next_state = MemberState::new(member("n"));
    next_state.apply(&outcome);
    let commit = Commit { expected_version: 0, event: &reused, outcome: &outcome, next_state };
    assert_eq!(other.commit(commit).unwrap(), CommitStatus::DuplicateEvent);
    assert_eq!(store.committed().unwrap().len(), 2);
    assert_eq!(other.load(&member("m")).unwrap().version, 2);
}

/// The memory store keeps the outcome it answers with: a retry, the log and `recorded` all
/// hand out that one outcome, not copies of it. Kept for good, it holds no spare room.
#[test]
fn the_memory_store_shares_the_outcome_it_records() {
    let store = MemoryStore::new();
    let mut ledger = Ledger::new(engine(), store.clone());
    let purchase = one_item_purchase("e-1", "m", "o-1", "100");

    let first = ledger.apply(&purchase).unwrap();
    let retried = ledger.apply(&purchase).unwrap();

    assert!(Arc::ptr_eq(&first, &retried), "a retry answers with the recorded outcome itself");
    let logged = &store.committed().unwrap()[0];
    assert!(Arc::ptr_eq(&first, &logged.outcome), "the log holds the outcome the caller got");
    let recorded = ledger.store_mut().recorded(purchase.id()).unwrap().expect("recorded");
    assert!(Arc::ptr_eq(&first, &recorded.outcome));

    ledger.apply(&redemption("e-2", "m", "30")).unwrap();
    for recorded in store.committed().unwrap() {
        let outcome = &recorded.outcome;
        assert_eq!(outcome.postings.capacity(), outcome.postings.len(), "{}: spare postings", outcome.event);
        assert_eq!(outcome.lots_opened.capacity(), outcome.lots_opened.len(), "{}: spare lots", outcome.event);
    }
}
