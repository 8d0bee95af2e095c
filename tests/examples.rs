//! Runs the `evaluate` example on the shipped programs and on bad input, and `replay` on a
//! few rows.
//!
//! `cargo test` builds the examples next to the test binaries, but `cargo test --test examples`
//! does not, so the first test to need the binary builds it (a no-op when it is fresh).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use rust_decimal::Decimal;
use serde_json::Value;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An example binary: `target/<profile>/examples/NAME`, beside this test's `deps/`.
fn example(name: &str) -> PathBuf {
    static EXAMPLES: OnceLock<PathBuf> = OnceLock::new();
    let directory = EXAMPLES.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("the test binary lives in <profile>/deps");
        let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        build.args(["build", "--quiet", "--example", "evaluate", "--example", "replay"]).current_dir(manifest_dir());
        match profile_dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") | None => {}
            Some("release") => _ = build.arg("--release"),
            Some(profile) => _ = build.args(["--profile", profile]),
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the examples failed");
        profile_dir.join("examples")
    });
    directory.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn evaluate(args: &[&str]) -> Output {
    Command::new(example("evaluate")).args(args).output().expect("the evaluate example runs")
}

fn stdout_lines(output: &Output) -> Vec<Value> {
    assert!(output.status.success(), "evaluate failed: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout.clone()).expect("UTF-8 output");
    stdout.lines().map(|line| serde_json::from_str(line).expect("every line is JSON")).collect()
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str_exact(value.as_str().expect("decimals are strings")).expect("an exact decimal")
}

/// Every `X.json` in `examples/programs`, with its `X-events.jsonl`.
fn shipped_programs() -> Vec<(PathBuf, PathBuf)> {
    let directory = manifest_dir().join("examples/programs");
    let mut programs: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(&directory)
        .expect("examples/programs exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
        .map(|program| {
            let stem = program.file_stem().and_then(|stem| stem.to_str()).expect("a UTF-8 file name");
            let events = directory.join(format!("{stem}-events.jsonl"));
            assert!(events.is_file(), "{} has no {}", program.display(), events.display());
            (program, events)
        })
        .collect();
    programs.sort();
    assert!(!programs.is_empty(), "no programs in {}", directory.display());
    programs
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[test]
fn every_shipped_program_runs_and_its_postings_sum_to_zero() {
    for (program, events) in shipped_programs() {
        let lines = stdout_lines(&evaluate(&[path_str(&program), path_str(&events)]));
        let mut balances: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        let mut postings = 0;
        for line in &lines {
            if line.get("event").is_some() {
                assert!(line.get("notices").is_some_and(Value::is_array), "a notice line: {line}");
                continue;
            }
            let (asset, amount) = (line["asset"].to_string(), decimal(&line["amount"]));
            assert!(amount > Decimal::ZERO, "a posting moves a positive amount: {line}");
            assert!(line["member"].is_string() && line["id"].is_string(), "a posting line: {line}");
            *balances.entry((asset.clone(), line["from"].to_string())).or_default() -= amount;
            *balances.entry((asset, line["to"].to_string())).or_default() += amount;
            postings += 1;
        }
        assert!(postings > 0, "{} posted nothing", events.display());
        let mut by_asset: BTreeMap<&str, Decimal> = BTreeMap::new();
        for ((asset, _), balance) in &balances {
            *by_asset.entry(asset).or_default() += balance;
        }
        for (asset, sum) in by_asset {
            assert!(sum.is_zero(), "{}: {asset} sums to {sum}", program.display());
        }
    }
}

#[test]
fn balances_prints_one_line_per_member_sorted() {
    for (program, events) in shipped_programs() {
        let text = std::fs::read_to_string(&events).expect("the events file");
        let members: BTreeSet<String> = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str::<Value>(line).expect("JSON")["member"].as_str().expect("a member").into())
            .collect();
        let lines = stdout_lines(&evaluate(&["--balances", path_str(&program), path_str(&events)]));
        let printed: Vec<&str> = lines.iter().map(|line| line["member"].as_str().expect("a member")).collect();
        assert_eq!(printed, members.iter().map(String::as_str).collect::<Vec<_>>());
        for line in &lines {
            let assets = line["accounts"].as_object().expect("the accounts per asset");
            for (asset, accounts) in assets {
                let total: Decimal = accounts.as_object().expect("an asset's accounts").values().map(decimal).sum();
                assert!(total.is_zero(), "a member's {asset} accounts sum to zero: {line}");
            }
            let points = assets.get("points").and_then(Value::as_object);
            for bucket in ["pending", "available", "debt"] {
                let listed = points.and_then(|accounts| accounts.get(bucket)).map_or(Decimal::ZERO, decimal);
                assert_eq!(decimal(&line[bucket]), listed, "{bucket} of {line}");
            }
        }
    }
}

/// What `evaluate` prints for `examples/programs/NAME.json` and its events.
fn shipped_run(name: &str) -> Vec<Value> {
    let directory = manifest_dir().join("examples/programs");
    let (program, events) = (directory.join(format!("{name}.json")), directory.join(format!("{name}-events.jsonl")));
    stdout_lines(&evaluate(&[path_str(&program), path_str(&events)]))
}

/// The notices printed, as (event, notice) pairs.
fn notices(lines: &[Value]) -> Vec<(&str, &Value)> {
    let with_notices = lines.iter().filter_map(|line| Some((line["event"].as_str()?, line["notices"].as_array()?)));
    with_notices.flat_map(|(event, notices)| notices.iter().map(move |notice| (event, notice))).collect()
}

fn postings<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    let prefix = format!("{event}#");
    lines.iter().filter(|line| line["id"].as_str().is_some_and(|id| id.starts_with(&prefix))).collect()
}

#[test]
fn the_tier_program_upgrades_takes_a_level_back_on_return_and_downgrades_after_grace() {
    let lines = shipped_run("tiers");
    let changes: Vec<(&str, &str, &str, &str)> = notices(&lines)
        .into_iter()
        .filter(|(_, notice)| notice["type"] == "tier_changed")
        .map(|(event, notice)| {
            let field = |name: &str| notice[name].as_str().expect("a text field");
            (event, field("from"), field("to"), field("reason"))
        })
        .collect();
    let expected = [
        ("e-02", "classic", "silver", "upgrade"),
        ("e-03", "classic", "silver", "upgrade"),
        ("e-05", "silver", "gold", "upgrade"),
        ("e-07", "gold", "silver", "return"),
        ("e-11", "silver", "classic", "grace_ended"),
    ];
    assert_eq!(changes, expected);
    let pending = notices(&lines).into_iter().find(|(_, notice)| notice["type"] == "tier_downgrade_pending");
    assert_eq!(pending.map(|(event, notice)| (event, notice["to"].as_str())), Some(("e-10", Some("classic"))));
    let taken_back: Decimal = postings(&lines, "e-07").iter().map(|posting| decimal(&posting["amount"])).sum();
    let earned = |event| -> Decimal { postings(&lines, event).iter().map(|posting| decimal(&posting["amount"])).sum() };
    assert!(taken_back > earned("e-05"), "the return also takes what gold gave the boots bought after it");
    assert!(taken_back < earned("e-05") + earned("e-06"), "the boots keep their base points");
}

#[test]
fn the_stamp_program_issues_redeems_revokes_voids_and_owes() {
    let lines = shipped_run("stamps");
    let kinds: Vec<(&str, &str)> = notices(&lines)
        .into_iter()
        .map(|(event, notice)| (event, notice["type"].as_str().expect("a notice type")))
        .collect();
    for expected in [("e-06", "reward_issued"), ("e-12", "reward_revoked"), ("e-16", "stamps_owed")] {
        assert!(kinds.contains(&expected), "{expected:?} in {kinds:?}");
    }
    let status = |event: &str| {
        let line = lines.iter().find(|line| line["event"] == event).expect("a line for the event");
        line["rewards"][0]["status"].as_str().expect("a reward status").to_owned()
    };
    assert_eq!((status("e-07"), status("e-19")), ("redeemed".to_owned(), "voided".to_owned()));
    let points_reward: Vec<(&str, Decimal)> = postings(&lines, "e-10")
        .iter()
        .filter(|posting| {
            posting["to"] == "available" && posting["from"].as_str().is_some_and(|from| from.starts_with("funder:"))
        })
        .map(|posting| (posting["from"].as_str().expect("a funder"), decimal(&posting["amount"])))
        .collect();
    let half = Decimal::from(150);
    assert_eq!(points_reward, [("funder:ankara-roasters", half), ("funder:kahve-durak", half)]);
}

#[test]
fn the_coalition_program_settles_between_partners_and_a_return_undoes_it() {
    let lines = shipped_run("coalition");
    let settlements = |event: &str| -> Vec<(String, String, Decimal)> {
        postings(&lines, event)
            .iter()
            .filter(|posting| posting["from"].as_str().is_some_and(|from| from.starts_with("settlement:")))
            .map(|posting| (posting["from"].to_string(), posting["to"].to_string(), decimal(&posting["amount"])))
            .collect()
    };
    let paid_hotel = settlements("e-03");
    assert_eq!(paid_hotel.len(), 1, "airline points paid the hotel: {paid_hotel:?}");
    assert_eq!(settlements("e-04").len(), 2, "airline and hotel points paid the restaurant");
    let (from, to, amount) = &paid_hotel[0];
    assert_eq!(settlements("e-08"), [(to.clone(), from.clone(), *amount)], "the return reverses it");
}

#[test]
fn the_cashback_program_caps_pays_and_withholds_spent_cashback_from_the_refund() {
    let lines = shipped_run("cashback");
    let program: Value = serde_json::from_str(
        &std::fs::read_to_string(manifest_dir().join("examples/programs/cashback.json")).expect("the program"),
    )
    .expect("JSON");
    let max_per_order = decimal(&program["cashback"]["max_per_order"]);
    let earned = |event: &str| -> Decimal {
        let earning = |posting: &&Value| posting["to"] == "pending" && posting["asset"] == "cashback";
        postings(&lines, event).into_iter().filter(earning).map(|posting| decimal(&posting["amount"])).sum()
    };
    assert_eq!(earned("e-01"), max_per_order, "the phone's cashback is capped per order");
    let returned = lines.iter().find(|line| line["event"] == "e-05").expect("the return's notice line");
    let withheld = decimal(&returned["refund_withheld"]);
    assert!(withheld > Decimal::ZERO);
    assert_eq!(decimal(&returned["notices"][0]["amount"]), withheld);
    assert_eq!(earned("e-06"), Decimal::from(480), "the TV earns 2%");
    let taken_back: Decimal = postings(&lines, "e-07")
        .into_iter()
        .filter(|posting| posting["from"] == "pending" && posting["asset"] == "cashback")
        .map(|posting| decimal(&posting["amount"]))
        .sum();
    assert_eq!(taken_back, Decimal::from(480), "returning the TV takes its pending cashback back");
}

/// Writes `contents` to a fresh file in the temporary directory and returns its path.
fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("loyalty-engine-{}-{name}.txt", std::process::id()));
    std::fs::write(&path, contents).expect("the temporary directory is writable");
    path
}

