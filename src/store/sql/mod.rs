//! What the SQL adapters share: the rows a commit writes, how postings map to columns and back,
//! and the plan of a batch (load once, evaluate in order, write once).
//!
//! The schema, in both databases (see `sqlite_v1.sql` and `postgres_v1.sql` beside this file):
//!
//! - `loyalty_schema_version`: one row per migration applied; the highest is the schema's version.
//! - `loyalty_members`: one row per member, its state as JSON text and a version that every commit
//!   for the member increments (1 after the first). The version check of a commit is
//!   `UPDATE ... WHERE member = ? AND version = ?` (or an `INSERT` that does nothing on conflict,
//!   for a member's first commit) inside the commit's transaction.
//! - `loyalty_events`: one row per applied event, its id the primary key (so an id is unique by
//!   constraint), with the event and its outcome as JSON text and the member version it produced
//!   (unique per member: two commits can never both produce the same version of one member).
//! - `loyalty_postings`: append-only, one row per posting: event, index, member, from, to, asset,
//!   amount (text in SQLite, `NUMERIC` in PostgreSQL), lot.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::engine::{Engine, EvalError};
use crate::event::Event;
use crate::id::{EventId, MemberId};
use crate::ledger::{Asset, LotId, MemberState, Outcome, Posting, PostingId};
use crate::store::{Commit, LedgerError, Recorded, Store, Versioned, ledger};

/// Why a value could not be turned into columns, or columns back into a value.
#[derive(Debug)]
pub(crate) enum Encoding {
    /// A value did not serialize, or stored JSON did not deserialize.
    Json { what: String, source: serde_json::Error },
    /// A number does not fit the column, or a column holds something the adapter never writes.
    Malformed { what: String, detail: String },
}

pub(crate) fn to_json<T: serde::Serialize>(what: impl FnOnce() -> String, value: &T) -> Result<String, Encoding> {
    serde_json::to_string(value).map_err(|source| Encoding::Json { what: what(), source })
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    what: impl FnOnce() -> String,
    text: &str,
) -> Result<T, Encoding> {
    serde_json::from_str(text).map_err(|source| Encoding::Json { what: what(), source })
}

/// A version or lot number as a signed 64-bit column.
pub(crate) fn to_sql_int(what: &str, value: u64) -> Result<i64, Encoding> {
    i64::try_from(value).map_err(|_| Encoding::Malformed {
        what: what.to_owned(),
        detail: format!("{value} does not fit a 64-bit column"),
    })
}

/// A signed 64-bit column as a version or lot number.
pub(crate) fn from_sql_int(what: &str, value: i64) -> Result<u64, Encoding> {
    u64::try_from(value)
        .map_err(|_| Encoding::Malformed { what: what.to_owned(), detail: format!("{value} is negative") })
}

/// One row of `loyalty_postings`, as text and integers.
#[derive(Clone, Debug)]
pub(crate) struct PostingRow {
    pub(crate) index: i32,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) asset: String,
    pub(crate) amount: String,
    pub(crate) lot: Option<i64>,
}

impl PostingRow {
    fn new(posting: &Posting) -> Result<PostingRow, Encoding> {
        let malformed = |detail: String| Encoding::Malformed { what: format!("posting {}", posting.id), detail };
        Ok(PostingRow {
            index: i32::try_from(posting.id.index).map_err(|_| malformed("its index does not fit".to_owned()))?,
            from: posting.from.to_string(),
            to: posting.to.to_string(),
            asset: posting.asset.to_string(),
            amount: posting.amount.to_string(),
            lot: posting.lot.map(|lot| to_sql_int("lot id", lot.0)).transpose()?,
        })
    }

    /// The posting a row holds, checking every column.
    pub(crate) fn into_posting(self, event: &str) -> Result<Posting, Encoding> {
        let malformed =
            |detail: String| Encoding::Malformed { what: format!("posting {event}#{}", self.index), detail };
        let event = EventId::new(event).map_err(|error| malformed(error.to_string()))?;
        let index = u32::try_from(self.index).map_err(|_| malformed("negative index".to_owned()))?;
        let from = self.from.parse().map_err(|error: crate::ledger::AccountParseError| malformed(error.to_string()))?;
        let to = self.to.parse().map_err(|error: crate::ledger::AccountParseError| malformed(error.to_string()))?;
        let asset: Asset = serde_json::from_value(serde_json::Value::String(self.asset.clone()))
            .map_err(|_| malformed(format!("`{}` is not an asset", self.asset)))?;
        let amount: Decimal =
            self.amount.parse().map_err(|_| malformed(format!("`{}` is not a decimal amount", self.amount)))?;
        let lot = self.lot.map(|lot| from_sql_int("lot id", lot).map(LotId)).transpose()?;
        Ok(Posting { id: PostingId { event, index }, from, to, asset, amount, lot })
    }
}

