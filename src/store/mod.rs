//! Persistence: the [`Store`] trait, the in-memory store and the [`Ledger`] shell.

mod ledger;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "postgres")]
pub use self::postgres::{PostgresStore, PostgresStoreError};
pub use ledger::{Ledger, LedgerError, MAX_COMMIT_ATTEMPTS};
pub use memory::{MemoryStore, MemoryStoreError};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, SqliteStoreError};

use std::sync::Arc;

use crate::engine::Engine;
use crate::event::Event;
use crate::id::{EventId, MemberId};
use crate::ledger::{MemberState, Outcome};

/// Where members' states, applied events and postings live.
///
/// Designed for one database transaction per commit: `commit` writes the outcome's postings,
/// the event id (unique by constraint) with its outcome, and the member's next state, but only
/// if the member's version is still the one loaded. Event ids are unique across the whole
/// ledger; a store partitioned by member must keep them unique across partitions, for instance
/// by giving every host its own prefix of ids. Otherwise members are independent, so a store
/// can partition them across machines freely.
///
/// [`Ledger::apply`] goes through [`apply`](Store::apply), whose provided implementation is
/// built on the other three methods; a store that holds its states in memory overrides it.
pub trait Store {
    /// What goes wrong in the store itself (I/O, a lost connection).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Loads a member's state and version; a member never seen is a new state at version 0.
    fn load(&mut self, member: &MemberId) -> Result<Versioned, Self::Error>;

    /// The event recorded under this id with its outcome, if one was committed.
    fn recorded(&mut self, event: &EventId) -> Result<Option<Recorded>, Self::Error>;

    /// Atomically records the event, its outcome and postings, and the member's next state,
    /// if the member is still at `expected_version` and the event id is new. Otherwise
    /// changes nothing and says why.
    fn commit(&mut self, commit: Commit<'_>) -> Result<CommitStatus, Self::Error>;

    /// Applies one event exactly once, as [`Ledger::apply`] documents (the host calls that; this
    /// is where a store chooses how). The provided implementation suits a store whose states live
    /// elsewhere, such as a database: it [`load`](Store::load)s a copy of the member, checks
    /// [`recorded`](Store::recorded) (in that order, so that the same event committed by another
    /// writer in between is found, not evaluated twice), evaluates, and
    /// [`commit`](Store::commit)s if nobody wrote for the member meanwhile, retrying up to
    /// [`MAX_COMMIT_ATTEMPTS`] times. A retry of an event recorded before pays for the load too.
    ///
    /// A store that holds states in memory, under a lock, can instead evaluate against the stored
    /// state by reference and apply the outcome to it in place, so that an event costs what it
    /// touches rather than a copy of everything the member holds ([`MemoryStore`] does). An
    /// override must keep the contract: an event id recorded before answers its first outcome,
    /// or [`LedgerError::Conflict`] if the content differs; an event the engine refuses changes
    /// nothing; and the store holds the whole event or nothing of it.
    ///
    /// It applies the one event it is given: [`Ledger::apply`] applies the outcome's
    /// [follow-ups](Outcome::follow_ups) after it, and refuses events that would take a
    /// follow-up's place ([`LedgerError::NotAFollowUp`]) before it.
    ///
    /// # Errors
    ///
    /// As [`Ledger::apply`], but for [`LedgerError::FollowUpFailed`] and
    /// [`LedgerError::NotAFollowUp`].
    fn apply(&mut self, engine: &Engine, event: &Event) -> Result<Arc<Outcome>, LedgerError> {
        ledger::apply_by_commit(self, engine, event)
    }
}

/// A member's state with the version it was stored at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// The state.
    pub state: MemberState,
    /// Incremented by every commit for the member; 0 before the first.
    pub version: u64,
}

/// An applied event as the store recorded it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The event as first applied.
    pub event: Event,
    /// Its outcome. Shared, so that a store keeping outcomes in memory can hand out the one it
    /// keeps ([`MemoryStore`] does); a database store answers one decoded from its record.
    pub outcome: Arc<Outcome>,
}

/// What one commit writes. The next state is handed over, so a store that keeps states in
/// memory needs no copy.
#[derive(Clone, Debug)]
pub struct Commit<'a> {
    /// The version the state was loaded at.
    pub expected_version: u64,
    /// The event applied.
    pub event: &'a Event,
    /// What it produced.
    pub outcome: &'a Outcome,
    /// The member's state after it.
    pub next_state: MemberState,
}

/// How a commit went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitStatus {
    /// Written; the member is now at this version.
    Committed {
        /// The member's new version.
        version: u64,
    },
    /// Someone committed for this member since the load; nothing was written.
    VersionConflict,
    /// The event id was already recorded; nothing was written.
    DuplicateEvent,
}
