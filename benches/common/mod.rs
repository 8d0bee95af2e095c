//! Shared setup for the benches (`mod common;` in each bench file): the programs as JSON, event
//! builders, prepared member states, the CDNOW reader, and the hand-written floors: the same
//! rust_decimal arithmetic for the same inputs in plain functions, without the engine.
//!
//! A floor computes only what the answer needs for its program (no rule matching, no checks,
//! no receipts, no allocation), with the engine's own algorithms (the same largest-remainder
//! split): the cost of the arithmetic itself. One floor is more: the ledger floor
//! ([`floor_ledger`]) keeps, by hand, the least books a replay needs.

// Each bench binary uses a different part of this module.
#![allow(dead_code)]

use std::path::PathBuf;

use chrono::{DateTime, Months, NaiveDate, TimeDelta, Utc};
use loyalty_engine::{Account, Engine, Event, MemberId, MemberState, Outcome, Program, Receipt};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// The member every single-member bench uses.
pub const MEMBER: &str = "m-1";

/// Group 1: one earn rule, no vesting, no expiry.
pub const POINTS_PROGRAM: &str = r#"{
  "id": "shop", "currency": "EUR", "owner": "shop",
  "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "0.1"}}]}
}"#;

/// Group 3 and the return half of 5: a base rate split between two funders, a SKU multiplier,
/// a category bonus per unit, vesting and expiry; points only, so that the points-only return
/// floors still compute what the engine does.
pub const RETURN_PROGRAM: &str = r#"{
  "id": "shop", "currency": "EUR", "owner": "shop",
  "earn": {"rules": [
    {"id": "base", "effect": {"points_per_currency_unit": "0.1"},
     "funded_by": {"shop": "0.7", "acme": "0.3"}},
    {"id": "tv-double", "when": {"skus": ["tv-55"]}, "effect": {"multiplier": "2"},
     "funded_by": {"shop": "0.5", "acme": "0.5"}},
    {"id": "audio-bonus", "when": {"categories": ["audio"]}, "effect": {"points_per_unit": "5"}}
  ]},
  "returns": {"vesting_days": 15},
  "expiry": {"after_months": 12}
}"#;

/// Group 2: [`RETURN_PROGRAM`] plus a tier ladder on net spend over the calendar year (the
/// member of [`full_state`] is `silver`, so its 1.25 earn multiplier applies), a stamp card on
/// the `audio` category (one stamp per unit, 10 for 50 points), and 1% cashback, 30 days
/// pending, at most 5.00 an order.
pub fn full_program() -> String {
    let mut program: serde_json::Value = serde_json::from_str(RETURN_PROGRAM).expect("a JSON program");
    let mechanics = serde_json::json!({
        "tiers": {
            "metric": "net_spend", "window": {"calendar": "year"},
            "levels": [
                {"id": "member", "threshold": "0"},
                {"id": "silver", "threshold": "500", "benefits": {"earn_multiplier": "1.25"}},
                {"id": "gold", "threshold": "5000", "benefits": {"earn_multiplier": "1.5"}}
            ]
        },
        "stamp_cards": [
            {"id": "audio-card", "when": {"categories": ["audio"]}, "stamps_per_unit": 1, "stamps_needed": 10,
             "reward": {"points": "50"}}
        ],
        "cashback": {"rules": [{"id": "one-percent", "share": "0.01"}], "vesting_days": 30, "max_per_order": "5.00"}
    });
    let fields = program.as_object_mut().expect("a program is a JSON object");
    fields.extend(mechanics.as_object().expect("so are its mechanics").clone());
    program.to_string()
}

/// The redemption half of group 5: points vest at once, so every purchase leaves one open
/// available lot; they expire after 12 months.
pub const HISTORY_PROGRAM: &str = r#"{
  "id": "shop", "currency": "EUR", "owner": "shop",
  "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "0.1"}}]},
  "redemption": {"point_value": "0.01"},
  "expiry": {"after_months": 12}
}"#;

/// Group 6: one point per dollar, 30 days pending, 12 months to spend.
pub const REPLAY_PROGRAM: &str = r#"{
  "id": "cdnow", "currency": "USD", "owner": "cdnow",
  "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "1"}}]},
  "returns": {"vesting_days": 30},
  "expiry": {"after_months": 12}
}"#;

/// The time every single-member history starts at.
pub const START: &str = "2026-03-01T10:00:00Z";

pub fn compile(json: &str) -> Engine {
    let program: Program = serde_json::from_str(json).expect("a valid program");
    program.compile().expect("a program that compiles")
}

pub fn event(json: &str) -> Event {
    serde_json::from_str(json).unwrap_or_else(|error| panic!("{error}: {json}"))
}

pub fn fresh_state() -> MemberState {
    MemberState::new(MemberId::new(MEMBER).expect("a valid id"))
}

pub fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).expect("a decimal")
}

pub fn start() -> DateTime<Utc> {
    START.parse().expect("a valid time")
}

/// `START` plus `minutes`, as the JSON time events carry.
pub fn at(minutes: i64) -> String {
    (start() + TimeDelta::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Group 1's purchase: one line, 2 x 149.99 (29.998 points, floored to 29).
pub fn points_purchase() -> Event {
    event(&format!(
        r#"{{"type": "purchase", "id": "e-1", "member": "{MEMBER}", "at": "{START}", "order": "o-1",
          "lines": [{{"sku": "tv-55", "qty": "2", "unit_price": "149.99"}}]}}"#
    ))
}

