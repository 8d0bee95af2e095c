//! Cashback: a grocery chain pays 2% back into a wallet, pending for a month, capped per order
//! and per month, spendable at checkout, and clawed back when goods come back.

mod common;

use std::sync::Arc;

use common::{Shop, decimal};
use loyalty_engine::{Account, Asset, AssetTotals, Coverage, EvalError, FunderId, LedgerError, Money, Notice, Outcome};
use rust_decimal::Decimal;

/// 2% back on everything, 30 days pending, at most 20.00 an order and 50.00 a month; the
/// wallet pays up to half an order once it holds 5.00.
fn grocer(vesting_days: u32, policy: &str) -> Shop {
    Shop::new(&format!(
        r#"{{"id":"grocer","currency":"EUR","owner":"grocer",
            "redemption":{{"point_value":"0.01"}},
            "returns":{{"when_points_spent":"{policy}"}},
            "cashback":{{"rules":[{{"id":"two-percent","share":"0.02"}},
                                  {{"id":"organic","when":{{"categories":["organic"]}},"share":"0.03",
                                    "funded_by":{{"grocer":"0.5","farm-co":"0.5"}}}}],
              "vesting_days":{vesting_days},"max_per_order":"20.00",
              "max_per_period":{{"period":"month","amount":"50.00"}},
              "spending":{{"min_balance":"5.00","max_share_of_order":"0.5"}}}}}}"#
    ))
}

fn basket(
    shop: &mut Shop,
    day: &str,
    order: &str,
    qty: u32,
    price: &str,
    cashback: &str,
) -> Result<Arc<Outcome>, LedgerError> {
    shop.try_apply(&format!(
        r#"{{"type":"purchase","member":"ida","at":"{day}T10:00:00Z","order":"{order}",
            "lines":[{{"sku":"basket","qty":"{qty}","unit_price":"{price}"}}],"pay_with_cashback":"{cashback}"}}"#
    ))
}

fn buy(shop: &mut Shop, day: &str, order: &str, price: &str) -> Arc<Outcome> {
    basket(shop, day, order, 1, price, "0").unwrap()
}

fn wallet(shop: &mut Shop) -> (Decimal, Decimal, Decimal) {
    let cashback = shop.state("ida").cashback();
    (cashback.pending.value(), cashback.available.value(), cashback.debt.value())
}

fn earned(outcome: &Outcome) -> Decimal {
    outcome.receipt.as_ref().unwrap().cashback.iter().map(|earning| earning.points).sum()
}

/// Points pay first; cashback may pay only what they left, whatever its share of the order.
#[test]
fn cashback_pays_at_most_what_points_left_of_the_order() {
    let mut shop = Shop::new(
        r#"{"id":"deli","currency":"EUR","owner":"deli",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"100"}}]},
            "redemption":{"point_value":"0.01","max_share_of_order":"1"},
            "cashback":{"rules":[{"id":"two-percent","share":"0.02"}],"max_per_order":"20.00",
              "spending":{"max_share_of_order":"0.5"}}}"#,
    );
    buy(&mut shop, "2026-03-01", "o-1", "1000.00");
    let order = |cashback: &str| {
        format!(
            r#"{{"type":"purchase","member":"ida","at":"2026-03-02T10:00:00Z","order":"o-2",
                "lines":[{{"sku":"ham","qty":"1","unit_price":"100.00"}}],
                "pay_with_points":"9000","pay_with_cashback":"{cashback}"}}"#
        )
    };
    let over = shop.try_apply(&order("15.00"));
    let Err(LedgerError::Rejected(EvalError::CashbackAboveCap { max, .. })) = over else { panic!("{over:?}") };
    assert_eq!(max.value(), decimal("10.00"), "90.00 in points leave 10.00, below half the order");
    assert!(shop.try_apply(&order("10.00")).is_ok());
}

