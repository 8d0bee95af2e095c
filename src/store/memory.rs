//! A store in memory, shared between clones (and threads) behind a mutex.

use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::engine::Engine;
use crate::event::Event;
use crate::id::{EventId, MemberId};
use crate::id_hash::IdMap;
use crate::ledger::{MemberState, Outcome};
use crate::store::ledger::{check_retry, store_error};
use crate::store::{Commit, CommitStatus, LedgerError, Recorded, Store, Versioned};

/// Members, events and outcomes in memory. Clones share the same data, so several threads can
/// each hold one, like connections to a database.
///
/// [`Ledger::apply`](crate::Ledger::apply) evaluates each event against the stored state by
/// reference and applies its outcome in place, all under the store's lock: no copy of the
/// member's state per event, and no race to retry. The price is that clones applying events at
/// once take turns for the evaluation too; the store is one map behind one lock either way. And
/// should the engine panic (a bug: it refuses bad input with errors), it panics holding the
/// lock, which stays poisoned: the store then refuses service rather than guess whether the
/// state in place was half changed.
///
/// ```
/// use loyalty_engine::{MemberId, MemoryStore, Store};
/// let mut store = MemoryStore::new();
/// let loaded = store.load(&MemberId::new("m-1").unwrap()).unwrap();
/// assert_eq!(loaded.version, 0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    shared: Arc<Mutex<Contents>>,
}

#[derive(Debug, Default)]
struct Contents {
    members: IdMap<MemberId, Versioned>,
    /// Where each recorded event is in `log`: the id is kept once more, as the key, but the
    /// record itself once, and growing the map moves a key and an index, not a record.
    events: IdMap<EventId, usize>,
    /// Every recorded event, in commit order.
    log: Vec<Recorded>,
}

/// The memory store's only failure: a thread panicked while holding its lock.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the memory store's lock was poisoned by a panic in another thread")]
pub struct MemoryStoreError;

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn contents(&self) -> Result<MutexGuard<'_, Contents>, MemoryStoreError> {
        // A panic while the lock is held (an engine bug caught by `MemberState::apply`'s
        // assertions, say) may have left a state half-applied in place: the lock stays
        // poisoned, so the store refuses service rather than serve it.
        self.shared.lock().map_err(|_| MemoryStoreError)
    }

    /// Every committed event with its outcome, in commit order.
    pub fn committed(&self) -> Result<Vec<Recorded>, MemoryStoreError> {
        Ok(self.contents()?.log.clone())
    }

    /// Calls `visit` with every member's state, in member id order (as the database stores do),
    /// each as it is when visited.
    ///
    /// The store is not locked while `visit` runs, so `visit` may use the store (through a
    /// clone), and a panic in it leaves the store working; each state is copied out in turn.
    /// Members a `visit` adds are not visited.
    pub fn for_each_member(&self, mut visit: impl FnMut(&MemberState)) -> Result<(), MemoryStoreError> {
        let mut members: Vec<MemberId> = self.contents()?.members.keys().cloned().collect();
        members.sort_unstable();
        for member in &members {
            let state = self.contents()?.members.get(member).map(|versioned| versioned.state.clone());
            // Members are never removed: a state is there once its id is.
            visit(&state.expect("a member's state stays in the store"));
        }
        Ok(())
    }
}

impl Contents {
    fn recorded(&self, event: &EventId) -> Option<&Recorded> {
        self.events.get(event).and_then(|index| self.log.get(*index))
    }

    /// Appends to the log, under the outcome's event id (the event's own); the caller has
    /// checked that the id is new.
    fn record(&mut self, event: &Event, outcome: Arc<Outcome>) {
        self.events.insert(outcome.event.clone(), self.log.len());
        self.log.push(Recorded { event: event.clone(), outcome });
    }

    /// [`Store::apply`] in place. The stored state is only borrowed until the engine has
    /// accepted the event and its id is known new, so a refused event or a retry leaves it as
    /// it was; from then on nothing can fail.
    fn apply(&mut self, engine: &Engine, event: &Event) -> Result<Arc<Outcome>, LedgerError> {
        if let Some(recorded) = self.recorded(event.id()) {
            check_retry(&recorded.event, event)?;
            return Ok(recorded.outcome.clone());
        }
        let mut outcome = match self.members.get_mut(event.member()) {
            Some(stored) => {
                let outcome = engine.evaluate(&stored.state, event)?;
                stored.state.apply(&outcome);
                // Still counted, so that a commit prepared from an earlier load (through
                // `Store::commit`, which stays available) sees it lost the race.
                stored.version += 1;
                outcome
            }
            None => {
                let mut state = MemberState::new(event.member().clone());
                let outcome = engine.evaluate(&state, event)?;
                state.apply(&outcome);
                self.members.insert(event.member().clone(), Versioned { state, version: 1 });
                outcome
            }
        };
        // The log keeps the outcome for good, so it gives back room the engine reserved and the
        // event did not use (nothing to do when it did, as for most purchases).
        outcome.shrink_to_fit();
        let outcome = Arc::new(outcome);
        self.record(event, Arc::clone(&outcome));
        Ok(outcome)
    }
}

impl Store for MemoryStore {
    type Error = MemoryStoreError;

    fn load(&mut self, member: &MemberId) -> Result<Versioned, MemoryStoreError> {
        let contents = self.contents()?;
        let fresh = || Versioned { state: MemberState::new(member.clone()), version: 0 };
        Ok(contents.members.get(member).cloned().unwrap_or_else(fresh))
    }

    fn recorded(&mut self, event: &EventId) -> Result<Option<Recorded>, MemoryStoreError> {
        Ok(self.contents()?.recorded(event).cloned())
    }

    fn commit(&mut self, commit: Commit<'_>) -> Result<CommitStatus, MemoryStoreError> {
        let mut guard = self.contents()?;
        let contents = &mut *guard;
        let member = contents.members.entry(commit.next_state.member().clone());
        let version = match &member {
            Entry::Occupied(stored) => stored.get().version,
            Entry::Vacant(_) => 0,
        };
        if version != commit.expected_version {
            return Ok(CommitStatus::VersionConflict);
        }
        if contents.events.contains_key(&commit.outcome.event) {
            return Ok(CommitStatus::DuplicateEvent);
        }
        let version = version + 1;
        member.insert_entry(Versioned { state: commit.next_state, version });
        contents.record(commit.event, Arc::new(commit.outcome.clone()));
        Ok(CommitStatus::Committed { version })
    }

    fn apply(&mut self, engine: &Engine, event: &Event) -> Result<Arc<Outcome>, LedgerError> {
        self.contents().map_err(store_error)?.apply(engine, event)
    }
}