/// Group 2's purchase: a TV (SKU multiplier), two headphones (category bonus), three cables
/// with a discount; every line earns the base rate.
pub fn full_purchase(id: &str, order: &str, at: &str) -> Event {
    event(&format!(
        r#"{{"type": "purchase", "id": "{id}", "member": "{MEMBER}", "at": "{at}", "order": "{order}",
          "lines": [
            {{"sku": "tv-55", "qty": "1", "unit_price": "499.99", "category": "tv"}},
            {{"sku": "hp-1", "qty": "2", "unit_price": "79.95", "category": "audio"}},
            {{"sku": "cable", "qty": "3", "unit_price": "9.99", "discount": "2.97", "category": "accessories"}}
          ]}}"#
    ))
}

/// One of the two headphones of a [`full_purchase`] comes back.
pub fn partial_return(id: &str, order: &str, at: &str) -> Event {
    event(&format!(
        r#"{{"type": "return", "id": "{id}", "member": "{MEMBER}", "at": "{at}", "order": "{order}",
          "lines": [{{"sku": "hp-1", "qty": "1"}}]}}"#
    ))
}

pub fn redeem(id: &str, at: &str, points: &str) -> Event {
    event(&format!(r#"{{"type": "redeem", "id": "{id}", "member": "{MEMBER}", "at": "{at}", "points": "{points}"}}"#))
}

/// A program with a general base rate and `count` SKU rules (`sku-0` .. `sku-{count-1}`), each
/// doubling what its SKU earns.
pub fn sku_rules_program(count: usize) -> String {
    let mut rules = vec![r#"{"id": "base", "effect": {"points_per_currency_unit": "0.1"}}"#.to_owned()];
    rules.extend((0..count).map(|index| {
        format!(r#"{{"id": "sku-rule-{index}", "when": {{"skus": ["sku-{index}"]}}, "effect": {{"multiplier": "2"}}}}"#)
    }));
    format!(r#"{{"id": "shop", "currency": "EUR", "owner": "shop", "earn": {{"rules": [{}]}}}}"#, rules.join(",\n"))
}

/// Group 4's purchase: one line of `sku`, 2 x 149.99.
pub fn sku_purchase(sku: &str) -> Event {
    event(&format!(
        r#"{{"type": "purchase", "id": "e-1", "member": "{MEMBER}", "at": "{START}", "order": "o-1",
          "lines": [{{"sku": "{sku}", "qty": "2", "unit_price": "149.99"}}]}}"#
    ))
}

/// Amounts of the postings that go from `from` to `to` accounts, in order.
pub fn amounts(outcome: &Outcome, from: impl Fn(&Account) -> bool, to: impl Fn(&Account) -> bool) -> Vec<Decimal> {
    outcome
        .postings
        .iter()
        .filter(|posting| from(&posting.from) && to(&posting.to))
        .map(|posting| posting.amount)
        .collect()
}

pub fn is_funder(account: &Account) -> bool {
    matches!(account, Account::Funder(_))
}

/// Evaluates and applies `event`, panicking on refusal.
pub fn apply(engine: &Engine, state: &mut MemberState, event: &Event) {
    let outcome = engine.evaluate(state, event).expect("the engine accepts the setup event");
    state.apply(&outcome);
}

/// A member of [`HISTORY_PROGRAM`] holding `lots` open available lots of 10 points each (one
/// purchase a minute), and a redemption of 5 points an hour after the last.
pub fn state_with_lots(engine: &Engine, lots: usize) -> (MemberState, Event) {
    let mut state = fresh_state();
    for index in 0..lots {
        let purchase = event(&format!(
            r#"{{"type": "purchase", "id": "p-{index}", "member": "{MEMBER}", "at": "{}", "order": "o-{index}",
              "lines": [{{"sku": "book", "qty": "1", "unit_price": "100"}}]}}"#,
            at(index as i64)
        ));
        apply(engine, &mut state, &purchase);
    }
    assert_eq!(state.lots().count(), lots);
    (state, redeem("r-1", &at(lots as i64 + 60), "5"))
}

/// The stamp card of [`full_program`].
pub const FULL_CARD: &str = "audio-card";

/// A member of [`full_program`] after one [`full_purchase`] (`o-0`) the day before `START`:
/// `silver` (686.89 spent this year), with 2 stamps and that order's lots still pending. A
/// purchase at `START` earns the tier multiplier, stamps and cashback, fills no card and
/// changes no level.
pub fn full_state(engine: &Engine) -> MemberState {
    let mut state = fresh_state();
    apply(engine, &mut state, &full_purchase("e-0", "o-0", &at(-24 * 60)));
    state
}

/// A member of [`RETURN_PROGRAM`] with `orders` three-line orders (one a minute, all still
/// pending), and a return of one headphone from the middle order an hour after the last.
pub fn state_with_orders(engine: &Engine, orders: usize) -> (MemberState, Event) {
    let mut state = fresh_state();
    for index in 0..orders {
        let purchase = full_purchase(&format!("p-{index}"), &format!("o-{index}"), &at(index as i64));
        apply(engine, &mut state, &purchase);
    }
    assert_eq!(state.orders().count(), orders);
    let order = format!("o-{}", orders / 2);
    (state, partial_return("ret-1", &order, &at(orders as i64 + 60)))
}

// ---------------------------------------------------------------------------------------------
// Floors.

/// Where a floor posting goes (or comes from), as a plain tag.
pub const PENDING: u8 = 0;
pub const AVAILABLE: u8 = 1;
pub const REDEEMED: u8 = 2;
pub const FUNDER: u8 = 3;
pub const EXPIRED: u8 = 4;

/// The most funders (lots) a floor purchase fills.
pub const MAX_FUNDERS: usize = 2;
const MAX_EARNINGS: usize = 8;

/// A posting-like struct: what moves where, for which lot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FloorPosting {
    pub from: u8,
    pub funder: u8,
    pub to: u8,
    pub amount: Decimal,
    pub lot: u64,
}

