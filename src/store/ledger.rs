//! The imperative shell: load, evaluate, commit, retry (or whatever the store does instead).

use std::sync::Arc;

use crate::engine::{Engine, EvalError, REFERRAL_FOLLOW_UP, TRANSFER_FOLLOW_UP};
use crate::event::Event;
use crate::id::{EventId, MemberId};
use crate::ledger::{MemberState, Outcome};
use crate::store::{Commit, CommitStatus, Store};

/// How many times [`Ledger::apply`] reloads and re-evaluates after losing a race for the same
/// member before it gives up, on a store that applies through commits (the provided
/// [`Store::apply`]).
pub const MAX_COMMIT_ATTEMPTS: u32 = 16;

/// Applies events to members through a [`Store`]: loads the member, evaluates the event,
/// commits the outcome and the next state atomically, and retries when another writer got
/// there first (a store may do it otherwise, see [`Store::apply`]; the memory store evaluates
/// against its stored state in place). An event id applied before returns the first outcome
/// again and writes nothing.
///
/// ```
/// use loyalty_engine::{Event, Ledger, MemoryStore, Program};
///
/// let program: Program = serde_json::from_str(r#"{"id": "shop", "currency": "EUR", "owner": "shop",
///   "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "1"}}]}}"#).unwrap();
/// let mut ledger = Ledger::new(program.compile().unwrap(), MemoryStore::new());
/// let event: Event = serde_json::from_str(r#"{"type": "purchase", "id": "e-1", "member": "m-1",
///   "at": "2026-03-01T10:00:00Z", "order": "o-1", "lines": [{"sku": "a", "qty": "1", "unit_price": "30"}]}"#).unwrap();
/// let first = ledger.apply(&event).unwrap();
/// let again = ledger.apply(&event).unwrap(); // a retry from the host: no second accrual
/// assert_eq!(first, again);
/// ```
#[derive(Debug)]
pub struct Ledger<S> {
    engine: Engine,
    store: S,
}

/// Why [`Ledger::apply`] did not apply an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The engine refused the event; nothing was written.
    #[error("event refused: {0}")]
    Rejected(#[from] EvalError),
    /// The event id was applied before with different content; nothing was written.
    #[error("event {event} was already applied with different content")]
    Conflict {
        /// The event id.
        event: EventId,
    },
    /// Other writers kept committing for the same member; nothing was written.
    #[error("gave up on event {event} after {MAX_COMMIT_ATTEMPTS} attempts lost to concurrent writers")]
    Contended {
        /// The event id.
        event: EventId,
    },
    /// The event was applied, but one of its follow-ups (a referrer's bonus, a transfer's
    /// recipient) was not: applying the event again applies the follow-ups it lacks.
    #[error("event {event} was applied, but its follow-up {follow_up} was not ({source}): apply {event} again")]
    FollowUpFailed {
        /// The event, which was applied.
        event: EventId,
        /// Its follow-up, which was not.
        follow_up: EventId,
        /// Why not.
        source: Box<LedgerError>,
    },
    /// A `receive_transfer`, or any event whose id has a follow-up's form (ending in
    /// `/transfer` or `/referral`), that is not exactly a follow-up the event its id names
    /// recorded: refused, so that no event takes a follow-up's place or id. Nothing was
    /// written.
    #[error("event {event} is not a follow-up the ledger recorded, yet has a follow-up's type or id")]
    NotAFollowUp {
        /// The event id.
        event: EventId,
    },
    /// The store failed; the commit either happened in full or not at all, and applying the
    /// same event again is safe either way.
    #[error("store failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl<S: Store> Ledger<S> {
    /// A ledger running `engine` over `store`.
    pub fn new(engine: Engine, store: S) -> Ledger<S> {
        Ledger { engine, store }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, for writing outside the ledger.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// A member's state as of its last applied event: nothing has vested or expired since
    /// unless an event settled it ([`Engine::points_at`](crate::Engine::points_at) looks ahead).
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] if the store fails.
    pub fn state(&mut self, member: &MemberId) -> Result<MemberState, LedgerError> {
        Ok(self.store.load(member).map_err(store_error)?.state)
    }

    /// Applies one event exactly once, then its [follow-ups](Outcome::follow_ups) (a referrer's
    /// bonus, a transfer's recipient), each in a commit of its own, and answers the event's
    /// outcome. The outcome is shared so that a store keeping outcomes in memory (to answer
    /// retries with) can record the one it hands out rather than a copy, as
    /// [`MemoryStore`](crate::MemoryStore) does.
    ///
    /// An event applied before has its follow-ups applied again, which applies those that were
    /// not (their ids derive from the event's): after [`LedgerError::FollowUpFailed`], or a
    /// crash between the commits, applying the event again completes it.
    ///
    /// ```
    /// use loyalty_engine::{Event, Ledger, MemberId, MemoryStore, Program};
    ///
    /// let program: Program = serde_json::from_str(r#"{"id": "shop", "currency": "EUR", "owner": "shop",
    ///   "bonuses": [{"id": "friend-joined", "on": "referral", "points": "300"}]}"#).unwrap();
    /// let mut ledger = Ledger::new(program.compile().unwrap(), MemoryStore::new());
    /// let event: Event = serde_json::from_str(r#"{"type": "enroll", "id": "e-1", "member": "m-1",
    ///   "at": "2026-03-01T10:00:00Z", "referred_by": "m-9"}"#).unwrap();
    /// let outcome = ledger.apply(&event).unwrap();
    /// assert_eq!(outcome.follow_ups[0].id().as_str(), "e-1/referral");
    /// let referrer = ledger.state(&MemberId::new("m-9").unwrap()).unwrap();
    /// assert_eq!(referrer.points().available.to_string(), "300");
    /// ```
    ///
    /// # Errors
    ///
    /// See [`LedgerError`]; whatever the error, the store holds either the whole event or
    /// nothing of it, and the same of each follow-up.
    pub fn apply(&mut self, event: &Event) -> Result<Arc<Outcome>, LedgerError> {
        if takes_a_follow_ups_place(event) && !recorded_as_follow_up(&mut self.store, event)? {
            return Err(LedgerError::NotAFollowUp { event: event.id().clone() });
        }
        let outcome = self.store.apply(&self.engine, event)?;
        apply_follow_ups(&mut self.store, &self.engine, event, &outcome, |_| false)?;
        Ok(outcome)
    }
}