/// The member row a commit writes: `INSERT` when `expected_version` is 0, else `UPDATE ... WHERE
/// version = expected_version`.
#[derive(Clone, Debug)]
pub(crate) struct MemberWrite {
    pub(crate) member: String,
    pub(crate) expected_version: i64,
    pub(crate) version: i64,
    pub(crate) state: String,
}

/// The event row and posting rows a commit writes.
#[derive(Clone, Debug)]
pub(crate) struct EventWrite {
    pub(crate) event_id: String,
    pub(crate) member: String,
    pub(crate) member_version: i64,
    pub(crate) event: String,
    pub(crate) outcome: String,
    pub(crate) postings: Vec<PostingRow>,
}

/// Everything one transaction writes: members first (the version checks), then events (the
/// uniqueness checks), then postings.
#[derive(Clone, Debug, Default)]
pub(crate) struct WriteSet {
    pub(crate) members: Vec<MemberWrite>,
    pub(crate) events: Vec<EventWrite>,
}

impl WriteSet {
    /// The rows of one [`Commit`].
    pub(crate) fn commit(commit: &Commit<'_>) -> Result<WriteSet, Encoding> {
        let member = commit.next_state.member();
        let version = commit.expected_version.checked_add(1).ok_or_else(|| Encoding::Malformed {
            what: format!("member {member}'s version"),
            detail: "cannot be incremented".to_owned(),
        })?;
        let mut writes = WriteSet::default();
        writes.push_member(&commit.next_state, commit.expected_version, version)?;
        writes.push_event(commit.event, commit.outcome, version)?;
        Ok(writes)
    }

    fn push_member(&mut self, state: &MemberState, expected_version: u64, version: u64) -> Result<(), Encoding> {
        let member = state.member();
        self.members.push(MemberWrite {
            member: member.to_string(),
            expected_version: to_sql_int("member version", expected_version)?,
            version: to_sql_int("member version", version)?,
            state: to_json(|| format!("the state of member {member}"), state)?,
        });
        Ok(())
    }

    fn push_event(&mut self, event: &Event, outcome: &Outcome, member_version: u64) -> Result<(), Encoding> {
        let id = &outcome.event;
        self.events.push(EventWrite {
            event_id: id.to_string(),
            member: outcome.member.to_string(),
            member_version: to_sql_int("member version", member_version)?,
            event: to_json(|| format!("event {id}"), event)?,
            outcome: to_json(|| format!("the outcome of event {id}"), outcome)?,
            postings: outcome.postings.iter().map(PostingRow::new).collect::<Result<_, _>>()?,
        });
        Ok(())
    }
}

/// What a batch does, decided in memory from what the transaction read.
pub(crate) struct Plan {
    /// What the batch gives back once written.
    pub(crate) applied: Batch,
    /// The rows to write.
    pub(crate) writes: WriteSet,
}

/// What a batch gave, before the follow-ups it leaves for after it.
pub(crate) struct Batch {
    /// One result per event of the batch, in order, as [`Ledger::apply`](crate::Ledger::apply)
    /// would give it.
    results: Vec<Result<Arc<Outcome>, LedgerError>>,
    /// The follow-ups the batch applied (or found refused) right after their events.
    follow_ups_done: HashSet<EventId>,
}

/// Applies the follow-ups of a batch's applied events that the batch did not, each in a commit
/// of its own, after the batch's: for members the batch did not lock, and for events applied
/// before the batch. A follow-up that fails turns its event's result into
/// [`LedgerError::FollowUpFailed`]. Gives the batch's results.
pub(crate) fn apply_follow_ups<S: Store>(
    store: &mut S,
    engine: &Engine,
    events: &[Event],
    batch: Batch,
) -> Vec<Result<Arc<Outcome>, LedgerError>> {
    let Batch { mut results, follow_ups_done } = batch;
    for (event, result) in events.iter().zip(results.iter_mut()) {
        let Ok(outcome) = result else { continue };
        let outcome = Arc::clone(outcome);
        let done = |follow_up: &Event| follow_ups_done.contains(follow_up.id());
        if let Err(error) = ledger::apply_follow_ups(store, engine, event, &outcome, done) {
            *result = Err(error);
        }
    }
    results
}

/// The members and event ids a batch touches, each once, members sorted (the order in which a
/// transaction locks them, so that two batches never wait for each other in a cycle). The ids
/// include, for an event in a follow-up's place, the event whose follow-up it must be.
pub(crate) fn batch_keys(events: &[Event]) -> (Vec<MemberId>, Vec<EventId>) {
    let mut members: Vec<MemberId> = events.iter().map(|event| event.member().clone()).collect();
    members.sort();
    members.dedup();
    let sources =
        events.iter().filter(|event| ledger::takes_a_follow_ups_place(event)).filter_map(ledger::follow_up_source);
    let mut ids: Vec<EventId> = events.iter().map(|event| event.id().clone()).chain(sources).collect();
    ids.sort();
    ids.dedup();
    (members, ids)
}

