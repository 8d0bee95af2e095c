//! A [`Store`] on SQLite, through rusqlite with SQLite bundled (feature `sqlite`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::engine::Engine;
use crate::event::Event;
use crate::id::{EventId, MemberId};
use crate::ledger::{MemberState, Outcome, Posting};
use crate::store::sql::{self, Encoding, PostingRow, WriteSet};
use crate::store::{Commit, CommitStatus, LedgerError, MAX_COMMIT_ATTEMPTS, Recorded, Store, Versioned};

/// Members, applied events and postings in an SQLite database: one connection per store, so
/// several threads (or processes) each open their own, like [`MemoryStore`](crate::MemoryStore)
/// clones.
///
/// [`open`](SqliteStore::open) configures a file database for concurrent use (WAL journal, a
/// busy timeout of [`BUSY_TIMEOUT`](SqliteStore::BUSY_TIMEOUT), `synchronous = FULL` so that a
/// commit survives a power cut, foreign keys on) and creates or migrates the schema. Every
/// [`commit`](Store::commit) is one `BEGIN IMMEDIATE` transaction: the member row's version check
/// (`UPDATE ... WHERE version = ?`, or an `INSERT` that does nothing on conflict for a member's
/// first commit), the event row (its id unique by constraint) and the posting rows. A version
/// mismatch gives [`CommitStatus::VersionConflict`], a known event id
/// [`CommitStatus::DuplicateEvent`], both with everything rolled back. When another writer holds
/// the database for longer than the busy timeout, `commit` rolls back and answers
/// `VersionConflict` too, so that [`Ledger`](crate::Ledger) retries (and, after
/// [`MAX_COMMIT_ATTEMPTS`], gives up with [`LedgerError::Contended`]).
///
/// ```
/// use loyalty_engine::{Event, Ledger, MemberId, Program, SqliteStore};
///
/// let dir = std::env::temp_dir().join(format!("loyalty-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("loyalty.db");
///
/// let program: Program = serde_json::from_str(r#"{"id": "shop", "currency": "EUR", "owner": "shop",
///   "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "1"}}]}}"#).unwrap();
/// let mut ledger = Ledger::new(program.compile().unwrap(), SqliteStore::open(&path).unwrap());
/// let event: Event = serde_json::from_str(r#"{"type": "purchase", "id": "e-1", "member": "m-1",
///   "at": "2026-03-01T10:00:00Z", "order": "o-1", "lines": [{"sku": "a", "qty": "1", "unit_price": "30"}]}"#).unwrap();
/// let first = ledger.apply(&event).unwrap();
///
/// // Another connection (another process, after a crash) sees the commit, and a resent event
/// // gets the stored outcome instead of a second accrual.
/// let mut again = Ledger::new(ledger.engine().clone(), SqliteStore::open(&path).unwrap());
/// assert_eq!(again.apply(&event).unwrap(), first);
/// let points = again.state(&MemberId::new("m-1").unwrap()).unwrap().points();
/// assert_eq!(points.available.to_string(), "30");
/// assert_eq!(again.store().committed().unwrap().len(), 1);
/// # drop((ledger, again));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
}

