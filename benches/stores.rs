//! Committed events per second through each store adapter (issue 4): one by one through
//! `Ledger` (a transaction per event), and in batches of 100 events per transaction
//! (`apply_batch`), with the in-memory store in the same run as the floor (it has no batch API,
//! so its batched figure is 100 events through `Ledger`).
//!
//! SQLite runs on a file in a temporary directory as `SqliteStore::open` sets it up (WAL,
//! `synchronous = FULL`). PostgreSQL runs only when LOYALTY_TEST_POSTGRES_URL is set, in a schema
//! of its own that is dropped afterwards; `scripts/with-postgres.sh` starts a throwaway server
//! (with LOYALTY_PG_DURABLE=1 it keeps fsync on, so that commits are real):
//!
//! `LOYALTY_PG_DURABLE=1 scripts/with-postgres.sh cargo bench --bench stores --all-features`
//!
//! The event stream: members of four events each (two purchases, a partial return, a tick
//! after vesting), so states stay small however long criterion runs.

use std::cell::Cell;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use loyalty_engine::{Engine, Event, Ledger, MemoryStore, Program, Store};

const BATCH: usize = 100;

const PROGRAM: &str = r#"{"id":"bench","currency":"EUR","owner":"shop",
    "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}},
                     {"id":"acme","when":{"suppliers":["acme"]},"effect":{"multiplier":"2"},
                      "funded_by":{"shop":"0.5","acme":"0.5"}}]},
    "redemption":{"point_value":"0.01"},
    "returns":{"vesting_days":30},
    "expiry":{"after_months":12}}"#;

fn engine() -> Engine {
    let program: Program = serde_json::from_str(PROGRAM).expect("the bench program parses");
    program.compile().expect("the bench program compiles")
}

/// The `index`th event of a stream whose ids start with `run` (unique per store and run).
fn event(run: &str, index: usize) -> Event {
    let member = format!("{run}-m{}", index / 4);
    let json = match index % 4 {
        0 => format!(
            r#"{{"type":"purchase","id":"{run}-{index}","member":"{member}","at":"2026-03-01T10:00:00Z",
                "order":"o-1","lines":[{{"sku":"tv","qty":"1","unit_price":"499.00","supplier":"acme"}},
                                       {{"sku":"cable","qty":"2","unit_price":"9.90"}}]}}"#
        ),
        1 => format!(
            r#"{{"type":"purchase","id":"{run}-{index}","member":"{member}","at":"2026-03-02T10:00:00Z",
                "order":"o-2","lines":[{{"sku":"book","qty":"3","unit_price":"12.50"}}]}}"#
        ),
        2 => format!(
            r#"{{"type":"return","id":"{run}-{index}","member":"{member}","at":"2026-03-03T10:00:00Z",
                "order":"o-1","lines":[{{"sku":"cable","qty":"1"}}]}}"#
        ),
        _ => format!(r#"{{"type":"tick","id":"{run}-{index}","member":"{member}","at":"2026-04-15T10:00:00Z"}}"#),
    };
    serde_json::from_str(&json).expect("a bench event parses")
}

/// Hands out the stream's events in order, one or a batch at a time.
struct Stream {
    run: String,
    next: Cell<usize>,
}

impl Stream {
    fn new(run: &str) -> Stream {
        Stream { run: run.to_owned(), next: Cell::new(0) }
    }

    fn take(&self, count: usize) -> Vec<Event> {
        let start = self.next.get();
        self.next.set(start + count);
        (start..start + count).map(|index| event(&self.run, index)).collect()
    }
}

fn one_by_one<S: Store>(c: &mut Criterion, name: &str, store: S) {
    let mut ledger = Ledger::new(engine(), store);
    let stream = Stream::new(&format!("one-{name}"));
    let mut group = c.benchmark_group("stores_one_by_one");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter_batched(
            || stream.take(1).remove(0),
            |event| ledger.apply(&event).expect("the event applies"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Applies `BATCH` events per iteration with `apply`.
fn batched(c: &mut Criterion, name: &str, mut apply: impl FnMut(&[Event])) {
    let stream = Stream::new(&format!("batch-{name}"));
    let mut group = c.benchmark_group("stores_batched_100");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(name, |b| {
        b.iter_batched(|| stream.take(BATCH), |events| apply(&events), BatchSize::PerIteration)
    });
    group.finish();
}

fn bench_memory(c: &mut Criterion) {
    one_by_one(c, "memory (floor)", MemoryStore::new());
    let mut ledger = Ledger::new(engine(), MemoryStore::new());
    batched(c, "memory (floor, one by one)", |events| {
        for event in events {
            ledger.apply(event).expect("the event applies");
        }
    });
}

#[cfg(feature = "sqlite")]
fn bench_sqlite(c: &mut Criterion) {
    use loyalty_engine::SqliteStore;

    let dir = std::env::temp_dir().join(format!("loyalty-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    one_by_one(c, "sqlite", SqliteStore::open(dir.join("one.db")).expect("SQLite opens"));
    let mut store = SqliteStore::open(dir.join("batch.db")).expect("SQLite opens");
    let engine = engine();
    batched(c, "sqlite", |events| {
        let results = store.apply_batch(&engine, events).expect("the batch commits");
        assert!(results.iter().all(Result::is_ok));
    });
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(feature = "sqlite"))]
fn bench_sqlite(_: &mut Criterion) {
    eprintln!("stores: SQLite skipped (enable the `sqlite` feature: cargo bench --bench stores --all-features)");
}

#[cfg(feature = "postgres")]
fn bench_postgres(c: &mut Criterion) {
    use loyalty_engine::PostgresStore;

    let Ok(url) = std::env::var("LOYALTY_TEST_POSTGRES_URL") else {
        eprintln!(
            "stores: PostgreSQL skipped: LOYALTY_TEST_POSTGRES_URL is not set \
             (scripts/with-postgres.sh cargo bench --bench stores --all-features)"
        );
        return;
    };
    let schema = format!("loyalty_bench_{}", std::process::id());
    let config = |schema: &str| {
        let mut config: postgres::Config = url.parse().expect("LOYALTY_TEST_POSTGRES_URL parses");
        config.options(&format!("-c search_path={schema}"));
        config
    };
    let mut admin = config("public").connect(postgres::NoTls).expect("PostgreSQL connects");
    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).expect("a schema");
    let connect = || {
        let mut client = config(&schema).connect(postgres::NoTls).expect("PostgreSQL connects");
        PostgresStore::create_schema(&mut client).expect("the schema is created");
        PostgresStore::from_client(client).expect("the store opens")
    };
    one_by_one(c, "postgres", connect());
    let mut store = connect();
    let engine = engine();
    batched(c, "postgres", |events| {
        let results = store.apply_batch(&engine, events).expect("the batch commits");
        assert!(results.iter().all(Result::is_ok));
    });
    drop(store);
    let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}

#[cfg(not(feature = "postgres"))]
fn bench_postgres(_: &mut Criterion) {
    eprintln!("stores: PostgreSQL skipped (enable the `postgres` feature: cargo bench --bench stores --all-features)");
}

fn config() -> Criterion {
    Criterion::default().sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = stores;
    config = config();
    targets = bench_memory, bench_sqlite, bench_postgres
}
criterion_main!(stores);
