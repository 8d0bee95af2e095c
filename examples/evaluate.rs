//! A dry run for program designers: applies a file of events to a program and prints what the
//! ledger would record, as JSON lines on stdout.
//!
//! ```text
//! cargo run --example evaluate -- PROGRAM.json EVENTS.jsonl [--balances]
//! ```
//!
//! `PROGRAM.json` is a [`Program`]; every non-empty line of `EVENTS.jsonl` is an [`Event`].
//! The events go through a [`Ledger`] over a [`MemoryStore`], in file order.
//!
//! By default it prints one line per posting, with the member added:
//!
//! ```json
//! {"member":"m-1","id":"e-1#0","from":"funder:shop","to":"pending","asset":"points","amount":"100","lot":0}
//! ```
//!
//! (`lot` only when the posting names one). When an event's outcome withholds money from a
//! refund, carries notices or changes stamp-card rewards, one more line follows its postings
//! (`rewards` only when there are some):
//!
//! ```json
//! {"event":"e-3","member":"m-1","refund_withheld":"150.00","notices":[{"type":"spent_points_clawed_back","points":"1500","covered_by":"refund_withheld"}]}
//! ```
//!
//! With `--balances` (anywhere among the arguments) it prints instead, after all events, one
//! line per member, sorted by id, with its points as of its last event (pending, available,
//! debt) and, per asset, the balance of every account its postings touched:
//!
//! ```json
//! {"member":"m-1","pending":"0","available":"120","debt":"0","accounts":{"points":{"available":"120","funder:shop":"-120"},"stamps:coffee":{"available":"2","funder:shop":"-2"}}}
//! ```
//!
//! An unreadable file, a program that doesn't compile, a line that isn't an event or an event
//! the engine refuses stops the run with a message on stderr (naming the line of
//! `EVENTS.jsonl`) and exit code 1.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use loyalty_engine::{Event, EventId, Ledger, MemberId, MemoryStore, Money, Notice, Points, Posting, Program, Reward};
use serde::Serialize;

const USAGE: &str = "usage: evaluate PROGRAM.json EVENTS.jsonl [--balances]";

#[derive(Serialize)]
struct PostingLine<'a> {
    member: &'a MemberId,
    #[serde(flatten)]
    posting: &'a Posting,
}

#[derive(Serialize)]
struct NoticeLine<'a> {
    event: &'a EventId,
    member: &'a MemberId,
    refund_withheld: Money,
    notices: &'a [Notice],
    #[serde(skip_serializing_if = "<[Reward]>::is_empty")]
    rewards: &'a [Reward],
}

#[derive(Serialize)]
struct BalanceLine<'a> {
    member: &'a MemberId,
    pending: Points,
    available: Points,
    debt: Points,
    accounts: BTreeMap<String, BTreeMap<String, String>>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("evaluate: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let balances = args.iter().any(|arg| arg == "--balances");
    args.retain(|arg| arg != "--balances");
    let [program_path, events_path] = args.as_slice() else { return Err(USAGE.to_owned()) };

    let program_text = read(program_path)?;
    let program: Program = serde_json::from_str(&program_text).map_err(|error| format!("{program_path}: {error}"))?;
    let engine = program.compile().map_err(|error| format!("{program_path}: {error}"))?;
    let mut ledger = Ledger::new(engine, MemoryStore::new());
    let mut members = BTreeSet::new();
    let mut out = BufWriter::new(io::stdout().lock());

    for (index, line) in read(events_path)?.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{events_path}, line {}", index + 1);
        let event: Event = serde_json::from_str(line).map_err(|error| format!("{at}{}", json_error(&error)))?;
        let outcome = ledger.apply(&event).map_err(|error| format!("{at} (event {}): {error}", event.id()))?;
        members.insert(outcome.member.clone());
        if balances {
            continue;
        }
        for posting in &outcome.postings {
            print_line(&mut out, &PostingLine { member: &outcome.member, posting })?;
        }
        if !outcome.refund_withheld.value().is_zero() || !outcome.notices.is_empty() || !outcome.rewards.is_empty() {
            let (event, member, refund_withheld) = (&outcome.event, &outcome.member, outcome.refund_withheld);
            let (notices, rewards) = (&outcome.notices[..], &outcome.rewards[..]);
            print_line(&mut out, &NoticeLine { event, member, refund_withheld, notices, rewards })?;
        }
    }

    if balances {
        for member in &members {
            let state = ledger.state(member).map_err(|error| format!("member {member}: {error}"))?;
            let points = state.points();
            let mut accounts: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for (account, asset, balance) in state.balances() {
                accounts.entry(asset.to_string()).or_default().insert(account.to_string(), balance.to_string());
            }
            let (pending, available, debt) = (points.pending, points.available, points.debt);
            print_line(&mut out, &BalanceLine { member, pending, available, debt, accounts })?;
        }
    }
    out.flush().map_err(|error| format!("writing the output: {error}"))
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| format!("{path}: {error}"))
}

/// A JSON error as `, column C: MESSAGE`, since the line serde_json counts is always 1.
fn json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&position) {
        Some(message) => format!(", column {}: {message}", error.column()),
        None => format!(": {text}"),
    }
}

fn print_line(out: &mut impl Write, line: &impl Serialize) -> Result<(), String> {
    serde_json::to_writer(&mut *out, line)
        .map_err(io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|error| format!("writing the output: {error}"))
}
