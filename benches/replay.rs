//! Replays the CDNOW purchases (issue 5): every row with a positive dollar value becomes a
//! purchase, and one order in 20 comes back 3 to 10 days later; the events are applied member
//! by member, each member's in time order (see `cdnow_events`), through `Ledger<MemoryStore>`,
//! reported as events per second. Beside it: the same
//! events through `Engine::evaluate` + `MemberState::apply` on a map of states (no store),
//! the ledger floor (the same books kept by hand, see `floor_ledger`), and the floor, the
//! per-event arithmetic alone over the same rows.
//!
//! `cargo bench --bench replay`

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use common::*;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use loyalty_engine::{Account, Asset, Engine, Event, Ledger, MemberId, MemberState, MemoryStore, Outcome};
use rust_decimal::Decimal;

/// The floor over every step: points issued less points clawed back. The points each order
/// earned are kept by row, as the engine keeps them in receipts; each return claws back as if
/// it were its order's first, which it is in this replay (one return per chosen order).
fn floor_replay(steps: &[FloorStep], template: &mut FloorPurchase, earned: &mut [Decimal]) -> Option<Decimal> {
    let mut issued = Decimal::ZERO;
    for step in steps {
        match *step {
            FloorStep::Purchase { line, at, row, .. } => {
                earned[row] = floor_cdnow_purchase(template, line, at)?.postings[0].amount;
                issued += earned[row];
            }
            FloorStep::Return { row, returned, bought, .. } => issued -= floor_clawback(earned[row], returned, bought)?,
        }
    }
    Some(issued)
}

/// What an outcome costs the funders: points issued less points clawed back.
fn funder_cost(outcome: &Outcome) -> Decimal {
    let issued: Decimal = amounts(outcome, is_funder, |_| true).into_iter().sum();
    issued - amounts(outcome, |_| true, is_funder).into_iter().sum::<Decimal>()
}

