//! A store in memory, shared between clones (and threads) behind a mutex.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::id::{EventId, MemberId};
use crate::ledger::MemberState;
use crate::store::{Commit, CommitStatus, Recorded, Store, Versioned};

/// Members, events and outcomes in memory. Clones share the same data, so several threads can
/// each hold one, like connections to a database.
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
    members: HashMap<MemberId, Versioned>,
    events: HashMap<EventId, Recorded>,
    commit_order: Vec<EventId>,
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
        self.shared.lock().map_err(|_| MemoryStoreError)
    }

    /// Every committed event with its outcome, in commit order.
    pub fn committed(&self) -> Result<Vec<Recorded>, MemoryStoreError> {
        let contents = self.contents()?;
        Ok(contents.commit_order.iter().map(|id| contents.events[id].clone()).collect())
    }

    /// Calls `visit` with every member's state, in no particular order.
    pub fn for_each_member(&self, mut visit: impl FnMut(&MemberState)) -> Result<(), MemoryStoreError> {
        self.contents()?.members.values().for_each(|versioned| visit(&versioned.state));
        Ok(())
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
        Ok(self.contents()?.events.get(event).cloned())
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
        let Entry::Vacant(event) = contents.events.entry(commit.outcome.event.clone()) else {
            return Ok(CommitStatus::DuplicateEvent);
        };
        event.insert(Recorded { event: commit.event.clone(), outcome: commit.outcome.clone() });
        contents.commit_order.push(commit.outcome.event.clone());
        let version = version + 1;
        member.insert_entry(Versioned { state: commit.next_state, version });
        Ok(CommitStatus::Committed { version })
    }
}
