//! A [`Store`] on PostgreSQL, through the synchronous `postgres` client (feature `postgres`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::postgres::config::Host;
use ::postgres::error::SqlState;
use ::postgres::types::FromSql;
use ::postgres::{Client, Config, GenericClient, NoTls, Row, Statement, Transaction};

use crate::engine::Engine;
use crate::event::Event;
use crate::id::{EventId, MemberId};
use crate::ledger::{MemberState, Outcome, Posting};
use crate::store::sql::{self, Encoding, PostingRow, WriteSet};
use crate::store::{Commit, CommitStatus, LedgerError, MAX_COMMIT_ATTEMPTS, Recorded, Store, Versioned};

/// Members, applied events and postings in a PostgreSQL database, over one connection: each
/// thread or process connects its own store.
///
/// Every [`commit`](Store::commit) is one transaction (read committed is enough): the member
/// row's version check (`UPDATE ... WHERE version = $expected`, or an `INSERT ... ON CONFLICT DO
/// NOTHING` for a member's first commit, which waits for a concurrent first commit and then does
/// nothing), the event row (its id unique by constraint, `ON CONFLICT DO NOTHING`) and the
/// posting rows (one statement over arrays). A version mismatch gives
/// [`CommitStatus::VersionConflict`], a known event id [`CommitStatus::DuplicateEvent`], both
/// rolled back. A serialization failure or a deadlock (SQLSTATE `40001`, `40P01`, which
/// serializable or distributed databases report under contention) is rolled back and answered
/// `VersionConflict` too, so that [`Ledger`](crate::Ledger) retries.
///
/// Tables are unqualified, so they live in the first schema of the connection's `search_path`:
/// to keep them in a schema of their own, add `options=-csearch_path%3Dloyalty` to the URL.
/// The connection has no TLS; for TLS, connect a [`postgres::Client`] with a TLS connector and
/// use [`from_client`](PostgresStore::from_client).
///
/// ```no_run
/// use loyalty_engine::{Ledger, PostgresStore, Program};
///
/// let url = std::env::var("DATABASE_URL").unwrap(); // postgresql://app@localhost/shop
/// let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
/// PostgresStore::create_schema(&mut client).unwrap(); // once, at deployment; idempotent
///
/// let program: Program = serde_json::from_str(r#"{"id": "shop", "currency": "EUR", "owner": "shop",
///   "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "1"}}]}}"#).unwrap();
/// let mut ledger = Ledger::new(program.compile().unwrap(), PostgresStore::connect(&url).unwrap());
/// ```
pub struct PostgresStore {
    client: Client,
    statements: Statements,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("PostgresStore").field("closed", &self.client.is_closed()).finish_non_exhaustive()
    }
}