fn replay(c: &mut Criterion) {
    let Some(rows) = cdnow_rows() else {
        eprintln!("replay: no cdnow_master.txt under examples/data or ../shared/data; skipped");
        return;
    };
    let replayed = cdnow_events(&rows);
    let events: Vec<Event> = replayed.iter().map(|(event, ..)| event.clone()).collect();
    let steps = floor_steps(&rows, &replayed);
    let returns = steps.iter().filter(|step| matches!(step, FloorStep::Return { .. })).count();
    let engine = compile(REPLAY_PROGRAM);

    // The replay and the floor must agree on what the funders paid before either is timed.
    let mut ledger = Ledger::new(engine.clone(), MemoryStore::new());
    let mut cost = Decimal::ZERO;
    for event in &events {
        cost += funder_cost(&ledger.apply(event).expect("the ledger accepts every CDNOW event"));
    }
    let mut template = cdnow_floor();
    let mut earned = vec![Decimal::ZERO; rows.len()];
    let floor_cost = floor_replay(&steps, &mut template, &mut earned).expect("the floor computes every row");
    assert_eq!(cost, floor_cost, "engine and floor disagree");
    drop(ledger);
    let mut books = HashMap::new();
    floor_ledger(&steps, &mut template, &mut books).expect("the ledger floor keeps every row");
    assert_books_agree(&evaluate_and_apply(&engine, &events, HashMap::new()), &books);
    // The replay's returns all come while their lots are pending; these reach the floor's
    // other paths.
    let (edge_rows, edge_events) = edge_histories();
    let mut edge_books = HashMap::new();
    let edge_steps = floor_steps(&edge_rows, &edge_events);
    floor_ledger(&edge_steps, &mut template, &mut edge_books).expect("the ledger floor keeps the edge histories");
    let edge_events: Vec<Event> = edge_events.into_iter().map(|(event, ..)| event).collect();
    assert_books_agree(&evaluate_and_apply(&engine, &edge_events, HashMap::new()), &edge_books);
    println!("replay: {} events ({returns} returns), funders' cost {cost} points", events.len());
    let new_ledger = || Ledger::new(engine.clone(), MemoryStore::new());
    report_cpu_split("replay/ledger", events.len(), || apply_all(new_ledger(), &events));
    report_cpu_split("replay/engine_apply", events.len(), || evaluate_and_apply(&engine, &events, HashMap::new()));
    report_cpu_split("replay/ledger_floor", events.len(), || {
        let mut books = HashMap::new();
        floor_ledger(&steps, &mut template, &mut books).expect("the ledger floor keeps every row");
        books
    });

    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(7))
        .throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("ledger", |b| {
        b.iter_batched(new_ledger, |ledger| apply_all(ledger, &events), BatchSize::PerIteration)
    });
    group.bench_function("engine_apply", |b| {
        b.iter_batched(HashMap::new, |states| evaluate_and_apply(&engine, &events, states), BatchSize::PerIteration)
    });
    group.bench_function("ledger_floor", |b| {
        b.iter_batched(
            HashMap::new,
            |mut books| {
                floor_ledger(black_box(&steps), &mut template, &mut books).unwrap();
                books
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("floor", |b| b.iter(|| floor_replay(black_box(&steps), &mut template, &mut earned).unwrap()));
    group.finish();
}

/// Every event through `Ledger::apply`.
fn apply_all(mut ledger: Ledger<MemoryStore>, events: &[Event]) -> Ledger<MemoryStore> {
    for event in events {
        black_box(ledger.apply(black_box(event)).unwrap());
    }
    ledger
}

/// Every event through `Engine::evaluate` and `MemberState::apply`, into a map of states.
fn evaluate_and_apply(
    engine: &Engine,
    events: &[Event],
    mut states: HashMap<MemberId, MemberState>,
) -> HashMap<MemberId, MemberState> {
    for event in events {
        let member = event.member();
        let state = states.entry(member.clone()).or_insert_with(|| MemberState::new(member.clone()));
        let outcome = engine.evaluate(state, black_box(event)).unwrap();
        state.apply(&outcome);
        black_box(outcome);
    }
    states
}

/// Histories the CDNOW replay lacks, for the ledger floor's other paths: returns after the
/// order's lot vested and after it expired, two returns of one order, and an order under a
/// dollar, which earns nothing.
fn edge_histories() -> (Vec<CdnowRow>, Vec<(Event, usize, CdnowStep)>) {
    let row = |customer, cds: &str, dollars: &str| {
        let (cds, dollars) = (dec(cds), dec(dollars));
        let date = chrono::NaiveDate::from_ymd_opt(1997, 1, 1).expect("a date");
        CdnowRow { customer, date, cds, dollars, unit_price: dollars / cds, discount: Decimal::ZERO }
    };
    let rows = vec![row(1, "3", "45.00"), row(2, "2", "30.00"), row(3, "1", "0.50")];
    let purchase = |index: usize| (cdnow_event(index, &rows[index]), index, CdnowStep::Purchase);
    let give_back = |index: usize, units: &str, days_later, suffix| {
        let units = dec(units);
        (cdnow_return(index, &rows[index], units, days_later, suffix), index, CdnowStep::Return(units))
    };
    // Pending for 30 days, then available for 12 months.
    let events = vec![
        purchase(0),
        give_back(0, "1", 5, "-pending"),
        give_back(0, "1", 60, "-available"),
        give_back(0, "1", 500, "-expired"),
        purchase(1),
        give_back(1, "2", 45, ""),
        purchase(2),
        give_back(2, "1", 5, ""),
    ];
    (rows, events)
}

/// Every member's pending, available and expired points are the same in the engine's states
/// and in the ledger floor's books.
fn assert_books_agree(states: &HashMap<MemberId, MemberState>, books: &HashMap<u32, FloorMember>) {
    assert_eq!(states.len(), books.len(), "the same members");
    for (customer, member_books) in books {
        let state = states
            .get(format!("c-{customer:05}").as_str())
            .unwrap_or_else(|| panic!("member c-{customer:05} has books but no state"));
        let points = |account| state.balance(&account, Asset::Points);
        let engine = (points(Account::Pending), points(Account::Available), points(Account::Expired));
        let floor = (member_books.pending, member_books.available, member_books.expired);
        assert_eq!(engine, floor, "member c-{customer:05}: (pending, available, expired) differ");
    }
}

/// This process's CPU time and minor page faults so far, from `/proc/self/stat` (Linux only).
#[derive(Clone, Copy, Default)]
struct ProcessUsage {
    user_ticks: u64,
    kernel_ticks: u64,
    minor_faults: u64,
}

fn process_usage() -> Option<ProcessUsage> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, in parentheses, may hold spaces: the fields after it start at field 3
    // of `man 5 proc`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse().ok();
    Some(ProcessUsage { minor_faults: field(10)?, user_ticks: field(14)?, kernel_ticks: field(15)? })
}

/// Prints how a replay's CPU time splits between user and kernel, and its page faults, over a
/// few runs. Each run drops what it built after the count, so the next reuses the memory it
/// freed, as the timed runs do. The kernel's share is mostly faulting memory in: criterion's times
/// include it, callgrind's instruction counts do not. `/proc` counts in ticks of 10 ms, so over
/// five replays of about 0.2 s each a share of a few percent is a tick or two.
fn report_cpu_split<T>(name: &str, events: usize, mut run: impl FnMut() -> T) {
    const RUNS: u64 = 5;
    // The unit of `/proc`'s times (USER_HZ) is 1/100 s on Linux.
    const MICROSECONDS_PER_TICK: f64 = 10_000.0;
    let mut total = ProcessUsage::default();
    for _ in 0..RUNS {
        let (Some(before), built, Some(after)) = (process_usage(), black_box(run()), process_usage()) else {
            return;
        };
        total.user_ticks += after.user_ticks - before.user_ticks;
        total.kernel_ticks += after.kernel_ticks - before.kernel_ticks;
        total.minor_faults += after.minor_faults - before.minor_faults;
        drop(built);
    }
    let per_event = |count: u64| count as f64 / (RUNS * events as u64) as f64;
    let (user, kernel) =
        (per_event(total.user_ticks) * MICROSECONDS_PER_TICK, per_event(total.kernel_ticks) * MICROSECONDS_PER_TICK);
    println!(
        "{name}: {user:.2} µs user and {kernel:.2} µs kernel CPU time per event ({:.0}% kernel), {:.3} page faults per event ({RUNS} runs)",
        100.0 * kernel / (user + kernel).max(f64::MIN_POSITIVE),
        per_event(total.minor_faults),
    );
}

criterion_group!(benches, replay);
criterion_main!(benches);