#[test]
fn two_percent_waits_a_month_then_pays_for_shopping() {
    let mut shop = grocer(30, "negative_balance");
    let first = buy(&mut shop, "2026-03-01", "o-1", "200.00");
    assert_eq!(earned(&first), decimal("4.00"));
    assert_eq!(wallet(&mut shop), (decimal("4.00"), decimal("0"), decimal("0")));
    let too_early = basket(&mut shop, "2026-03-02", "o-2", 1, "10.00", "1.00");
    assert!(matches!(too_early, Err(LedgerError::Rejected(EvalError::InsufficientCashback { .. }))));

    buy(&mut shop, "2026-03-31", "o-3", "150.00");

    assert_eq!(wallet(&mut shop), (decimal("3.00"), decimal("4.00"), decimal("0")), "o-1's 4.00 vested on the 31st");
    assert!(shop.state("ida").points().available.value().is_zero(), "cashback is not points");
    let state = shop.state("ida");
    let in_april = shop.ledger.engine().cashback_at(&state, "2026-04-30T10:00:00Z".parse().unwrap()).unwrap();
    assert_eq!(in_april.available.value(), decimal("7.00"), "o-3's 3.00 will have vested by the end of April");
}

#[test]
fn an_order_earns_at_most_its_cap_and_a_month_at_most_the_monthly_cap() {
    let mut shop = grocer(30, "negative_balance");
    // At the month's first instant: it counts toward March.
    let first = shop.apply(
        r#"{"type":"purchase","member":"ida","at":"2026-03-01T00:00:00Z","order":"o-1",
            "lines":[{"sku":"basket","qty":"1","unit_price":"1500.00"}]}"#,
    );
    assert_eq!(earned(&first), decimal("20.00"), "30.00 capped at 20.00");
    assert_eq!(earned(&buy(&mut shop, "2026-03-02", "o-2", "1500.00")), decimal("20.00"));
    assert_eq!(
        earned(&buy(&mut shop, "2026-03-03", "o-3", "1500.00")),
        decimal("10.00"),
        "the month's 50.00 is reached"
    );
    assert!(earned(&buy(&mut shop, "2026-03-04", "o-4", "100.00")).is_zero());

    shop.give_back("ida", "2026-03-05", "o-1", "basket", "1");

    assert_eq!(earned(&buy(&mut shop, "2026-03-06", "o-5", "1500.00")), decimal("20.00"), "the return freed 20.00");
    assert_eq!(earned(&buy(&mut shop, "2026-04-01", "o-6", "100.00")), decimal("2.00"), "a new month");
}

#[test]
fn a_co_funded_rule_records_both_funders() {
    let mut shop = grocer(30, "negative_balance");
    let outcome = shop.apply(
        r#"{"type":"purchase","member":"ida","at":"2026-03-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"apples","qty":"1","unit_price":"100.00","category":"organic"}]}"#,
    );
    let by_funder = |funder: &str| -> Decimal {
        let earnings = &outcome.receipt.as_ref().unwrap().cashback;
        earnings.iter().filter(|earning| earning.funder.as_str() == funder).map(|earning| earning.points).sum()
    };
    assert_eq!((by_funder("grocer"), by_funder("farm-co")), (decimal("3.50"), decimal("1.50")));
    let farm = Account::Funder(FunderId::new("farm-co").unwrap());
    assert_eq!(shop.state("ida").balance(&farm, Asset::Cashback), decimal("-1.50"));
    let cashback = totals(&shop, Asset::Cashback);
    let cost: Vec<(String, Decimal)> =
        cashback.cost_by_funder().map(|(funder, cost)| (funder.to_string(), cost)).collect();
    assert_eq!(cost, [("farm-co".to_owned(), decimal("1.50")), ("grocer".to_owned(), decimal("3.50"))]);
    assert_eq!(cashback.outstanding(), decimal("5.00"));
    assert!(totals(&shop, Asset::Points).cost_by_funder().next().is_none(), "no points were issued");
}

/// The totals of one asset over everything the shop committed.
fn totals(shop: &Shop, asset: Asset) -> AssetTotals {
    let mut totals = AssetTotals::new(asset);
    for recorded in shop.ledger.store().committed().unwrap() {
        totals.record(&recorded.outcome);
    }
    totals
}

