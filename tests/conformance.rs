//! Store conformance: one suite, written once over any `Store` (tests/conformance/suite.rs),
//! run against `MemoryStore`, SQLite (feature `sqlite`) and PostgreSQL (feature `postgres`).
//! The same scenarios and the same generated histories (a fixed seed) must give the same
//! outcomes, postings and balances as the pure engine, in every store; concurrent writers must
//! lose nothing; crashes around a commit must neither lose nor double an event; a commit that
//! fails midway must leave the database unchanged.
//!
//! The PostgreSQL tests need a server: `scripts/with-postgres.sh cargo test --all-features`
//! starts a throwaway one and sets LOYALTY_TEST_POSTGRES_URL. Without it they fail, saying so.

mod common;

// Without the database features, the parts only SQL stores use are unused.
#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
#[path = "conformance/backends.rs"]
mod backends;
#[path = "conformance/model.rs"]
mod model;
#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
#[path = "conformance/suite.rs"]
mod suite;

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use backends::Backend;
use backends::memory::Memory;
use common::ByCommit;
use loyalty_engine::{
    Commit, CommitStatus, Engine, Event, EventId, LedgerError, MemberId, MemoryStore, MemoryStoreError, Outcome,
    Recorded, Store, Versioned,
};

#[test]
fn memory_scenarios() {
    suite::scenarios(&mut Memory::default());
}

#[test]
fn memory_generated_histories_match_the_pure_engine() {
    suite::generated_histories(&mut Memory::default());
}

#[test]
fn memory_follow_ups_reach_the_other_member() {
    suite::follow_ups(&mut Memory::default());
}

#[test]
fn memory_crashes_around_commit_apply_events_once() {
    suite::crashes_around_commit_apply_events_once(&mut Memory::default());
}

#[test]
fn memory_concurrent_writers_lose_nothing_and_match_a_serial_replay() {
    suite::concurrent_writers(&mut Memory::default());
}

/// A memory store connection that applies either in place (the memory store's own
/// `Store::apply`) or through load, evaluate and commit (the provided `Store::apply`, as
/// [`ByCommit`], slowed by a network round trip before each commit so that in-place applies
/// land between its loads and commits).
struct EitherPath {
    store: MemoryStore,
    by_commit: bool,
}

impl Store for EitherPath {
    type Error = MemoryStoreError;

    fn load(&mut self, member: &MemberId) -> Result<Versioned, MemoryStoreError> {
        self.store.load(member)
    }

    fn recorded(&mut self, event: &EventId) -> Result<Option<Recorded>, MemoryStoreError> {
        self.store.recorded(event)
    }

    fn commit(&mut self, commit: Commit<'_>) -> Result<CommitStatus, MemoryStoreError> {
        self.store.commit(commit)
    }

    fn apply(&mut self, engine: &Engine, event: &Event) -> Result<Arc<Outcome>, LedgerError> {
        if self.by_commit {
            let pause_before_commit = Duration::from_micros(300);
            ByCommit { store: self.store.clone(), pause_before_commit }.apply(engine, event)
        } else {
            self.store.apply(engine, event)
        }
    }
}

/// Connections to one memory store, half applying in place and half through commits, at once:
/// a commit prepared before an in-place apply for its member must lose, and nothing is lost.
#[test]
fn memory_concurrent_writers_on_both_paths_lose_nothing() {
    let connections = Cell::new(0);
    suite::concurrent_writers_through(&mut Memory::default(), |backend| {
        connections.set(connections.get() + 1);
        EitherPath { store: backend.connect(), by_commit: connections.get() % 2 == 0 }
    });
}