fn assert_fails_at_line(events: &str, name: &str, line: usize) {
    let (program, _) = &shipped_programs()[0];
    let path = temp_file(name, events);
    let output = evaluate(&[path_str(program), path_str(&path)]);
    std::fs::remove_file(&path).expect("the temporary file is removable");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
    let named = [":", ",", " "].iter().any(|after| stderr.contains(&format!(", line {line}{after}")));
    assert!(named, "{name}: the message names line {line}: {stderr}");
}

const PURCHASE: &str = r#"{"type":"purchase","id":"e-1","member":"m-1","at":"2026-03-01T10:00:00Z","order":"o-1","lines":[{"sku":"a","qty":"1","unit_price":"100.00"}]}"#;

#[test]
fn bad_events_fail_with_exit_code_1_and_the_line_number() {
    assert_fails_at_line(&format!("{PURCHASE}\n\n{{\"type\": \"purchase\",\n"), "invalid-json", 3);
    assert_fails_at_line(&format!("{PURCHASE}\n{{\"type\":\"nap\"}}\n"), "unknown-type", 2);
    let float = PURCHASE.replace("\"100.00\"", "100.5").replace("e-1", "e-2");
    assert_fails_at_line(&format!("{PURCHASE}\n{float}\n"), "float-price", 2);
    let unknown_order = r#"{"type":"return","id":"e-2","member":"m-1","at":"2026-03-02T10:00:00Z","order":"o-9","lines":[{"sku":"a","qty":"1"}]}"#;
    assert_fails_at_line(&format!("{PURCHASE}\n{unknown_order}\n"), "refused", 2);
}

