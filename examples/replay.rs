//! Replays the CDNOW purchase history (69,659 purchases by 23,570 customers, January 1997 to
//! June 1998) through the engine and prints what the program would have cost and done.
//!
//! ```text
//! cargo run --release --example replay [-- [DATA_FILE] [--program PROGRAM.json]]
//! ```
//!
//! The defaults are `examples/data/cdnow_master.txt` (whitespace-separated `customer_id`,
//! `date` as YYYYMMDD, `number_of_cds`, `dollar_value`, one header line) and
//! `examples/programs/cdnow.json`. The events are derived reproducibly:
//!
//! - Each row is a purchase by member `customer_id` with the row number as order id, at 12:00
//!   UTC on its date plus one second per earlier row of that date (so a day's rows stay in
//!   order). Its one line is `number_of_cds` units of SKU `cd` at `dollar_value / number_of_cds`
//!   rounded up to the cent, less a line discount that makes it worth exactly `dollar_value`.
//!   Rows the engine refuses ($0 rows: prices must be positive) are sent and counted.
//! - Before each purchase, a member with at least the program's `min_balance` available points
//!   pays with as many as the program allows (at most `max_share_of_order` of the order).
//! - A seeded 5% of the orders (splitmix64, fixed seed) come back 3 to 10 days later: from one
//!   CD to all of them.
//! - After the last event every member gets a closing tick, at the next midnight, so the report
//!   shows vesting, expiry and tier reviews as of the end of the data.
//!
//! Beside points, the report shows what the program's other mechanics did: tier changes and the
//! members per tier at the end, the stamp-card rewards issued and revoked, and the cashback
//! paid into wallets and clawed back.
//!
//! The report times parsing (reading the file and building the events) and the replay
//! separately, and checks that every account balance sums to zero and that the members' stored
//! states agree with the postings. Exit code 1 on bad input or if the check fails.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Display;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use loyalty_engine::{
    Account, Asset, AssetTotals, Engine, Event, EventId, Ledger, LedgerError, MemberId, MemoryStore, Money, Notice,
    OrderId, Outcome, Points, Program, Purchase, PurchaseLine, Return, ReturnLine, Sku, Tick,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

const DEFAULT_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/cdnow_master.txt");
const DEFAULT_PROGRAM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/programs/cdnow.json");
const USAGE: &str = "usage: replay [DATA_FILE] [--program PROGRAM.json]";
const SEED: u64 = 0x00CD_2007_1997;
/// One order in this many comes back.
const RETURN_ONE_IN: u64 = 20;

/// One row of the data file.
struct Row {
    customer: MemberId,
    date: NaiveDate,
    cds: Decimal,
    dollars: Decimal,
}

