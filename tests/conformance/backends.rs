//! The stores under test, behind one trait: how to make an empty database, open more
//! connections to it, and read back everything it holds.

use std::sync::Arc;

use loyalty_engine::{Engine, Event, LedgerError, MemberId, MemberState, Outcome, Posting, Recorded, Store};

/// What a batch gave for each of its events.
pub type Batch = Vec<Result<Arc<Outcome>, LedgerError>>;

/// A kind of store and a database of it.
pub trait Backend {
    /// One connection.
    type Store: Store + Send + 'static;

    /// An empty database (replacing the one before), and a connection to it.
    fn fresh(&mut self) -> Self::Store;

    /// Another connection to the database `fresh` made last.
    fn connect(&self) -> Self::Store;

    /// Every committed event, each member's in commit order (members in any order).
    fn committed(&self) -> Vec<Recorded>;

    /// Every member's stored state, by member id.
    fn members(&self) -> Vec<MemberState>;

    /// One member's postings as stored, in commit order.
    fn postings(&self, member: &MemberId) -> Vec<Posting>;

    /// Everything the database holds, as text, to show that a failed commit changed nothing.
    fn snapshot(&self) -> String;

    /// Applies events in one transaction, if the store can.
    fn apply_batch(store: &mut Self::Store, engine: &Engine, events: &[Event]) -> Option<Result<Batch, String>>;
}

/// How a commit is made to fail midway, after the member and event rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Inserting the event's postings raises an error.
    Error,
    /// Inserting the event's postings kills the connection's server process.
    DropConnection,
    /// The `COMMIT` kills the connection's server process (a deferred constraint trigger).
    DropConnectionAtCommit,
}

/// A store on a database we can reach into: to make a commit fail midway.
pub trait SqlBackend: Backend {
    /// Makes inserting the postings of `event` fail, from now on.
    fn inject(&self, fault: Fault, event: &str);

    /// Removes every injected fault.
    fn clear_faults(&self);
}

pub mod memory {
    use super::*;
    use loyalty_engine::MemoryStore;

    #[derive(Default)]
    pub struct Memory {
        store: MemoryStore,
    }

    impl Backend for Memory {
        type Store = MemoryStore;

        fn fresh(&mut self) -> MemoryStore {
            self.store = MemoryStore::new();
            self.store.clone()
        }

        fn connect(&self) -> MemoryStore {
            self.store.clone()
        }

        fn committed(&self) -> Vec<Recorded> {
            self.store.committed().unwrap()
        }

        fn members(&self) -> Vec<MemberState> {
            let mut members = Vec::new();
            self.store.for_each_member(|state| members.push(state.clone())).unwrap();
            members.sort_by(|left, right| left.member().cmp(right.member()));
            members
        }

        fn postings(&self, member: &MemberId) -> Vec<Posting> {
            let committed = self.committed().into_iter().filter(|recorded| recorded.outcome.member == *member);
            committed.flat_map(|recorded| recorded.outcome.postings.clone()).collect()
        }

        fn snapshot(&self) -> String {
            format!("{:?}\n{:?}", self.committed(), self.members())
        }

        fn apply_batch(_: &mut MemoryStore, _: &Engine, _: &[Event]) -> Option<Result<Batch, String>> {
            None
        }
    }
}

/// A directory under the system's temporary directory, deleted on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("loyalty-{tag}-{}-{count}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(feature = "sqlite")]
pub mod sqlite {
    use std::path::PathBuf;

    use super::*;
    use loyalty_engine::SqliteStore;
    use rusqlite::Connection;

    /// File databases in a temporary directory: every connection is a separate `open`.
    pub struct Sqlite {
        dir: TempDir,
        databases: usize,
        path: PathBuf,
    }

    impl Sqlite {
        pub fn new() -> Sqlite {
            let dir = TempDir::new("sqlite");
            let path = dir.0.join("none.db");
            Sqlite { dir, databases: 0, path }
        }

        fn raw(&self) -> Connection {
            let connection = Connection::open(&self.path).unwrap();
            connection.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            connection
        }

        fn inspect(&self) -> SqliteStore {
            self.connect()
        }
    }