#[test]
fn cashback_pays_at_most_half_an_order_and_earns_only_on_what_money_paid() {
    let mut shop = grocer(0, "negative_balance");
    buy(&mut shop, "2026-03-01", "o-1", "500.00");
    assert_eq!(wallet(&mut shop).1, decimal("10.00"));
    let greedy = basket(&mut shop, "2026-03-02", "o-2", 1, "10.00", "6.00");
    assert!(matches!(greedy, Err(LedgerError::Rejected(EvalError::CashbackAboveCap { .. }))));
    let fine_grained = basket(&mut shop, "2026-03-02", "o-2", 1, "10.00", "0.001");
    assert!(matches!(fine_grained, Err(LedgerError::Rejected(EvalError::InvalidCashback { .. }))));
    let negative = basket(&mut shop, "2026-03-02", "o-2", 1, "10.00", "-5.00");
    assert!(matches!(negative, Err(LedgerError::Rejected(EvalError::InvalidCashback { .. }))), "{negative:?}");
    let past_the_share = basket(&mut shop, "2026-03-02", "o-2", 1, "10.01", "5.01");
    assert!(matches!(past_the_share, Err(LedgerError::Rejected(EvalError::CashbackAboveCap { .. }))));

    let paid = basket(&mut shop, "2026-03-02", "o-2", 1, "10.00", "5.00").unwrap();

    assert_eq!(earned(&paid), decimal("0.10"), "2% of the 5.00 paid in money");
    assert_eq!(wallet(&mut shop).1, decimal("5.10"));
}

#[test]
fn partial_returns_claw_back_exactly_what_the_order_earned() {
    let mut shop = grocer(30, "negative_balance");
    let bought = basket(&mut shop, "2026-03-01", "o-1", 3, "33.33", "0").unwrap();
    assert_eq!(earned(&bought), decimal("1.99"));
    shop.give_back("ida", "2026-03-02", "o-1", "basket", "1");
    assert_eq!(wallet(&mut shop).0, decimal("1.32"), "a third, rounded up against the member: 0.67");
    shop.give_back("ida", "2026-03-03", "o-1", "basket", "2");
    assert_eq!(wallet(&mut shop), (decimal("0"), decimal("0"), decimal("0")));
    let grocer_account = Account::Funder(FunderId::new("grocer").unwrap());
    assert!(shop.state("ida").balance(&grocer_account, Asset::Cashback).is_zero(), "no residue");
}

/// Buys for 500 (10.00 back at once), spends the 10.00 on a 20.00 order, returns the first.
fn spend_then_return(policy: &str) -> (Shop, Arc<Outcome>) {
    let mut shop = grocer(0, policy);
    buy(&mut shop, "2026-03-01", "o-1", "500.00");
    basket(&mut shop, "2026-03-02", "o-2", 1, "20.00", "10.00").unwrap();
    let returned = shop.give_back("ida", "2026-03-03", "o-1", "basket", "1");
    (shop, returned)
}

#[test]
fn spent_cashback_is_owed_under_negative_balance() {
    let (mut shop, returned) = spend_then_return("negative_balance");
    // o-2 earned 0.20 on its 10.00 paid in money; it covers part of the 10.00 spent.
    assert_eq!(wallet(&mut shop), (decimal("0"), decimal("0"), decimal("-9.80")));
    let owed = Notice::SpentCashbackClawedBack { amount: Money::new(decimal("9.80")), covered_by: Coverage::Debt };
    assert!(returned.notices.contains(&owed), "{:?}", returned.notices);
}

#[test]
fn spent_cashback_is_withheld_from_the_refund_at_face_value() {
    let (mut shop, returned) = spend_then_return("deduct_from_refund");
    assert_eq!(returned.refund_withheld.value(), decimal("10.00"), "all the cashback spent");
    assert_eq!(wallet(&mut shop), (decimal("0"), decimal("0.20"), decimal("0")), "o-2's own 0.20 stays");
    let cashback = totals(&shop, Asset::Cashback);
    assert_eq!((cashback.withheld, cashback.refund_withheld.value()), (decimal("10.00"), decimal("10.00")));
    assert!(totals(&shop, Asset::Points).refund_withheld.value().is_zero(), "no points were withheld");
    assert!(cashback.unreconciled().is_zero());
}