/// What the replay did, beside the points totals.
struct Tally {
    totals: AssetTotals,
    purchases: u64,
    paid_with_points: u64,
    returns: u64,
    ticks: u64,
    cashback: AssetTotals,
    /// Tier changes by reason.
    tier_changes: BTreeMap<String, u64>,
    rewards_issued: u64,
    rewards_revoked: u64,
    /// Refusals by reason, with the count and the first one's message.
    refused: BTreeMap<String, (u64, String)>,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("replay: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Returns whether the ledger balanced.
fn run() -> Result<bool, String> {
    let (data_path, program_path) = parse_args()?;
    let program: Program = serde_json::from_str(&read(&program_path)?).map_err(|error| at(&program_path, error))?;
    let engine = program.compile().map_err(|error| at(&program_path, error))?;

    let parse_started = Instant::now();
    let rows = parse_rows(&read(&data_path)?).map_err(|error| at(&data_path, error))?;
    let events = build_events(&rows)?;
    let closing = events.last().map(Event::at).ok_or("the data file has no rows")?;
    let parse_time = parse_started.elapsed();

    let mut ledger = Ledger::new(engine, MemoryStore::new());
    let mut tally = Tally::new();
    let replay_started = Instant::now();
    for mut event in events {
        if let Event::Purchase(purchase) = &mut event {
            purchase.pay_with_points = points_to_pay(&mut ledger, purchase)?;
        }
        match ledger.apply(&event) {
            Ok(outcome) => {
                tally.totals.record(&outcome);
                tally.cashback.record(&outcome);
                tally.count(&event);
                tally.notice(&outcome);
            }
            Err(error) => {
                let refused = tally.refused.entry(reason(&error)).or_insert((0, format!("{}: {error}", event.id())));
                refused.0 += 1;
            }
        }
    }
    let replay_time = replay_started.elapsed();

    let members: HashSet<&MemberId> = rows.iter().map(|row| &row.customer).collect();
    let buyers: HashSet<&MemberId> =
        rows.iter().filter(|row| row.dollars > Decimal::ZERO).map(|row| &row.customer).collect();
    let sales: Decimal = rows.iter().map(|row| row.dollars).sum();
    println!("CDNOW replay of {data_path}\nwith program {} ({program_path})\n", program.id);
    let (rows_read, sales, members, buyers) =
        (thousands(rows.len()), dollars(sales), thousands(members.len()), thousands(buyers.len()));
    println!(
        "rows             {rows_read:>10}  {sales} in sales, {members} members ({buyers} with a purchase over $0)"
    );
    let events = print_report(&tally, &program, closing);
    print_mechanics(&tally, &ledger, closing)?;
    println!("parse            {:>10}  reading the file, building the events", seconds(parse_time));
    println!("replay           {:>10}  {} events/s", seconds(replay_time), thousands(per_second(events, replay_time)));
    check_balances(&ledger, &tally.totals)
}

fn parse_args() -> Result<(String, String), String> {
    let (mut data, mut program) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--program" => program = Some(args.next().ok_or(USAGE)?),
            _ if arg.starts_with('-') || data.is_some() => return Err(USAGE.to_owned()),
            _ => data = Some(arg),
        }
    }
    Ok((data.unwrap_or_else(|| DEFAULT_DATA.to_owned()), program.unwrap_or_else(|| DEFAULT_PROGRAM.to_owned())))
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| at(path, error))
}

fn at(path: &str, error: impl Display) -> String {
    format!("{path}: {error}")
}

/// Parses the data file: a header line, then `customer_id date number_of_cds dollar_value`.
fn parse_rows(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines.next().map(|(_, line)| line.split_whitespace().collect()).unwrap_or_default();
    if header != ["customer_id", "date", "number_of_cds", "dollar_value"] {
        return Err("line 1: expected the header `customer_id date number_of_cds dollar_value`".to_owned());
    }
    let mut rows = Vec::new();
    for (index, line) in lines.filter(|(_, line)| !line.trim().is_empty()) {
        let row = parse_row(line).map_err(|error| format!("line {}: {error}", index + 1))?;
        rows.push(row);
    }
    Ok(rows)
}

fn parse_row(line: &str) -> Result<Row, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [customer, date, cds, dollars] = fields[..] else {
        return Err(format!("expected 4 fields, found {}", fields.len()));
    };
    let decimal = |text: &str| Decimal::from_str_exact(text).map_err(|_| format!("`{text}` is not a decimal number"));
    Ok(Row {
        customer: MemberId::new(customer).map_err(|error| error.to_string())?,
        date: NaiveDate::parse_from_str(date, "%Y%m%d").map_err(|error| format!("date `{date}`: {error}"))?,
        cds: decimal(cds)?,
        dollars: decimal(dollars)?,
    })
}

