//! Times two builds of the crate in one process, taking turns: `base` (a git ref, unpacked by
//! `scripts/ab/run.sh`) and `new` (the working tree), with the benches' hand-written floor
//! beside them. Drifts of a noisy host hit all three alike within a round, so the per-round
//! ratios hold where separate runs of criterion disagree by more than the change measured.
//! One process keeps one memory layout, which can favour either build by a few percent, so the
//! script runs several processes and takes the median of their medians.
//!
//! Usage: `ab SCENARIO ROUNDS CALLS`; prints one line of `key=value` fields.

use std::hint::black_box;
use std::time::Instant;

macro_rules! side {
    ($module:ident, $krate:ident) => {
        mod $module {
            pub mod common;

            use std::hint::black_box;

            use common::*;
            use $krate::{Engine, Event, Ledger, MemberState, MemoryStore, Outcome};

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

            /// Runs the scenario `calls` times (the replays once, over every event).
            #[inline(never)]
            pub fn run(setup: &mut Setup, scenario: &str, calls: usize) {
                let Setup { engine, state, event, outcome, events } = setup;
                match scenario {
                    "points" | "full" => {
                        for _ in 0..calls {
                            black_box(engine.evaluate(black_box(state), black_box(event)).unwrap());
                        }
                    }
                    "points_into" | "full_into" => {
                        for _ in 0..calls {
                            engine.evaluate_into(black_box(state), black_box(event), outcome).unwrap();
                            black_box(&*outcome);
                        }
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
                        std::mem::forget(states);
                    }
                    _ => {
                        let mut ledger = Ledger::new(engine.clone(), MemoryStore::new());
                        for event in events.iter() {
                            black_box(ledger.apply(black_box(event)).unwrap());
                        }
                        // As in the replay bench, dropping what the replay built is not timed.
                        std::mem::forget(ledger);
                    }
                }
            }
        }
    };
}

side!(base, loyalty_base);
side!(new, loyalty_engine);

/// The floor of the scenario, from the new build's benches, `calls` times.
fn run_floor(scenario: &str, calls: usize) {
    if scenario.starts_with("points") {
        let floor = new::common::points_floor();
        for _ in 0..calls {
            black_box(new::common::floor_purchase(black_box(&floor)).unwrap());
        }
    } else {
        let floor = new::common::full_floor();
        for _ in 0..calls {
            black_box(new::common::floor_purchase_full(black_box(&floor)).unwrap());
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let [_, scenario, rounds, calls] = arguments.as_slice() else { panic!("usage: ab SCENARIO ROUNDS CALLS") };
    let (rounds, calls): (usize, usize) = (rounds.parse().expect("ROUNDS"), calls.parse().expect("CALLS"));
    let (mut base, mut new) = (base::setup(scenario), new::setup(scenario));
    let has_floor = !scenario.starts_with("replay");
    let per_call = if has_floor { calls as f64 } else { 1.0 };
    // Slot 0 is the base, 1 the new build, 2 the floor; ns per call.
    let mut times: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds {
        // The three take turns in an order that rotates, so that none always runs first.
        for step in 0..3 {
            let slot = (round + step) % 3;
            if slot == 2 && !has_floor {
                continue;
            }
            let start = Instant::now();
            match slot {
                0 => base::run(&mut base, scenario, calls),
                1 => new::run(&mut new, scenario, calls),
                _ => run_floor(scenario, calls),
            }
            times[slot].push(start.elapsed().as_secs_f64() * 1e9 / per_call);
        }
    }
    let ratio =
        |top: usize, bottom: usize| median((0..rounds).map(|round| times[top][round] / times[bottom][round]).collect());
    print!(
        "base_ns={:.1} new_ns={:.1} new_over_base={:.4}",
        median(times[0].clone()),
        median(times[1].clone()),
        ratio(1, 0)
    );
    if has_floor {
        print!(
            " floor_ns={:.1} base_over_floor={:.3} new_over_floor={:.3}",
            median(times[2].clone()),
            ratio(0, 2),
            ratio(1, 2)
        );
    }
    println!();
}