/// What went wrong in a [`PostgresStore`]. Variants that come from PostgreSQL carry the
/// client's error as [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresStoreError {
    /// The URL (or `key=value` connection string) does not parse or names no host; nothing was
    /// connected. The message never repeats the URL, which may hold a password.
    #[error("invalid PostgreSQL connection URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
        /// The client's parse error, if it came from parsing.
        #[source]
        source: Option<::postgres::Error>,
    },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL at {target}: {}", describe(source))]
    Connect {
        /// `user@host:port/database`, without the password.
        target: String,
        /// The client's error.
        #[source]
        source: ::postgres::Error,
    },
    /// The database has no loyalty-engine schema in the connection's `search_path`.
    #[error(
        "the PostgreSQL database has no loyalty-engine schema in its search_path: create it with \
         PostgresStore::create_schema"
    )]
    NoSchema,
    /// The database's schema is at another version than this release uses.
    #[error(
        "the PostgreSQL database's loyalty-engine schema is at version {found}, this release uses version \
         {expected} ({})",
        if found < expected { "PostgresStore::create_schema migrates it" } else { "upgrade loyalty-engine" }
    )]
    SchemaVersion {
        /// The version found.
        found: u32,
        /// The version this release uses ([`PostgresStore::SCHEMA_VERSION`]).
        expected: u32,
    },
    /// A commit failed before it was committed (a constraint, a lost connection, an error the
    /// server reported); it was rolled back and nothing of the event was written.
    #[error("the commit of event {event} failed and was rolled back, nothing was written: {}", describe(source))]
    CommitFailed {
        /// The event being committed.
        event: EventId,
        /// The client's error.
        #[source]
        source: ::postgres::Error,
    },
    /// The connection failed while the `COMMIT` itself was on its way: the event may or may
    /// not have been committed. Applying it again through [`Ledger`](crate::Ledger) is safe:
    /// a committed event is answered with its stored outcome.
    #[error(
        "the connection failed while committing event {event}, so it may or may not have been written; \
         apply it again to find out (a committed event is answered with its stored outcome): {}",
        describe(source)
    )]
    CommitUncertain {
        /// The event being committed.
        event: EventId,
        /// The client's error.
        #[source]
        source: ::postgres::Error,
    },
    /// A batch failed before it was committed; it was rolled back and nothing of it was written.
    #[error("a batch of {events} events failed and was rolled back, nothing was written: {}", describe(source))]
    BatchFailed {
        /// How many events the batch had.
        events: usize,
        /// The client's error.
        #[source]
        source: ::postgres::Error,
    },
    /// The connection failed while a batch's `COMMIT` was on its way: it may or may not have
    /// been committed, entirely or not at all. Applying it again is safe.
    #[error(
        "the connection failed while committing a batch of {events} events, so it may or may not have been \
         written (entirely or not at all); apply it again to find out: {}",
        describe(source)
    )]
    BatchUncertain {
        /// How many events the batch had.
        events: usize,
        /// The client's error.
        #[source]
        source: ::postgres::Error,
    },
    /// A batch lost [`MAX_COMMIT_ATTEMPTS`] races in a row to concurrent writers; nothing was
    /// written.
    #[error("gave up on a batch of {events} events after {MAX_COMMIT_ATTEMPTS} attempts lost to concurrent writers")]
    Contended {
        /// How many events the batch had.
        events: usize,
    },
    /// A query failed.
    #[error("PostgreSQL query failed: {}", describe(source))]
    Query {
        /// The client's error.
        #[source]
        source: ::postgres::Error,
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

impl From<Encoding> for PostgresStoreError {
    fn from(error: Encoding) -> PostgresStoreError {
        match error {
            Encoding::Json { what, source } => PostgresStoreError::Json { what, source },
            Encoding::Malformed { what, detail } => PostgresStoreError::Malformed { what, detail },
        }
    }
}

/// The client's error with its causes: its own message is often just "db error".
fn describe(error: &::postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn query_error(source: ::postgres::Error) -> PostgresStoreError {
    PostgresStoreError::Query { source }
}

/// A serialization failure or a deadlock: the server rolled the transaction back, and trying
/// again on fresh data is the cure.
fn is_retryable(error: &::postgres::Error) -> bool {
    matches!(error.code(), Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED)
}

/// Whether an error answering a `COMMIT` says for sure that the transaction rolled back: an
/// `ERROR` (a deferred constraint, a serialization failure) does; a lost connection, or a
/// `FATAL` that ends the session (a server shutting down), leaves it open whether the commit
/// record was written first.
fn rolled_back(error: &::postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| db.severity() == "ERROR")
}

/// What the version and uniqueness checks of a write found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checked {
    Written,
    VersionConflict,
    DuplicateEvent,
}

/// How a transaction failed: before its `COMMIT` (rolled back for sure) or during it.
enum Failure {
    Before(::postgres::Error),
    During(::postgres::Error),
}