/// Purchases and seeded returns, sorted by time then id, then a closing tick per member.
fn build_events(rows: &[Row]) -> Result<Vec<Event>, String> {
    let mut random = SplitMix64(SEED);
    let mut rows_that_day: HashMap<NaiveDate, i64> = HashMap::new();
    let mut events = Vec::with_capacity(rows.len() + rows.len() / 10);
    for (index, row) in rows.iter().enumerate() {
        let number = index + 1;
        let earlier = rows_that_day.entry(row.date).or_default();
        let noon = row.date.and_hms_opt(12, 0, 0).ok_or("noon exists every day")?.and_utc();
        let at = noon + TimeDelta::seconds(*earlier);
        *earlier += 1;
        let (order, line) = (OrderId::new(&number.to_string()).map_err(|error| error.to_string())?, cd_line(row)?);
        let chosen = random.below(RETURN_ONE_IN) == 0;
        let units = row.cds.trunc().to_u64().unwrap_or(0);
        if chosen && units > 0 && row.dollars > Decimal::ZERO {
            let returned_at = at + TimeDelta::days(3 + random.below(8) as i64);
            let qty = Decimal::from(1 + random.below(units));
            events.push(Event::Return(Return {
                id: id(&format!("r-{number}"))?,
                member: row.customer.clone(),
                at: returned_at,
                order: order.clone(),
                lines: vec![ReturnLine { sku: line.sku.clone(), line: Some(0), qty }],
            }));
        }
        events.push(Event::Purchase(Purchase {
            id: id(&format!("p-{number}"))?,
            member: row.customer.clone(),
            at,
            order,
            channel: None,
            merchant: None,
            currency: None,
            segments: Vec::new(),
            lines: vec![line],
            pay_with_points: Points::ZERO,
            pay_with_cashback: Money::ZERO,
        }));
    }
    events.sort_by(|a, b| a.at().cmp(&b.at()).then_with(|| a.id().cmp(b.id())));

    let last = events.last().map(Event::at).ok_or("the data file has no rows")?;
    let closing = closing_time(last).ok_or("the data ends too late for a closing tick")?;
    let members: BTreeSet<&MemberId> = rows.iter().map(|row| &row.customer).collect();
    for member in members {
        events.push(Event::Tick(Tick { id: id(&format!("t-{member}"))?, member: member.clone(), at: closing }));
    }
    Ok(events)
}

/// The row as one line worth exactly its dollar value: a unit price rounded up to the cent,
/// less a line discount.
fn cd_line(row: &Row) -> Result<PurchaseLine, String> {
    // Zero CDs: send the row anyway and let the engine refuse the quantity.
    let unit_price = match row.dollars.checked_div(row.cds) {
        Some(price) => price.round_dp_with_strategy(2, RoundingStrategy::ToPositiveInfinity),
        None => row.dollars,
    };
    let gross = unit_price.checked_mul(row.cds).ok_or("price times quantity overflows")?;
    Ok(PurchaseLine {
        sku: Sku::new("cd").map_err(|error| error.to_string())?,
        qty: row.cds,
        unit_price: Money::new(unit_price),
        discount: Money::new(gross - row.dollars),
        category: None,
        labels: BTreeMap::new(),
        supplier: None,
    })
}

fn id(text: &str) -> Result<EventId, String> {
    EventId::new(text).map_err(|error| error.to_string())
}

/// The next midnight (UTC) after `last`.
fn closing_time(last: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(last.date_naive().checked_add_days(Days::new(1))?.and_hms_opt(0, 0, 0)?.and_utc())
}

/// As many points as the member may spend on this purchase: what the engine offers at
/// checkout (nothing below the minimum balance, at most the program's share of the order).
fn points_to_pay(ledger: &mut Ledger<MemoryStore>, purchase: &Purchase) -> Result<Points, String> {
    let state = ledger.state(&purchase.member).map_err(|error| error.to_string())?;
    let order_value = purchase.lines.iter().try_fold(Decimal::ZERO, |sum, line| {
        sum.checked_add(line.qty.checked_mul(line.unit_price.value())?.checked_sub(line.discount.value())?)
    });
    // An out-of-order or overflowing purchase pays nothing; the engine then refuses it.
    let order_value = Money::new(order_value.unwrap_or_default());
    Ok(ledger.engine().spendable_on_order(&state, purchase.at, order_value).unwrap_or(Points::ZERO))
}

impl Tally {
    fn count(&mut self, event: &Event) {
        match event {
            Event::Purchase(purchase) => {
                self.purchases += 1;
                self.paid_with_points += u64::from(!purchase.pay_with_points.value().is_zero());
            }
            Event::Return(_) => self.returns += 1,
            _ => self.ticks += 1,
        }
    }
}