/// What went wrong in an [`SqliteStore`]. Variants that come from SQLite carry its error as
/// [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteStoreError {
    /// The path can't name a database file; nothing was opened.
    #[error("`{}` is not a usable SQLite database path: {reason}", path.display())]
    InvalidPath {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// SQLite could not open the file, or it is not a database, or it could not be set up.
    #[error("cannot open the SQLite database `{}`: {source}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database has no loyalty-engine schema.
    #[error("the SQLite database has no loyalty-engine schema: create it with SqliteStore::create_schema")]
    NoSchema,
    /// The database's schema is at another version than this release uses.
    #[error(
        "the SQLite database's loyalty-engine schema is at version {found}, this release uses version {expected} \
         ({})",
        if found < expected { "SqliteStore::create_schema migrates it" } else { "upgrade loyalty-engine" }
    )]
    SchemaVersion {
        /// The version found.
        found: u32,
        /// The version this release uses ([`SqliteStore::SCHEMA_VERSION`]).
        expected: u32,
    },
    /// A commit failed before it was committed (a constraint, an I/O error); the transaction
    /// was rolled back and nothing of the event was written, so applying it again is safe.
    #[error("the commit of event {event} failed and was rolled back, nothing was written: {source}")]
    CommitFailed {
        /// The event being committed.
        event: EventId,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A batch failed before it was committed; it was rolled back and nothing of it was written.
    #[error("a batch of {events} events failed and was rolled back, nothing was written: {source}")]
    BatchFailed {
        /// How many events the batch had.
        events: usize,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// Another connection held the database for longer than the busy timeout; nothing was
    /// written, and trying again later is safe.
    #[error("the SQLite database stayed locked by another connection beyond the busy timeout: {source}")]
    Busy {
        /// SQLite's error (`SQLITE_BUSY` or `SQLITE_LOCKED`).
        #[source]
        source: rusqlite::Error,
    },
    /// A batch kept finding its rows changed by other writers (which SQLite's write lock should
    /// rule out); nothing was written.
    #[error("gave up on a batch of {events} events after {MAX_COMMIT_ATTEMPTS} attempts lost to concurrent writers")]
    Contended {
        /// How many events the batch had.
        events: usize,
    },
    /// A query failed.
    #[error("SQLite query failed: {source}")]
    Query {
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A value did not serialize to JSON, or a stored JSON column does not deserialize.
    #[error("{what} does not round-trip through JSON: {source}")]
    Json {
        /// Which value.
        what: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// A number does not fit its column, or a column holds a value this crate never writes.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which value.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl From<Encoding> for SqliteStoreError {
    fn from(error: Encoding) -> SqliteStoreError {
        match error {
            Encoding::Json { what, source } => SqliteStoreError::Json { what, source },
            Encoding::Malformed { what, detail } => SqliteStoreError::Malformed { what, detail },
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(error.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

fn query_error(source: rusqlite::Error) -> SqliteStoreError {
    if is_busy(&source) { SqliteStoreError::Busy { source } } else { SqliteStoreError::Query { source } }
}

/// What the version and uniqueness checks of a write found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checked {
    Written,
    VersionConflict,
    DuplicateEvent,
}

const LOAD: &str = "SELECT version, state FROM loyalty_members WHERE member = ?1";
const RECORDED: &str = "SELECT event, outcome FROM loyalty_events WHERE event_id = ?1";
const INSERT_MEMBER: &str =
    "INSERT INTO loyalty_members (member, version, state) VALUES (?1, ?2, ?3) ON CONFLICT (member) DO NOTHING";
const UPDATE_MEMBER: &str = "UPDATE loyalty_members SET version = ?3, state = ?4 WHERE member = ?1 AND version = ?2";
const INSERT_EVENT: &str = "INSERT INTO loyalty_events (event_id, member, member_version, event, outcome) \
                            VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (event_id) DO NOTHING";
const INSERT_POSTING: &str = "INSERT INTO loyalty_postings \
                              (event_id, posting_index, member, from_account, to_account, asset, amount, lot) \
                              VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

impl SqliteStore {
    /// The schema version this release reads and writes.
    pub const SCHEMA_VERSION: u32 = 1;

    /// The schema's migrations, in order: `(version, SQL)`, where the SQL brings a database at
    /// the version before to `version` (and records it in `loyalty_schema_version`). Hosts that
    /// manage their own migrations can run these; [`create_schema`](SqliteStore::create_schema)
    /// does it for the others.
    pub const MIGRATIONS: &'static [(u32, &'static str)] = &[(1, include_str!("sql/sqlite_v1.sql"))];

    /// How long [`open`](SqliteStore::open) lets a connection wait for another one's write lock
    /// before SQLite reports the database busy.
    pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

    /// Opens (or creates) the database file at `path`, sets it up for several connections
    /// (WAL journal, [`BUSY_TIMEOUT`](SqliteStore::BUSY_TIMEOUT), `synchronous = FULL`, foreign
    /// keys) and creates or migrates the schema. Each thread or process opens its own store.
    /// URI file names (`file:...`) are passed to SQLite as they are.
    ///
    /// # Errors
    ///
    /// [`SqliteStoreError::InvalidPath`] for an empty path, `:memory:` (use
    /// [`open_in_memory`](SqliteStore::open_in_memory)), a directory or a missing parent
    /// directory; [`SqliteStoreError::Open`] when SQLite can't open it or it is not a database;
    /// [`SqliteStoreError::SchemaVersion`] when the database is from a newer release.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, SqliteStoreError> {
        let path = path.as_ref();
        check_path(path)?;
        let open_error = |source| SqliteStoreError::Open { path: path.to_owned(), source };
        let mut connection = Connection::open(path).map_err(open_error)?;
        configure(&connection).map_err(open_error)?;
        SqliteStore::create_schema(&mut connection).map_err(|error| match error {
            SqliteStoreError::Query { source } | SqliteStoreError::Busy { source } => open_error(source),
            other => other,
        })?;
        Ok(SqliteStore { connection })
    }

    /// A new private database in memory, with the schema: for tests and examples. Unlike
    /// [`MemoryStore`](crate::MemoryStore) it can't be shared between connections.
    ///
    /// # Errors
    ///
    /// [`SqliteStoreError::Open`] if SQLite fails to set it up.
    pub fn open_in_memory() -> Result<SqliteStore, SqliteStoreError> {
        let open_error = |source| SqliteStoreError::Open { path: PathBuf::from(":memory:"), source };
        let mut connection = Connection::open_in_memory().map_err(open_error)?;
        connection.pragma_update(None, "foreign_keys", true).map_err(open_error)?;
        SqliteStore::create_schema(&mut connection)?;
        Ok(SqliteStore { connection })
    }

    /// A store on a connection the host opened and configured itself (its own pragmas, an
    /// encryption key, a VFS). The schema must be there, at [`SCHEMA_VERSION`](SqliteStore::SCHEMA_VERSION).
    ///
    /// # Errors
    ///
    /// [`SqliteStoreError::NoSchema`] or [`SqliteStoreError::SchemaVersion`] if the schema is
    /// missing or at another version; [`SqliteStoreError::Query`] if reading it fails.
    pub fn from_connection(connection: Connection) -> Result<SqliteStore, SqliteStoreError> {
        match schema_version(&connection).map_err(query_error)? {
            None => Err(SqliteStoreError::NoSchema),
            Some(found) if found != SqliteStore::SCHEMA_VERSION => {
                Err(SqliteStoreError::SchemaVersion { found, expected: SqliteStore::SCHEMA_VERSION })
            }
            Some(_) => Ok(SqliteStore { connection }),
        }
    }

    /// Creates the schema in the connection's database, or migrates it to
    /// [`SCHEMA_VERSION`](SqliteStore::SCHEMA_VERSION): runs the [`MIGRATIONS`](SqliteStore::MIGRATIONS)
    /// the database lacks, all in one transaction. Doing it again changes nothing.
    ///
    /// ```
    /// use loyalty_engine::SqliteStore;
    /// let mut connection = rusqlite::Connection::open_in_memory().unwrap();
    /// SqliteStore::create_schema(&mut connection).unwrap();
    /// SqliteStore::create_schema(&mut connection).unwrap();
    /// let version: u32 = connection
    ///     .query_row("SELECT max(version) FROM loyalty_schema_version", [], |row| row.get(0))
    ///     .unwrap();
    /// assert_eq!(version, SqliteStore::SCHEMA_VERSION);
    /// let store = SqliteStore::from_connection(connection).unwrap();
    /// # drop(store);
    /// ```
    ///
    /// # Errors
    ///
    /// [`SqliteStoreError::SchemaVersion`] if the database is from a newer release (nothing is
    /// changed); [`SqliteStoreError::Query`] or [`SqliteStoreError::Busy`] if SQLite fails, in
    /// which case the transaction is rolled back.
    pub fn create_schema(connection: &mut Connection) -> Result<(), SqliteStoreError> {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(query_error)?;
        let current = schema_version(&transaction).map_err(query_error)?.unwrap_or(0);
        if current > SqliteStore::SCHEMA_VERSION {
            return Err(SqliteStoreError::SchemaVersion { found: current, expected: SqliteStore::SCHEMA_VERSION });
        }
        for (_, migration) in SqliteStore::MIGRATIONS.iter().filter(|(version, _)| *version > current) {
            transaction.execute_batch(migration).map_err(query_error)?;
        }
        transaction.commit().map_err(query_error)
    }

    /// The connection, for the host's own queries (reports over `loyalty_postings`, say).
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The connection, giving up the store.
    pub fn into_connection(self) -> Connection {
        self.connection
    }

    /// Every committed event with its outcome, in commit order. Reads the whole table: for
    /// audits, tests and small databases.
    ///
    /// # Errors
    ///
    /// [`SqliteStoreError::Query`] if SQLite fails, [`SqliteStoreError::Json`] if a stored
    /// column does not parse.
    pub fn committed(&self) -> Result<Vec<Recorded>, SqliteStoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT event_id, event, outcome FROM loyalty_events ORDER BY seq")
            .map_err(query_error)?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?)))
            .map_err(query_error)?;
        let mut recorded = Vec::new();
        for row in rows {
            let (id, event, outcome) = row.map_err(query_error)?;
            recorded.push(decode_recorded(&id, &event, &outcome)?);
        }
        Ok(recorded)
    }

    /// A member's postings as the `loyalty_postings` table holds them, in commit order.
    ///
    /// # Errors
    ///
    /// [`SqliteStoreError::Query`] if SQLite fails, [`SqliteStoreError::Malformed`] if a row
    /// holds something this crate never writes.
    pub fn postings(&self, member: &MemberId) -> Result<Vec<Posting>, SqliteStoreError> {
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT p.event_id, p.posting_index, p.from_account, p.to_account, p.asset, p.amount, p.lot \
                 FROM loyalty_postings p JOIN loyalty_events e ON e.event_id = p.event_id \
                 WHERE p.member = ?1 ORDER BY e.seq, p.posting_index",
            )
            .map_err(query_error)?;
        let rows = statement
            .query_map([member.as_str()], |row| {
                let posting = PostingRow {
                    index: row.get(1)?,
                    from: row.get(2)?,
                    to: row.get(3)?,
                    asset: row.get(4)?,
                    amount: row.get(5)?,
                    lot: row.get(6)?,
                };
                Ok((row.get::<_, String>(0)?, posting))
            })
            .map_err(query_error)?;
        let mut postings = Vec::new();
        for row in rows {
            let (event, posting) = row.map_err(query_error)?;
            postings.push(posting.into_posting(&event)?);
        }
        Ok(postings)
    }

    /// Calls `visit` with every member's state, in member id order.
    ///
    /// # Errors
    ///
    /// [`SqliteStoreError::Query`] if SQLite fails, [`SqliteStoreError::Json`] if a state
    /// does not parse.
    pub fn for_each_member(&self, mut visit: impl FnMut(&MemberState)) -> Result<(), SqliteStoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT member, state FROM loyalty_members ORDER BY member")
            .map_err(query_error)?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .map_err(query_error)?;
        for row in rows {
            let (member, state) = row.map_err(query_error)?;
            visit(&sql::from_json::<MemberState>(|| format!("the state of member {member}"), &state)?);
        }
        Ok(())
    }

    /// Applies a batch of events in ONE transaction, each as
    /// [`Ledger::apply`](crate::Ledger::apply) would in turn: an event id applied before (in an
    /// earlier commit or earlier in the batch) gets its first outcome, or [`LedgerError::Conflict`]
    /// if its content differs; an event the engine refuses gets [`LedgerError::Rejected`] and is
    /// skipped; the others are committed together. Each member is loaded once and written once, at
    /// a version raised by the number of its events applied. Much faster than one transaction per
    /// event for imports and replays.
    ///
    /// An applied event's [follow-ups](Outcome::follow_ups) for the batch's own members come
    /// right after it, in the batch, so that their later events in it see them, as one by one;
    /// those for other members (whose rows the batch did not lock) come after the batch, each in
    /// a transaction of its own, as [`Ledger::apply`](crate::Ledger::apply) applies them. One
    /// that fails turns its event's result into [`LedgerError::FollowUpFailed`] (the event
    /// stays applied, and applying the batch again applies the follow-ups it lacks). A
    /// `receive_transfer`, or any event with a follow-up's id, is refused with
    /// [`LedgerError::NotAFollowUp`] unless it is exactly a follow-up that the event its id
    /// names recorded, in the batch or before it.
    ///
    /// ```
    /// use loyalty_engine::{Event, LedgerError, Program, SqliteStore};
    ///
    /// let program: Program = serde_json::from_str(r#"{"id": "shop", "currency": "EUR", "owner": "shop",
    ///   "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "1"}}]},
    ///   "redemption": {"point_value": "0.01"}}"#).unwrap();
    /// let engine = program.compile().unwrap();
    /// let events: Vec<Event> = serde_json::from_str(r#"[
    ///   {"type": "purchase", "id": "e-1", "member": "m-1", "at": "2026-03-01T10:00:00Z", "order": "o-1",
    ///    "lines": [{"sku": "a", "qty": "1", "unit_price": "30"}]},
    ///   {"type": "redeem", "id": "e-2", "member": "m-1", "at": "2026-03-02T10:00:00Z", "points": "50"},
    ///   {"type": "redeem", "id": "e-3", "member": "m-1", "at": "2026-03-02T10:00:00Z", "points": "20"}
    /// ]"#).unwrap();
    /// let mut store = SqliteStore::open_in_memory().unwrap();
    /// let results = store.apply_batch(&engine, &events).unwrap();
    /// assert!(results[0].is_ok());
    /// assert!(matches!(results[1], Err(LedgerError::Rejected(_))), "only 30 points are there");
    /// assert!(results[2].is_ok());
    /// assert_eq!(store.committed().unwrap().len(), 2);
    /// ```
    ///
    /// # Errors
    ///
    /// The outer error means the whole batch failed and nothing of it was written:
    /// [`SqliteStoreError::BatchFailed`], [`SqliteStoreError::Busy`], or an error reading
    /// what is stored.
    pub fn apply_batch(
        &mut self,
        engine: &Engine,
        events: &[Event],
    ) -> Result<Vec<Result<Arc<Outcome>, LedgerError>>, SqliteStoreError> {
        let batch = self.apply_batch_at_once(engine, events)?;
        Ok(sql::apply_follow_ups(self, engine, events, batch))
    }

    /// [`apply_batch`](Self::apply_batch) but for the follow-ups: the batch's events in one
    /// transaction.
    fn apply_batch_at_once(&mut self, engine: &Engine, events: &[Event]) -> Result<sql::Batch, SqliteStoreError> {
        let failed = |source| SqliteStoreError::BatchFailed { events: events.len(), source };
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let transaction =
                self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(query_error)?;
            let (members, ids) = sql::batch_keys(events);
            let mut recorded = HashMap::new();
            for id in ids {
                if let Some(found) = read_recorded(&transaction, &id)? {
                    recorded.insert(id, found);
                }
            }
            let mut loaded = HashMap::new();
            for member in members {
                let versioned = read_member(&transaction, &member)?;
                loaded.insert(member, versioned);
            }
            let plan = sql::plan(engine, events, &recorded, loaded)?;
            match write(&transaction, &plan.writes) {
                Ok(Checked::Written) => {}
                Ok(_) => continue,
                Err(error) if is_busy(&error) => return Err(SqliteStoreError::Busy { source: error }),
                Err(error) => return Err(failed(error)),
            }
            transaction.commit().map_err(|error| {
                if is_busy(&error) { SqliteStoreError::Busy { source: error } } else { failed(error) }
            })?;
            return Ok(plan.applied);
        }
        Err(SqliteStoreError::Contended { events: events.len() })
    }

    fn commit_writes(&mut self, writes: &WriteSet) -> Result<Checked, rusqlite::Error> {
        let transaction = self.connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let checked = write(&transaction, writes)?;
        if checked == Checked::Written {
            transaction.commit()?;
        }
        // Dropping the transaction otherwise rolls it back.
        Ok(checked)
    }
}