struct Statements {
    load: Statement,
    recorded: Statement,
    lock_members: Statement,
    recorded_many: Statement,
    insert_members: Statement,
    update_members: Statement,
    insert_events: Statement,
    insert_postings: Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> Result<Statements, ::postgres::Error> {
        Ok(Statements {
            load: client.prepare("SELECT version, state FROM loyalty_members WHERE member = $1")?,
            recorded: client.prepare("SELECT event, outcome FROM loyalty_events WHERE event_id = $1")?,
            lock_members: client.prepare(
                "SELECT member, version, state FROM loyalty_members WHERE member = ANY($1) ORDER BY member FOR UPDATE",
            )?,
            recorded_many: client
                .prepare("SELECT event_id, event, outcome FROM loyalty_events WHERE event_id = ANY($1)")?,
            insert_members: client.prepare(
                "INSERT INTO loyalty_members (member, version, state) \
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::text[]) \
                 ON CONFLICT (member) DO NOTHING",
            )?,
            update_members: client.prepare(
                "UPDATE loyalty_members AS m SET version = u.version, state = u.state \
                 FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[]) AS u (member, expected, version, state) \
                 WHERE m.member = u.member AND m.version = u.expected",
            )?,
            insert_events: client.prepare(
                "INSERT INTO loyalty_events (event_id, member, member_version, event, outcome) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[]) \
                 ON CONFLICT (event_id) DO NOTHING",
            )?,
            insert_postings: client.prepare(
                "INSERT INTO loyalty_postings \
                 (event_id, posting_index, member, from_account, to_account, asset, amount, lot) \
                 SELECT e, i, m, f, t, a, amount::numeric, l \
                 FROM unnest($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                             $8::int8[]) AS p (e, i, m, f, t, a, amount, l)",
            )?,
        })
    }
}

impl PostgresStore {
    /// The schema version this release reads and writes.
    pub const SCHEMA_VERSION: u32 = 1;

