//! Properties over generated histories of purchases, partial returns, redemptions, donations,
//! manual adjustments and ticks, checked after every event. Each runs 1,000 cases.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use common::{fold, held_balances, lots_in};
use loyalty_engine::{
    Account, Asset, AssetTotals, Bucket, Engine, Event, Ledger, MemberId, MemberState, MemoryStore, Outcome,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

const CASES: u32 = 1_000;
const MEMBERS: [&str; 2] = ["m-0", "m-1"];
const SKUS: [&str; 3] = ["a", "b", "c"];
const POLICIES: [&str; 3] = ["negative_balance", "deduct_from_refund", "stop_at_zero"];

/// The program every history runs under ([`common::history_program`]), varied in what matters
/// to returns: the policy, vesting, expiry and a minimum balance.
#[derive(Clone, Debug)]
struct Setup {
    policy: &'static str,
    vesting_days: u32,
    expiry_days: Option<u32>,
    min_balance: u32,
}

impl Setup {
    fn engine(&self) -> Engine {
        let json = common::history_program(self.policy, self.vesting_days, self.expiry_days, self.min_balance);
        common::program(&json).compile().unwrap()
    }
}

fn setups() -> impl Strategy<Value = Setup> {
    (
        0..POLICIES.len(),
        prop_oneof![Just(0u32), Just(7)],
        prop_oneof![Just(None), Just(Some(30u32))],
        prop_oneof![Just(0u32), Just(50)],
    )
        .prop_map(|(policy, vesting_days, expiry_days, min_balance)| Setup {
            policy: POLICIES[policy],
            vesting_days,
            expiry_days,
            min_balance,
        })
}

/// One step of a history, in raw numbers that the runner resolves against the current state
/// (which order to return, how many points to spend), so that every generated step is valid.
#[derive(Clone, Debug)]
enum Step {
    Purchase {
        member: usize,
        lines: Vec<(usize, u32, u32)>,
        pay_percent: u32,
    },
    Return {
        member: usize,
        order_pick: usize,
        line_pick: usize,
        qty: u32,
    },
    /// A redemption, or a donation (which the redemption's minimum balance does not limit).
    Redeem {
        member: usize,
        percent: u32,
        donate: bool,
    },
    /// Points credited (positive) or taken back (negative, resolved to at most what is
    /// available) by the back office.
    Adjust {
        member: usize,
        points: i32,
    },
    /// Points given to another member, who receives them through the transfer's follow-up.
    Transfer {
        member: usize,
        to_offset: usize,
        percent: u32,
    },
    Tick {
        member: usize,
    },
}

fn steps() -> impl Strategy<Value = Vec<(u32, Step)>> {
    let member = 0..MEMBERS.len();
    let line = (0..SKUS.len(), 1u32..4, 100u32..200_000);
    let step = prop_oneof![
        4 => (member.clone(), prop::collection::vec(line, 1..4), prop_oneof![Just(0u32), 0u32..=100])
            .prop_map(|(member, lines, pay_percent)| Step::Purchase { member, lines, pay_percent }),
        3 => (member.clone(), any::<usize>(), any::<usize>(), 1u32..4)
            .prop_map(|(member, order_pick, line_pick, qty)| Step::Return { member, order_pick, line_pick, qty }),
        2 => (member.clone(), 1u32..=100, any::<bool>())
            .prop_map(|(member, percent, donate)| Step::Redeem { member, percent, donate }),
        1 => (member.clone(), -500_i32..=500).prop_map(|(member, points)| Step::Adjust { member, points }),
        1 => (member.clone(), 1..MEMBERS.len(), 1u32..=100)
            .prop_map(|(member, to_offset, percent)| Step::Transfer { member, to_offset, percent }),
        1 => member.prop_map(|member| Step::Tick { member }),
    ];
    prop::collection::vec((0u32..240, step), 1..24)
}

/// What happened at one event: the state before and after, and the outcome between.
struct Applied {
    before: MemberState,
    event: Event,
    outcome: Outcome,
    after: MemberState,
}

struct History {
    engine: Engine,
    applied: Vec<Applied>,
    states: BTreeMap<usize, MemberState>,
}

fn run(setup: &Setup, steps: &[(u32, Step)]) -> History {
    let engine = setup.engine();
    let mut states: BTreeMap<usize, MemberState> = BTreeMap::new();
    let mut orders: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut applied = Vec::new();
    let mut at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    for (index, (hours, step)) in steps.iter().enumerate() {
        at += Duration::hours(i64::from(*hours));
        let member = step_member(step);
        let state = states.entry(member).or_insert_with(|| MemberState::new(MemberId::new(MEMBERS[member]).unwrap()));
        let Some(json) = resolve(&engine, state, orders.entry(member).or_default(), step, index, at) else { continue };
        let event = common::event(&json);
        let outcome = engine.evaluate(state, &event).unwrap_or_else(|error| panic!("{error}\n{json}"));
        let before = state.clone();
        state.apply(&outcome);
        let follow_ups = outcome.follow_ups.clone();
        applied.push(Applied { before, event, outcome, after: state.clone() });
        // As the ledger does: the follow-up, for the member it names, right after.
        for event in follow_ups.into_vec() {
            let member = MEMBERS.iter().position(|name| *name == event.member().as_str()).expect("one of the members");
            let state = states.entry(member).or_insert_with(|| MemberState::new(event.member().clone()));
            let outcome = engine.evaluate(state, &event).unwrap_or_else(|error| panic!("{error}\n{event:?}"));
            let before = state.clone();
            state.apply(&outcome);
            applied.push(Applied { before, event, outcome, after: state.clone() });
        }
    }
    History { engine, applied, states }
}

fn step_member(step: &Step) -> usize {
    match step {
        Step::Purchase { member, .. }
        | Step::Return { member, .. }
        | Step::Redeem { member, .. }
        | Step::Adjust { member, .. }
        | Step::Transfer { member, .. }
        | Step::Tick { member } => *member,
    }
}

/// Turns a step into a valid event's JSON, or `None` when it has nothing to act on.
fn resolve(
    engine: &Engine,
    state: &MemberState,
    orders: &mut Vec<String>,
    step: &Step,
    index: usize,
    at: DateTime<Utc>,
) -> Option<String> {
    let head = format!(r#""id":"e-{index}","member":"{}","at":"{}""#, state.member(), at.to_rfc3339());
    let available = || engine.points_at(state, at).unwrap().available.value();
    let spendable = || {
        let minimum = engine.program().redemption.as_ref().unwrap().min_balance.value();
        if available() < minimum { Decimal::ZERO } else { available() }
    };
    match step {
        Step::Purchase { lines, pay_percent, .. } => {
            let order = format!("o-{index}");
            let mut total = Decimal::ZERO;
            let lines: Vec<String> = lines
                .iter()
                .map(|(sku, qty, cents)| {
                    let price = Decimal::new(i64::from(*cents), 2);
                    // Every third line carries a discount of a tenth of its value.
                    let discount = if cents % 3 == 0 {
                        (price * Decimal::from(*qty) / Decimal::TEN).round_dp(2)
                    } else {
                        Decimal::ZERO
                    };
                    total += price * Decimal::from(*qty) - discount;
                    let category = if *sku == 2 { r#","category":"cat-c""# } else { "" };
                    let sku = SKUS[*sku];
                    format!(
                        r#"{{"sku":"{sku}","qty":"{qty}","unit_price":"{price}","discount":"{discount}"{category}}}"#
                    )
                })
                .collect();
            let cap = (total * Decimal::new(5, 1) / Decimal::new(1, 1)).floor();
            let pay = (spendable().min(cap) * Decimal::from(*pay_percent) / Decimal::ONE_HUNDRED).floor();
            orders.push(order.clone());
            Some(format!(
                r#"{{"type":"purchase",{head},"order":"{order}","lines":[{}],"pay_with_points":"{pay}"}}"#,
                lines.join(",")
            ))
        }
        Step::Return { order_pick, line_pick, qty, .. } => {
            common::return_json(state, orders, &head, *order_pick, *line_pick, *qty)
        }
        Step::Redeem { percent, donate: false, .. } => {
            let points = (spendable() * Decimal::from(*percent) / Decimal::ONE_HUNDRED).floor();
            (!points.is_zero()).then(|| format!(r#"{{"type":"redeem",{head},"points":"{points}"}}"#))
        }
        Step::Redeem { percent, donate: true, .. } => {
            let points = (available() * Decimal::from(*percent) / Decimal::ONE_HUNDRED).floor();
            (!points.is_zero())
                .then(|| format!(r#"{{"type":"donate",{head},"points":"{points}","cause":"red-cross"}}"#))
        }
        Step::Adjust { points, .. } => {
            let points = Decimal::from(*points).max(-available().floor());
            (!points.is_zero())
                .then(|| format!(r#"{{"type":"adjust",{head},"points":"{points}","reason":"goodwill"}}"#))
        }
        Step::Transfer { member, to_offset, percent } => {
            let points = (available() * Decimal::from(*percent) / Decimal::ONE_HUNDRED).floor();
            let to = MEMBERS[(member + to_offset) % MEMBERS.len()];
            (!points.is_zero()).then(|| format!(r#"{{"type":"transfer",{head},"to":"{to}","points":"{points}"}}"#))
        }
        Step::Tick { .. } => Some(format!(r#"{{"type":"tick",{head}}}"#)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Every posting is positive, every asset sums to zero, the state's balances are exactly
    /// the fold of the member's postings, the lots in each bucket add up to its balance, and
    /// the totals of points and of cashback reconcile.
    #[test]
    fn postings_balance_and_the_state_is_their_fold(setup in setups(), steps in steps()) {
        let history = run(&setup, &steps);
        for (member, state) in &history.states {
            let mine = history.applied.iter().filter(|applied| applied.event.member().as_str() == MEMBERS[*member]);
            let folded = fold(mine.clone().flat_map(|applied| &applied.outcome.postings));
            let held = held_balances(state);
            prop_assert_eq!(&held, &folded);
            prop_assert!(held.values().sum::<Decimal>().is_zero());
            prop_assert!(mine.flat_map(|applied| &applied.outcome.postings).all(|posting| posting.amount > Decimal::ZERO));
            prop_assert_eq!(lots_in(state, &Asset::Points, Bucket::Pending), state.points().pending.value());
            prop_assert_eq!(lots_in(state, &Asset::Points, Bucket::Available), state.points().available.value());
            prop_assert_eq!(lots_in(state, &Asset::Cashback, Bucket::Pending), state.cashback().pending.value());
            prop_assert_eq!(lots_in(state, &Asset::Cashback, Bucket::Available), state.cashback().available.value());
            prop_assert!(state.lots().all(|lot| lot.amount_points > Decimal::ZERO));
        }
        let mut money_withheld = Decimal::ZERO;
        for asset in [Asset::Points, Asset::Cashback] {
            let mut totals = AssetTotals::new(asset);
            history.applied.iter().for_each(|applied| totals.record(&applied.outcome));
            prop_assert!(totals.unreconciled().is_zero(), "{:?}", totals);
            let cost: Decimal = totals.cost_by_funder().map(|(_, cost)| cost).sum();
            prop_assert_eq!(cost, totals.issued - totals.clawed_back);
            money_withheld += totals.refund_withheld.value();
        }
        let withheld: Decimal = history.applied.iter().map(|applied| applied.outcome.refund_withheld.value()).sum();
        prop_assert_eq!(money_withheld, withheld, "each unit of money withheld is told to one asset");
    }

    /// Once every unit of an order is back, it has clawed back exactly what it earned (points
    /// and cashback) and given back exactly the points that paid for it, per funder.
    #[test]
    fn a_fully_returned_order_nets_to_zero(setup in setups(), steps in steps()) {
        let history = run(&setup, &steps);
        let receipts = history.applied.iter().filter_map(|applied| applied.outcome.receipt.as_ref());
        for receipt in receipts.filter(|receipt| receipt.lines.iter().all(|line| line.returned_qty == line.qty)) {
            for earning in receipt.earnings.iter().chain(&receipt.cashback) {
                prop_assert_eq!(earning.clawed_back, earning.points);
            }
            let Some(payment) = &receipt.payment else { continue };
            for paid in &payment.paid_with {
                prop_assert_eq!(paid.refunded, paid.points);
            }
            prop_assert_eq!(payment.lines.len(), receipt.lines.len());
            for share in &payment.lines {
                prop_assert_eq!(share.points_refunded, share.points);
                prop_assert_eq!(share.cashback_refunded, share.cashback);
            }
        }
    }

    /// Spent, donated and transferred points always come from lots that had vested by the time
    /// they were spent.
    #[test]
    fn the_member_never_spends_pending_points(setup in setups(), steps in steps()) {
        let history = run(&setup, &steps);
        for applied in &history.applied {
            let spent = |posting: &&loyalty_engine::Posting| {
                matches!(posting.to, Account::Redeemed | Account::Donated(_) | Account::Transfers)
                    && posting.asset == Asset::Points
            };
            for posting in applied.outcome.postings.iter().filter(spent) {
                prop_assert_eq!(&posting.from, &Account::Available);
                let lot = applied.before.lot(posting.lot.unwrap()).expect("spent points come from lots held before");
                prop_assert!(lot.vests_at <= applied.outcome.at);
            }
        }
    }

    /// What a member took out (points spent, donated or given to other members and kept, less
    /// what the member received from them and what the member still owes) never exceeds what the
    /// kept parts of orders earned, plus what refunds withheld, plus what a `stop_at_zero`
    /// program forgave and nothing settled since, plus what the back office credited net of
    /// what it took back.
    #[test]
    fn returned_orders_yield_no_value(setup in setups(), steps in steps()) {
        let history = run(&setup, &steps);
        for (member, state) in &history.states {
            // What the back office credited, net of what it took back.
            let adjusted: Decimal = history
                .applied
                .iter()
                .filter(|applied| applied.event.member().as_str() == MEMBERS[*member] && matches!(applied.event, Event::Adjust(_)))
                .flat_map(|applied| &applied.outcome.postings)
                .map(|posting| match (&posting.from, &posting.to) {
                    (Account::Funder(_), Account::Available) => posting.amount,
                    (Account::Available, Account::Funder(_)) => -posting.amount,
                    _ => Decimal::ZERO,
                })
                .sum();
            let kept_earnings: Decimal = state.orders().flat_map(|receipt| &receipt.earnings).map(|earning| earning.points - earning.clawed_back).sum();
            let donated = state.balance(&Account::Donated("red-cross".parse().unwrap()), Asset::Points);
            let given = state.balance(&Account::Transfers, Asset::Points);
            let extracted =
                state.balance(&Account::Redeemed, Asset::Points) + donated + given + state.points().debt.value();
            let withheld = -state.balance(&Account::RefundWithheld, Asset::Points);
            let forgiven = -state.balance(&Account::Forgiven, Asset::Points);
            prop_assert!(extracted <= kept_earnings + withheld + forgiven + adjusted,
                "extracted {} > kept {} + withheld {} + forgiven {} + adjusted {}", extracted, kept_earnings, withheld, forgiven, adjusted);
            if setup.policy != "stop_at_zero" {
                prop_assert!(forgiven.is_zero());
            }
        }
    }

    /// Available and pending points never go negative; only `negative_balance` ever leaves the
    /// member owing points.
    #[test]
    fn balances_stay_non_negative_except_debt_under_negative_balance(setup in setups(), steps in steps()) {
        let history = run(&setup, &steps);
        for applied in &history.applied {
            let points = applied.after.points();
            prop_assert!(points.available.value() >= Decimal::ZERO);
            prop_assert!(points.pending.value() >= Decimal::ZERO);
            prop_assert!(points.debt.value() <= Decimal::ZERO);
            if setup.policy != "negative_balance" {
                prop_assert!(points.debt.value().is_zero());
            }
            if !points.debt.value().is_zero() {
                prop_assert!(points.available.value().is_zero(), "available points repay debt first");
            }
        }
    }

    /// A line's points are what a simple model says: the line's value after points paid, times
    /// the rate (doubled for SKU `b`), plus 3 per unit of category `c`, rounded down once, plus
    /// the line's share of the 30-point basket bonus, which adds up to exactly 30 on orders of
    /// 500 or more. The 70/30 funder split of the multiplier adds up exactly, each funder within
    /// a point of its share.
    #[test]
    fn earnings_match_a_reference_model_and_shares_add_up(setup in setups(), steps in steps()) {
        let history = run(&setup, &steps);
        for applied in &history.applied {
            let Event::Purchase(purchase) = &applied.event else { continue };
            let receipt = applied.outcome.receipt.as_ref().unwrap();
            let total: Decimal = receipt.lines.iter().map(|line| line.value.value()).sum();
            let paid_value = purchase.pay_with_points.value() * Decimal::new(1, 1);
            let mut bonus = Decimal::ZERO;
            for (index, line) in purchase.lines.iter().enumerate() {
                let rate = if line.sku.as_str() == "b" { Decimal::new(2, 1) } else { Decimal::new(1, 1) };
                let per_unit = if line.sku.as_str() == "c" { line.qty * Decimal::from(3) } else { Decimal::ZERO };
                // Multiply first, divide once: exact wherever the true value is a finite decimal.
                let value = line.qty * line.unit_price.value() - line.discount.value();
                let paid_in_money = value * (total - paid_value) * rate / total;
                let modelled = (paid_in_money + per_unit).floor();
                let earnings: Vec<_> = receipt.earnings.iter().filter(|earning| earning.line as usize == index).collect();
                let earned = earnings.iter().map(|earning| earning.points).sum::<Decimal>();
                prop_assert!(earned >= modelled);
                bonus += earned - modelled;
                let multiplier: Vec<_> = earnings.iter().filter(|earning| earning.rule.as_str() == "b-double").collect();
                let rule_total: Decimal = multiplier.iter().map(|earning| earning.points).sum();
                for earning in multiplier {
                    let share = if earning.funder.as_str() == "shop" { Decimal::new(7, 1) } else { Decimal::new(3, 1) };
                    prop_assert!((earning.points - rule_total * share).abs() < Decimal::ONE);
                }
            }
            let expected_bonus = if total >= Decimal::from(500) { Decimal::from(30) } else { Decimal::ZERO };
            prop_assert_eq!(bonus, expected_bonus);
        }
    }

    /// Evaluating the same event on the same state twice gives the same outcome, byte for byte,
    /// and a state survives a serde round trip unchanged.
    #[test]
    fn evaluation_is_deterministic(setup in setups(), steps in steps()) {
        let history = run(&setup, &steps);
        for applied in &history.applied {
            let again = history.engine.evaluate(&applied.before, &applied.event).unwrap();
            prop_assert_eq!(serde_json::to_string(&again).unwrap(), serde_json::to_string(&applied.outcome).unwrap());
            let stored = serde_json::to_string(&applied.after).unwrap();
            prop_assert_eq!(&serde_json::from_str::<MemberState>(&stored).unwrap(), &applied.after);
        }
    }

    /// Every event reads back from the JSON the engine writes (`"type"` first), and from the
    /// same JSON with its keys sorted, as a host's JSON library may write them (`"type"` then
    /// comes last).
    #[test]
    fn events_read_back_from_their_json_in_any_key_order(setup in setups(), steps in steps()) {
        let history = run(&setup, &steps);
        for applied in &history.applied {
            let written = serde_json::to_string(&applied.event).unwrap();
            prop_assert!(written.starts_with(r#"{"type":"#), "{}", written);
            prop_assert_eq!(&serde_json::from_str::<Event>(&written).unwrap(), &applied.event);
            // A `serde_json::Value` keeps its keys sorted.
            let sorted = serde_json::to_value(&applied.event).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Event>(&sorted.to_string()).unwrap(), &applied.event);
            prop_assert_eq!(&serde_json::from_value::<Event>(sorted).unwrap(), &applied.event);
        }
    }

    /// Through the ledger, applying every event twice changes nothing: the second application
    /// returns the first outcome, and the final states are those of applying each once.
    #[test]
    fn the_same_event_applied_twice_changes_nothing(setup in setups(), steps in steps()) {
        let history = run(&setup, &steps);
        let mut ledger = Ledger::new(history.engine.clone(), MemoryStore::new());
        for applied in &history.applied {
            let first = ledger.apply(&applied.event).unwrap();
            let second = ledger.apply(&applied.event).unwrap();
            prop_assert_eq!(&first, &second);
            prop_assert_eq!(&*first, &applied.outcome);
        }
        for state in history.states.values() {
            prop_assert_eq!(&ledger.state(state.member()).unwrap(), state);
        }
        prop_assert_eq!(ledger.store().committed().unwrap().len(), history.applied.len());
    }
}

/// An order of up to three lines under a base rate (split between two funders or not), a
/// multiplier on `a` and a bonus per order above a minimum (funded by the shop, a maker or
/// both; on every line or on `a` and `b`): rate, base funders, bonus, bonus funders, bonus
/// lines, minimum, point places, and each line's units and unit price.
type SplitCase = (usize, bool, usize, usize, bool, usize, u32, Vec<(u32, usize)>);

/// How many units of each line each of up to three returns brings back.
fn split_plans(lines: usize) -> impl Strategy<Value = Vec<Vec<u32>>> {
    proptest::collection::vec(proptest::collection::vec(0_u32..4, 1..=3), lines)
}

/// The order's purchase event, and the program.
fn split_case_events(case: &SplitCase) -> (String, String) {
    let (rate, shared, bonus, bonus_funders, bonus_on_a_and_b, minimum, places, lines) = case;
    let funded = if *shared { r#","funded_by":{"shop":"0.5","brand":"0.5"}"# } else { "" };
    let bonus_funded =
        ["", r#","funded_by":{"maker":"1"}"#, r#","funded_by":{"shop":"0.5","maker":"0.5"}"#][*bonus_funders];
    let bonus_skus = if *bonus_on_a_and_b { r#""skus":["a","b"],"# } else { "" };
    let program = format!(
        r#"{{"id":"p","currency":"EUR","owner":"shop","rounding":{{"mode":"floor","decimal_places":{places}}},
            "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"{}"}}{funded}}},
              {{"id":"double-a","when":{{"skus":["a"]}},"effect":{{"multiplier":"2"}}}},
              {{"id":"bonus","when":{{{bonus_skus}"min_order_total":"{}"}},"effect":{{"points_per_order":"{}"}}{bonus_funded}}}]}}}}"#,
        ["0.1", "0.37", "1", "2.5"][*rate],
        ["10", "100", "250"][*minimum],
        ["7", "30", "301"][*bonus],
    );
    let prices = ["3.33", "8.34", "25", "99.99", "150"];
    let lines: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(at, (qty, price))| {
            format!(r#"{{"sku":"{}","qty":"{qty}","unit_price":"{}"}}"#, SKUS[at], prices[*price])
        })
        .collect();
    let purchase = format!(
        r#"{{"type":"purchase","member":"m","at":"2026-03-01T10:00:00Z","order":"o","lines":[{}]}}"#,
        lines.join(",")
    );
    (program, purchase)
}

/// A return of `units` of each line (lines with none left out), if it returns anything.
fn return_of(units: &[u32]) -> Option<String> {
    let lines: Vec<String> = units
        .iter()
        .enumerate()
        .filter(|(_, units)| **units > 0)
        .map(|(at, units)| format!(r#"{{"sku":"{}","qty":"{units}"}}"#, SKUS[at]))
        .collect();
    (!lines.is_empty()).then(|| {
        format!(
            r#"{{"type":"return","member":"m","at":"2026-03-02T10:00:00Z","order":"o","lines":[{}]}}"#,
            lines.join(",")
        )
    })
}

/// The member's points and each line's clawed-back total after the purchase and `returns`.
fn after_returns(program: &str, purchase: &str, returns: &[Vec<u32>]) -> (Decimal, Vec<Decimal>) {
    let mut shop = common::Shop::new(program);
    shop.apply(purchase);
    for units in returns {
        if let Some(event) = return_of(units) {
            shop.apply(&event);
        }
    }
    let state = shop.state("m");
    let receipt = state.orders().next().expect("the order");
    let clawed_by_line = (0..receipt.lines.len() as u32)
        .map(|line| {
            receipt.earnings.iter().filter(|earning| earning.line == line).map(|earning| earning.clawed_back).sum()
        })
        .collect();
    (state.points().available.value(), clawed_by_line)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// However a return is split, the member keeps what one return would leave, line by line,
    /// even where a piece takes the kept order below a bonus's minimum.
    #[test]
    fn how_a_return_is_split_does_not_change_what_the_member_keeps(
        case in (0..4_usize, any::<bool>(), 0..3_usize, 0..3_usize, any::<bool>(), 0..3_usize, 0..3_u32,
                 proptest::collection::vec((1_u32..6, 0..5_usize), 1..=3)),
        plan_seed in split_plans(3),
    ) {
        let (program, purchase) = split_case_events(&case);
        let lines = &case.7;
        // Each line's pieces, cut so that together they return at most what was bought.
        let mut pieces = vec![vec![0_u32; lines.len()]; 3];
        for (line, (qty, _)) in lines.iter().enumerate() {
            let mut left = *qty;
            for (piece, units) in plan_seed[line].iter().enumerate() {
                pieces[piece][line] = (*units).min(left);
                left -= pieces[piece][line];
            }
        }
        let whole: Vec<u32> = (0..lines.len()).map(|line| pieces.iter().map(|piece| piece[line]).sum()).collect();
        let in_one = after_returns(&program, &purchase, &[whole]);
        let in_pieces = after_returns(&program, &purchase, &pieces);
        prop_assert_eq!(in_one, in_pieces);
    }
}

/// A program earning 1 point per 10 of spend, tripled on the category `promo` by a rule paid
/// 60/40 by the shop and a brand, with `cap` as the promotion's most per order if given.
fn promotion_program(cap: Option<u32>) -> Engine {
    let cap = cap.map_or(String::new(), |cap| format!(r#","max_points_per_order":"{cap}""#));
    let json = format!(
        r#"{{"id":"promo","currency":"EUR","owner":"shop",
            "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"0.1"}}}},
              {{"id":"triple","when":{{"categories":["promo"]}},"effect":{{"multiplier":"3"}},
                "funded_by":{{"shop":"0.6","brand":"0.4"}}{cap}}}]}}}}"#
    );
    common::program(&json).compile().unwrap()
}

/// Earnings as (line, funder, points).
type Shares = Vec<(u32, String, Decimal)>;

/// The promotion's earnings of one order, and the other rules'.
fn promotion_earnings(engine: &Engine, purchase: &Event) -> (Shares, Shares) {
    let state = MemberState::new(MemberId::new("m-1").unwrap());
    let outcome = engine.evaluate(&state, purchase).unwrap();
    let receipt = outcome.receipt.as_ref().unwrap();
    let of = |promotion: bool| {
        receipt
            .earnings
            .iter()
            .filter(|earning| (earning.rule.as_str() == "triple") == promotion)
            .map(|earning| (earning.line, earning.funder.to_string(), earning.points))
            .collect()
    };
    (of(true), of(false))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A rule's most per order scales its raw points down to the cap when it would give more,
    /// and each line is then rounded once (down) from what it keeps: the line's points are the
    /// whole points of its base points plus its share of the cap. The capped rule never gives
    /// more than the cap, nor a line or funder more than without it, and falls short of the cap
    /// only by the rounding units its lines' base points took (one a line at most). A return
    /// of everything takes back all of it.
    #[test]
    fn a_capped_rule_gives_the_order_at_most_its_cap(
        lines in proptest::collection::vec((1_u32..4, 100_u32..500_000, any::<bool>()), 1..6),
        cap in 1_u32..400,
    ) {
        let lines_json: Vec<String> = lines
            .iter()
            .map(|(qty, cents, promo)| {
                let category = if *promo { "promo" } else { "other" };
                format!(r#"{{"sku":"s","qty":"{qty}","unit_price":"{}","category":"{category}"}}"#, Decimal::new(i64::from(*cents), 2))
            })
            .collect();
        let purchase = common::event(&format!(
            r#"{{"type":"purchase","id":"e-1","member":"m-1","at":"2026-03-01T10:00:00Z","order":"o-1","lines":[{}]}}"#,
            lines_json.join(",")
        ));
        let (free, _) = promotion_earnings(&promotion_program(None), &purchase);
        let capped_engine = promotion_program(Some(cap));
        let (capped, capped_rest) = promotion_earnings(&capped_engine, &purchase);
        let sum = |earnings: &[(u32, String, Decimal)]| earnings.iter().map(|(_, _, points)| *points).sum::<Decimal>();
        let most = Decimal::from(cap);
        let promo_lines = lines.iter().filter(|(_, _, promo)| *promo).count();
        prop_assert!(sum(&capped) <= most && sum(&capped) <= sum(&free), "{} over the cap", sum(&capped));
        prop_assert!(sum(&capped) >= sum(&free).min(most) - Decimal::from(promo_lines as u32));
        // The model of each line: 0.1 a unit of value, and twice that from the promotion,
        // scaled down to the cap over the order.
        let base_raw: Vec<Decimal> =
            lines.iter().map(|(qty, cents, _)| Decimal::from(*qty) * Decimal::new(i64::from(*cents), 2) / Decimal::TEN).collect();
        let promo_raw: Vec<Decimal> =
            lines.iter().zip(&base_raw).map(|((_, _, promo), base)| if *promo { base * Decimal::TWO } else { Decimal::ZERO }).collect();
        let promo_total: Decimal = promo_raw.iter().sum();
        for (line, (base, promo)) in base_raw.iter().zip(&promo_raw).enumerate() {
            let kept = if promo_total > most { promo * most / promo_total } else { *promo };
            let of_line = |earnings: &[(u32, String, Decimal)]| {
                earnings.iter().filter(|(at, _, _)| *at as usize == line).map(|(_, _, points)| *points).sum::<Decimal>()
            };
            prop_assert_eq!(of_line(&capped) + of_line(&capped_rest), (base + kept).floor(), "line {}", line);
        }
        for (line, funder, points) in &capped {
            let before = free.iter().find(|(free_line, free_funder, _)| free_line == line && free_funder == funder);
            prop_assert!(before.is_some_and(|(_, _, free_points)| points <= free_points), "{} {} got {}", line, funder, points);
        }

        let mut state = MemberState::new(MemberId::new("m-1").unwrap());
        state.apply(&capped_engine.evaluate(&state, &purchase).unwrap());
        let returned: Vec<String> =
            (0..lines.len()).map(|index| format!(r#"{{"sku":"s","line":{index},"qty":"{}"}}"#, lines[index].0)).collect();
        let back = common::event(&format!(
            r#"{{"type":"return","id":"e-2","member":"m-1","at":"2026-03-02T10:00:00Z","order":"o-1","lines":[{}]}}"#,
            returned.join(",")
        ));
        state.apply(&capped_engine.evaluate(&state, &back).unwrap());
        prop_assert!(state.points().available.value().is_zero());
        prop_assert!(held_balances(&state).is_empty(), "{:?}", held_balances(&state));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A rule's most per month: each order gets what the month has left of it, net of the
    /// month's returns, as a running model says, and each line is still rounded once (down):
    /// the line keeps the whole points of its base rule's raw points plus what the cap left,
    /// the capped rule taking at most a point less where the split gives the base rule the
    /// rounding. A rule that rejects orders over its cap gives each order exactly what the
    /// uncapped program gives it, or, where its points would pass what the month has left,
    /// nothing.
    #[test]
    fn a_rule_capped_per_month_gives_each_order_what_the_month_has_left(
        steps in proptest::collection::vec((0_u32..20, prop_oneof![1_u32..60, 100_u32..9_000], any::<bool>()), 1..16),
        reject in any::<bool>(),
    ) {
        let over_cap = if reject { "reject" } else { "trim" };
        let engine = common::program(&format!(
            r#"{{"id":"promo","currency":"EUR","owner":"shop","utc_offset":"+01:00",
                "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"0.1"}}}},
                  {{"id":"promo","effect":{{"points_per_currency_unit":"1"}},
                   "max_points_per_period":{{"period":"month","points":"100"}},"over_cap":"{over_cap}"}}]}}}}"#,
        )).compile().unwrap();
        let uncapped = common::program(
            r#"{"id":"promo","currency":"EUR","owner":"shop","utc_offset":"+01:00",
                "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}},
                  {"id":"promo","effect":{"points_per_currency_unit":"1"}}]}}"#,
        ).compile().unwrap();
        let mut state = MemberState::new(MemberId::new("m-1").unwrap());
        let mut at: DateTime<Utc> = "2026-01-20T00:00:00Z".parse().unwrap();
        // The model: what each month has given, and each order's month and promotion points.
        let mut given: BTreeMap<(i32, u32), Decimal> = BTreeMap::new();
        let mut orders: Vec<((i32, u32), Decimal, String)> = Vec::new();
        for (index, (days, price, return_last)) in steps.iter().enumerate() {
            at += Duration::days(i64::from(*days));
            let local = at + Duration::hours(1);
            let month = (chrono::Datelike::year(&local), chrono::Datelike::month(&local));
            let head = format!(r#""id":"e-{index}","member":"m-1","at":"{}""#, at.to_rfc3339());
            if *return_last && !orders.is_empty() {
                let (month, points, order) = orders.pop().unwrap();
                *given.get_mut(&month).unwrap() -= points;
                let json = format!(r#"{{"type":"return",{head},"order":"{order}","lines":[{{"sku":"s","qty":"1"}}]}}"#);
                state.apply(&engine.evaluate(&state, &common::event(&json)).unwrap());
                continue;
            }
            let order = format!("o-{index}");
            let json = format!(
                r#"{{"type":"purchase",{head},"order":"{order}","lines":[{{"sku":"s","qty":"1","unit_price":"{price}"}}]}}"#
            );
            let outcome = engine.evaluate(&state, &common::event(&json)).unwrap();
            let earned = |outcome: &Outcome, rule: &str| -> Decimal {
                let earnings = &outcome.receipt.as_ref().unwrap().earnings;
                earnings.iter().filter(|earning| earning.rule.as_str() == rule).map(|earning| earning.points).sum()
            };
            let month_given = given.entry(month).or_default();
            let room = Decimal::ONE_HUNDRED - *month_given;
            let base_raw = Decimal::new(i64::from(*price), 1);
            let (promo, base) = (earned(&outcome, "promo"), earned(&outcome, "base"));
            if reject {
                let free = uncapped.evaluate(&MemberState::new(MemberId::new("m-1").unwrap()), &common::event(&json)).unwrap();
                let (free_promo, free_base) = (earned(&free, "promo"), earned(&free, "base"));
                // Whole prices: the rule's points are whole, so rounding them as a whole keeps them.
                let fits = Decimal::from(*price) <= room;
                let expected = if fits { (free_promo, free_base) } else { (Decimal::ZERO, base_raw.floor()) };
                prop_assert_eq!((promo, base), expected, "order {} with {} left", order, room);
            } else {
                let left = Decimal::from(*price).min(room);
                prop_assert_eq!(promo + base, (base_raw + left).floor(), "order {} in {:?}", order, month);
                prop_assert!(promo <= left && promo >= left - Decimal::ONE, "order {} got {} of {} left", order, promo, left);
            }
            *month_given += promo;
            orders.push((month, promo, order));
            state.apply(&outcome);
        }
    }
}

/// A program of 0.1 point per unit of value on every line, a rule `r` on SKUs `x` and `y` that
/// rejects orders over its cap (split between two funders if `split`), and a rule `t` on `x` and
/// `z` trimmed to its cap; `r` left out if `r_cap` is `None`.
fn rejecting_program(mode: &str, places: u32, r: Option<(Decimal, u32, bool)>, t: (Decimal, u32)) -> Engine {
    let r = r.map_or(String::new(), |(rate, cap, split)| {
        let funders = if split { r#","funded_by":{"a":"0.5","b":"0.5"}"# } else { "" };
        format!(
            r#"{{"id":"r","when":{{"skus":["x","y"]}},"effect":{{"points_per_currency_unit":"{rate}"}},
                "max_points_per_order":"{cap}","over_cap":"reject"{funders}}},"#
        )
    });
    let json = format!(
        r#"{{"id":"p","currency":"EUR","owner":"o","rounding":{{"mode":"{mode}","decimal_places":{places}}},
            "earn":{{"rules":[{{"id":"u","effect":{{"points_per_currency_unit":"0.1"}}}},{r}
              {{"id":"t","when":{{"skus":["x","z"]}},"effect":{{"points_per_currency_unit":"{}"}},"max_points_per_order":"{}"}}]}}}}"#,
        t.0, t.1
    );
    common::program(&json).compile().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A rule that rejects orders over its cap is judged on what it would give alone (its points
    /// on each line rounded, summed): over the cap it gives nothing and the order's other rules
    /// earn exactly what they would without it; within, it gives at most that and at most its
    /// cap. Under every rounding mode, at 0 to 2 places, beside a trimmed rule on shared lines.
    #[test]
    fn a_rule_that_rejects_orders_over_its_cap_gives_at_most_what_it_would_alone_or_nothing(
        mode in prop::sample::select(vec!["half_up", "floor", "ceiling"]),
        places in 0_u32..=2,
        (r_rate, t_rate) in (1_i64..300, 1_i64..300),
        (r_cap, t_cap) in (1_u32..40, 1_u32..40),
        split in any::<bool>(),
        lines in prop::collection::vec((prop::sample::select(vec!["x", "y", "z", "w"]), 1_u32..4, 1_i64..2000), 1..5),
    ) {
        let (r_rate, t_rate) = (Decimal::new(r_rate, 2), Decimal::new(t_rate, 2));
        let with_r = rejecting_program(mode, places, Some((r_rate, r_cap, split)), (t_rate, t_cap));
        let without_r = rejecting_program(mode, places, None, (t_rate, t_cap));
        let json: Vec<String> = lines
            .iter()
            .map(|(sku, qty, cents)| format!(r#"{{"sku":"{sku}","qty":"{qty}","unit_price":"{}"}}"#, Decimal::new(*cents, 2)))
            .collect();
        let purchase = common::event(&format!(
            r#"{{"type":"purchase","id":"e-1","member":"m-1","at":"2026-03-01T10:00:00Z","order":"o-1","lines":[{}]}}"#,
            json.join(",")
        ));
        let state = MemberState::new(MemberId::new("m-1").unwrap());
        let (outcome, reference) = (with_r.evaluate(&state, &purchase).unwrap(), without_r.evaluate(&state, &purchase).unwrap());
        let by_rule = |outcome: &Outcome, rule: &str| -> Decimal {
            let earnings = &outcome.receipt.as_ref().unwrap().earnings;
            earnings.iter().filter(|earning| earning.rule.as_str() == rule).map(|earning| earning.points).sum()
        };
        let rounding: loyalty_engine::Rounding =
            serde_json::from_str(&format!(r#"{{"mode":"{mode}","decimal_places":{places}}}"#)).unwrap();
        let alone: Decimal = lines
            .iter()
            .filter(|(sku, _, _)| *sku == "x" || *sku == "y")
            .map(|(_, qty, cents)| rounding.apply(Decimal::from(*qty) * Decimal::new(*cents, 2) * r_rate))
            .sum();
        let (given, cap) = (by_rule(&outcome, "r"), Decimal::from(r_cap));
        if alone > cap {
            prop_assert_eq!(given, Decimal::ZERO);
            prop_assert_eq!(by_rule(&outcome, "t"), by_rule(&reference, "t"));
            prop_assert_eq!(by_rule(&outcome, "u"), by_rule(&reference, "u"));
        } else {
            prop_assert!(given <= alone && given <= cap, "kept, it gave {} of {} alone, cap {}", given, alone, cap);
        }
        prop_assert!(by_rule(&outcome, "t") <= Decimal::from(t_cap));
    }
}
