//! Times two builds of the crate in one process, taking turns: `base` (a git ref, unpacked by
//! `scripts/ab/run.sh`) and `new` (the working tree), with the benches' hand-written floor
//! beside them (for the replays, the ledger floor). Drifts of a noisy host hit all three alike
//! within a round, so the per-round ratios hold where separate runs of criterion disagree by
//! more than the change measured.
//! One process keeps one memory layout, which can favour either build by a few percent, so the
//! script runs several processes and takes the median of their medians.
//!
//! Usage: `ab SCENARIO ROUNDS CALLS`; prints one line of `key=value` fields.

use std::hint::black_box;
use std::time::Instant;

macro_rules! side {
    ($module:ident, $library:ident) => {
        mod $module {
            pub mod common;

            use std::hint::black_box;

            use common::*;
            use $library::{Engine, Event, Ledger, MemberState, MemoryStore, Outcome};

            /// What a scenario runs on, built once per process.
            pub struct Setup {
                engine: Engine,
                state: MemberState,
                event: Event,
                outcome: Outcome,
                events: Vec<Event>,
            }

            pub fn setup(scenario: &str) -> Setup {
                let (engine, state, event) = match scenario {
                    "points" | "points_into" => (compile(POINTS_PROGRAM), fresh_state(), points_purchase()),
                    "full" | "full_into" => {
                        let engine = compile(&full_program());
                        let state = full_state(&engine);
                        (engine, state, full_purchase("e-1", "o-1", START))
                    }
                    "replay" | "replay_ledger" => (compile(REPLAY_PROGRAM), fresh_state(), points_purchase()),
                    other => panic!("unknown scenario {other}"),
                };
                let outcome = engine.evaluate(&state, &event).expect("the scenario's event evaluates");
                let events = match scenario {
                    "replay" | "replay_ledger" => {
                        let rows = cdnow_rows().expect("the CDNOW file (see benches/common)");
                        cdnow_events(&rows).into_iter().map(|(event, ..)| event).collect()
                    }
                    _ => Vec::new(),
                };
                Setup { engine, state, event, outcome, events }
            }

            /// Runs the scenario `calls` times (the replays once, over every event), and hands
            /// back what a replay built, for the caller to drop once the clock has stopped (as
            /// criterion drops what the replay bench returns).
            #[inline(never)]
            pub fn run(setup: &mut Setup, scenario: &str, calls: usize) -> Box<dyn std::any::Any> {
                let Setup { engine, state, event, outcome, events } = setup;
                match scenario {
                    "points" | "full" => {
                        for _ in 0..calls {
                            black_box(engine.evaluate(black_box(state), black_box(event)).unwrap());
                        }
                        Box::new(())
                    }
                    "points_into" | "full_into" => {
                        for _ in 0..calls {
                            engine.evaluate_into(black_box(state), black_box(event), outcome).unwrap();
                            black_box(&*outcome);
                        }
                        Box::new(())
                    }
                    "replay" => {
                        let mut states = std::collections::HashMap::new();
                        for event in events.iter() {
                            let member = event.member();
                            let state =
                                states.entry(member.clone()).or_insert_with(|| MemberState::new(member.clone()));
                            let outcome = engine.evaluate(state, black_box(event)).unwrap();
                            state.apply(&outcome);
                        }
                        Box::new(states)
                    }
                    _ => {
                        let mut ledger = Ledger::new(engine.clone(), MemoryStore::new());
                        for event in events.iter() {
                            black_box(ledger.apply(black_box(event)).unwrap());
                        }
                        Box::new(ledger)
                    }
                }
            }
        }
    };
}

side!(base, loyalty_base);
side!(new, loyalty_engine);