impl Tally {
    fn new() -> Tally {
        Tally {
            totals: AssetTotals::default(),
            purchases: 0,
            paid_with_points: 0,
            returns: 0,
            ticks: 0,
            cashback: AssetTotals::new(Asset::Cashback),
            tier_changes: BTreeMap::new(),
            rewards_issued: 0,
            rewards_revoked: 0,
            refused: BTreeMap::new(),
        }
    }

    fn notice(&mut self, outcome: &Outcome) {
        for notice in &outcome.notices {
            match notice {
                Notice::TierChanged { reason, .. } => {
                    *self.tier_changes.entry(format!("{reason:?}").to_lowercase()).or_default() += 1;
                }
                Notice::RewardIssued { .. } => self.rewards_issued += 1,
                Notice::RewardRevoked { .. } => self.rewards_revoked += 1,
                _ => {}
            }
        }
    }
}

/// Prints the tiers and stamp cards sections, for programs that have them.
fn print_mechanics(tally: &Tally, ledger: &Ledger<MemoryStore>, closing: DateTime<Utc>) -> Result<(), String> {
    let engine: &Engine = ledger.engine();
    let program = engine.program();
    if let Some(tiers) = &program.tiers {
        let mut members: BTreeMap<usize, u64> = BTreeMap::new();
        let mut failure = None;
        ledger
            .store()
            .for_each_member(|state| match engine.tier_at(state, closing) {
                Ok(Some(status)) => {
                    let level = tiers.levels.iter().position(|level| level.id == status.level).unwrap_or(0);
                    *members.entry(level).or_default() += 1;
                }
                Ok(None) => {}
                Err(error) => failure = Some(error.to_string()),
            })
            .map_err(|error| error.to_string())?;
        if let Some(error) = failure {
            return Err(error);
        }
        let changes: Vec<String> =
            tally.tier_changes.iter().map(|(reason, count)| format!("{reason} {}", thousands(count))).collect();
        println!(
            "tiers            members per level at {}; changes: {}",
            closing.format("%Y-%m-%d"),
            changes.join(", ")
        );
        for (position, level) in tiers.levels.iter().enumerate() {
            let count = members.get(&position).copied().unwrap_or(0);
            println!("  {:<14} {:>10}", level.id.as_str(), thousands(count));
        }
    }
    if program.cashback.is_some() {
        let flows = &tally.cashback;
        let (earned, clawed) = (dollars(flows.issued), dollars(flows.clawed_back));
        println!(
            "cashback paid    {:>10}  earned {earned}, clawed back {clawed}",
            dollars(flows.issued - flows.clawed_back)
        );
    }
    if !program.stamp_cards.is_empty() {
        let (issued, revoked) = (thousands(tally.rewards_issued), thousands(tally.rewards_revoked));
        println!("stamp rewards    {issued:>10}  issued, {revoked} revoked by returns");
    }
    Ok(())
}

/// The error's variant name, such as `InvalidPrice`.
fn reason(error: &LedgerError) -> String {
    let debug = match error {
        LedgerError::Rejected(error) => format!("{error:?}"),
        error => format!("{error:?}"),
    };
    debug.chars().take_while(char::is_ascii_alphanumeric).collect()
}