#[test]
fn memory_concurrency_test_catches_a_store_that_skips_the_version_check() {
    suite::concurrency_test_catches_a_store_that_skips_the_version_check(&mut Memory::default());
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::error::Error;
    use std::path::PathBuf;

    use loyalty_engine::{SqliteStore, SqliteStoreError};
    use rusqlite::Connection;

    use crate::backends::TempDir;
    use crate::backends::sqlite::Sqlite;
    use crate::suite;

    #[test]
    fn sqlite_scenarios() {
        suite::scenarios(&mut Sqlite::new());
    }

    #[test]
    fn sqlite_generated_histories_match_the_pure_engine() {
        suite::generated_histories(&mut Sqlite::new());
    }

    #[test]
    fn sqlite_follow_ups_reach_the_other_member() {
        suite::follow_ups(&mut Sqlite::new());
    }

    #[test]
    fn sqlite_crashes_around_commit_apply_events_once() {
        suite::crashes_around_commit_apply_events_once(&mut Sqlite::new());
    }

    #[test]
    fn sqlite_concurrent_writers_lose_nothing_and_match_a_serial_replay() {
        suite::concurrent_writers(&mut Sqlite::new());
    }

    #[test]
    fn sqlite_concurrency_test_catches_a_store_that_skips_the_version_check() {
        suite::concurrency_test_catches_a_store_that_skips_the_version_check(&mut Sqlite::new());
    }

    #[test]
    fn sqlite_failed_commits_leave_the_database_unchanged() {
        suite::failed_commits_leave_the_database_unchanged(&mut Sqlite::new());
    }

    #[test]
    fn sqlite_a_new_file_opened_from_several_threads_at_once_opens_in_each() {
        // Switching a new file to write-ahead logging answers busy at once while another
        // connection does the same; about one round in ten failed before the switch waited.
        const ROUNDS: usize = 40;
        const THREADS: usize = 6;
        let dir = TempDir::new("sqlite-opens");
        for round in 0..ROUNDS {
            let path = dir.0.join(format!("round-{round}.db"));
            let start = std::sync::Barrier::new(THREADS);
            std::thread::scope(|scope| {
                let opening = (0..THREADS).map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        SqliteStore::open(&path).map(drop)
                    })
                });
                for opened in opening.collect::<Vec<_>>() {
                    opened.join().unwrap().unwrap_or_else(|error| panic!("round {round}: {error}"));
                }
            });
        }
    }

    #[test]
    fn sqlite_bad_paths_and_schema_versions_give_clear_errors() {
        let dir = TempDir::new("sqlite-errors");
        let invalid: [(PathBuf, &str); 4] = [
            (PathBuf::new(), "the path is empty"),
            (PathBuf::from(":memory:"), "use SqliteStore::open_in_memory"),
            (dir.0.clone(), "it is a directory"),
            (dir.0.join("missing").join("loyalty.db"), "does not exist"),
        ];
        for (path, expected) in invalid {
            let error = SqliteStore::open(&path).unwrap_err();
            assert!(matches!(error, SqliteStoreError::InvalidPath { .. }), "{error:?}");
            assert!(error.to_string().contains(expected), "{error}");
        }

        let junk = dir.0.join("junk.db");
        std::fs::write(&junk, "a text file, not a database: ".repeat(100)).unwrap();
        let error = SqliteStore::open(&junk).unwrap_err();
        assert!(matches!(error, SqliteStoreError::Open { .. }), "{error:?}");
        assert!(error.to_string().contains("not a database"), "{error}");
        assert!(error.source().is_some(), "SQLite's error is the source");

        let error = SqliteStore::from_connection(Connection::open_in_memory().unwrap()).unwrap_err();
        assert!(matches!(error, SqliteStoreError::NoSchema), "{error:?}");
        assert!(error.to_string().contains("SqliteStore::create_schema"), "{error}");

        let path = dir.0.join("loyalty.db");
        drop(SqliteStore::open(&path).unwrap());
        drop(SqliteStore::open(&path).unwrap());
        let connection = Connection::open(&path).unwrap();
        let (rows, version): (u32, u32) = connection
            .query_row("SELECT count(*), max(version) FROM loyalty_schema_version", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        assert_eq!((rows, version), (1, SqliteStore::SCHEMA_VERSION), "creating the schema again changes nothing");
        connection
            .execute("INSERT INTO loyalty_schema_version (version, description) VALUES (99, 'from the future')", [])
            .unwrap();
        let error = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(error, SqliteStoreError::SchemaVersion { found: 99, expected: 1 }), "{error:?}");
        assert!(error.to_string().contains("upgrade loyalty-engine"), "{error}");
        let error = SqliteStore::from_connection(connection).unwrap_err();
        assert!(matches!(error, SqliteStoreError::SchemaVersion { found: 99, .. }), "{error:?}");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::error::Error;

    use loyalty_engine::{PostgresStore, PostgresStoreError};

    use crate::backends::postgres::Postgres;
    use crate::suite;

    #[test]
    fn postgres_scenarios() {
        suite::scenarios(&mut Postgres::new());
    }

    #[test]
    fn postgres_generated_histories_match_the_pure_engine() {
        suite::generated_histories(&mut Postgres::new());
    }

    #[test]
    fn postgres_follow_ups_reach_the_other_member() {
        suite::follow_ups(&mut Postgres::new());
    }

    #[test]
    fn postgres_crashes_around_commit_apply_events_once() {
        suite::crashes_around_commit_apply_events_once(&mut Postgres::new());
    }

    #[test]
    fn postgres_concurrent_writers_lose_nothing_and_match_a_serial_replay() {
        suite::concurrent_writers(&mut Postgres::new());
    }

    #[test]
    fn postgres_concurrency_test_catches_a_store_that_skips_the_version_check() {
        suite::concurrency_test_catches_a_store_that_skips_the_version_check(&mut Postgres::new());
    }

    #[test]
    fn postgres_failed_commits_leave_the_database_unchanged() {
        suite::failed_commits_leave_the_database_unchanged(&mut Postgres::new());
    }

    #[test]
    fn postgres_dropped_connection_mid_commit_leaves_the_database_unchanged() {
        suite::dropped_connection_mid_commit(&mut Postgres::new());
    }

    /// Needs no server: bad URLs are refused before connecting, and a refused connection says
    /// where it went without the password.
    #[test]
    fn postgres_bad_urls_give_clear_errors() {
        for (url, expected) in [
            ("", "it is empty"),
            ("   ", "it is empty"),
            ("postgresql://localhost:not-a-port/shop", "does not parse"),
            ("host=localhost port=", "does not parse"),
            ("user=app dbname=shop", "names no host"),
        ] {
            let error = PostgresStore::connect(url).unwrap_err();
            assert!(matches!(error, PostgresStoreError::InvalidUrl { .. }), "{url}: {error:?}");
            assert!(error.to_string().contains(expected), "{url}: {error}");
        }
        let error = PostgresStore::connect("postgresql://app:s3cret@127.0.0.1:1/shop").unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, PostgresStoreError::Connect { .. }), "{error:?}");
        assert!(message.contains("app@127.0.0.1:1/shop"), "{message}");
        assert!(!message.contains("s3cret"), "the password is never shown: {message}");
        assert!(error.source().is_some(), "the client's error is the source");
    }

    #[test]
    fn postgres_schema_is_created_once_and_versioned() {
        let mut backend = Postgres::new();
        backend.empty_schema();
        let error = PostgresStore::connect(&backend.url()).unwrap_err();
        assert!(matches!(error, PostgresStoreError::NoSchema), "{error:?}");
        assert!(error.to_string().contains("PostgresStore::create_schema"), "{error}");

        let mut client = backend.client();
        PostgresStore::create_schema(&mut client).unwrap();
        PostgresStore::create_schema(&mut client).unwrap();
        let row = client.query_one("SELECT count(*), max(version) FROM loyalty_schema_version", &[]).unwrap();
        let (rows, version): (i64, i32) = (row.get(0), row.get(1));
        assert_eq!((rows, version), (1, 1), "creating the schema again changes nothing");
        let mut store = PostgresStore::connect(&backend.url()).unwrap();
        assert!(store.committed().unwrap().is_empty());

        client
            .execute("INSERT INTO loyalty_schema_version (version, description) VALUES (99, 'from the future')", &[])
            .unwrap();
        let error = PostgresStore::from_client(client).unwrap_err();
        assert!(matches!(error, PostgresStoreError::SchemaVersion { found: 99, expected: 1 }), "{error:?}");
        assert!(error.to_string().contains("upgrade loyalty-engine"), "{error}");
        let error = PostgresStore::create_schema(&mut backend.client()).unwrap_err();
        assert!(matches!(error, PostgresStoreError::SchemaVersion { found: 99, .. }), "{error:?}");
    }
}
