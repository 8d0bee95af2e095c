//! Heap allocations per evaluated event (issue 5), counted by a global allocator that wraps the
//! system one. Prints a table; no timing.
//!
//! `cargo bench --bench allocations`
//!
//! Last, it replays the CDNOW purchases and their seeded returns, and reports live heap bytes
//! (counted the same way): what the `MemoryStore` holds afterwards (member states, and every
//! event with its outcome in the log, spare room of the log's vectors included), per member and
//! per event; and what the member states alone hold per member, replayed into a `HashMap`,
//! with a census of what they hold (orders, lines, earnings, lots, balances) and the sizes of
//! the types that hold it; and what they hold once the events are dropped too; and, beside them,
//! what the ledger floor's hand-kept books hold (`floor_ledger`), as grown and packed.
//!
//! Each row warms up with `WARM_UP` calls, then averages `CALLS` calls in the steady state. An
//! outcome is dropped inside the measured call (frees are not counted). Where a row applies the
//! outcome, the state is cloned before the count starts, so the clone is not counted.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use loyalty_engine::{
    Account, Asset, Earning, Engine, Event, Ledger, Lot, MemberId, MemberState, MemoryStore, Receipt, ReceiptLine,
};

/// Counts calls to `alloc`/`alloc_zeroed` and to `realloc`, and the bytes they ask for.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
/// Bytes allocated and not yet freed.
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counters have no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size.saturating_sub(layout.size()), Ordering::Relaxed);
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s contract on `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: usize = 100;
const CALLS: usize = 1_000;

#[derive(Clone, Copy, Default)]
struct Counts {
    allocs: usize,
    reallocs: usize,
    bytes: usize,
}

fn counts() -> Counts {
    Counts {
        allocs: ALLOCS.load(Ordering::Relaxed),
        reallocs: REALLOCS.load(Ordering::Relaxed),
        bytes: BYTES.load(Ordering::Relaxed),
    }
}

/// Average counts over `calls` calls of `routine` on a fresh input from `setup` (not counted).
/// The routine's output is dropped after the count.
fn measure<I, O>(calls: usize, mut setup: impl FnMut() -> I, mut routine: impl FnMut(I) -> O) -> [f64; 3] {
    for _ in 0..WARM_UP {
        black_box(routine(setup()));
    }
    let mut total = Counts::default();
    for _ in 0..calls {
        let input = setup();
        let before = counts();
        let output = black_box(routine(input));
        let after = counts();
        drop(output);
        total.allocs += after.allocs - before.allocs;
        total.reallocs += after.reallocs - before.reallocs;
        total.bytes += after.bytes - before.bytes;
    }
    let per_call = |count: usize| count as f64 / calls as f64;
    [per_call(total.allocs), per_call(total.reallocs), per_call(total.bytes)]
}

fn evaluate(engine: &Engine, state: &MemberState, event: &Event) -> [f64; 3] {
    measure(
        CALLS,
        || (),
        |()| {
            black_box(engine.evaluate(black_box(state), black_box(event)).unwrap());
        },
    )
}

/// `Engine::evaluate_into` with one outcome kept across calls: the steady state of a loop.
fn evaluate_into(engine: &Engine, state: &MemberState, event: &Event) -> [f64; 3] {
    let mut outcome = engine.evaluate(state, event).unwrap();
    measure(
        CALLS,
        || (),
        |()| {
            engine.evaluate_into(black_box(state), black_box(event), &mut outcome).unwrap();
            black_box(&outcome);
        },
    )
}

fn evaluate_apply(engine: &Engine, state: &MemberState, event: &Event) -> [f64; 3] {
    measure(
        CALLS,
        || state.clone(),
        |mut state| {
            let outcome = engine.evaluate(&state, black_box(event)).unwrap();
            state.apply(&outcome);
            state
        },
    )
}

fn row(name: &str, target: &str, [allocs, reallocs, bytes]: [f64; 3]) {
    println!("| {name:<56} | {allocs:>8.2} | {reallocs:>8.2} | {bytes:>8.0} | {target:<6} |");
}

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter); this binary takes no options.
    println!("allocations per call: mean over {CALLS} calls after {WARM_UP} warm-up calls\n");
    println!("| {:<56} | {:>8} | {:>8} | {:>8} | {:<6} |", "call", "allocs", "reallocs", "bytes", "target");
    println!("|{:-<58}|{:->10}|{:->10}|{:->10}|{:-<8}|", ":", ":", ":", ":", ":");

    let engine = compile(POINTS_PROGRAM);
    let (state, event) = (fresh_state(), points_purchase());
    row("purchase_points: Engine::evaluate", "", evaluate(&engine, &state, &event));
    row("purchase_points: Engine::evaluate_into (reused outcome)", "<= 4", evaluate_into(&engine, &state, &event));
    row("purchase_points: evaluate + MemberState::apply", "", evaluate_apply(&engine, &state, &event));
    let floor = points_floor();
    row("purchase_points: floor", "", measure(CALLS, || (), |()| floor_purchase(black_box(&floor))));

    let engine = compile(&full_program());
    let (full, event) = (full_state(&engine), full_purchase("e-1", "o-1", START));
    row("purchase_full: Engine::evaluate", "", evaluate(&engine, &full, &event));
    row("purchase_full: Engine::evaluate_into (reused outcome)", "", evaluate_into(&engine, &full, &event));
    row("purchase_full: evaluate + MemberState::apply", "", evaluate_apply(&engine, &full, &event));
    let floor = full_floor();
    row("purchase_full: floor", "", measure(CALLS, || (), |()| floor_purchase_full(black_box(&floor))));

    let engine = compile(RETURN_PROGRAM);
    let mut returning = fresh_state();
    apply(&engine, &mut returning, &full_purchase("e-1", "o-1", START));
    let event = partial_return("e-2", "o-1", &at(3 * 24 * 60));
    row("return_partial: Engine::evaluate", "", evaluate(&engine, &returning, &event));

    let engine = compile(HISTORY_PROGRAM);
    let (state, event) = state_with_lots(&engine, 1_000);
    row("history_scaling redeem, 1,000 lots: Engine::evaluate", "", evaluate(&engine, &state, &event));

    let Some(rows) = cdnow_rows() else {
        println!("\n(no CDNOW file: replay rows skipped)");
        return;
    };
    let engine = compile(REPLAY_PROGRAM);
    // The ledger floor's steps, from events of their own: built before the counts start, so
    // that no figure below counts them, while the events below are counted until dropped.
    let steps = floor_steps(&rows, &cdnow_events(&rows));
    let live_before_events = LIVE.load(Ordering::Relaxed);
    let events: Vec<Event> = cdnow_events(&rows).into_iter().map(|(event, ..)| event).collect();
    let live_before = LIVE.load(Ordering::Relaxed);
    let mut ledger = Ledger::new(engine.clone(), MemoryStore::new());
    let mut events_iter = events.iter();
    let per_event = measure(
        events.len() - WARM_UP,
        || events_iter.next().expect("one event per call"),
        |event| {
            ledger.apply(event).unwrap();
        },
    );
    row("replay (CDNOW, per event): Ledger::apply", "", per_event);
    // The store keeps every event with its outcome, to answer retries, beside the states.
    let held_by_store = LIVE.load(Ordering::Relaxed) - live_before;
    drop(ledger);
    let live_before = LIVE.load(Ordering::Relaxed);
    let mut states: HashMap<MemberId, MemberState> = HashMap::new();
    let mut events_iter = events.iter();
    let per_event = measure(
        events.len() - WARM_UP,
        || events_iter.next().expect("one event per call"),
        |event| {
            let member = event.member();
            let state = states.entry(member.clone()).or_insert_with(|| MemberState::new(member.clone()));
            let outcome = engine.evaluate(state, event).unwrap();
            state.apply(&outcome);
        },
    );
    row("replay (CDNOW, per event): evaluate + apply", "", per_event);
    // Everything the states hold, with the map that holds them, after the whole replay.
    let held = LIVE.load(Ordering::Relaxed) - live_before;
    println!(
        "\nmemory held after the replay: {held} bytes for {} members, {:.0} bytes per member (target < 1024)",
        states.len(),
        held as f64 / states.len() as f64
    );
    print_census(&states);
    println!(
        "memory held by the memory store after the replay (states, and every event with its outcome): \
         {held_by_store} bytes, {:.0} bytes per member, {:.0} bytes per event",
        held_by_store as f64 / states.len() as f64,
        held_by_store as f64 / events.len() as f64
    );
    // The states share their long ids (over 14 bytes) with the events they came from, so the
    // figure above leaves out the text of those; this one is what a host that drops its events
    // holds.
    drop(events);
    let held_alone = LIVE.load(Ordering::Relaxed) - live_before_events;
    println!(
        "memory held after the replay once the events are dropped: {:.0} bytes per member",
        held_alone as f64 / states.len() as f64
    );
    // The least a ledger keeps for the same events: the ledger floor's books.
    let live_before = LIVE.load(Ordering::Relaxed);
    let mut books = HashMap::new();
    floor_ledger(&steps, &mut cdnow_floor(), &mut books).expect("the ledger floor keeps every row");
    let held_by_books = LIVE.load(Ordering::Relaxed) - live_before;
    // Its vectors grow as `Vec` does, from room for four; packed, they hold no spare room.
    books.values_mut().for_each(FloorMember::shrink_to_fit);
    let held_packed = LIVE.load(Ordering::Relaxed) - live_before;
    println!(
        "memory held by the ledger floor's books after the replay: {:.0} bytes per member, {:.0} with \
         their vectors packed",
        held_by_books as f64 / books.len() as f64,
        held_packed as f64 / books.len() as f64
    );
}

/// What the member states hold, counted through the public API, with the sizes of the types
/// that hold it: the parts behind the bytes per member above.
fn print_census(states: &HashMap<MemberId, MemberState>) {
    let members = states.len() as f64;
    let receipts = || states.values().flat_map(MemberState::orders);
    let orders = receipts().count() as f64;
    let lines = receipts().map(|receipt| receipt.lines.len()).sum::<usize>() as f64;
    let earnings = receipts().map(|receipt| receipt.earnings.len()).sum::<usize>() as f64;
    let paid = receipts().filter(|receipt| receipt.payment.is_some()).count();
    let open_lots = states.values().map(|state| state.lots().count()).sum::<usize>() as f64;
    let balances = states.values().map(|state| state.balances().count()).sum::<usize>() as f64;
    println!(
        "per member: {:.2} orders ({:.2} lines and {:.2} earnings each; {paid} paid with points or cashback), \
         {:.2} open lots, {:.2} balances; \
         bytes: MemberState {}, Receipt {} (in an Arc), ReceiptLine {}, Earning {}, Lot {}, balance {}",
        orders / members,
        lines / orders,
        earnings / orders,
        open_lots / members,
        balances / members,
        size_of::<MemberState>(),
        size_of::<Receipt>(),
        size_of::<ReceiptLine>(),
        size_of::<Earning>(),
        size_of::<Lot>(),
        size_of::<(Account, Asset, rust_decimal::Decimal)>(),
    );
}