#[derive(Clone, Copy, Debug)]
pub enum FloorEffect {
    Rate(Decimal),
    Multiplier(Decimal),
    PerUnit(Decimal),
}

/// An earn rule, already matched: its effect and its funders' shares.
#[derive(Clone, Debug)]
pub struct FloorRule {
    pub effect: FloorEffect,
    pub shares: Vec<(u8, Decimal)>,
}

/// A purchase line with the rules that apply to it (by index), already known.
#[derive(Clone, Debug)]
pub struct FloorLine {
    pub qty: Decimal,
    pub unit_price: Decimal,
    pub discount: Decimal,
    pub rules: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct FloorPurchase {
    pub lines: Vec<FloorLine>,
    pub rules: Vec<FloorRule>,
    pub funders: usize,
    pub at: DateTime<Utc>,
    pub vesting_days: i64,
    pub expiry_months: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct FloorOutcome {
    pub postings: [FloorPosting; MAX_FUNDERS],
    pub vests_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn floor_whole(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(0, RoundingStrategy::ToNegativeInfinity)
}

/// Largest remainder in 128-bit integers, as the engine splits: a single share takes the total;
/// otherwise every share's mantissa times the whole-point total, divided by the sum (in 64 bits
/// when it fits), and the points left over to the largest remainders. Always inlined: with a
/// second caller the compiler stopped inlining it, which cost [`floor_purchase`] 65 instructions
/// (6%) a call.
#[inline(always)]
fn floor_split(total: Decimal, raw: &[(u8, Decimal)]) -> Option<[i128; MAX_EARNINGS]> {
    debug_assert_eq!(total.scale(), 0, "whole points");
    let total = total.mantissa();
    let mut parts = [0_i128; MAX_EARNINGS];
    if let [_] = raw {
        parts[0] = total;
        return Some(parts);
    }
    let scale = raw.iter().map(|(_, points)| points.scale()).max()?;
    let at_scale = |points: Decimal| points.mantissa().checked_mul(10_i128.pow(scale - points.scale()));
    let mut weights = [0_i128; MAX_EARNINGS];
    let mut sum = 0_i128;
    for (weight, &(_, points)) in weights.iter_mut().zip(raw) {
        *weight = at_scale(points)?;
        sum += *weight;
    }
    let mut remainders = [0_i128; MAX_EARNINGS];
    for index in 0..raw.len() {
        let product = total.checked_mul(weights[index])?;
        parts[index] = match (u64::try_from(product), u64::try_from(sum)) {
            (Ok(product), Ok(sum)) => i128::from(product / sum),
            _ => product / sum,
        };
        remainders[index] = product - parts[index] * sum;
    }
    for _ in 0..total - parts.iter().sum::<i128>() {
        let best =
            (0..raw.len()).fold(0, |best, index| if remainders[index] > remainders[best] { index } else { best });
        parts[best] += 1;
        remainders[best] = -1;
    }
    Some(parts)
}

/// The floor of a purchase: per line qty x unit price - discount; each rule's raw points
/// (rate x value, multiplier - 1 x the rate points, per-unit x qty) times each funder's share;
/// the line's sum floored to whole points and split back over the shares by largest remainder;
/// per-funder totals; the vesting and expiry dates; one posting-like struct per funder.
pub fn floor_purchase(purchase: &FloorPurchase) -> Option<FloorOutcome> {
    floor_earn(purchase, |_, _, _| Some(()))
}

/// [`floor_purchase`], calling `each_line` with every line's index, line and value (before its
/// points), for what else a line earns: the points half of [`floor_purchase_full`]. Inlined,
/// so that [`floor_purchase`]'s empty `each_line` costs nothing.
#[inline(always)]
fn floor_earn(
    purchase: &FloorPurchase,
    mut each_line: impl FnMut(usize, &FloorLine, Decimal) -> Option<()>,
) -> Option<FloorOutcome> {
    let mut per_funder = [Decimal::ZERO; MAX_FUNDERS];
    for (position, line) in purchase.lines.iter().enumerate() {
        let value = line.qty.checked_mul(line.unit_price)?.checked_sub(line.discount)?;
        each_line(position, line, value)?;
        let mut raw = [(0_u8, Decimal::ZERO); MAX_EARNINGS];
        let mut count = 0;
        let mut push = |rule: &FloorRule, points: Decimal| -> Option<()> {
            for &(funder, share) in &rule.shares {
                raw[count] = (funder, points.checked_mul(share)?);
                count += 1;
            }
            Some(())
        };
        let mut rate_points = Decimal::ZERO;
        for &index in &line.rules {
            let rule = &purchase.rules[index];
            match rule.effect {
                FloorEffect::Rate(rate) => {
                    let points = value.checked_mul(rate)?;
                    rate_points = rate_points.checked_add(points)?;
                    push(rule, points)?;
                }
                FloorEffect::PerUnit(points) => push(rule, line.qty.checked_mul(points)?)?,
                FloorEffect::Multiplier(_) => {}
            }
        }
        for &index in &line.rules {
            let rule = &purchase.rules[index];
            if let FloorEffect::Multiplier(multiplier) = rule.effect {
                push(rule, rate_points.checked_mul(multiplier - Decimal::ONE)?)?;
            }
        }
        let raw = &raw[..count];
        let mut raw_total = Decimal::ZERO;
        for &(_, points) in raw {
            raw_total = raw_total.checked_add(points)?;
        }
        if raw_total.is_zero() {
            continue;
        }
        let total = floor_whole(raw_total);
        let parts = floor_split(total, raw)?;
        for (index, &(funder, _)) in raw.iter().enumerate() {
            per_funder[usize::from(funder)] += Decimal::from_i128_with_scale(parts[index], 0);
        }
    }
    let vests_at = purchase.at.checked_add_signed(TimeDelta::days(purchase.vesting_days))?;
    let expires_at = purchase.expiry_months.and_then(|months| vests_at.checked_add_months(Months::new(months)));
    let to = if purchase.vesting_days == 0 { AVAILABLE } else { PENDING };
    let mut outcome = FloorOutcome { vests_at: Some(vests_at), expires_at, ..FloorOutcome::default() };
    let funders = outcome.postings.iter_mut().zip(per_funder).take(purchase.funders);
    for (index, (posting, amount)) in funders.enumerate() {
        *posting = FloorPosting { from: FUNDER, funder: index as u8, to, amount, lot: index as u64 };
    }
    Some(outcome)
}

/// Group 1's floor inputs: [`points_purchase`] under [`POINTS_PROGRAM`].
pub fn points_floor() -> FloorPurchase {
    FloorPurchase {
        lines: vec![FloorLine { qty: dec("2"), unit_price: dec("149.99"), discount: Decimal::ZERO, rules: vec![0] }],
        rules: vec![FloorRule { effect: FloorEffect::Rate(dec("0.1")), shares: vec![(0, Decimal::ONE)] }],
        funders: 1,
        at: start(),
        vesting_days: 0,
        expiry_months: None,
    }
}

/// The tier part of a floor purchase: the ladder's thresholds, lowest first, and where the
/// member stands before the order (its level's multiplier is one of the purchase's rules).
#[derive(Clone, Debug)]
pub struct FloorTier {
    pub thresholds: Vec<Decimal>,
    pub level: usize,
    pub metric: Decimal,
}

/// A stamp card: which lines qualify (already matched), the stamps per unit, the stamps that
/// fill it and the stamps the member holds before the order.
#[derive(Clone, Debug)]
pub struct FloorCard {
    pub lines: Vec<bool>,
    pub stamps_per_unit: u32,
    pub needed: u32,
    pub held: u32,
}

/// Cashback on every line: the share, the cap per order, the days pending and the currency's
/// decimal places.
#[derive(Clone, Debug)]
pub struct FloorCashback {
    pub share: Decimal,
    pub max_per_order: Decimal,
    pub vesting_days: i64,
    pub decimal_places: u32,
}

/// Group 2's floor input: the points purchase, with a tier, a stamp card and cashback.
#[derive(Clone, Debug)]
pub struct FloorFull {
    pub points: FloorPurchase,
    pub tier: FloorTier,
    pub card: FloorCard,
    pub cashback: FloorCashback,
}

#[derive(Clone, Copy, Debug)]
pub struct FloorFullOutcome {
    pub points: FloorOutcome,
    /// The cashback posting (one funder: the seller) and when it vests.
    pub cashback: FloorPosting,
    pub cashback_vests_at: DateTime<Utc>,
    /// Stamps earned, and the rewards the full cards issue.
    pub stamps: u32,
    pub rewards: u32,
    /// The tier metric and level after the order.
    pub metric: Decimal,
    pub level: usize,
}

/// The floor of a purchase with a tier, a stamp card and cashback: [`floor_purchase`] (whose
/// rules include the member's tier multiplier), and per line, with the line's value: the net
/// spend it adds; its cashback, share x value floored to the currency's places; its stamps,
/// qty x stamps per unit floored to whole stamps, if it qualifies. Then the cashback total
/// capped per order, its vesting date and posting-like struct; the full cards; the new metric
/// and the level it supports (upgrades only).
pub fn floor_purchase_full(full: &FloorFull) -> Option<FloorFullOutcome> {
    let (tier, card, cashback) = (&full.tier, &full.card, &full.cashback);
    let per_unit = Decimal::from(card.stamps_per_unit);
    let mut spend = Decimal::ZERO;
    let mut cashback_total = Decimal::ZERO;
    let mut stamps = 0_u32;
    let points = floor_earn(&full.points, |index, line, value| {
        spend = spend.checked_add(value)?;
        let earned = value
            .checked_mul(cashback.share)?
            .round_dp_with_strategy(cashback.decimal_places, RoundingStrategy::ToNegativeInfinity);
        cashback_total = cashback_total.checked_add(earned)?;
        if card.lines[index] {
            stamps = stamps.checked_add(line.qty.checked_mul(per_unit)?.floor().to_u32()?)?;
        }
        Some(())
    })?;
    let amount = cashback_total.min(cashback.max_per_order);
    let at = full.points.at;
    let cashback_vests_at = at.checked_add_signed(TimeDelta::days(cashback.vesting_days))?;
    let to = if cashback.vesting_days == 0 { AVAILABLE } else { PENDING };
    let lot = full.points.funders as u64;
    let cashback = FloorPosting { from: FUNDER, funder: 1, to, amount, lot };
    let rewards = card.held.checked_add(stamps)? / card.needed;
    let metric = tier.metric.checked_add(spend)?;
    let supported = tier.thresholds.iter().take_while(|threshold| **threshold <= metric).count() - 1;
    let level = supported.max(tier.level);
    Some(FloorFullOutcome { points, cashback, cashback_vests_at, stamps, rewards, metric, level })
}

/// Group 2's floor inputs: [`full_purchase`] under [`full_program`] by the member of
/// [`full_state`] (funder 0 is `acme`, 1 is `shop`, as the engine orders them). The member is
/// `silver` (level 1, 686.89 spent) with 2 stamps: the `tier:silver` multiplier (rule 3, paid
/// by the seller, `shop`) applies to every line.
pub fn full_floor() -> FloorFull {
    let line = |qty: &str, unit_price: &str, discount: &str, rules: Vec<usize>| FloorLine {
        qty: dec(qty),
        unit_price: dec(unit_price),
        discount: dec(discount),
        rules,
    };
    let points = FloorPurchase {
        lines: vec![
            line("1", "499.99", "0", vec![0, 1, 3]),
            line("2", "79.95", "0", vec![0, 2, 3]),
            line("3", "9.99", "2.97", vec![0, 3]),
        ],
        rules: vec![
            FloorRule { effect: FloorEffect::Rate(dec("0.1")), shares: vec![(0, dec("0.3")), (1, dec("0.7"))] },
            FloorRule { effect: FloorEffect::Multiplier(dec("2")), shares: vec![(0, dec("0.5")), (1, dec("0.5"))] },
            FloorRule { effect: FloorEffect::PerUnit(dec("5")), shares: vec![(1, Decimal::ONE)] },
            FloorRule { effect: FloorEffect::Multiplier(dec("1.25")), shares: vec![(1, Decimal::ONE)] },
        ],
        funders: 2,
        at: start(),
        vesting_days: 15,
        expiry_months: Some(12),
    };
    FloorFull {
        points,
        tier: FloorTier { thresholds: vec![dec("0"), dec("500"), dec("5000")], level: 1, metric: dec("686.89") },
        card: FloorCard { lines: vec![false, true, false], stamps_per_unit: 1, needed: 10, held: 2 },
        cashback: FloorCashback { share: dec("0.01"), max_per_order: dec("5.00"), vesting_days: 30, decimal_places: 2 },
    }
}

/// Group 4's floor inputs: [`sku_purchase`] under [`sku_rules_program`].
pub fn sku_floor() -> FloorPurchase {
    FloorPurchase {
        lines: vec![FloorLine { qty: dec("2"), unit_price: dec("149.99"), discount: Decimal::ZERO, rules: vec![0, 1] }],
        rules: vec![
            FloorRule { effect: FloorEffect::Rate(dec("0.1")), shares: vec![(0, Decimal::ONE)] },
            FloorRule { effect: FloorEffect::Multiplier(dec("2")), shares: vec![(0, Decimal::ONE)] },
        ],
        funders: 1,
        at: start(),
        vesting_days: 0,
        expiry_months: None,
    }
}

/// A receipt's numbers, taken from a real receipt: what a return floor reads.
#[derive(Clone, Debug)]
pub struct FloorReceipt {
    /// Per line: qty, returned so far.
    pub lines: Vec<(Decimal, Decimal)>,
    /// Per earning: line, funder, points, clawed back so far.
    pub earnings: Vec<(usize, u8, Decimal, Decimal)>,
    /// Per funder lot: points left.
    pub lots: [Decimal; MAX_FUNDERS],
}

impl FloorReceipt {
    /// Reads a receipt and the order's lots (funder 0 is the first lot's funder).
    pub fn new(receipt: &Receipt, state: &MemberState) -> FloorReceipt {
        let lots: Vec<_> = receipt.lots().map(|id| state.lot(id).expect("the order's lot is open")).collect();
        assert_eq!(lots.len(), MAX_FUNDERS);
        let funder_index = |funder: &loyalty_engine::FunderId| {
            lots.iter().position(|lot| lot.funder == *funder).expect("a lot per funder") as u8
        };
        FloorReceipt {
            lines: receipt.lines.iter().map(|line| (line.qty, line.returned_qty)).collect(),
            earnings: receipt
                .earnings
                .iter()
                .map(|earning| {
                    (earning.line as usize, funder_index(&earning.funder), earning.points, earning.clawed_back)
                })
                .collect(),
            lots: [lots[0].amount_points, lots[1].amount_points],
        }
    }
}

/// The floor of a return of `qty` units of line `line`: for each of that line's earnings the
/// cumulative clawback target (points x returned / qty, rounded up, at most the points) less
/// what was clawed back before, summed per funder, taken from that funder's lot of the order;
/// one posting-like struct per funder.
pub fn floor_return(receipt: &FloorReceipt, line: usize, qty: Decimal) -> Option<[FloorPosting; MAX_FUNDERS]> {
    let (bought, returned_before) = receipt.lines[line];
    let returned = returned_before.checked_add(qty)?;
    if returned > bought {
        return None;
    }
    let mut per_funder = [Decimal::ZERO; MAX_FUNDERS];
    for &(earning_line, funder, points, clawed_back) in &receipt.earnings {
        if earning_line != line {
            continue;
        }
        let target = points
            .checked_mul(returned)?
            .checked_div(bought)?
            .round_dp_with_strategy(0, RoundingStrategy::ToPositiveInfinity)
            .min(points);
        per_funder[usize::from(funder)] += target - clawed_back;
    }
    let mut postings = [FloorPosting::default(); MAX_FUNDERS];
    for (funder, posting) in postings.iter_mut().enumerate() {
        let amount = per_funder[funder].min(receipt.lots[funder]);
        *posting = FloorPosting { from: PENDING, funder: funder as u8, to: FUNDER, amount, lot: funder as u64 };
    }
    Some(postings)
}

/// The floor of a redemption: check the balance, take from the soonest-expiring lot (as many
/// as needed), one posting-like struct per lot drained (the bench drains one).
pub fn floor_redeem(available: Decimal, lots: &[Decimal], points: Decimal) -> Option<FloorPosting> {
    if points <= Decimal::ZERO || points > available {
        return None;
    }
    let mut left = points;
    let mut last = None;
    for (index, &lot) in lots.iter().enumerate() {
        let taken = left.min(lot);
        last = Some(FloorPosting { from: AVAILABLE, funder: 0, to: REDEEMED, amount: taken, lot: index as u64 });
        left -= taken;
        if left.is_zero() {
            break;
        }
    }
    last
}

/// The floor of settling expiry: the available lots in redemption order (soonest expiry
/// first), each as its expiry and points; every lot due by `at` expires in one posting-like
/// struct (the bench expires one).
pub fn floor_expire(lots: &[(DateTime<Utc>, Decimal)], at: DateTime<Utc>) -> Option<FloorPosting> {
    let mut last = None;
    for (index, &(expires_at, points)) in lots.iter().enumerate() {
        if expires_at > at {
            break;
        }
        last = Some(FloorPosting { from: AVAILABLE, funder: 0, to: EXPIRED, amount: points, lot: index as u64 });
    }
    last
}

// ---------------------------------------------------------------------------------------------
// CDNOW.

/// One purchase row of the CDNOW master file, priced as a line: `cds` units at the dollar
/// value per CD rounded up to the cent, less the discount that makes the line worth exactly the
/// row's dollar value (as `examples/replay.rs` does).
#[derive(Clone, Debug)]
pub struct CdnowRow {
    pub customer: u32,
    pub date: NaiveDate,
    pub cds: Decimal,
    pub dollars: Decimal,
    pub unit_price: Decimal,
    pub discount: Decimal,
}

/// The CDNOW master file: `$CDNOW_MASTER` if set, else `examples/data/cdnow_master.txt` if the
/// project has a copy, else `../shared/data/cdnow_master.txt`.
pub fn cdnow_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CDNOW_MASTER") {
        return Some(PathBuf::from(path));
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [root.join("examples/data/cdnow_master.txt"), root.join("../shared/data/cdnow_master.txt")]
        .into_iter()
        .find(|path| path.is_file())
}

/// Every row with a positive dollar value, in file order (whitespace-separated, a header line,
/// CRLF line endings).
pub fn cdnow_rows() -> Option<Vec<CdnowRow>> {
    let text = std::fs::read_to_string(cdnow_path()?).expect("the CDNOW file is readable");
    let mut rows = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [customer, date, cds, dollars] = fields[..] else {
            assert!(fields.is_empty(), "a CDNOW row has four fields: {line:?}");
            continue;
        };
        let (cds, dollars) = (dec(cds), dec(dollars));
        if dollars.is_zero() {
            continue;
        }
        let unit_price = (dollars / cds).round_dp_with_strategy(2, RoundingStrategy::ToPositiveInfinity);
        rows.push(CdnowRow {
            customer: customer.parse().expect("a customer id"),
            date: NaiveDate::parse_from_str(date, "%Y%m%d").expect("a YYYYMMDD date"),
            cds,
            dollars,
            unit_price,
            discount: unit_price * cds - dollars,
        });
    }
    Some(rows)
}

/// A CDNOW row as a purchase event by member `c-CUSTOMER`, at midnight UTC of its date.
pub fn cdnow_event(index: usize, row: &CdnowRow) -> Event {
    event(&format!(
        r#"{{"type": "purchase", "id": "e-{index}", "member": "c-{:05}", "at": "{}T00:00:00Z", "order": "o-{index}",
          "lines": [{{"sku": "cd", "qty": "{}", "unit_price": "{}", "discount": "{}"}}]}}"#,
        row.customer,
        row.date.format("%Y-%m-%d"),
        row.cds,
        row.unit_price,
        row.discount
    ))
}