/// What [`Store::apply`] does unless a store overrides it: optimistic concurrency over copies.
pub(crate) fn apply_by_commit<S: Store + ?Sized>(
    store: &mut S,
    engine: &Engine,
    event: &Event,
) -> Result<Arc<Outcome>, LedgerError> {
    for _ in 0..MAX_COMMIT_ATTEMPTS {
        // The state first, then the lookup: an event another writer commits between the two is
        // found by the lookup, rather than refused by an evaluation against a state that holds
        // it already (an order placed twice, points spent twice); one committed after both
        // makes this commit fail, and the next attempt finds it.
        let loaded = store.load(event.member()).map_err(store_error)?;
        if let Some(recorded) = store.recorded(event.id()).map_err(store_error)? {
            check_retry(&recorded.event, event)?;
            return Ok(recorded.outcome);
        }
        let outcome = engine.evaluate(&loaded.state, event)?;
        let mut next_state = loaded.state;
        next_state.apply(&outcome);
        let commit = Commit { expected_version: loaded.version, event, outcome: &outcome, next_state };
        match store.commit(commit).map_err(store_error)? {
            CommitStatus::Committed { .. } => return Ok(Arc::new(outcome)),
            CommitStatus::VersionConflict | CommitStatus::DuplicateEvent => continue,
        }
    }
    Err(LedgerError::Contended { event: event.id().clone() })
}

/// For an event whose id was recorded before: a retry gets the first outcome (the caller returns
/// it), but the same id with other content must not pass for a retry.
pub(crate) fn check_retry(recorded: &Event, event: &Event) -> Result<(), LedgerError> {
    if recorded != event {
        return Err(LedgerError::Conflict { event: event.id().clone() });
    }
    Ok(())
}

/// Whether `event` would take a follow-up's place: a `receive_transfer` (only the ledger
/// applies those, as follow-ups), or any event with an id of a follow-up's form (host events
/// may not take the id a follow-up will need).
pub(crate) fn takes_a_follow_ups_place(event: &Event) -> bool {
    let id = event.id();
    matches!(event, Event::ReceiveTransfer(_)) || id.ends_with(TRANSFER_FOLLOW_UP) || id.ends_with(REFERRAL_FOLLOW_UP)
}

/// The id of the event whose follow-up `event` would be, by its id's form.
pub(crate) fn follow_up_source(event: &Event) -> Option<EventId> {
    let id = event.id().as_str();
    let source = id.strip_suffix(TRANSFER_FOLLOW_UP).or_else(|| id.strip_suffix(REFERRAL_FOLLOW_UP))?;
    EventId::new(source).ok()
}

/// Whether `event` is exactly a follow-up that the event its id names recorded.
fn recorded_as_follow_up<S: Store + ?Sized>(store: &mut S, event: &Event) -> Result<bool, LedgerError> {
    let Some(source) = follow_up_source(event) else { return Ok(false) };
    let recorded = store.recorded(&source).map_err(store_error)?;
    Ok(recorded.is_some_and(|recorded| recorded.outcome.follow_ups.contains(event)))
}

/// Applies the follow-ups of `event`'s outcome but those `done`, each in a commit of its own;
/// those applied before answer with their first outcome.
pub(crate) fn apply_follow_ups<S: Store + ?Sized>(
    store: &mut S,
    engine: &Engine,
    event: &Event,
    outcome: &Outcome,
    done: impl Fn(&Event) -> bool,
) -> Result<(), LedgerError> {
    for follow_up in outcome.follow_ups.iter().filter(|follow_up| !done(follow_up)) {
        let applied = store.apply(engine, follow_up).map_err(|error| follow_up_failed(event, follow_up, error))?;
        assert!(applied.follow_ups.is_empty(), "a follow-up causes no follow-up of its own");
    }
    Ok(())
}

/// `event` was applied, and its `follow_up` was not, for `error`.
pub(crate) fn follow_up_failed(event: &Event, follow_up: &Event, error: LedgerError) -> LedgerError {
    LedgerError::FollowUpFailed {
        event: event.id().clone(),
        follow_up: follow_up.id().clone(),
        source: Box::new(error),
    }
}

pub(crate) fn store_error(error: impl std::error::Error + Send + Sync + 'static) -> LedgerError {
    LedgerError::Store(Box::new(error))
}