    /// The schema's migrations, in order: `(version, SQL)`, where the SQL brings a database at
    /// the version before to `version` (and records it in `loyalty_schema_version`). Hosts that
    /// manage their own migrations (or use an async client) can run these;
    /// [`create_schema`](PostgresStore::create_schema) does it for the others.
    pub const MIGRATIONS: &'static [(u32, &'static str)] = &[(1, include_str!("sql/postgres_v1.sql"))];

    /// How long [`connect`](PostgresStore::connect) waits for the server when the URL sets no
    /// `connect_timeout`.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Connects without TLS to the database a URL (`postgresql://user:password@host:port/db`,
    /// `postgresql:///db?host=/run/postgresql` for a Unix socket) or a `key=value` string names,
    /// and checks its schema.
    ///
    /// # Errors
    ///
    /// [`PostgresStoreError::InvalidUrl`] for a URL that does not parse or names no host,
    /// [`PostgresStoreError::Connect`] when the server can't be reached or refuses,
    /// [`PostgresStoreError::NoSchema`] or [`PostgresStoreError::SchemaVersion`] when the
    /// schema is missing or at another version.
    pub fn connect(url: &str) -> Result<PostgresStore, PostgresStoreError> {
        let config = parse_url(url)?;
        let client =
            config.connect(NoTls).map_err(|source| PostgresStoreError::Connect { target: target(&config), source })?;
        PostgresStore::from_client(client)
    }

    /// A store on a client the host connected itself (with TLS, say). The schema must be
    /// there, at [`SCHEMA_VERSION`](PostgresStore::SCHEMA_VERSION).
    ///
    /// # Errors
    ///
    /// [`PostgresStoreError::NoSchema`] or [`PostgresStoreError::SchemaVersion`] when the
    /// schema is missing or at another version; [`PostgresStoreError::Query`] if a query fails.
    pub fn from_client(mut client: Client) -> Result<PostgresStore, PostgresStoreError> {
        match schema_version(&mut client).map_err(query_error)? {
            None => return Err(PostgresStoreError::NoSchema),
            Some(found) if found != PostgresStore::SCHEMA_VERSION => {
                return Err(PostgresStoreError::SchemaVersion { found, expected: PostgresStore::SCHEMA_VERSION });
            }
            Some(_) => {}
        }
        let statements = Statements::prepare(&mut client).map_err(query_error)?;
        Ok(PostgresStore { client, statements })
    }

    /// Creates the schema in the first schema of the client's `search_path`, or migrates it to
    /// [`SCHEMA_VERSION`](PostgresStore::SCHEMA_VERSION): runs the
    /// [`MIGRATIONS`](PostgresStore::MIGRATIONS) the database lacks, all in one transaction.
    /// Doing it again changes nothing. Run it from one process at a time (a deployment step).
    ///
    /// # Errors
    ///
    /// [`PostgresStoreError::SchemaVersion`] if the database is from a newer release (nothing
    /// is changed); [`PostgresStoreError::Query`] if a statement fails, in which case the
    /// transaction is rolled back.
    pub fn create_schema(client: &mut Client) -> Result<(), PostgresStoreError> {
        let mut transaction = client.transaction().map_err(query_error)?;
        let current = schema_version(&mut transaction).map_err(query_error)?.unwrap_or(0);
        if current > PostgresStore::SCHEMA_VERSION {
            return Err(PostgresStoreError::SchemaVersion { found: current, expected: PostgresStore::SCHEMA_VERSION });
        }
        for (_, migration) in PostgresStore::MIGRATIONS.iter().filter(|(version, _)| *version > current) {
            transaction.batch_execute(migration).map_err(query_error)?;
        }
        transaction.commit().map_err(query_error)
    }

    /// The client, for the host's own queries (reports over `loyalty_postings`, say).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The client, giving up the store.
    pub fn into_client(self) -> Client {
        self.client
    }

    /// Every committed event with its outcome: member by member, each member's events in commit
    /// order. Reads the whole table: for audits, tests and small databases.
    ///
    /// # Errors
    ///
    /// [`PostgresStoreError::Query`] if a query fails, [`PostgresStoreError::Json`] if a stored
    /// column does not parse.
    pub fn committed(&mut self) -> Result<Vec<Recorded>, PostgresStoreError> {
        let rows = self
            .client
            .query("SELECT event_id, event, outcome FROM loyalty_events ORDER BY member, member_version", &[])
            .map_err(query_error)?;
        rows.iter().map(|row| decode_recorded(column(row, 0)?, column(row, 1)?, column(row, 2)?)).collect()
    }

    /// A member's postings as the `loyalty_postings` table holds them, in commit order.
    ///
    /// # Errors
    ///
    /// [`PostgresStoreError::Query`] if a query fails, [`PostgresStoreError::Malformed`] if a
    /// row holds something this crate never writes.
    pub fn postings(&mut self, member: &MemberId) -> Result<Vec<Posting>, PostgresStoreError> {
        let rows = self
            .client
            .query(
                "SELECT p.event_id, p.posting_index, p.from_account, p.to_account, p.asset, p.amount::text, p.lot \
                 FROM loyalty_postings p JOIN loyalty_events e ON e.event_id = p.event_id \
                 WHERE p.member = $1 ORDER BY e.member_version, p.posting_index",
                &[&member.as_str()],
            )
            .map_err(query_error)?;
        let mut postings = Vec::with_capacity(rows.len());
        for row in rows {
            let posting = PostingRow {
                index: column(&row, 1)?,
                from: column(&row, 2)?,
                to: column(&row, 3)?,
                asset: column(&row, 4)?,
                amount: column(&row, 5)?,
                lot: column(&row, 6)?,
            };
            postings.push(posting.into_posting(column(&row, 0)?)?);
        }
        Ok(postings)
    }

    /// Calls `visit` with every member's state, in member id order.
    ///
    /// # Errors
    ///
    /// [`PostgresStoreError::Query`] if a query fails, [`PostgresStoreError::Json`] if a state
    /// does not parse.
    pub fn for_each_member(&mut self, mut visit: impl FnMut(&MemberState)) -> Result<(), PostgresStoreError> {
        let rows =
            self.client.query("SELECT member, state FROM loyalty_members ORDER BY member", &[]).map_err(query_error)?;
        for row in rows {
            let member: &str = column(&row, 0)?;
            visit(&sql::from_json::<MemberState>(|| format!("the state of member {member}"), column(&row, 1)?)?);
        }
        Ok(())
    }

    /// Applies a batch of events in ONE transaction, each as
    /// [`Ledger::apply`](crate::Ledger::apply) would in turn: an event id applied before (in an
    /// earlier commit or earlier in the batch) gets its first outcome, or [`LedgerError::Conflict`]
    /// if its content differs; an event the engine refuses gets [`LedgerError::Rejected`] and is
    /// skipped; the others are committed together. The batch's members are locked (`SELECT ... FOR
    /// UPDATE`, in member order), loaded once and written once, at a version raised by the number
    /// of their events applied; a race lost to another writer rolls the batch back and runs it
    /// again. A handful of round trips per batch instead of several per event: for imports and
    /// replays.
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
    /// # Errors
    ///
    /// The outer error means the whole batch failed and nothing of it was written
    /// ([`PostgresStoreError::BatchFailed`], [`PostgresStoreError::Contended`], an error
    /// reading what is stored), except [`PostgresStoreError::BatchUncertain`]: the connection
    /// failed during `COMMIT`, and applying the batch again tells.
    pub fn apply_batch(
        &mut self,
        engine: &Engine,
        events: &[Event],
    ) -> Result<Vec<Result<Arc<Outcome>, LedgerError>>, PostgresStoreError> {
        let batch = self.apply_batch_at_once(engine, events)?;
        Ok(sql::apply_follow_ups(self, engine, events, batch))
    }

    /// [`apply_batch`](Self::apply_batch) but for the follow-ups: the batch's events in one
    /// transaction.
    fn apply_batch_at_once(&mut self, engine: &Engine, events: &[Event]) -> Result<sql::Batch, PostgresStoreError> {
        let count = events.len();
        let (members, ids) = sql::batch_keys(events);
        let members: Vec<&str> = members.iter().map(MemberId::as_str).collect();
        let ids: Vec<&str> = ids.iter().map(EventId::as_str).collect();
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let PostgresStore { client, statements } = &mut *self;
            let (mut transaction, locked, found) = match read_batch(client, statements, &members, &ids) {
                Ok(read) => read,
                Err(error) if is_retryable(&error) => continue,
                Err(source) => return Err(PostgresStoreError::BatchFailed { events: count, source }),
            };
            let mut loaded = HashMap::new();
            for row in &locked {
                let member: &str = column(row, 0)?;
                let member = MemberId::new(member).map_err(|error| PostgresStoreError::Malformed {
                    what: format!("member id `{member}`"),
                    detail: error.to_string(),
                })?;
                let versioned = decode_member(&member, column(row, 1)?, column(row, 2)?)?;
                loaded.insert(member, versioned);
            }
            let mut recorded = HashMap::new();
            for row in &found {
                let id: &str = column(row, 0)?;
                let event = EventId::new(id).map_err(|error| PostgresStoreError::Malformed {
                    what: format!("event id `{id}`"),
                    detail: error.to_string(),
                })?;
                recorded.insert(event, decode_recorded(id, column(row, 1)?, column(row, 2)?)?);
            }
            let plan = sql::plan(engine, events, &recorded, loaded)?;
            let written =
                write(&mut transaction, statements, &plan.writes).map_err(Failure::Before).and_then(|checked| {
                    if checked == Checked::Written {
                        transaction.commit().map_err(Failure::During)?;
                    }
                    Ok(checked)
                });
            match written {
                Ok(Checked::Written) => return Ok(plan.applied),
                Ok(_) => continue,
                Err(Failure::Before(error) | Failure::During(error)) if is_retryable(&error) => continue,
                Err(Failure::Before(source)) => return Err(PostgresStoreError::BatchFailed { events: count, source }),
                Err(Failure::During(source)) if rolled_back(&source) => {
                    return Err(PostgresStoreError::BatchFailed { events: count, source });
                }
                Err(Failure::During(source)) => {
                    return Err(PostgresStoreError::BatchUncertain { events: count, source });
                }
            }
        }
        Err(PostgresStoreError::Contended { events: count })
    }

    fn commit_writes(&mut self, writes: &WriteSet) -> Result<Checked, Failure> {
        let PostgresStore { client, statements } = self;
        let mut transaction = client.transaction().map_err(Failure::Before)?;
        let checked = write(&mut transaction, statements, writes).map_err(Failure::Before)?;
        if checked == Checked::Written {
            transaction.commit().map_err(Failure::During)?;
        }
        // Dropping the transaction otherwise rolls it back.
        Ok(checked)
    }
}

