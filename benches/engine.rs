//! Engine benchmarks (issue 5). Every group measures the engine and, in the same run, a
//! hand-written floor: the same decimal arithmetic on the same inputs without the engine
//! (see `common`).
//!
//! `cargo bench --bench engine` runs them all; a filter runs one group, such as
//! `cargo bench --bench engine -- purchase_points`.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::*;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use loyalty_engine::{Account, Asset, Engine, Event, MemberState, Notice, OrderId, Outcome, Tag, TierState};
use rust_decimal::Decimal;

/// Amounts of `asset` issued: the postings from funders, in order.
fn issued_of(outcome: &Outcome, asset: &Asset) -> Vec<Decimal> {
    let postings = outcome.postings.iter().filter(|posting| posting.asset == *asset && is_funder(&posting.from));
    postings.map(|posting| posting.amount).collect()
}

fn issued(outcome: &Outcome) -> Vec<Decimal> {
    issued_of(outcome, &Asset::Points)
}

fn floor_amounts(postings: &[FloorPosting]) -> Vec<Decimal> {
    postings.iter().map(|posting| posting.amount).filter(|amount| !amount.is_zero()).collect()
}

/// The engine and the floor must agree before either is timed.
fn check_purchase(engine: &Engine, state: &MemberState, event: &Event, floor: &FloorPurchase) {
    let outcome = engine.evaluate(state, event).expect("the engine accepts the purchase");
    let floor = floor_purchase(floor).expect("the floor computes the purchase");
    assert_eq!(issued(&outcome), floor_amounts(&floor.postings), "engine and floor disagree");
}

/// The same for group 2, and the floor's inputs must be the member's: points, cashback (and
/// its vesting date), stamps, rewards, and the tier level and metric after the order.
fn check_purchase_full(engine: &Engine, state: &MemberState, event: &Event, floor: &FloorFull) {
    let tier = state.tier().expect("the member has a tier");
    let card = Asset::Stamps(Tag::new(FULL_CARD).unwrap());
    let metric = |tier: &TierState| tier.contributions.iter().map(|contribution| contribution.amount).sum::<Decimal>();
    assert_eq!(tier.current.level as usize, floor.tier.level, "the floor's tier level is the member's");
    assert_eq!(metric(tier), floor.tier.metric, "the floor's tier metric is the member's");
    let held = state.balance(&Account::Available, card.clone());
    assert_eq!(held, Decimal::from(floor.card.held), "the floor's stamps are the member's");

    let outcome = engine.evaluate(state, event).expect("the engine accepts the purchase");
    let floor = floor_purchase_full(floor).expect("the floor computes the purchase");
    assert_eq!(issued(&outcome), floor_amounts(&floor.points.postings), "engine and floor disagree on points");
    assert_eq!(issued_of(&outcome, &Asset::Cashback), vec![floor.cashback.amount], "... on cashback");
    let cashback_lot = outcome.lots_opened.iter().find(|lot| lot.asset == Asset::Cashback).expect("a cashback lot");
    assert_eq!(cashback_lot.vests_at, floor.cashback_vests_at, "... on when cashback vests");
    assert_eq!(issued_of(&outcome, &card), vec![Decimal::from(floor.stamps)], "... on stamps");
    let rewards = outcome.notices.iter().filter(|notice| matches!(notice, Notice::RewardIssued { .. })).count();
    assert_eq!(rewards, floor.rewards as usize, "... on rewards issued");
    let tier = outcome.tier.as_deref().expect("the outcome carries the tier");
    assert_eq!((tier.current.level as usize, metric(tier)), (floor.level, floor.metric), "... on the tier");
    let receipt = outcome.receipt.as_deref().expect("a receipt");
    assert_eq!(receipt.tier.as_ref().map(|tier| tier.as_str()), Some("silver"), "the order earns at silver");
}