/// The return of `units` of a row's order (see [`cdnow_event`]) by its member, `days_later`
/// days after the purchase; `id_suffix` tells two returns of one order apart.
pub fn cdnow_return(index: usize, row: &CdnowRow, units: Decimal, days_later: u64, id_suffix: &str) -> Event {
    let at = row.date + chrono::Days::new(days_later);
    event(&format!(
        r#"{{"type": "return", "id": "r-{index}{id_suffix}", "member": "c-{:05}", "at": "{}T00:00:00Z",
          "order": "o-{index}", "lines": [{{"sku": "cd", "line": 0, "qty": "{units}"}}]}}"#,
        row.customer,
        at.format("%Y-%m-%d"),
    ))
}

/// One order in this many comes back in the replay: the rate of `examples/replay.rs`, though not
/// its choice of orders or units (here one unit of every twentieth order).
pub const CDNOW_RETURN_ONE_IN: usize = 20;

/// What a replayed event does with its row: buys it, or returns units of it.
#[derive(Clone, Copy, Debug)]
pub enum CdnowStep {
    /// The purchase of the row.
    Purchase,
    /// The return of this many units of the row's order.
    Return(Decimal),
}

/// The replay's events with the row each comes from: every row's purchase, and for one row in
/// [`CDNOW_RETURN_ONE_IN`] the return of one unit 3 to 10 days later (the row's index picks
/// which and when, so every run is the same). Sorted by member, then time, then id: members are
/// independent, so a replay may take them one after another, as the file lists them. (In time
/// order across members, the same events ran 35% to 50% slower, presumably for states cold in
/// the cache; see BENCHMARKS.md.)
pub fn cdnow_events(rows: &[CdnowRow]) -> Vec<(Event, usize, CdnowStep)> {
    let mut events = Vec::with_capacity(rows.len() + rows.len() / CDNOW_RETURN_ONE_IN + 1);
    for (index, row) in rows.iter().enumerate() {
        events.push((cdnow_event(index, row), index, CdnowStep::Purchase));
        if index % CDNOW_RETURN_ONE_IN == CDNOW_RETURN_ONE_IN / 2 {
            let days_later = 3 + index as u64 % 8;
            let returned = cdnow_return(index, row, Decimal::ONE, days_later, "");
            events.push((returned, index, CdnowStep::Return(Decimal::ONE)));
        }
    }
    let key = |event: &Event| (event.member().clone(), event.at(), event.id().clone());
    events.sort_by_cached_key(|(event, ..)| key(event));
    events
}