impl Store for SqliteStore {
    type Error = SqliteStoreError;

    fn load(&mut self, member: &MemberId) -> Result<Versioned, SqliteStoreError> {
        read_member(&self.connection, member)
    }

    fn recorded(&mut self, event: &EventId) -> Result<Option<Recorded>, SqliteStoreError> {
        read_recorded(&self.connection, event)
    }

    fn commit(&mut self, commit: Commit<'_>) -> Result<CommitStatus, SqliteStoreError> {
        let writes = WriteSet::commit(&commit)?;
        let version = commit.expected_version + 1;
        match self.commit_writes(&writes) {
            Ok(Checked::Written) => Ok(CommitStatus::Committed { version }),
            Ok(Checked::VersionConflict) => Ok(CommitStatus::VersionConflict),
            Ok(Checked::DuplicateEvent) => Ok(CommitStatus::DuplicateEvent),
            // Another connection held the write lock beyond the busy timeout: rolled back,
            // nothing written; let the caller reload and try again.
            Err(error) if is_busy(&error) => Ok(CommitStatus::VersionConflict),
            Err(source) => Err(SqliteStoreError::CommitFailed { event: commit.outcome.event.clone(), source }),
        }
    }
}

fn check_path(path: &Path) -> Result<(), SqliteStoreError> {
    let invalid =
        |reason: &str| Err(SqliteStoreError::InvalidPath { path: path.to_owned(), reason: reason.to_owned() });
    let text = path.to_string_lossy();
    if text.is_empty() {
        return invalid("the path is empty");
    }
    if text == ":memory:" {
        return invalid("use SqliteStore::open_in_memory for a database in memory");
    }
    if text.contains('\0') {
        return invalid("the path contains a NUL byte");
    }
    if text.starts_with("file:") {
        return Ok(());
    }
    if path.is_dir() {
        return invalid("it is a directory");
    }
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() && !parent.is_dir() => {
            invalid(&format!("the directory `{}` does not exist", parent.display()))
        }
        _ => Ok(()),
    }
}