impl Store for PostgresStore {
    type Error = PostgresStoreError;

    fn load(&mut self, member: &MemberId) -> Result<Versioned, PostgresStoreError> {
        let row = self.client.query_opt(&self.statements.load, &[&member.as_str()]).map_err(query_error)?;
        match row {
            None => Ok(Versioned { state: MemberState::new(member.clone()), version: 0 }),
            Some(row) => decode_member(member, column(&row, 0)?, column(&row, 1)?),
        }
    }

    fn recorded(&mut self, event: &EventId) -> Result<Option<Recorded>, PostgresStoreError> {
        let row = self.client.query_opt(&self.statements.recorded, &[&event.as_str()]).map_err(query_error)?;
        row.map(|row| decode_recorded(event.as_str(), column(&row, 0)?, column(&row, 1)?)).transpose()
    }

    fn commit(&mut self, commit: Commit<'_>) -> Result<CommitStatus, PostgresStoreError> {
        let writes = WriteSet::commit(&commit)?;
        let event = &commit.outcome.event;
        match self.commit_writes(&writes) {
            Ok(Checked::Written) => Ok(CommitStatus::Committed { version: commit.expected_version + 1 }),
            Ok(Checked::VersionConflict) => Ok(CommitStatus::VersionConflict),
            Ok(Checked::DuplicateEvent) => Ok(CommitStatus::DuplicateEvent),
            // The server rolled back a transaction that lost a race: reload and try again.
            Err(Failure::Before(error) | Failure::During(error)) if is_retryable(&error) => {
                Ok(CommitStatus::VersionConflict)
            }
            Err(Failure::Before(source)) => Err(PostgresStoreError::CommitFailed { event: event.clone(), source }),
            // The server answered the COMMIT with an error and lives on: it rolled back.
            Err(Failure::During(source)) if rolled_back(&source) => {
                Err(PostgresStoreError::CommitFailed { event: event.clone(), source })
            }
            Err(Failure::During(source)) => Err(PostgresStoreError::CommitUncertain { event: event.clone(), source }),
        }
    }
}