/// What returns have clawed back of an order once `returned` of its `bought` units came back:
/// their share of what the order earned, rounded up to whole points, at most what it earned
/// (the engine's rule; a return takes this less what the returns before it took).
pub fn floor_clawback(points: Decimal, returned: Decimal, bought: Decimal) -> Option<Decimal> {
    let share = points.checked_mul(returned)?.checked_div(bought)?;
    Some(share.round_dp_with_strategy(0, RoundingStrategy::ToPositiveInfinity).min(points))
}

/// The floor of one CDNOW purchase: `template` ([`cdnow_floor`]) with the row's line
/// (quantity, unit price, discount) and time.
pub fn floor_cdnow_purchase(
    template: &mut FloorPurchase,
    (qty, unit_price, discount): (Decimal, Decimal, Decimal),
    at: DateTime<Utc>,
) -> Option<FloorOutcome> {
    let line = &mut template.lines[0];
    (line.qty, line.unit_price, line.discount) = (qty, unit_price, discount);
    template.at = at;
    floor_purchase(template)
}

/// The floor of one CDNOW event under [`REPLAY_PROGRAM`], as a template: the replay sets the
/// line and the time for each row.
pub fn cdnow_floor() -> FloorPurchase {
    FloorPurchase {
        lines: vec![FloorLine {
            qty: Decimal::ONE,
            unit_price: Decimal::ZERO,
            discount: Decimal::ZERO,
            rules: vec![0],
        }],
        rules: vec![FloorRule { effect: FloorEffect::Rate(Decimal::ONE), shares: vec![(0, Decimal::ONE)] }],
        funders: 1,
        at: start(),
        vesting_days: 30,
        expiry_months: Some(12),
    }
}