/// The longest pause between two tries for a lock another connection holds.
const BUSY_POLL: Duration = Duration::from_micros(800);

/// Waits for another connection's lock for about [`SqliteStore::BUSY_TIMEOUT`], trying again
/// after 50 µs, then 100, 200, 400 and every 800 µs. SQLite's own busy timeout backs off to
/// 100 ms between tries, which under contention leaves the database idle most of the time.
fn wait_while_busy(tries: i32) -> bool {
    let tries = u32::try_from(tries).unwrap_or(0);
    let limit = SqliteStore::BUSY_TIMEOUT.as_micros() / BUSY_POLL.as_micros();
    if u128::from(tries) > limit {
        return false;
    }
    std::thread::sleep(BUSY_POLL / (1 << 4u32.saturating_sub(tries)));
    true
}

fn configure(connection: &Connection) -> Result<(), rusqlite::Error> {
    connection.busy_handler(Some(wait_while_busy))?;
    use_wal(connection)?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", true)
}

/// Switches the file to write-ahead logging. While other connections open a new file, this
/// answers busy at once, without calling the busy handler, so it waits as the handler would.
fn use_wal(connection: &Connection) -> Result<(), rusqlite::Error> {
    let mut tries = 0;
    loop {
        match connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0)) {
            Err(error) if is_busy(&error) && wait_while_busy(tries) => tries += 1,
            result => return result.map(drop),
        }
    }
}

