//! Replays the CDNOW purchases (issue 5): every row with a positive dollar value becomes a
//! purchase, applied in file order through `Ledger<MemoryStore>`, reported as events per second.
//! Beside it: the same events through `Engine::evaluate` + `MemberState::apply` on a map of
//! states (no store), and the floor, the per-event arithmetic alone over the same rows.
//!
//! `cargo bench --bench replay`

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use loyalty_engine::{Account, Event, Ledger, MemberId, MemberState, MemoryStore};
use rust_decimal::Decimal;

/// A row's quantity, unit price, discount and time.
type FloorInput = (Decimal, Decimal, Decimal, DateTime<Utc>);

fn set_row(template: &mut FloorPurchase, (qty, unit_price, discount, at): FloorInput) {
    let line = &mut template.lines[0];
    (line.qty, line.unit_price, line.discount) = (qty, unit_price, discount);
    template.at = at;
}

fn replay(c: &mut Criterion) {
    let Some(rows) = cdnow_rows() else {
        eprintln!("replay: no cdnow_master.txt under examples/data or ../shared/data; skipped");
        return;
    };
    let events: Vec<Event> = rows.iter().enumerate().map(|(index, row)| cdnow_event(index, row)).collect();
    let inputs: Vec<FloorInput> = rows
        .iter()
        .map(|row| (row.cds, row.unit_price, row.discount, row.date.and_hms_opt(0, 0, 0).expect("midnight").and_utc()))
        .collect();
    let engine = compile(REPLAY_PROGRAM);

    // The replay and the floor must agree on what was issued before either is timed.
    let mut ledger = Ledger::new(engine.clone(), MemoryStore::new());
    let mut issued = Decimal::ZERO;
    for event in &events {
        let outcome = ledger.apply(event).expect("the ledger accepts every CDNOW purchase");
        issued += outcome
            .postings
            .iter()
            .filter(|posting| matches!(posting.from, Account::Funder(_)))
            .map(|p| p.amount)
            .sum::<Decimal>();
    }
    let mut template = cdnow_floor();
    let mut floor_issued = Decimal::ZERO;
    for &input in &inputs {
        set_row(&mut template, input);
        floor_issued += floor_purchase(&template).expect("the floor computes the row").postings[0].amount;
    }
    assert_eq!(issued, floor_issued, "engine and floor disagree");
    drop(ledger);
    println!("replay: {} events ({} points issued)", events.len(), issued);

    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(7))
        .throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("ledger", |b| {
        b.iter_batched(
            || Ledger::new(engine.clone(), MemoryStore::new()),
            |mut ledger| {
                for event in &events {
                    black_box(ledger.apply(black_box(event)).unwrap());
                }
                ledger
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("engine_apply", |b| {
        b.iter_batched(
            HashMap::<MemberId, MemberState>::new,
            |mut states| {
                for event in &events {
                    let member = event.member();
                    let state = states.entry(member.clone()).or_insert_with(|| MemberState::new(member.clone()));
                    let outcome = engine.evaluate(state, black_box(event)).unwrap();
                    state.apply(&outcome);
                    black_box(outcome);
                }
                states
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("floor", |b| {
        b.iter(|| {
            let mut issued = Decimal::ZERO;
            for &input in black_box(&inputs) {
                set_row(&mut template, input);
                issued += floor_purchase(black_box(&template)).unwrap().postings[0].amount;
            }
            issued
        })
    });
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