#[test]
fn spent_cashback_is_forgiven_under_stop_at_zero() {
    let (mut shop, _) = spend_then_return("stop_at_zero");
    assert_eq!(wallet(&mut shop), (decimal("0"), decimal("0"), decimal("0")));
    assert_eq!(shop.state("ida").balance(&Account::Forgiven, Asset::Cashback), decimal("-9.80"));
    shop.give_back("ida", "2026-03-04", "o-2", "basket", "1");
    assert!(
        shop.state("ida").balance(&Account::Forgiven, Asset::Cashback).is_zero(),
        "undoing the spending settles it"
    );
}

/// An outlet under `deduct_from_refund`: a lamp earns 4,000 points (40.00 at 0.01 a point);
/// every line earns half its money back as cashback, which may pay a whole order.
fn outlet() -> Shop {
    Shop::new(
        r#"{"id":"outlet","currency":"EUR","owner":"outlet",
            "earn":{"rules":[{"id":"lamps","when":{"skus":["lamp"]},"effect":{"points_per_unit":"4000"}}]},
            "redemption":{"point_value":"0.01","max_share_of_order":"1"},
            "returns":{"when_points_spent":"deduct_from_refund"},
            "cashback":{"rules":[{"id":"half","share":"0.5"}],"spending":{"max_share_of_order":"1"}}}"#,
    )
}

fn outlet_order(shop: &mut Shop, day: &str, order: &str, line: &str, cashback: &str) -> Arc<Outcome> {
    shop.apply(&format!(
        r#"{{"type":"purchase","member":"ida","at":"{day}T10:00:00Z","order":"{order}",
            "lines":[{line}],"pay_with_cashback":"{cashback}"}}"#
    ))
}