fn parse_url(url: &str) -> Result<Config, PostgresStoreError> {
    let invalid = |reason: &str| PostgresStoreError::InvalidUrl { reason: reason.to_owned(), source: None };
    if url.trim().is_empty() {
        return Err(invalid("it is empty (give postgresql://user@host:port/database)"));
    }
    let mut config: Config = url.parse().map_err(|source: ::postgres::Error| PostgresStoreError::InvalidUrl {
        reason: format!("it does not parse as a postgresql:// URL or a key=value string ({})", describe(&source)),
        source: Some(source),
    })?;
    if config.get_hosts().is_empty() {
        return Err(invalid(
            "it names no host (give postgresql://user@host:port/database, or ?host=/path/to/socket/directory)",
        ));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(PostgresStore::CONNECT_TIMEOUT);
    }
    Ok(config)
}

/// Where a config points, without its password.
fn target(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let port = config.get_ports().get(index).or(config.get_ports().first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let user = config.get_user().map(|user| format!("{user}@")).unwrap_or_default();
    format!("{user}{}/{}", hosts.join(","), config.get_dbname().unwrap_or(""))
}

/// Opens a batch's transaction, locks its members and reads them and its recorded events.
fn read_batch<'a>(
    client: &'a mut Client,
    statements: &Statements,
    members: &[&str],
    ids: &[&str],
) -> Result<(Transaction<'a>, Vec<Row>, Vec<Row>), ::postgres::Error> {
    let mut transaction = client.transaction()?;
    let locked = transaction.query(&statements.lock_members, &[&members])?;
    let found = transaction.query(&statements.recorded_many, &[&ids])?;
    Ok((transaction, locked, found))
}

fn schema_version(client: &mut impl GenericClient) -> Result<Option<u32>, ::postgres::Error> {
    let exists: bool = client.query_one("SELECT to_regclass('loyalty_schema_version') IS NOT NULL", &[])?.try_get(0)?;
    if !exists {
        return Ok(None);
    }
    let version: Option<i32> = client.query_one("SELECT max(version) FROM loyalty_schema_version", &[])?.try_get(0)?;
    Ok(version.map(|version| u32::try_from(version).unwrap_or(0)))
}

/// A column of a row, with a type or null mismatch (a schema changed by hand) as an error.
fn column<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<T, PostgresStoreError> {
    row.try_get(index).map_err(query_error)
}