/// A replayed CDNOW event as the floors take it: numbers, no ids.
#[derive(Clone, Copy, Debug)]
pub enum FloorStep {
    /// The purchase of a row: its line (quantity, unit price, discount) and time.
    Purchase { member: u32, row: usize, line: (Decimal, Decimal, Decimal), at: DateTime<Utc> },
    /// The return of units of a row's order, of those bought.
    Return { member: u32, row: usize, returned: Decimal, bought: Decimal, at: DateTime<Utc> },
}

/// The floors' steps for the replay's events ([`cdnow_events`]), in the same order.
pub fn floor_steps(rows: &[CdnowRow], replayed: &[(Event, usize, CdnowStep)]) -> Vec<FloorStep> {
    replayed
        .iter()
        .map(|(event, row, step)| {
            let (row, source, at) = (*row, &rows[*row], event.at());
            match *step {
                CdnowStep::Purchase => FloorStep::Purchase {
                    member: source.customer,
                    row,
                    line: (source.cds, source.unit_price, source.discount),
                    at,
                },
                CdnowStep::Return(returned) => {
                    FloorStep::Return { member: source.customer, row, returned, bought: source.cds, at }
                }
            }
        })
        .collect()
}

/// A lot of the ledger floor. Every lot of [`REPLAY_PROGRAM`] vests after the same days and
/// expires after the same months, so lots vest and expire in the order they were earned.
#[derive(Clone, Copy, Debug)]
struct FloorLot {
    points: Decimal,
    vests_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// What the returns of one order need: the units bought and returned so far, the points
/// earned, the order's lot.
#[derive(Clone, Copy, Debug)]
struct FloorOrder {
    row: usize,
    bought: Decimal,
    returned: Decimal,
    points: Decimal,
    /// `None` when the order earned nothing, so opened no lot.
    lot: Option<u32>,
}

/// One member's books in the ledger floor: the balances, the lots and the orders.
#[derive(Clone, Debug, Default)]
pub struct FloorMember {
    /// Points earned and not yet vested.
    pub pending: Decimal,
    /// Points vested and not yet expired.
    pub available: Decimal,
    /// Points expired, less what returns took back from them.
    pub expired: Decimal,
    lots: Vec<FloorLot>,
    /// Lots before this index have vested.
    vested_lots: usize,
    /// Lots before this index have expired.
    expired_lots: usize,
    orders: Vec<FloorOrder>,
}

impl FloorMember {
    /// Vests the lots due by `at`, then expires the vested lots due by `at`.
    fn settle(&mut self, at: DateTime<Utc>) {
        while let Some(lot) = self.lots.get(self.vested_lots).filter(|lot| lot.vests_at <= at) {
            self.pending -= lot.points;
            self.available += lot.points;
            self.vested_lots += 1;
        }
        while self.expired_lots < self.vested_lots && self.lots[self.expired_lots].expires_at <= at {
            let points = self.lots[self.expired_lots].points;
            self.available -= points;
            self.expired += points;
            self.expired_lots += 1;
        }
    }