/// The scenario's floor, from the new build's benches: the purchase floors, or for the replays
/// the ledger floor (the same books kept by hand) over the same events.
enum Floor {
    /// `points` and `points_into`.
    Points(new::common::FloorPurchase),
    /// `full` and `full_into`.
    Full(new::common::FloorFull),
    /// The replays: the events as the floor takes them, and its purchase template.
    Ledger(Vec<new::common::FloorStep>, new::common::FloorPurchase),
}

/// The scenario's floor with its inputs, built once per process.
fn floor_setup(scenario: &str) -> Floor {
    if scenario.starts_with("points") {
        Floor::Points(new::common::points_floor())
    } else if scenario.starts_with("full") {
        Floor::Full(new::common::full_floor())
    } else {
        let rows = new::common::cdnow_rows().expect("the CDNOW file (see benches/common)");
        let steps = new::common::floor_steps(&rows, &new::common::cdnow_events(&rows));
        Floor::Ledger(steps, new::common::cdnow_floor())
    }
}

/// Runs the floor `calls` times (the ledger floor once, over every event), handing back what
/// the ledger floor built, as [`new::run`] does.
#[inline(never)]
fn run_floor(floor: &mut Floor, calls: usize) -> Box<dyn std::any::Any> {
    match floor {
        Floor::Points(floor) => {
            for _ in 0..calls {
                black_box(new::common::floor_purchase(black_box(floor)).unwrap());
            }
            Box::new(())
        }
        Floor::Full(floor) => {
            for _ in 0..calls {
                black_box(new::common::floor_purchase_full(black_box(floor)).unwrap());
            }
            Box::new(())
        }
        Floor::Ledger(steps, template) => {
            let mut books = std::collections::HashMap::new();
            new::common::floor_ledger(black_box(steps), template, &mut books).unwrap();
            Box::new(books)
        }
    }
}

/// The orders the three slots run in: base 0, new 1, floor 2.
const ORDERS: [[usize; 3]; 6] = [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 2, 1], [2, 1, 0], [1, 0, 2]];

/// The median, the mean of the two middle values for an even count (as `run.sh` takes it).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 0 { (values[middle - 1] + values[middle]) / 2.0 } else { values[middle] }
}

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let [_, scenario, rounds, calls] = arguments.as_slice() else { panic!("usage: ab SCENARIO ROUNDS CALLS") };
    let (rounds, calls): (usize, usize) = (rounds.parse().expect("ROUNDS"), calls.parse().expect("CALLS"));
    assert!(rounds > 0 && calls > 0, "ROUNDS and CALLS must be at least 1");
    let (mut base, mut new, mut floor) = (base::setup(scenario), new::setup(scenario), floor_setup(scenario));
    let is_replay = scenario.starts_with("replay");
    // The replays time one pass over every event, the others one call.
    let calls_per_timing = if is_replay { 1.0 } else { calls as f64 };
    // Slot 0 is the base, 1 the new build, 2 the floor; times in ns per call.
    let mut times: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds {
        // The slots take turns in all six orders, round after round, so that each runs first
        // and after each other as often: what one drops can slow the next (a replay drops a
        // map of states).
        for &slot in &ORDERS[round % ORDERS.len()] {
            let start = Instant::now();
            let built = match slot {
                0 => base::run(&mut base, scenario, calls),
                1 => new::run(&mut new, scenario, calls),
                _ => run_floor(&mut floor, calls),
            };
            times[slot].push(start.elapsed().as_secs_f64() * 1e9 / calls_per_timing);
            drop(built);
        }
    }
    let ratio =
        |top: usize, bottom: usize| median((0..rounds).map(|round| times[top][round] / times[bottom][round]).collect());
    print!("new_over_base={:.4} base_over_floor={:.3} new_over_floor={:.3}", ratio(1, 0), ratio(0, 2), ratio(1, 2));
    if is_replay {
        let milliseconds = |slot: usize| median(times[slot].clone()) / 1e6;
        print!(" base_ms={:.1} new_ms={:.1} floor_ms={:.1}", milliseconds(0), milliseconds(1), milliseconds(2));
    }
    println!();
}