#[test]
fn unreadable_files_and_bad_usage_fail_with_exit_code_1() {
    let (program, events) = &shipped_programs()[0];
    let missing = std::env::temp_dir().join(format!("loyalty-engine-{}-missing.jsonl", std::process::id()));
    for args in [vec![path_str(program), path_str(&missing)], vec![path_str(events), path_str(events)], vec![]] {
        let output = evaluate(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?} explains itself");
    }
}

#[test]
fn replay_runs_a_small_data_file_and_balances() {
    let rows = "customer_id date number_of_cds dollar_value\r\n 00001 19970101  1   11.77\r\n \
                00002 19970101  3   41.00\r\n 00002 19970101  1    0.00\r\n 00002 19970301  2   30.99\r\n";
    let path = temp_file("replay-rows", rows);
    let output = Command::new(example("replay")).arg(&path).output().expect("the replay example runs");
    std::fs::remove_file(&path).expect("the temporary file is removable");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "replay failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("balanced: all account balances sum to 0"), "{stdout}");
    assert!(stdout.lines().any(|line| line.contains("InvalidPrice") && line.contains(" 1 ")), "{stdout}");
}

/// Every program in README.md (a `json` block with an `owner`) compiles, so the documentation
/// can't drift from the format.
#[test]
fn every_program_in_the_readme_compiles() {
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).expect("README.md");
    let blocks = readme.split("```json\n").skip(1).map(|rest| rest.split("```").next().expect("a closed block"));
    let mut programs = 0;
    for block in blocks {
        let Ok(value) = serde_json::from_str::<Value>(block) else { continue };
        if value.get("owner").is_none() {
            continue;
        }
        let program: loyalty_engine::Program =
            serde_json::from_value(value).unwrap_or_else(|error| panic!("{error}: {block}"));
        program.compile().unwrap_or_else(|error| panic!("{error}: {block}"));
        programs += 1;
    }
    assert!(programs >= 5, "the README shows a program per mechanic, found {programs}");
}