    impl Backend for Sqlite {
        type Store = SqliteStore;

        fn fresh(&mut self) -> SqliteStore {
            if self.databases > 0 {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
                }
            }
            self.databases += 1;
            self.path = self.dir.0.join(format!("loyalty-{}.db", self.databases));
            SqliteStore::open(&self.path).unwrap()
        }

        fn connect(&self) -> SqliteStore {
            SqliteStore::open(&self.path).unwrap()
        }

        fn committed(&self) -> Vec<Recorded> {
            self.inspect().committed().unwrap()
        }

        fn members(&self) -> Vec<MemberState> {
            let mut members = Vec::new();
            self.inspect().for_each_member(|state| members.push(state.clone())).unwrap();
            members
        }

        fn postings(&self, member: &MemberId) -> Vec<Posting> {
            self.inspect().postings(member).unwrap()
        }

        fn snapshot(&self) -> String {
            let connection = self.raw();
            let mut text = String::new();
            for (table, order) in [
                ("loyalty_schema_version", "version"),
                ("loyalty_members", "member"),
                ("loyalty_events", "seq"),
                ("loyalty_postings", "event_id, posting_index"),
            ] {
                let mut statement = connection.prepare(&format!("SELECT * FROM {table} ORDER BY {order}")).unwrap();
                let columns = statement.column_count();
                let mut rows = statement.query([]).unwrap();
                while let Some(row) = rows.next().unwrap() {
                    let values: Vec<String> =
                        (0..columns).map(|index| format!("{:?}", row.get_ref(index).unwrap())).collect();
                    text.push_str(&format!("{table}: {}\n", values.join(" | ")));
                }
            }
            text
        }

        fn apply_batch(store: &mut SqliteStore, engine: &Engine, events: &[Event]) -> Option<Result<Batch, String>> {
            Some(store.apply_batch(engine, events).map_err(|error| error.to_string()))
        }
    }

    impl SqlBackend for Sqlite {
        fn inject(&self, fault: Fault, event: &str) {
            assert_eq!(fault, Fault::Error, "SQLite has no server process to kill");
            self.raw()
                .execute_batch(&format!(
                    "CREATE TRIGGER inject_fault BEFORE INSERT ON loyalty_postings WHEN NEW.event_id = '{event}' \
                     BEGIN SELECT RAISE(ABORT, 'injected fault'); END;"
                ))
                .unwrap();
        }

        fn clear_faults(&self) {
            self.raw().execute_batch("DROP TRIGGER IF EXISTS inject_fault").unwrap();
        }
    }
}

#[cfg(feature = "postgres")]
pub mod postgres {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use ::postgres::{Client, Config, NoTls};
    use loyalty_engine::PostgresStore;

    pub const URL_VARIABLE: &str = "LOYALTY_TEST_POSTGRES_URL";