fn check_return(engine: &Engine, state: &MemberState, event: &Event, floor: &[FloorPosting]) {
    let outcome = engine.evaluate(state, event).expect("the engine accepts the return");
    assert_eq!(amounts(&outcome, |_| true, is_funder), floor_amounts(floor), "engine and floor disagree");
}

fn purchase_points(c: &mut Criterion) {
    let engine = compile(POINTS_PROGRAM);
    let state = fresh_state();
    let event = points_purchase();
    let floor = points_floor();
    check_purchase(&engine, &state, &event, &floor);

    let mut group = c.benchmark_group("purchase_points");
    group.bench_function("engine", |b| b.iter(|| engine.evaluate(black_box(&state), black_box(&event)).unwrap()));
    let mut outcome = engine.evaluate(&state, &event).unwrap();
    group.bench_function("engine_into", |b| {
        b.iter(|| engine.evaluate_into(black_box(&state), black_box(&event), &mut outcome).unwrap())
    });
    group.bench_function("engine_apply", |b| {
        b.iter_batched(
            || state.clone(),
            |mut state| {
                let outcome = engine.evaluate(&state, black_box(&event)).unwrap();
                state.apply(&outcome);
                state
            },
            // One state per iteration, dropped before the next: with larger batches every
            // applied state stays alive until the batch ends, and the fresh heap pages they need
            // (page faults) would be timed as well.
            BatchSize::PerIteration,
        )
    });
    group.bench_function("floor", |b| b.iter(|| floor_purchase(black_box(&floor)).unwrap()));
    group.finish();
}

fn purchase_full(c: &mut Criterion) {
    let engine = compile(&full_program());
    let state = full_state(&engine);
    let event = full_purchase("e-1", "o-1", START);
    let floor = full_floor();
    check_purchase_full(&engine, &state, &event, &floor);

    let mut group = c.benchmark_group("purchase_full");
    group.bench_function("engine", |b| b.iter(|| engine.evaluate(black_box(&state), black_box(&event)).unwrap()));
    let mut outcome = engine.evaluate(&state, &event).unwrap();
    group.bench_function("engine_into", |b| {
        b.iter(|| engine.evaluate_into(black_box(&state), black_box(&event), &mut outcome).unwrap())
    });
    group.bench_function("floor", |b| b.iter(|| floor_purchase_full(black_box(&floor)).unwrap()));
    group.finish();
}

/// A member of [`RETURN_PROGRAM`] with the one order `o-1`, the return of one of its two
/// headphones three days later, and the floor's receipt.
fn returnable_order(engine: &Engine) -> (MemberState, Event, FloorReceipt) {
    let mut state = fresh_state();
    apply(engine, &mut state, &full_purchase("e-1", "o-1", START));
    let event = partial_return("e-2", "o-1", &at(3 * 24 * 60));
    let receipt = FloorReceipt::new(state.order(&OrderId::new("o-1").unwrap()).unwrap(), &state);
    (state, event, receipt)
}

fn return_partial(c: &mut Criterion) {
    let engine = compile(RETURN_PROGRAM);
    let (state, event, receipt) = returnable_order(&engine);
    let qty = Decimal::ONE;
    check_return(&engine, &state, &event, &floor_return(&receipt, 1, qty).unwrap());

    let mut group = c.benchmark_group("return_partial");
    group.bench_function("engine", |b| b.iter(|| engine.evaluate(black_box(&state), black_box(&event)).unwrap()));
    group.bench_function("floor", |b| {
        b.iter(|| floor_return(black_box(&receipt), black_box(1), black_box(qty)).unwrap())
    });
    group.finish();
}