/// Every program section shown in the API docs of `src/program/` (a `json` block in a doc
/// comment) compiles inside a program, so the rustdoc can't drift from the format either.
#[test]
fn every_program_section_in_the_api_docs_compiles() {
    // The file, and where its section goes in a program (a list for cards and partners).
    let sections = [
        ("earn", r#""earn":"#),
        ("redemption", r#""redemption":"#),
        ("returns", r#""returns":"#),
        ("tiers", r#""tiers":"#),
        ("stamps", r#""stamp_cards":["#),
        ("cashback", r#""cashback":"#),
        ("partners", r#""partners":["#),
        ("bonuses", r#""bonuses":"#),
        ("donations", r#""donations":"#),
        ("adjustments", r#""adjustments":"#),
        ("transfers", r#""transfers":"#),
        ("memberships", r#""memberships":["#),
    ];
    for (file, field) in sections {
        let path = manifest_dir().join("src/program").join(format!("{file}.rs"));
        let source = std::fs::read_to_string(&path).expect("the section's source");
        let block: String = source
            .split("/// ```json\n")
            .nth(1)
            .and_then(|rest| rest.split("/// ```").next())
            .unwrap_or_else(|| panic!("{file}.rs shows its section in a json block"))
            .lines()
            .map(|line| line.trim_start().trim_start_matches("///"))
            .collect::<Vec<_>>()
            .join("\n");
        let close = if field.ends_with('[') { "]" } else { "" };
        let json = format!(r#"{{"id":"docs","currency":"EUR","owner":"shop",{field}{block}{close}}}"#);
        let program: loyalty_engine::Program =
            serde_json::from_str(&json).unwrap_or_else(|error| panic!("{file}.rs: {error}\n{json}"));
        program.compile().unwrap_or_else(|error| panic!("{file}.rs: {error}\n{json}"));
    }
}