/// Prints the events and points sections; returns how many events the replay sent.
fn print_report(tally: &Tally, program: &Program, closing: DateTime<Utc>) -> u64 {
    let applied = tally.purchases + tally.returns + tally.ticks;
    let refused: u64 = tally.refused.values().map(|(count, _)| count).sum();
    let count = |count: u64| format!("{:>10}", thousands(count));
    println!("events applied   {}", count(applied));
    println!(
        "  purchases      {}  {} paid partly with points",
        count(tally.purchases),
        thousands(tally.paid_with_points)
    );
    println!("  returns        {}  a seeded 1 in {RETURN_ONE_IN} orders, 3 to 10 days later", count(tally.returns));
    println!("  closing ticks  {}  at {}", count(tally.ticks), closing.format("%Y-%m-%d %H:%M UTC"));
    println!("events refused   {}", count(refused));
    for (reason, (refusals, first)) in &tally.refused {
        println!("  {reason:<14} {}  first {first}", count(*refusals));
    }
    let totals = &tally.totals;
    let points = |points: Decimal| format!("{:>10}", thousands(points));
    println!("points");
    for (label, value) in [
        ("issued", totals.issued),
        ("vested", totals.vested),
        ("redeemed", totals.redeemed),
        ("given back", totals.given_back),
        ("clawed back", totals.clawed_back),
        ("expired", totals.expired),
    ] {
        println!("  {label:<14} {}", points(value));
    }
    let balance = |account| thousands(totals.balance(&account));
    let (pending, available, debt) = (balance(Account::Pending), balance(Account::Available), balance(Account::Debt));
    println!(
        "  outstanding    {}  pending {pending}, available {available}, debt {debt}",
        points(totals.outstanding())
    );
    // The flows should explain every point issued; print what they don't, if anything.
    let unexplained = totals.unreconciled();
    if !unexplained.is_zero() {
        println!(
            "  unexplained    {}  issued - clawed back + withheld - spent - expired - outstanding",
            points(unexplained)
        );
    }
    println!("refund withheld  {:>10}", dollars(totals.refund_withheld.value()));
    let point_value = program.redemption.as_ref().map_or(Decimal::ZERO, |redemption| redemption.point_value.value());
    println!("cost per funder  (points issued net of clawbacks; at ${point_value} a point)");
    for (funder, cost) in totals.cost_by_funder() {
        println!("  {:<14} {}  {}", funder.as_str(), points(cost), dollars(cost * point_value));
    }
    applied + refused
}

/// Checks that every points account sums to zero and that the stored member states hold
/// exactly the points balances the postings add up to.
fn check_balances(ledger: &Ledger<MemoryStore>, totals: &AssetTotals) -> Result<bool, String> {
    let sum: Decimal = totals.balances.values().sum();
    let mut stored: BTreeMap<Account, Decimal> = BTreeMap::new();
    ledger
        .store()
        .for_each_member(|state| {
            for (account, _, balance) in state.balances().filter(|(_, asset, _)| **asset == Asset::Points) {
                *stored.entry(account.clone()).or_default() += balance;
            }
        })
        .map_err(|error| error.to_string())?;
    let non_zero = |balances: &BTreeMap<Account, Decimal>| -> Vec<(Account, Decimal)> {
        balances
            .iter()
            .filter(|(_, balance)| !balance.is_zero())
            .map(|(account, balance)| (account.clone(), *balance))
            .collect()
    };
    let agree = non_zero(&stored) == non_zero(&totals.balances);
    if sum.is_zero() && agree {
        println!("check            balanced: all account balances sum to 0, and the members' states agree");
        return Ok(true);
    }
    println!("check            NOT BALANCED: the balances sum to {sum}; states agree with postings: {agree}");
    Ok(false)
}

fn seconds(duration: Duration) -> String {
    format!("{}.{:03} s", duration.as_secs(), duration.subsec_millis())
}

fn per_second(count: u64, duration: Duration) -> u128 {
    u128::from(count) * 1_000_000 / duration.as_micros().max(1)
}

/// Money in the program currency, to the cent: `$1,234.50`.
fn dollars(value: Decimal) -> String {
    let mut cents = value;
    cents.rescale(2);
    format!("${}", thousands(cents))
}

/// `1234567.5` as `1,234,567.5`.
fn thousands(value: impl Display) -> String {
    let text = value.to_string();
    let (sign, digits) = text.strip_prefix('-').map_or(("", text.as_str()), |digits| ("-", digits));
    let (whole, fraction) = digits.split_once('.').map_or((digits, ""), |(whole, fraction)| (whole, fraction));
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let point = if fraction.is_empty() { "" } else { "." };
    format!("{sign}{grouped}{point}{fraction}")
}

/// splitmix64 (Steele, Lea and Flood): a tiny, well-mixed generator, enough for a
/// reproducible choice of returns.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0; the modulo bias is negligible for small bounds).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}