fn schema_version(connection: &Connection) -> Result<Option<u32>, rusqlite::Error> {
    let exists: bool = connection.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'loyalty_schema_version'",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(None);
    }
    connection.query_row("SELECT max(version) FROM loyalty_schema_version", [], |row| row.get(0))
}

fn read_member(connection: &Connection, member: &MemberId) -> Result<Versioned, SqliteStoreError> {
    let mut statement = connection.prepare_cached(LOAD).map_err(query_error)?;
    let row = statement
        .query_row([member.as_str()], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))
        .optional()
        .map_err(query_error)?;
    let Some((version, state)) = row else {
        return Ok(Versioned { state: MemberState::new(member.clone()), version: 0 });
    };
    let state: MemberState = sql::from_json(|| format!("the state of member {member}"), &state)?;
    if state.member() != member {
        let detail = format!("its row holds the state of member {}", state.member());
        return Err(SqliteStoreError::Malformed { what: format!("member {member}"), detail });
    }
    Ok(Versioned { state, version: sql::from_sql_int("member version", version)? })
}

fn read_recorded(connection: &Connection, event: &EventId) -> Result<Option<Recorded>, SqliteStoreError> {
    let mut statement = connection.prepare_cached(RECORDED).map_err(query_error)?;
    let row = statement
        .query_row([event.as_str()], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
        .optional()
        .map_err(query_error)?;
    row.map(|(stored, outcome)| decode_recorded(event.as_str(), &stored, &outcome)).transpose()
}

fn decode_recorded(id: &str, event: &str, outcome: &str) -> Result<Recorded, SqliteStoreError> {
    Ok(Recorded {
        event: sql::from_json(|| format!("event {id}"), event)?,
        outcome: Arc::new(sql::from_json(|| format!("the outcome of event {id}"), outcome)?),
    })
}

/// Writes members (with their version checks), events (unique ids) and postings, in that
/// order, stopping at the first check that fails; the caller rolls back unless all were written.
fn write(connection: &Connection, writes: &WriteSet) -> Result<Checked, rusqlite::Error> {
    for member in &writes.members {
        let changed = if member.expected_version == 0 {
            connection.prepare_cached(INSERT_MEMBER)?.execute(params![member.member, member.version, member.state])?
        } else {
            connection.prepare_cached(UPDATE_MEMBER)?.execute(params![
                member.member,
                member.expected_version,
                member.version,
                member.state
            ])?
        };
        if changed == 0 {
            return Ok(Checked::VersionConflict);
        }
    }
    let mut insert_event = connection.prepare_cached(INSERT_EVENT)?;
    let mut insert_posting = connection.prepare_cached(INSERT_POSTING)?;
    for event in &writes.events {
        let inserted = insert_event.execute(params![
            event.event_id,
            event.member,
            event.member_version,
            event.event,
            event.outcome
        ])?;
        if inserted == 0 {
            return Ok(Checked::DuplicateEvent);
        }
        for posting in &event.postings {
            insert_posting.execute(params![
                event.event_id,
                posting.index,
                event.member,
                posting.from,
                posting.to,
                posting.asset,
                posting.amount,
                posting.lot
            ])?;
        }
    }
    Ok(Checked::Written)
}