fn rules_scaling(c: &mut Criterion) {
    let state = fresh_state();
    let floor = sku_floor();
    let mut group = c.benchmark_group("rules_scaling");
    for rules in [10, 1_000, 10_000] {
        let engine = compile(&sku_rules_program(rules));
        let event = sku_purchase(&format!("sku-{}", rules / 2));
        check_purchase(&engine, &state, &event, &floor);
        group.bench_with_input(BenchmarkId::new("engine", rules), &event, |b, event| {
            b.iter(|| engine.evaluate(black_box(&state), black_box(event)).unwrap())
        });
    }
    group.bench_function("floor", |b| b.iter(|| floor_purchase(black_box(&floor)).unwrap()));
    group.finish();
}

fn history_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("history_scaling");

    let engine = compile(HISTORY_PROGRAM);
    let points = dec("5");
    let mut floor_lots = Vec::new();
    let mut available = Decimal::ZERO;
    let mut expiring = (Vec::new(), start());
    for lots in [10, 1_000, 10_000] {
        let (state, event) = state_with_lots(&engine, lots);
        let outcome = engine.evaluate(&state, &event).expect("the engine accepts the redemption");
        assert_eq!(amounts(&outcome, |_| true, |to| *to == Account::Redeemed), vec![points]);
        group.bench_with_input(BenchmarkId::new("redeem_engine", lots), &event, |b, event| {
            b.iter(|| engine.evaluate(black_box(&state), black_box(event)).unwrap())
        });
        // Settlement: a tick when the first lot expires, and only it (the next is a minute younger).
        let first = state.lots().next().expect("the member holds lots");
        let tick_at = first.expires_at.expect("the program's lots expire");
        let tick = common::event(&format!(
            r#"{{"type": "tick", "id": "t-1", "member": "{MEMBER}", "at": "{}"}}"#,
            tick_at.to_rfc3339()
        ));
        let outcome = engine.evaluate(&state, &tick).expect("the engine accepts the tick");
        assert_eq!(amounts(&outcome, |_| true, |to| *to == Account::Expired), vec![first.amount_points]);
        group.bench_with_input(BenchmarkId::new("settle_engine", lots), &tick, |b, tick| {
            b.iter(|| engine.evaluate(black_box(&state), black_box(tick)).unwrap())
        });
        if floor_lots.is_empty() {
            floor_lots = state.lots().map(|lot| lot.amount_points).collect();
            available = state.points().available.value();
            let expiries = state.lots().map(|lot| (lot.expires_at.expect("lots expire"), lot.amount_points));
            expiring = (expiries.collect(), tick_at);
        }
    }
    let posting = floor_expire(&expiring.0, expiring.1).expect("the floor expires the first lot");
    assert_eq!((posting.lot, posting.amount), (0, expiring.0[0].1), "engine and floor disagree");
    group.bench_function("redeem_floor", |b| {
        b.iter(|| floor_redeem(black_box(available), black_box(&floor_lots), black_box(points)).unwrap())
    });
    group.bench_function("settle_floor", |b| {
        b.iter(|| floor_expire(black_box(&expiring.0), black_box(expiring.1)).unwrap())
    });

    let engine = compile(RETURN_PROGRAM);
    let mut floor = None;
    for orders in [10, 10_000] {
        let (state, event) = state_with_orders(&engine, orders);
        let Event::Return(ret) = &event else { unreachable!("a return") };
        let receipt = FloorReceipt::new(state.order(&ret.order).unwrap(), &state);
        check_return(&engine, &state, &event, &floor_return(&receipt, 1, Decimal::ONE).unwrap());
        group.bench_with_input(BenchmarkId::new("return_engine", orders), &event, |b, event| {
            b.iter(|| engine.evaluate(black_box(&state), black_box(event)).unwrap())
        });
        floor.get_or_insert(receipt);
    }
    let receipt = floor.expect("a receipt");
    group.bench_function("return_floor", |b| {
        b.iter(|| floor_return(black_box(&receipt), black_box(1), black_box(Decimal::ONE)).unwrap())
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2_000))
}

criterion_group! {
    name = benches;
    config = config();
    targets = purchase_points, purchase_full, return_partial, rules_scaling, history_scaling
}
criterion_main!(benches);