    /// The test server's URL. Without one, the PostgreSQL tests fail: they never pass silently.
    pub fn url() -> String {
        match std::env::var(URL_VARIABLE) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => panic!(
                "{URL_VARIABLE} is not set, so the PostgreSQL tests cannot run (and do not pass silently). \
                 Start a throwaway server and run the tests beside it with \
                 `scripts/with-postgres.sh cargo test --all-features`, or set {URL_VARIABLE} to a database \
                 where the tests may create and drop schemas."
            ),
        }
    }

    /// A schema of its own per database, in the server that LOYALTY_TEST_POSTGRES_URL names;
    /// every schema is dropped at the end.
    pub struct Postgres {
        config: Config,
        admin: std::sync::Mutex<Client>,
        schemas: Vec<String>,
    }

    impl Postgres {
        pub fn new() -> Postgres {
            let config: Config = url().parse().expect("LOYALTY_TEST_POSTGRES_URL parses");
            let admin = config
                .connect(NoTls)
                .unwrap_or_else(|error| panic!("cannot connect to the test server at {URL_VARIABLE}: {error}"));
            Postgres { config, admin: std::sync::Mutex::new(admin), schemas: Vec::new() }
        }

        /// A new empty schema, made current: no tables.
        pub fn empty_schema(&mut self) -> String {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let schema = format!("loyalty_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
            self.admin(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"));
            self.schemas.push(schema.clone());
            schema
        }

        /// The test server's URL, with the current schema as search_path.
        pub fn url(&self) -> String {
            let url = url();
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}options=-csearch_path%3D{}", self.schema())
        }

        pub fn schema(&self) -> &str {
            self.schemas.last().expect("fresh() was called")
        }

        /// A plain client whose search_path is the current schema.
        pub fn client(&self) -> Client {
            let mut config = self.config.clone();
            config.options(&format!("-c search_path={}", self.schema()));
            config.connect(NoTls).unwrap()
        }

        fn admin(&self, sql: &str) {
            self.admin.lock().unwrap().batch_execute(sql).unwrap();
        }

        fn rows(&self, sql: &str) -> Vec<String> {
            let mut client = self.client();
            client.query(sql, &[]).unwrap().iter().map(|row| row.get::<_, String>(0)).collect()
        }
    }

    impl Drop for Postgres {
        fn drop(&mut self) {
            if let Ok(mut admin) = self.admin.lock() {
                for schema in &self.schemas {
                    let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
        }
    }

    impl Backend for Postgres {
        type Store = PostgresStore;

        fn fresh(&mut self) -> PostgresStore {
            self.empty_schema();
            let mut client = self.client();
            PostgresStore::create_schema(&mut client).unwrap();
            PostgresStore::from_client(client).unwrap()
        }

        fn connect(&self) -> PostgresStore {
            PostgresStore::from_client(self.client()).unwrap()
        }

        fn committed(&self) -> Vec<Recorded> {
            self.connect().committed().unwrap()
        }

        fn members(&self) -> Vec<MemberState> {
            let mut members = Vec::new();
            self.connect().for_each_member(|state| members.push(state.clone())).unwrap();
            members
        }

        fn postings(&self, member: &MemberId) -> Vec<Posting> {
            self.connect().postings(member).unwrap()
        }

        fn snapshot(&self) -> String {
            let mut text = String::new();
            for (table, order) in [
                ("loyalty_schema_version", "version"),
                ("loyalty_members", "member"),
                ("loyalty_events", "event_id"),
                ("loyalty_postings", "event_id, posting_index"),
            ] {
                let query = format!("SELECT t::text FROM {table} t ORDER BY {order}");
                for row in self.rows(&query) {
                    text.push_str(&format!("{table}: {row}\n"));
                }
            }
            text
        }

        fn apply_batch(store: &mut PostgresStore, engine: &Engine, events: &[Event]) -> Option<Result<Batch, String>> {
            Some(store.apply_batch(engine, events).map_err(|error| error.to_string()))
        }
    }

    impl SqlBackend for Postgres {
        fn inject(&self, fault: Fault, event: &str) {
            let (action, when) = match fault {
                Fault::Error => ("RAISE EXCEPTION 'injected fault';", "BEFORE INSERT"),
                Fault::DropConnection => ("PERFORM pg_terminate_backend(pg_backend_pid());", "BEFORE INSERT"),
                Fault::DropConnectionAtCommit => (
                    "PERFORM pg_terminate_backend(pg_backend_pid());",
                    "AFTER INSERT ON {schema}.loyalty_postings DEFERRABLE INITIALLY DEFERRED",
                ),
            };
            let schema = self.schema();
            let (kind, when) = if fault == Fault::DropConnectionAtCommit {
                ("CONSTRAINT TRIGGER", when.replace("{schema}", schema))
            } else {
                ("TRIGGER", format!("{when} ON {schema}.loyalty_postings"))
            };
            self.admin(&format!(
                "CREATE FUNCTION {schema}.inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.event_id = '{event}' THEN {action} END IF; RETURN NEW; END $$; \
                 CREATE {kind} inject_fault {when} \
                 FOR EACH ROW EXECUTE FUNCTION {schema}.inject_fault();"
            ));
        }

        fn clear_faults(&self) {
            let schema = self.schema();
            self.admin(&format!(
                "DROP TRIGGER IF EXISTS inject_fault ON {schema}.loyalty_postings; \
                 DROP FUNCTION IF EXISTS {schema}.inject_fault();"
            ));
        }
    }
}