fn decode_member(member: &MemberId, version: i64, state: &str) -> Result<Versioned, PostgresStoreError> {
    let state: MemberState = sql::from_json(|| format!("the state of member {member}"), state)?;
    if state.member() != member {
        let detail = format!("its row holds the state of member {}", state.member());
        return Err(PostgresStoreError::Malformed { what: format!("member {member}"), detail });
    }
    Ok(Versioned { state, version: sql::from_sql_int("member version", version)? })
}

fn decode_recorded(id: &str, event: &str, outcome: &str) -> Result<Recorded, PostgresStoreError> {
    Ok(Recorded {
        event: sql::from_json(|| format!("event {id}"), event)?,
        outcome: Arc::new(sql::from_json(|| format!("the outcome of event {id}"), outcome)?),
    })
}

/// Writes members (with their version checks), events (unique ids) and postings, in that
/// order, stopping at the first check that fails; the caller rolls back unless all were written.
fn write(
    transaction: &mut Transaction<'_>,
    statements: &Statements,
    writes: &WriteSet,
) -> Result<Checked, ::postgres::Error> {
    let (new, known): (Vec<_>, Vec<_>) = writes.members.iter().partition(|member| member.expected_version == 0);
    if !new.is_empty() {
        let members: Vec<&str> = new.iter().map(|member| member.member.as_str()).collect();
        let versions: Vec<i64> = new.iter().map(|member| member.version).collect();
        let states: Vec<&str> = new.iter().map(|member| member.state.as_str()).collect();
        let inserted = transaction.execute(&statements.insert_members, &[&members, &versions, &states])?;
        if inserted != new.len() as u64 {
            return Ok(Checked::VersionConflict);
        }
    }
    if !known.is_empty() {
        let members: Vec<&str> = known.iter().map(|member| member.member.as_str()).collect();
        let expected: Vec<i64> = known.iter().map(|member| member.expected_version).collect();
        let versions: Vec<i64> = known.iter().map(|member| member.version).collect();
        let states: Vec<&str> = known.iter().map(|member| member.state.as_str()).collect();
        let updated = transaction.execute(&statements.update_members, &[&members, &expected, &versions, &states])?;
        if updated != known.len() as u64 {
            return Ok(Checked::VersionConflict);
        }
    }
    if writes.events.is_empty() {
        return Ok(Checked::Written);
    }
    let events = &writes.events;
    let ids: Vec<&str> = events.iter().map(|event| event.event_id.as_str()).collect();
    let members: Vec<&str> = events.iter().map(|event| event.member.as_str()).collect();
    let versions: Vec<i64> = events.iter().map(|event| event.member_version).collect();
    let bodies: Vec<&str> = events.iter().map(|event| event.event.as_str()).collect();
    let outcomes: Vec<&str> = events.iter().map(|event| event.outcome.as_str()).collect();
    let inserted = transaction.execute(&statements.insert_events, &[&ids, &members, &versions, &bodies, &outcomes])?;
    if inserted != events.len() as u64 {
        return Ok(Checked::DuplicateEvent);
    }
    let postings: Vec<(&sql::EventWrite, &PostingRow)> =
        events.iter().flat_map(|event| event.postings.iter().map(move |posting| (event, posting))).collect();
    if postings.is_empty() {
        return Ok(Checked::Written);
    }
    let event_ids: Vec<&str> = postings.iter().map(|(event, _)| event.event_id.as_str()).collect();
    let indexes: Vec<i32> = postings.iter().map(|(_, posting)| posting.index).collect();
    let posting_members: Vec<&str> = postings.iter().map(|(event, _)| event.member.as_str()).collect();
    let froms: Vec<&str> = postings.iter().map(|(_, posting)| posting.from.as_str()).collect();
    let tos: Vec<&str> = postings.iter().map(|(_, posting)| posting.to.as_str()).collect();
    let assets: Vec<&str> = postings.iter().map(|(_, posting)| posting.asset.as_str()).collect();
    let amounts: Vec<&str> = postings.iter().map(|(_, posting)| posting.amount.as_str()).collect();
    let lots: Vec<Option<i64>> = postings.iter().map(|(_, posting)| posting.lot).collect();
    transaction.execute(
        &statements.insert_postings,
        &[&event_ids, &indexes, &posting_members, &froms, &tos, &assets, &amounts, &lots],
    )?;
    Ok(Checked::Written)
}