    /// Gives back the room the vectors hold beyond their lots and orders.
    pub fn shrink_to_fit(&mut self) {
        self.lots.shrink_to_fit();
        self.orders.shrink_to_fit();
    }

    /// Takes `returned` units of a row's order back: what they earned comes out of the
    /// order's lot, in whichever bucket it is. `None` for an order the member never placed or
    /// more units than it had left.
    fn take_back(&mut self, row: usize, returned: Decimal) -> Option<()> {
        let order = self.orders.iter_mut().rev().find(|order| order.row == row)?;
        let (before, after) = (order.returned, order.returned.checked_add(returned)?);
        if after > order.bought {
            return None;
        }
        order.returned = after;
        let points = floor_clawback(order.points, after, order.bought)?.checked_sub(floor_clawback(
            order.points,
            before,
            order.bought,
        )?)?;
        let Some(index) = order.lot else { return Some(()) };
        let index = index as usize;
        let lot = &mut self.lots[index];
        let taken = points.min(lot.points);
        lot.points -= taken;
        match (index < self.expired_lots, index < self.vested_lots) {
            (true, _) => self.expired -= taken,
            (false, true) => self.available -= taken,
            (false, false) => self.pending -= taken,
        }
        Some(())
    }
}

/// The ledger floor: the replay kept as a hand-written ledger for [`REPLAY_PROGRAM`] would
/// keep it, with the least a correct one needs: a map from member to books; per event the
/// member's lots settled up to its time; per purchase the points ([`floor_cdnow_purchase`]), a
/// lot and an order record; per return the order found, the units checked against what is
/// left, and what they earned ([`floor_clawback`]) taken from its lot. No ids, no postings, no
/// log: what a ledger must do, without what makes it an engine. `None` where the engine would
/// refuse the event.
pub fn floor_ledger(
    steps: &[FloorStep],
    template: &mut FloorPurchase,
    members: &mut std::collections::HashMap<u32, FloorMember>,
) -> Option<()> {
    for step in steps {
        match *step {
            FloorStep::Purchase { member, row, line, at } => {
                let books = members.entry(member).or_default();
                books.settle(at);
                let outcome = floor_cdnow_purchase(template, line, at)?;
                let points = outcome.postings[0].amount;
                let lot = (!points.is_zero()).then(|| {
                    let (vests_at, expires_at) =
                        (outcome.vests_at.expect("vests"), outcome.expires_at.expect("expires"));
                    books.lots.push(FloorLot { points, vests_at, expires_at });
                    books.pending += points;
                    books.lots.len() as u32 - 1
                });
                books.orders.push(FloorOrder { row, bought: line.0, returned: Decimal::ZERO, points, lot });
            }
            FloorStep::Return { member, row, returned, at, .. } => {
                let books = members.get_mut(&member)?;
                books.settle(at);
                books.take_back(row, returned)?;
            }
        }
    }
    Some(())
}