/// Applies a batch in memory, as [`Ledger::apply`](crate::Ledger::apply) would apply each event in
/// turn, given the recorded events and the member states the transaction read (members missing
/// from `loaded` are new). Each member's row is written once, at the version its last event made.
/// An event's follow-ups to the batch's own members are applied right after it, as the ledger
/// would, so that their later events in the batch see them; the others come after the batch
/// (their members' rows are not locked).
pub(crate) fn plan(
    engine: &Engine,
    events: &[Event],
    recorded: &HashMap<EventId, Recorded>,
    loaded: HashMap<MemberId, Versioned>,
) -> Result<Plan, Encoding> {
    let in_batch: BTreeSet<&MemberId> = events.iter().map(Event::member).collect();
    let mut members: BTreeMap<MemberId, PlannedMember> = loaded
        .into_iter()
        .map(|(member, versioned)| (member, PlannedMember { loaded_version: versioned.version, current: versioned }))
        .collect();
    let mut applied = Applied::default();
    let mut results: Vec<Result<Arc<Outcome>, LedgerError>> = Vec::with_capacity(events.len());
    let mut follow_ups_done = HashSet::new();
    for event in events {
        let earlier = applied.get(event.id()).or_else(|| recorded.get(event.id()).map(|r| (&r.event, &r.outcome)));
        if let Some((first, outcome)) = earlier {
            let result = if first == event {
                Ok(Arc::clone(outcome))
            } else {
                Err(LedgerError::Conflict { event: event.id().clone() })
            };
            results.push(result);
            continue;
        }
        if ledger::takes_a_follow_ups_place(event) && !recorded_as_follow_up(recorded, event) {
            results.push(Err(LedgerError::NotAFollowUp { event: event.id().clone() }));
            continue;
        }
        let result = apply_in_memory(engine, &mut members, event).map_err(LedgerError::Rejected);
        let result = result.and_then(|(outcome, version)| {
            applied.push(event.clone(), Arc::clone(&outcome), version);
            for follow_up in outcome.follow_ups.iter().filter(|follow_up| in_batch.contains(follow_up.member())) {
                follow_ups_done.insert(follow_up.id().clone());
                // The event stays applied, as when the ledger's follow-up fails.
                let (follow_up_outcome, version) = apply_in_memory(engine, &mut members, follow_up)
                    .map_err(|error| ledger::follow_up_failed(event, follow_up, LedgerError::Rejected(error)))?;
                applied.push(follow_up.clone(), follow_up_outcome, version);
            }
            Ok(outcome)
        });
        results.push(result);
    }
    let mut writes = WriteSet::default();
    for member in members.values().filter(|member| member.current.version != member.loaded_version) {
        writes.push_member(&member.current.state, member.loaded_version, member.current.version)?;
    }
    for (event, outcome, member_version) in &applied.events {
        writes.push_event(event, outcome, *member_version)?;
    }
    Ok(Plan { applied: Batch { results, follow_ups_done }, writes })
}

/// Whether `event` is exactly a follow-up that the event its id names recorded before the batch.
fn recorded_as_follow_up(recorded: &HashMap<EventId, Recorded>, event: &Event) -> bool {
    let source = ledger::follow_up_source(event).and_then(|source| recorded.get(&source));
    source.is_some_and(|source| source.outcome.follow_ups.contains(event))
}

/// A member a batch touches: the version read, and the state and version as the batch leaves it.
struct PlannedMember {
    loaded_version: u64,
    current: Versioned,
}

/// The events a batch applies, in order, with their outcomes and the member versions they made.
#[derive(Default)]
struct Applied {
    events: Vec<(Event, Arc<Outcome>, u64)>,
    by_id: HashMap<EventId, usize>,
}

impl Applied {
    fn push(&mut self, event: Event, outcome: Arc<Outcome>, member_version: u64) {
        self.by_id.insert(event.id().clone(), self.events.len());
        self.events.push((event, outcome, member_version));
    }

    fn get(&self, id: &EventId) -> Option<(&Event, &Arc<Outcome>)> {
        self.by_id.get(id).map(|index| (&self.events[*index].0, &self.events[*index].1))
    }
}

/// Evaluates `event` against its member's state as the batch left it, and moves the state on.
fn apply_in_memory(
    engine: &Engine,
    members: &mut BTreeMap<MemberId, PlannedMember>,
    event: &Event,
) -> Result<(Arc<Outcome>, u64), EvalError> {
    let member = members.entry(event.member().clone()).or_insert_with(|| PlannedMember {
        loaded_version: 0,
        current: Versioned { state: MemberState::new(event.member().clone()), version: 0 },
    });
    let outcome = engine.evaluate(&member.current.state, event)?;
    member.current.state.apply(&outcome);
    member.current.version += 1;
    Ok((Arc::new(outcome), member.current.version))
}
