//! Generated histories over programs that combine every mechanic (tiers with earn multipliers
//! and tier-bound rules, two stamp cards, one with a points reward funded by two funders,
//! cashback with per-order and per-period caps and spending, coalition partners, redemption
//! caps, vesting, expiry and each returns policy), checked after every event and, for histories
//! that end by returning everything, at the end: nothing a returned order paid for stays.
//!
//! `COMBINED_CASES=20000 cargo test --release --test combined` searches harder than CI does.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use loyalty_engine::{
    Account, Asset, Bucket, Engine, Event, Ledger, MemberId, MemberState, MemoryStore, Outcome, RewardKind,
    RewardStatus,
};
use proptest::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};

/// Cases per property: 500 by default, `COMBINED_CASES` to change it.
fn cases() -> u32 {
    std::env::var("COMBINED_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(500)
}
const MEMBERS: [&str; 2] = ["m-0", "m-1"];
const SKUS: [&str; 4] = ["a", "b", "x", "phone"];
const CATEGORIES: [&str; 3] = ["", "cat-c", "phones"];
const MERCHANTS: [&str; 4] = ["", "air-web", "hotel-1", "corner"];
const POLICIES: [&str; 3] = ["negative_balance", "deduct_from_refund", "stop_at_zero"];
const METRICS: [&str; 3] = ["net_spend", "purchases", "points_earned"];
/// Windows long enough that no review happens within a history (all in 2026, under a year):
/// only these let a fully returned history promise the lowest level.
const LONG_WINDOWS: [&str; 3] = [r#""lifetime""#, r#"{"calendar":"year"}"#, r#"{"rolling_days":400}"#];
const SHORT_WINDOWS: [&str; 3] = [r#"{"rolling_days":10}"#, r#"{"calendar":"month"}"#, r#"{"rolling_months":1}"#];

#[derive(Clone, Debug)]
struct Setup {
    policy: usize,
    vesting_days: u32,
    cashback_vesting_days: u32,
    expiry: usize,
    min_balance: u32,
    max_share: usize,
    point_value: usize,
    rounding: usize,
    metric: usize,
    window: usize,
    long_window: bool,
    to_qualified: bool,
    grace_days: u32,
    carry_over: bool,
    cashback_spending: bool,
    period_cap: bool,
}

fn setups() -> impl Strategy<Value = Setup> {
    (
        (0..3usize, prop_oneof![Just(0u32), Just(5)], prop_oneof![Just(0u32), Just(3)], 0..3usize),
        (prop_oneof![Just(0u32), Just(30)], 0..2usize, 0..3usize, 0..3usize),
        (0..3usize, 0..3usize, any::<bool>(), any::<bool>(), prop_oneof![Just(0u32), Just(3)]),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (policy, vesting_days, cashback_vesting_days, expiry),
                (min_balance, max_share, point_value, rounding),
                (metric, window, long_window, to_qualified, grace_days),
                (carry_over, cashback_spending, period_cap),
            )| Setup {
                policy,
                vesting_days,
                cashback_vesting_days,
                expiry,
                min_balance,
                max_share,
                point_value,
                rounding,
                metric,
                window,
                long_window,
                to_qualified,
                grace_days,
                carry_over,
                cashback_spending,
                period_cap,
            },
        )
}

impl Setup {
    fn point_places(&self) -> u32 {
        if self.rounding == 2 { 1 } else { 0 }
    }

    fn json(&self) -> String {
        let policy = POLICIES[self.policy];
        let expiry = [r#""never""#, r#"{"after_days":20}"#, r#""end_of_month""#][self.expiry];
        let max_share = ["0.5", "1"][self.max_share];
        let point_value = ["0.1", "0.05", "0.013"][self.point_value];
        let rounding = [
            r#"{"mode":"floor","decimal_places":0}"#,
            r#"{"mode":"half_up","decimal_places":0}"#,
            r#"{"mode":"ceiling","decimal_places":1}"#,
        ][self.rounding];
        let (silver, gold) = match self.metric {
            0 => ("300", "900"),
            1 => ("2", "4"),
            _ => ("40", "150"),
        };
        let window = if self.long_window { LONG_WINDOWS[self.window] } else { SHORT_WINDOWS[self.window] };
        let downgrade = if self.to_qualified { "to_qualified" } else { "one_level" };
        let spending = if self.cashback_spending {
            r#","spending":{"min_balance":"0.50","max_share_of_order":"0.5"}"#
        } else {
            ""
        };
        let period_cap = if self.period_cap { r#","max_per_period":{"period":"month","amount":"5.00"}"# } else { "" };
        format!(
            r#"{{"id":"combined","currency":"TRY","owner":"shop","rounding":{rounding},
  "partners":[{{"id":"air","merchants":["air-web"]}},{{"id":"hotel","merchants":["hotel-1"]}}],
  "earn":{{"exclude":[{{"categories":["gift_card"]}}],"rules":[
    {{"id":"base","effect":{{"points_per_currency_unit":"0.1"}}}},
    {{"id":"b-double","when":{{"skus":["b"]}},"effect":{{"multiplier":"2"}},"funded_by":{{"shop":"0.7","supplier":"0.3"}}}},
    {{"id":"c-unit","when":{{"categories":["cat-c"]}},"effect":{{"points_per_unit":"3"}}}},
    {{"id":"gold-x","when":{{"tiers":["gold"],"skus":["x"]}},"effect":{{"points_per_unit":"7"}},"funded_by":{{"shop":"0.5","brand":"0.5"}}}},
    {{"id":"silver-up","when":{{"tiers":["silver","gold"]}},"effect":{{"points_per_currency_unit":"0.05"}}}},
    {{"id":"hotel-rate","when":{{"merchants":["hotel-1"]}},"effect":{{"points_per_currency_unit":"0.2"}}}},
    {{"id":"basket","when":{{"min_order_total":"300"}},"effect":{{"points_per_order":"25"}},"funded_by":{{"hotel":"0.5","shop":"0.5"}}}}]}},
  "redemption":{{"point_value":"{point_value}","min_balance":"{min_balance}","max_share_of_order":"{max_share}"}},
  "returns":{{"vesting_days":{vesting},"when_points_spent":"{policy}"}},
  "expiry":{expiry},
  "tiers":{{"metric":"{metric}","window":{window},"downgrade":"{downgrade}","grace_days":{grace},
    "levels":[{{"id":"base","threshold":"0"}},
              {{"id":"silver","threshold":"{silver}","benefits":{{"earn_multiplier":"1.5"}}}},
              {{"id":"gold","threshold":"{gold}","benefits":{{"earn_multiplier":"2","discount_share":"0.1"}}}}]}},
  "stamp_cards":[
    {{"id":"c-card","when":{{"categories":["cat-c"]}},"stamps_needed":3,"carry_over":{carry},"reward":{{"points":"20"}},
      "funded_by":{{"shop":"0.6","bakery":"0.4"}}}},
    {{"id":"b-card","when":{{"skus":["b"]}},"stamps_per_unit":2,"stamps_needed":5,"carry_over":{carry},
      "reward":{{"free_item":{{"max_value":"4.50"}}}}}}],
  "cashback":{{"rules":[{{"id":"cb","share":"0.02"}},
      {{"id":"cb-phones","when":{{"categories":["phones"]}},"share":"0.03","funded_by":{{"shop":"0.4","telco":"0.6"}}}}],
    "vesting_days":{cb_vesting},"max_per_order":"3.00"{period_cap}{spending}}}}}"#,
            vesting = self.vesting_days,
            metric = METRICS[self.metric],
            grace = self.grace_days,
            carry = self.carry_over,
            cb_vesting = self.cashback_vesting_days,
            min_balance = self.min_balance,
        )
    }

    fn engine(&self) -> Engine {
        common::program(&self.json()).compile().unwrap()
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// lines: (sku, category, qty, cents, discounted)
    Purchase {
        member: usize,
        lines: Vec<(usize, usize, u32, u32, bool)>,
        merchant: usize,
        pay_points: u32,
        pay_cashback: u32,
    },
    Return {
        member: usize,
        order_pick: usize,
        line_pick: usize,
        qty: u32,
    },
    Redeem {
        member: usize,
        percent: u32,
        merchant: usize,
    },
    UseReward {
        member: usize,
        pick: usize,
        void: bool,
    },
    Tick {
        member: usize,
    },
}

fn steps(allow_redeem: bool) -> impl Strategy<Value = Vec<(u32, Step)>> {
    let member = 0..MEMBERS.len();
    let line = (0..SKUS.len(), 0..CATEGORIES.len(), 1u32..7, 100u32..120_000, any::<bool>());
    let pay = prop_oneof![2 => Just(0u32), 3 => 0u32..=100];
    let redeem_weight = if allow_redeem { 2 } else { 0 };
    let step = prop_oneof![
        5 => (member.clone(), prop::collection::vec(line, 1..4), 0..MERCHANTS.len(), pay.clone(), pay)
            .prop_map(|(member, lines, merchant, pay_points, pay_cashback)|
                Step::Purchase { member, lines, merchant, pay_points, pay_cashback }),
        3 => (member.clone(), any::<usize>(), any::<usize>(), 1u32..5)
            .prop_map(|(member, order_pick, line_pick, qty)| Step::Return { member, order_pick, line_pick, qty }),
        redeem_weight => (member.clone(), 1u32..=100, 0..MERCHANTS.len())
            .prop_map(|(member, percent, merchant)| Step::Redeem { member, percent, merchant }),
        2 => (member.clone(), any::<usize>(), any::<bool>()).prop_map(|(member, pick, void)| Step::UseReward { member, pick, void }),
        1 => member.prop_map(|member| Step::Tick { member }),
    ];
    prop::collection::vec((0u32..240, step), 1..28)
}

struct Applied {
    before: MemberState,
    event: Event,
    json: String,
    outcome: Outcome,
    after: MemberState,
}

struct History {
    engine: Engine,
    applied: Vec<Applied>,
    states: BTreeMap<usize, MemberState>,
}

fn floor_dp(value: Decimal, places: u32) -> Decimal {
    value.round_dp_with_strategy(places, RoundingStrategy::ToZero)
}

fn merchant_field(merchant: usize) -> String {
    if MERCHANTS[merchant].is_empty() { String::new() } else { format!(r#","merchant":"{}""#, MERCHANTS[merchant]) }
}

fn resolve(
    setup: &Setup,
    engine: &Engine,
    state: &MemberState,
    orders: &mut Vec<String>,
    step: &Step,
    index: usize,
    at: DateTime<Utc>,
) -> Option<String> {
    let head = format!(r#""id":"e-{index}","member":"{}","at":"{}""#, state.member(), at.to_rfc3339());
    match step {
        Step::Purchase { lines, merchant, pay_points, pay_cashback, .. } => {
            let order = format!("o-{index}");
            let mut total = Decimal::ZERO;
            let lines: Vec<String> = lines
                .iter()
                .map(|(sku, category, qty, cents, discounted)| {
                    // Codes 5 and 6 are fractional quantities (0.5 and 2.5 units, say kilograms).
                    let qty = match qty {
                        5 => Decimal::new(5, 1),
                        6 => Decimal::new(25, 1),
                        whole => Decimal::from(*whole),
                    };
                    let price = Decimal::new(i64::from(*cents), 2);
                    let discount =
                        if *discounted { (price * qty / Decimal::from(7)).round_dp(2) } else { Decimal::ZERO };
                    total += price * qty - discount;
                    let category = if CATEGORIES[*category].is_empty() {
                        String::new()
                    } else {
                        format!(r#","category":"{}""#, CATEGORIES[*category])
                    };
                    format!(
                        r#"{{"sku":"{}","qty":"{qty}","unit_price":"{price}","discount":"{discount}"{category}}}"#,
                        SKUS[*sku]
                    )
                })
                .collect();
            let cap = engine.spendable_on_order(state, at, total.into()).unwrap().value();
            let points = floor_dp(cap * Decimal::from(*pay_points) / Decimal::ONE_HUNDRED, setup.point_places());
            let point_value = engine.program().redemption.as_ref().unwrap().point_value.value();
            let mut cashback = Decimal::ZERO;
            if setup.cashback_spending {
                let available = engine.cashback_at(state, at).unwrap().available.value();
                if available >= Decimal::new(50, 2) {
                    let share_cap = floor_dp(total * Decimal::new(5, 1), 2);
                    let unpaid = total - points * point_value;
                    let max = share_cap.min(unpaid).min(available).max(Decimal::ZERO);
                    cashback = floor_dp(max * Decimal::from(*pay_cashback) / Decimal::ONE_HUNDRED, 2);
                }
            }
            orders.push(order.clone());
            Some(format!(
                r#"{{"type":"purchase",{head},"order":"{order}"{},"lines":[{}],"pay_with_points":"{points}","pay_with_cashback":"{cashback}"}}"#,
                merchant_field(*merchant),
                lines.join(",")
            ))
        }
        Step::Return { order_pick, line_pick, qty, .. } => {
            common::return_json(state, orders, &head, *order_pick, *line_pick, *qty)
        }
        Step::Redeem { percent, merchant, .. } => {
            let available = engine.points_at(state, at).unwrap().available.value();
            let minimum = engine.program().redemption.as_ref().unwrap().min_balance.value();
            let spendable = if available < minimum { Decimal::ZERO } else { available };
            let points = floor_dp(spendable * Decimal::from(*percent) / Decimal::ONE_HUNDRED, setup.point_places());
            (!points.is_zero())
                .then(|| format!(r#"{{"type":"redeem",{head},"points":"{points}"{}}}"#, merchant_field(*merchant)))
        }
        Step::UseReward { pick, void, .. } => {
            let open: Vec<_> = state.rewards().iter().filter(|reward| reward.status == RewardStatus::Issued).collect();
            let reward = open.get(pick % open.len().max(1))?;
            let kind = if *void { "void_reward" } else { "redeem_reward" };
            Some(format!(r#"{{"type":"{kind}",{head},"reward":"{}"}}"#, reward.id))
        }
        Step::Tick { .. } => Some(format!(r#"{{"type":"tick",{head}}}"#)),
    }
}

fn step_member(step: &Step) -> usize {
    match step {
        Step::Purchase { member, .. }
        | Step::Return { member, .. }
        | Step::Redeem { member, .. }
        | Step::UseReward { member, .. }
        | Step::Tick { member } => *member,
    }
}

fn apply_one(
    engine: &Engine,
    states: &mut BTreeMap<usize, MemberState>,
    applied: &mut Vec<Applied>,
    member: usize,
    json: String,
) -> Result<(), TestCaseError> {
    let state = states.get_mut(&member).unwrap();
    let event = common::event(&json);
    let outcome = match engine.evaluate(state, &event) {
        Ok(outcome) => outcome,
        Err(error) => return Err(TestCaseError::fail(format!("valid event refused: {error}\n{json}"))),
    };
    let before = state.clone();
    state.apply(&outcome);
    applied.push(Applied { before, event, json, outcome, after: state.clone() });
    Ok(())
}

/// Runs the steps; with `return_all`, then returns every unit still kept, order by order, an
/// hour after the last step, and ticks each member 30 days later.
fn run(setup: &Setup, steps: &[(u32, Step)], return_all: bool) -> Result<History, TestCaseError> {
    let engine = setup.engine();
    let mut states: BTreeMap<usize, MemberState> = BTreeMap::new();
    for (member, id) in MEMBERS.iter().enumerate() {
        states.insert(member, MemberState::new(MemberId::new(id).unwrap()));
    }
    let mut orders: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut applied = Vec::new();
    let mut at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    for (index, (hours, step)) in steps.iter().enumerate() {
        at += Duration::hours(i64::from(*hours));
        let member = step_member(step);
        let state = &states[&member];
        let Some(json) = resolve(setup, &engine, state, orders.entry(member).or_default(), step, index, at) else {
            continue;
        };
        apply_one(&engine, &mut states, &mut applied, member, json)?;
    }
    if return_all {
        at += Duration::hours(1);
        let mut n = 0;
        for member in 0..MEMBERS.len() {
            let receipts: Vec<_> = states[&member].orders().cloned().collect();
            for receipt in receipts {
                let lines: Vec<String> = receipt
                    .lines
                    .iter()
                    .enumerate()
                    .filter(|(_, line)| line.returned_qty < line.qty)
                    .map(|(index, line)| {
                        format!(r#"{{"sku":"{}","line":{index},"qty":"{}"}}"#, line.sku, line.qty - line.returned_qty)
                    })
                    .collect();
                if lines.is_empty() {
                    continue;
                }
                n += 1;
                let json = format!(
                    r#"{{"type":"return","id":"back-{n}","member":"{}","at":"{}","order":"{}","lines":[{}]}}"#,
                    MEMBERS[member],
                    at.to_rfc3339(),
                    receipt.order,
                    lines.join(",")
                );
                apply_one(&engine, &mut states, &mut applied, member, json)?;
            }
            let json = format!(
                r#"{{"type":"tick","id":"late-{member}","member":"{}","at":"{}"}}"#,
                MEMBERS[member],
                (at + Duration::days(30)).to_rfc3339()
            );
            apply_one(&engine, &mut states, &mut applied, member, json)?;
        }
    }
    Ok(History { engine, applied, states })
}

fn sum_where(state: &MemberState, asset: &Asset, pick: impl Fn(&Account) -> bool) -> Decimal {
    state.balances().filter(|(account, held, _)| *held == asset && pick(account)).map(|(_, _, amount)| amount).sum()
}

fn history_text(history: &History) -> String {
    history.applied.iter().map(|applied| applied.json.replace('\n', " ")).collect::<Vec<_>>().join("\n")
}

/// Checks made after every event.
fn check_step(setup: &Setup, applied: &Applied, all: &[Applied]) -> Result<(), TestCaseError> {
    let state = &applied.after;
    let assets: Vec<Asset> = state.balances().map(|(_, asset, _)| asset.clone()).collect();
    for asset in &assets {
        let total = sum_where(state, asset, |_| true);
        prop_assert!(total.is_zero(), "{} sums to {} after {}", asset, total, applied.json);
        let settled = sum_where(state, asset, |account| matches!(account, Account::Settlement(_)));
        prop_assert!(settled.is_zero(), "settlement of {} sums to {} after {}", asset, settled, applied.json);
    }
    prop_assert!(applied.outcome.postings.iter().all(|posting| posting.amount > Decimal::ZERO));
    let member = state.member();
    let mine = all.iter().filter(|other| other.event.member() == member);
    let folded = common::fold(mine.flat_map(|other| &other.outcome.postings));
    prop_assert_eq!(
        common::held_balances(state),
        folded,
        "balances are not the fold of postings after {}",
        applied.json
    );
    for asset in [Asset::Points, Asset::Cashback] {
        let lots = |bucket: Bucket| common::lots_in(state, &asset, bucket);
        prop_assert_eq!(lots(Bucket::Pending), state.balance(&Account::Pending, asset.clone()));
        prop_assert_eq!(lots(Bucket::Available), state.balance(&Account::Available, asset.clone()));
        prop_assert!(state.balance(&Account::Available, asset.clone()) >= Decimal::ZERO);
        prop_assert!(state.balance(&Account::Pending, asset.clone()) >= Decimal::ZERO);
        prop_assert!(state.balance(&Account::Debt, asset.clone()) <= Decimal::ZERO);
        prop_assert!(state.balance(&Account::Forgiven, asset.clone()) <= Decimal::ZERO);
        if POLICIES[setup.policy] == "negative_balance" && !state.balance(&Account::Debt, asset.clone()).is_zero() {
            prop_assert!(
                state.balance(&Account::Available, asset.clone()).is_zero(),
                "{} debt {} while {} available after {}",
                asset,
                state.balance(&Account::Debt, asset.clone()),
                state.balance(&Account::Available, asset.clone()),
                applied.json
            );
        }
        if POLICIES[setup.policy] != "stop_at_zero" {
            prop_assert!(state.balance(&Account::Forgiven, asset.clone()).is_zero());
        }
        if POLICIES[setup.policy] == "stop_at_zero" {
            prop_assert!(state.balance(&Account::Debt, asset.clone()).is_zero(), "{} debt under stop_at_zero", asset);
        }
    }
    Ok(())
}

/// Points that redeemed points rewards credited to a member.
fn reward_points(history: &History, member: &MemberId) -> Decimal {
    let mut total = Decimal::ZERO;
    for applied in history.applied.iter().filter(|applied| applied.event.member() == member) {
        if let Event::RedeemReward(event) = &applied.event {
            let reward = applied.after.rewards().iter().find(|reward| reward.id == event.reward).unwrap();
            if let RewardKind::Points(points) = reward.kind {
                total += points.value();
            }
        }
    }
    total
}

fn check_all_returned(setup: &Setup, history: &History) -> Result<(), TestCaseError> {
    let engine = &history.engine;
    let any_redeem = history.applied.iter().any(|applied| matches!(applied.event, Event::Redeem(_)));
    for state in history.states.values() {
        let member = state.member();
        let text = history_text(history);
        for receipt in state.orders() {
            prop_assert!(
                receipt.lines.iter().all(|line| line.returned_qty == line.qty),
                "order {} is not all returned after returning every unit: {:?}\n{}",
                receipt.order,
                receipt.lines.iter().map(|line| (line.qty, line.returned_qty)).collect::<Vec<_>>(),
                text
            );
        }
        let credited = reward_points(history, member);
        for asset in [Asset::Points, Asset::Cashback] {
            let balance = |account: Account| state.balance(&account, asset.clone());
            prop_assert!(
                balance(Account::Pending).is_zero(),
                "{} pending {} at the end\n{}",
                asset,
                balance(Account::Pending),
                text
            );
            let funder_cost = -sum_where(state, &asset, |account| matches!(account, Account::Funder(_)));
            let expected = if asset == Asset::Points { credited } else { Decimal::ZERO };
            prop_assert_eq!(
                funder_cost,
                expected,
                "{} funders are out of pocket by {} after every order came back (rewards credited {}); \
                 available {} redeemed {} expired {} debt {} withheld {} forgiven {}\n{}",
                asset,
                funder_cost,
                expected,
                balance(Account::Available),
                balance(Account::Redeemed),
                balance(Account::Expired),
                balance(Account::Debt),
                balance(Account::RefundWithheld),
                balance(Account::Forgiven),
                text
            );
            if POLICIES[setup.policy] != "deduct_from_refund" && expected.is_zero() {
                prop_assert!(
                    balance(Account::Available).is_zero(),
                    "{} available {} after every order came back\n{}",
                    asset,
                    balance(Account::Available),
                    text
                );
            }
            // Under deduct_from_refund the member may keep refunded points that the money withheld
            // paid for, and debt (from tier revisions, or refunds too small) repaid with another
            // funder's points settles for good: no settlement promise there.
            let deducting = POLICIES[setup.policy] == "deduct_from_refund";
            // A known gap: when a return's shortfall was covered by another funder's points and
            // the spent points come back only after they expired, the cover's settlement stays
            // (see the notes on issue 3). Histories with expiring points make no promise here.
            let expiring = setup.expiry != 0 && asset == Asset::Points;
            if !any_redeem && credited.is_zero() && !deducting && !expiring {
                for (account, held_asset, amount) in state.balances() {
                    if matches!(account, Account::Settlement(_)) && *held_asset == asset {
                        prop_assert!(amount.is_zero(), "{} {} is {} at the end\n{}", account, asset, amount, text);
                    }
                }
            }
        }
        // Stamps: no reward left unused, and the count is what used or voided rewards owe.
        prop_assert!(
            state.rewards().iter().all(|reward| reward.status != RewardStatus::Issued),
            "an unused reward outlives its stamps: {:?}\n{}",
            state.rewards(),
            text
        );
        for card in &engine.program().stamp_cards {
            let closed = state
                .rewards()
                .iter()
                .filter(|reward| reward.card == card.id)
                .filter(|reward| matches!(reward.status, RewardStatus::Redeemed | RewardStatus::Voided))
                .count();
            let stamps = state.balance(&Account::Available, Asset::Stamps(card.id.clone()));
            prop_assert_eq!(
                stamps,
                -Decimal::from(card.stamps_needed as usize * closed),
                "card {} holds {} stamps with {} rewards used or voided, after every order came back\n{}",
                card.id,
                stamps,
                closed,
                text
            );
        }
        if setup.long_window {
            let tier = engine.tier_at(state, state.last_event_at().unwrap()).unwrap().unwrap();
            prop_assert_eq!(tier.level.as_str(), "base", "tier after every order came back\n{}", text);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Every asset sums to zero per member, settlements sum to zero, the state is the fold of
    /// its postings and lots, buckets keep their signs: after every event of any history.
    #[test]
    fn ledger_invariants_hold_after_every_event(setup in setups(), steps in steps(true)) {
        let history = run(&setup, &steps, false)?;
        for (index, applied) in history.applied.iter().enumerate() {
            check_step(&setup, applied, &history.applied[..=index])?;
        }
    }

    /// A history that ends by returning every unit leaves no value: funders are out of pocket
    /// by exactly the points rewards the member used, no pending, no unused reward, stamps
    /// only as owed by used rewards, the lowest tier, and no settlement when nothing was
    /// redeemed outside orders.
    #[test]
    fn everything_returned_leaves_nothing(setup in setups(), steps in steps(true)) {
        let history = run(&setup, &steps, true)?;
        for (index, applied) in history.applied.iter().enumerate() {
            check_step(&setup, applied, &history.applied[..=index])?;
        }
        check_all_returned(&setup, &history)?;
    }

    /// Same, without redemptions outside orders, so settlements must come back to zero too.
    #[test]
    fn everything_returned_without_redeem_settles_nothing(setup in setups(), steps in steps(false)) {
        let history = run(&setup, &steps, true)?;
        check_all_returned(&setup, &history)?;
    }

    /// Through the ledger, each event applied twice: the second answers with the first
    /// outcome; final states equal the pure run; states survive serde.
    #[test]
    fn the_ledger_is_idempotent(setup in setups(), steps in steps(true), return_all in any::<bool>()) {
        let history = run(&setup, &steps, return_all)?;
        let mut ledger = Ledger::new(history.engine.clone(), MemoryStore::new());
        for applied in &history.applied {
            let first = ledger.apply(&applied.event).unwrap();
            let second = ledger.apply(&applied.event).unwrap();
            prop_assert_eq!(&first, &second);
            prop_assert_eq!(&*first, &applied.outcome);
            let again = history.engine.evaluate(&applied.before, &applied.event).unwrap();
            prop_assert_eq!(&again, &applied.outcome);
            let stored = serde_json::to_string(&applied.after).unwrap();
            prop_assert_eq!(&serde_json::from_str::<MemberState>(&stored).unwrap(), &applied.after);
        }
        for state in history.states.values() {
            prop_assert_eq!(&ledger.state(state.member()).unwrap(), state);
        }
    }

    /// One outcome kept across a whole history, its receipt's memory reused from purchase to
    /// purchase, answers exactly what `evaluate` answers for each event; and so does a second
    /// one asked again on the state after each event (often a refusal, such as the same order
    /// twice), kept apart so that the first keeps its spare receipts.
    #[test]
    fn a_reused_outcome_answers_as_a_fresh_one(setup in setups(), steps in steps(true), return_all in any::<bool>()) {
        let history = run(&setup, &steps, return_all)?;
        let Some(first) = history.applied.first() else { return Ok(()) };
        let engine = &history.engine;
        let (mut reused, mut probe) = (first.outcome.clone(), first.outcome.clone());
        for applied in &history.applied {
            engine.evaluate_into(&applied.before, &applied.event, &mut reused).unwrap();
            prop_assert_eq!(&reused, &applied.outcome);
            let again = engine.evaluate_into(&applied.after, &applied.event, &mut probe).map(|()| probe.clone());
            prop_assert_eq!(again, engine.evaluate(&applied.after, &applied.event));
        }
    }
}