#[test]
fn spent_points_and_cashback_are_withheld_together_only_up_to_the_refund_in_whole_cents() {
    let mut shop = outlet();
    // Three lamps for 200.00: 12,000 points and 100.00 back, all spent.
    let lamps = r#"{"sku":"lamp","qty":"3","unit_price":"66.67","discount":"0.01"}"#;
    outlet_order(&mut shop, "2026-03-01", "o-1", lamps, "0");
    outlet_order(&mut shop, "2026-03-02", "o-2", r#"{"sku":"vase","qty":"1","unit_price":"100.00"}"#, "100.00");
    shop.apply(r#"{"type":"redeem","member":"ida","at":"2026-03-03T10:00:00Z","points":"12000"}"#);

    let back = shop.give_back("ida", "2026-03-04", "o-1", "lamp", "1");

    // The refund is 200.00 / 3 = 66.666…: the lamp's 4,000 points take 40.00 of it, and of its
    // 33.34 cashback (100.00 / 3, rounded up) the 26.66 left in whole cents; 6.68 is owed.
    assert_eq!(back.refund_withheld.value(), decimal("66.66"), "40.00 for the points, 26.66 for the cashback");
    assert_eq!(wallet(&mut shop), (decimal("0"), decimal("0"), decimal("-6.68")));
}

#[test]
fn the_refund_of_an_order_paid_partly_with_cashback_withholds_only_from_what_money_paid() {
    let mut shop = outlet();
    outlet_order(&mut shop, "2026-03-01", "o-1", r#"{"sku":"sofa","qty":"1","unit_price":"100.00"}"#, "0");
    // The lamp costs 100.00, half paid with the sofa's 50.00 cashback: it earns 4,000 points and
    // 25.00 back on the 50.00 money paid, which a vase and a redemption spend.
    outlet_order(&mut shop, "2026-03-02", "o-2", r#"{"sku":"lamp","qty":"1","unit_price":"100.00"}"#, "50.00");
    outlet_order(&mut shop, "2026-03-03", "o-3", r#"{"sku":"vase","qty":"1","unit_price":"25.00"}"#, "25.00");
    shop.apply(r#"{"type":"redeem","member":"ida","at":"2026-03-04T10:00:00Z","points":"4000"}"#);

    let back = shop.give_back("ida", "2026-03-05", "o-2", "lamp", "1");

    // The 50.00 cashback paid comes back as cashback; the money refund is the other 50.00, of
    // which the points take 40.00 and the spent cashback the 10.00 left; 15.00 is owed.
    assert_eq!(back.refund_withheld.value(), decimal("50.00"), "what money paid, not the lamp's 100.00");
    assert_eq!(wallet(&mut shop), (decimal("0"), decimal("50.00"), decimal("-15.00")));
}

#[test]
fn cashback_definitions_are_checked_with_the_path_of_the_field() {
    let json = r#"{"id":"g","currency":"EUR","owner":"g","cashback":{"rules":[{"id":"a","share":"1.5"}]}}"#;
    assert_eq!(common::program(json).compile().unwrap_err().path, "cashback.rules[0].share");
    let json = r#"{"id":"g","currency":"EUR","owner":"g","cashback":{"rules":[],"max_per_order":"0.001"}}"#;
    assert_eq!(common::program(json).compile().unwrap_err().path, "cashback.max_per_order");
    let json = r#"{"id":"g","currency":"EUR","owner":"g","tiers":{"metric":"purchases","window":"lifetime",
        "levels":[{"id":"blue","threshold":"0"},{"id":"gold","threshold":"5"}]},
        "cashback":{"rules":[{"id":"a","share":"0.1","when":{"tiers":["gld"]}}]}}"#;
    assert_eq!(common::program(json).compile().unwrap_err().path, "cashback.rules[0].when.tiers", "a typo");
    let mut shop =
        Shop::new(r#"{"id":"g","currency":"EUR","owner":"g","cashback":{"rules":[{"id":"a","share":"0.1"}]}}"#);
    let spend = basket(&mut shop, "2026-03-01", "o-1", 1, "10.00", "1.00");
    assert!(matches!(spend, Err(LedgerError::Rejected(EvalError::CashbackNotSpendable))));
}

mod properties {
    use loyalty_engine::{Engine, MemberState};
    use proptest::prelude::*;

    use super::*;

    const POLICIES: [&str; 3] = ["negative_balance", "deduct_from_refund", "stop_at_zero"];

    #[derive(Clone, Debug)]
    enum Step {
        Buy { qty: u32, cents: u32, pay_percent: u32 },
        Return { pick: usize, qty: u32 },
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let step = prop_oneof![
            3 => (1u32..4, 100u32..200_000, 0u32..=100).prop_map(|(qty, cents, pay_percent)| Step::Buy { qty, cents, pay_percent }),
            2 => (any::<usize>(), 1u32..4).prop_map(|(pick, qty)| Step::Return { pick, qty }),
        ];
        prop::collection::vec(step, 1..25)
    }

    fn engine(policy: &str, vesting_days: u32) -> Engine {
        grocer(vesting_days, policy).ledger.engine().clone()
    }

    fn money(cents: u32) -> Decimal {
        Decimal::new(i64::from(cents), 2)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Whatever is bought, paid with cashback and returned: no order earns more than its
        /// share or its cap, no month more than its cap; the wallet is the fold of its
        /// postings; a fully returned order keeps no cashback; and the member never takes out
        /// more cashback than kept orders earned, plus what refunds withheld and what was
        /// forgiven.
        #[test]
        fn cashback_stays_within_its_caps_and_returned_orders_keep_none(
            policy in 0..POLICIES.len(),
            vesting_days in prop_oneof![Just(0u32), Just(3)],
            steps in steps(),
        ) {
            let engine = engine(POLICIES[policy], vesting_days);
            let mut state = MemberState::new(common::member("ida"));
            let mut bought: Vec<(u32, u32)> = Vec::new();
            let mut kept: Vec<u32> = Vec::new();
            for (index, step) in steps.iter().enumerate() {
                let at = format!("2026-03-{:02}T10:00:00Z", 1 + index);
                let json = match step {
                    Step::Buy { qty, cents, pay_percent } => {
                        let value = money(*cents) * Decimal::from(*qty);
                        let available = state.cashback().available.value();
                        let wanted = (value / Decimal::from(2)).min(available) * Decimal::from(*pay_percent) / Decimal::from(100);
                        let pay = if available >= decimal("5.00") { wanted.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero) } else { Decimal::ZERO };
                        bought.push((*qty, *cents));
                        kept.push(*qty);
                        format!(r#"{{"type":"purchase","id":"e-{index}","member":"ida","at":"{at}","order":"o-{}",
                            "lines":[{{"sku":"basket","qty":"{qty}","unit_price":"{}"}}],"pay_with_cashback":"{pay}"}}"#,
                            bought.len(), money(*cents))
                    }
                    Step::Return { pick, qty } => {
                        let open: Vec<usize> = (0..kept.len()).filter(|order| kept[*order] > 0).collect();
                        if open.is_empty() { continue; }
                        let order = open[pick % open.len()];
                        let qty = (*qty).min(kept[order]);
                        kept[order] -= qty;
                        format!(r#"{{"type":"return","id":"e-{index}","member":"ida","at":"{at}","order":"o-{}",
                            "lines":[{{"sku":"basket","qty":"{qty}"}}]}}"#, order + 1)
                    }
                };
                let outcome = engine.evaluate(&state, &common::event(&json)).unwrap();
                state.apply(&outcome);
            }
            let mut month_total = Decimal::ZERO;
            for receipt in state.orders() {
                let line = &receipt.lines[0];
                let earned: Decimal = receipt.cashback.iter().map(|earning| earning.points).sum();
                let clawed: Decimal = receipt.cashback.iter().map(|earning| earning.clawed_back).sum();
                prop_assert!(earned <= line.value.value() * decimal("0.02") && earned <= decimal("20.00"));
                if line.returned_qty == line.qty {
                    prop_assert_eq!(clawed, earned, "a fully returned order keeps no cashback");
                }
                month_total += earned - clawed;
            }
            prop_assert!(month_total <= decimal("50.00"), "one month's net cashback {} is over its cap", month_total);
            let balance = |account: Account| state.balance(&account, Asset::Cashback);
            let kept_earned: Decimal = state.orders().flat_map(|receipt| &receipt.cashback)
                .map(|earning| earning.points - earning.clawed_back).sum();
            let taken_out = balance(Account::Redeemed) + balance(Account::Debt);
            let (withheld, forgiven) = (-balance(Account::RefundWithheld), -balance(Account::Forgiven));
            prop_assert!(taken_out <= kept_earned + withheld + forgiven,
                "took out {} > kept {} + withheld {} + forgiven {}", taken_out, kept_earned, withheld, forgiven);
            let total: Decimal = state.balances().filter(|(_, asset, _)| **asset == Asset::Cashback).map(|(_, _, amount)| amount).sum();
            prop_assert!(total.is_zero(), "cashback balances sum to {}", total);
        }
    }
}

#[test]
fn a_wallet_stored_in_the_old_form_keeps_what_cashback_paid() {
    let mut shop = grocer(0, "negative_balance");
    buy(&mut shop, "2026-03-01", "o-1", "500.00");
    basket(&mut shop, "2026-03-02", "o-2", 2, "8.00", "6.00").unwrap();
    shop.give_back("ida", "2026-03-03", "o-2", "basket", "1");
    let now = serde_json::to_value(shop.state("ida")).unwrap();
    let old = common::in_the_old_form(&now);
    assert!(old.to_string().contains(r#""cashback_paid_refunded":"3"#), "{old}");

    let loaded: loyalty_engine::MemberState = serde_json::from_value(old).unwrap();

    assert_eq!(loaded, shop.state("ida"), "what cashback paid and what came back are kept");
}
