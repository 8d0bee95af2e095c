//! Stories a loyalty program lives through, each told once and checked to the point.

mod common;

use common::{Shop, decimal, member};
use loyalty_engine::{Account, Asset, Coverage, EvalError, FunderId, LedgerError, MemberState, Notice};
use rust_decimal::Decimal;

/// A shop where 1 point is worth 1 lira and a purchase earns 10%, with the given vesting and
/// policy for spent points.
fn electronics_shop(vesting_days: u32, policy: &str) -> Shop {
    Shop::new(&format!(
        r#"{{"id":"electronics","currency":"TRY","owner":"shop",
            "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"0.1"}}}}]}},
            "redemption":{{"point_value":"1","max_share_of_order":"0.5"}},
            "returns":{{"vesting_days":{vesting_days},"when_points_spent":"{policy}"}}}}"#
    ))
}

fn funder(id: &str) -> Account {
    Account::Funder(FunderId::new(id).unwrap())
}

#[test]
fn with_vesting_the_oven_cannot_be_paid_with_the_tvs_points() {
    let mut shop = electronics_shop(15, "deduct_from_refund");
    shop.buy("ayse", "2026-03-01", "tv", "tv-55", "10000.00");
    assert_eq!(shop.pending("ayse"), decimal("1000"));

    let attempt = shop.try_apply(
        r#"{"type":"purchase","member":"ayse","at":"2026-03-02T12:00:00Z","order":"oven",
            "lines":[{"sku":"oven","qty":"1","unit_price":"2000.00"}],"pay_with_points":"1000"}"#,
    );
    assert!(matches!(attempt, Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. }))));

    let refund = shop.give_back("ayse", "2026-03-10", "tv", "tv-55", "1");
    assert!(refund.refund_withheld.value().is_zero());
    assert!(shop.pending("ayse").is_zero());
    assert!(shop.balance("ayse", &funder("shop")).is_zero(), "the shop carries no cost for a returned TV");
    shop.tick("ayse", "2026-04-01");
    assert!(shop.available("ayse").is_zero(), "nothing vests from a returned order");
}

#[test]
fn without_vesting_deduct_from_refund_withholds_the_spent_points_value() {
    let mut shop = electronics_shop(0, "deduct_from_refund");
    shop.buy("ayse", "2026-03-01", "tv", "tv-55", "10000.00");
    assert_eq!(shop.available("ayse"), decimal("1000"));
    let oven = shop.buy_paying("ayse", "2026-03-02", "oven", "oven", "2000.00", "1000");
    assert_eq!(oven.postings.iter().filter(|posting| posting.to == Account::Redeemed).count(), 1);

    let refund = shop.give_back("ayse", "2026-03-10", "tv", "tv-55", "1");

    assert_eq!(refund.refund_withheld.value(), decimal("1000.00"), "the refund is 1,000 less");
    let notice = Notice::SpentPointsClawedBack { points: decimal("1000").into(), covered_by: Coverage::RefundWithheld };
    assert_eq!(refund.notices, vec![notice]);
    assert!(shop.balance("ayse", &funder("shop")).abs() == decimal("100"), "only the oven's points remain a cost");
    assert_eq!(shop.available("ayse"), decimal("100"), "the oven's own points stay with the member");
}

#[test]
fn without_vesting_negative_balance_makes_the_member_owe_and_repay_first() {
    let mut shop = electronics_shop(0, "negative_balance");
    shop.buy("ayse", "2026-03-01", "tv", "tv-55", "10000.00");
    shop.buy_paying("ayse", "2026-03-02", "oven", "oven", "2000.00", "1000");
    assert_eq!(shop.available("ayse"), decimal("100"), "the oven earned 10% of the 1,000 paid in money");

    let refund = shop.give_back("ayse", "2026-03-10", "tv", "tv-55", "1");

    assert!(refund.refund_withheld.value().is_zero());
    assert!(shop.available("ayse").is_zero(), "the oven's 100 points went to the debt first");
    assert_eq!(shop.debt("ayse"), decimal("-900"), "the member owes 1,000 spent points less the oven's 100");

    shop.buy("ayse", "2026-03-11", "cable", "cable", "5000.00");
    assert!(shop.available("ayse").is_zero(), "the next 500 points repay the debt");
    assert_eq!(shop.debt("ayse"), decimal("-400"));
    shop.buy("ayse", "2026-03-12", "stand", "stand", "6000.00");
    assert_eq!(shop.debt("ayse"), decimal("0"));
    assert_eq!(shop.available("ayse"), decimal("200"), "after the debt, points are the member's again");
    let redeem = shop.try_apply(r#"{"type":"redeem","member":"ayse","at":"2026-03-12T13:00:00Z","points":"201"}"#);
    assert!(matches!(redeem, Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. }))));
}

#[test]
fn without_vesting_stop_at_zero_forgives_what_was_spent() {
    let mut shop = electronics_shop(0, "stop_at_zero");
    shop.buy("ayse", "2026-03-01", "tv", "tv-55", "10000.00");
    shop.buy_paying("ayse", "2026-03-02", "oven", "oven", "2000.00", "1000");

    let refund = shop.give_back("ayse", "2026-03-10", "tv", "tv-55", "1");

    assert!(shop.available("ayse").is_zero(), "the balance stops at zero");
    assert!(shop.debt("ayse").is_zero());
    let forgiven = Notice::SpentPointsClawedBack { points: decimal("900").into(), covered_by: Coverage::Forgiven };
    assert_eq!(refund.notices, vec![forgiven]);
    assert_eq!(shop.balance("ayse", &Account::Forgiven), decimal("-900"), "the program wrote off 900 points");
}

#[test]
fn forgiven_points_come_back_first_when_the_order_they_paid_for_is_returned_too() {
    let mut shop = electronics_shop(0, "stop_at_zero");
    shop.buy("ayse", "2026-03-01", "tv", "tv-55", "10000.00");
    shop.buy_paying("ayse", "2026-03-02", "oven", "oven", "2000.00", "1000");
    shop.give_back("ayse", "2026-03-10", "tv", "tv-55", "1");

    shop.give_back("ayse", "2026-03-11", "oven", "oven", "1");

    assert!(shop.available("ayse").is_zero(), "the 1,000 points given back settle the 900 forgiven and the oven's 100");
    assert!(shop.balance("ayse", &Account::Forgiven).is_zero());
    let redeem = shop.try_apply(r#"{"type":"redeem","member":"ayse","at":"2026-03-12T10:00:00Z","points":"1"}"#);
    assert!(matches!(redeem, Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. }))));
    assert!(shop.balance("ayse", &funder("shop")).is_zero(), "both orders returned: the shop carries nothing");
}

#[test]
fn partial_returns_unit_by_unit_leave_no_residue() {
    let mut shop = electronics_shop(15, "negative_balance");
    shop.apply(
        r#"{"type":"purchase","member":"can","at":"2026-05-01T09:00:00Z","order":"mugs",
            "lines":[{"sku":"mug","qty":"3","unit_price":"33.33"}]}"#,
    );
    assert_eq!(shop.pending("can"), decimal("9"), "10% of 99.99, floored");

    let first = shop.give_back("can", "2026-05-02", "mugs", "mug", "1");
    assert_eq!(first.postings[0].amount, decimal("3"), "one third of 9");
    shop.give_back("can", "2026-05-03", "mugs", "mug", "1");
    shop.give_back("can", "2026-05-04", "mugs", "mug", "1");

    assert!(shop.pending("can").is_zero());
    assert!(shop.balance("can", &funder("shop")).is_zero());
    let receipt = shop.state("can").order(&"mugs".parse().unwrap()).unwrap().clone();
    assert_eq!(receipt.earnings[0].clawed_back, receipt.earnings[0].points);
    let again = shop.try_apply(
        r#"{"type":"return","member":"can","at":"2026-05-05T09:00:00Z","order":"mugs","lines":[{"sku":"mug","qty":"1"}]}"#,
    );
    assert!(matches!(again, Err(LedgerError::Rejected(EvalError::ReturnExceedsPurchase { .. }))));
}

#[test]
fn partial_clawback_rounds_against_the_returner() {
    let mut shop = electronics_shop(15, "negative_balance");
    shop.apply(
        r#"{"type":"purchase","member":"can","at":"2026-05-01T09:00:00Z","order":"pens",
            "lines":[{"sku":"pen","qty":"3","unit_price":"33.40"}]}"#,
    );
    assert_eq!(shop.pending("can"), decimal("10"));
    shop.give_back("can", "2026-05-02", "pens", "pen", "2");
    assert_eq!(shop.pending("can"), decimal("3"), "keeping one pen keeps what one pen alone earns");
}

#[test]
fn a_partial_return_of_a_line_with_several_funders_keeps_what_the_kept_units_earn() {
    let mut shop = Shop::new(
        r#"{"id":"market","currency":"TRY","owner":"market",
            "earn":{"rules":[{"id":"thirds","effect":{"points_per_currency_unit":"1"},
                              "funded_by":{"a":"0.34","b":"0.33","c":"0.33"}}]}}"#,
    );
    shop.apply(
        r#"{"type":"purchase","member":"oya","at":"2026-06-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"lamp","qty":"2","unit_price":"10"}]}"#,
    );
    assert_eq!(shop.available("oya"), decimal("20"));
    shop.give_back("oya", "2026-06-02", "o-1", "lamp", "1");
    assert_eq!(shop.available("oya"), decimal("10"), "the kept lamp keeps what one lamp earns, not less");
    shop.give_back("oya", "2026-06-03", "o-1", "lamp", "1");
    assert!(shop.available("oya").is_zero());
    for id in ["a", "b", "c"] {
        assert!(shop.balance("oya", &funder(id)).is_zero(), "funder {id} is whole again");
    }
}

#[test]
fn a_refund_withholds_at_most_the_money_it_refunds_and_rounds_once_per_order() {
    let mut shop = Shop::new(
        r#"{"id":"gifts","currency":"TRY","owner":"gifts",
            "earn":{"rules":[{"id":"wrap","when":{"skus":["wrap"]},"effect":{"points_per_unit":"500"}},
                             {"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "redemption":{"point_value":"0.01"},
            "returns":{"when_points_spent":"deduct_from_refund"}}"#,
    );
    shop.buy("pelin", "2026-06-01", "o-1", "wrap", "1.00");
    shop.apply(r#"{"type":"redeem","member":"pelin","at":"2026-06-02T10:00:00Z","points":"501"}"#);

    let back = shop.give_back("pelin", "2026-06-03", "o-1", "wrap", "1");

    assert_eq!(back.refund_withheld.value(), decimal("1.00"), "the whole refund, and no more");
    assert_eq!(shop.debt("pelin"), decimal("-401"), "what the refund can't cover, the member owes");
}

/// The refund of an order paid partly with points is only what money paid: the money withheld
/// for its spent points comes out of that, and what it can't cover the member owes.
#[test]
fn a_refund_withholds_only_from_what_money_paid_for_the_order() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"2"}}]},
            "redemption":{"point_value":"1","max_share_of_order":"0.5"},
            "returns":{"when_points_spent":"deduct_from_refund"}}"#,
    );
    shop.buy("eda", "2026-06-01", "o-1", "lamp", "100");
    shop.buy_paying("eda", "2026-06-02", "o-2", "rug", "100", "50");
    assert_eq!(shop.available("eda"), decimal("250"), "200, less 50 paid, and 100 on the 50 money paid");
    shop.apply(r#"{"type":"redeem","member":"eda","at":"2026-06-03T10:00:00Z","points":"250"}"#);

    let back = shop.give_back("eda", "2026-06-04", "o-2", "rug", "1");

    assert_eq!(back.refund_withheld.value(), decimal("50"), "the 50 the refund pays in money, not the rug's 100");
    assert_eq!((shop.available("eda"), shop.debt("eda")), (decimal("50"), decimal("-50")));
}

/// A record shop under `deduct_from_refund`: `rate` points a lira, each worth `point_value`.
fn record_shop(rate: &str, point_value: &str) -> String {
    format!(
        r#"{{"id":"vinyl","currency":"TRY","owner":"vinyl",
            "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"{rate}"}}}}]}},
            "redemption":{{"point_value":"{point_value}"}},
            "returns":{{"when_points_spent":"deduct_from_refund"}}}}"#
    )
}

/// Deniz buys two records at 100.00 (400 points at 2 a lira) and spends the 400 points.
fn two_records_spent(shop: &mut Shop) {
    shop.apply(
        r#"{"type":"purchase","member":"deniz","at":"2026-06-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"record","qty":"2","unit_price":"100.00"}]}"#,
    );
    shop.apply(r#"{"type":"redeem","member":"deniz","at":"2026-06-02T10:00:00Z","points":"400"}"#);
}

#[test]
fn a_refund_too_small_for_the_spent_points_withholds_only_what_the_points_it_covers_are_worth() {
    let mut shop = Shop::new(&record_shop("2", "0.7"));
    shop.buy("deniz", "2026-06-01", "o-1", "record", "100.00");
    shop.apply(r#"{"type":"redeem","member":"deniz","at":"2026-06-02T10:00:00Z","points":"200"}"#);

    let back = shop.give_back("deniz", "2026-06-03", "o-1", "record", "1");

    // The 100.00 refund pays for 142 points at 0.70 (99.40); the 143rd would take 100.10.
    assert_eq!(back.refund_withheld.value(), decimal("99.40"), "142 points' worth, not the whole refund");
    assert_eq!(shop.debt("deniz"), decimal("-58"), "the member owes the 58 points the refund can't pay for");
    let receipt = back.receipt.as_ref().unwrap();
    assert_eq!((receipt.withheld_points, receipt.withheld_money.value()), (decimal("142"), decimal("99.40")));

    // A refund that can't pay for a single point withholds nothing.
    let mut shop = Shop::new(&record_shop("1", "10"));
    shop.buy("deniz", "2026-06-01", "o-1", "sticker", "5.00");
    shop.apply(r#"{"type":"redeem","member":"deniz","at":"2026-06-02T10:00:00Z","points":"5"}"#);
    let back = shop.give_back("deniz", "2026-06-03", "o-1", "sticker", "1");
    assert!(back.refund_withheld.value().is_zero(), "5.00 buys no point at 10.00");
    assert_eq!(shop.debt("deniz"), decimal("-5"));
}

#[test]
fn partial_returns_whose_refunds_fall_short_each_withhold_what_their_own_refund_can() {
    let shop = || {
        let mut shop = Shop::new(&record_shop("2", "0.7"));
        two_records_spent(&mut shop);
        shop
    };
    let mut at_once = shop();
    let both = at_once.give_back("deniz", "2026-06-03", "o-1", "record", "2");
    assert_eq!(both.refund_withheld.value(), decimal("199.50"), "the 200.00 refund pays for 285 points");
    assert_eq!(at_once.debt("deniz"), decimal("-115"));

    // One at a time, each 100.00 refund pays for 142 points (99.40): the first refund's 0.60
    // left over was paid out, so the two cover a point less than one return would.
    let mut one_by_one = shop();
    let withheld: Vec<_> = ["2026-06-03", "2026-06-04"]
        .map(|day| one_by_one.give_back("deniz", day, "o-1", "record", "1").refund_withheld.value())
        .into();
    assert_eq!(withheld, vec![decimal("99.40"), decimal("99.40")]);
    assert_eq!(one_by_one.debt("deniz"), decimal("-116"));
}

#[test]
fn a_refund_never_withholds_more_than_it_refunds() {
    // The quotient of refund by point value, rounded to a decimal's 28 digits, reaches the
    // next whole point, which is worth a hair more than the refund.
    let mut shop = Shop::new(
        r#"{"id":"hifi","currency":"TRY","owner":"hifi",
            "earn":{"rules":[{"id":"order","effect":{"points_per_order":"2000000000"}}]},
            "redemption":{"point_value":"3000000000.0000000001"},
            "returns":{"when_points_spent":"deduct_from_refund"}}"#,
    );
    let big = r#"{"sku":"SKU","qty":"1","unit_price":"1000000000000000000"}"#;
    let lines = ["a", "b", "c"].map(|sku| big.replace("SKU", sku)).join(",");
    shop.apply(&format!(
        r#"{{"type":"purchase","member":"ege","at":"2026-06-01T10:00:00Z","order":"o-1",
            "lines":[{lines},{{"sku":"d","qty":"1","unit_price":"3000000000.10"}}]}}"#
    ));
    shop.apply(r#"{"type":"redeem","member":"ege","at":"2026-06-02T10:00:00Z","points":"2000000000"}"#);
    let all_back = r#"{"sku":"a","qty":"1"},{"sku":"b","qty":"1"},{"sku":"c","qty":"1"},{"sku":"d","qty":"1"}"#;
    let back = shop.apply(&format!(
        r#"{{"type":"return","member":"ege","at":"2026-06-03T10:00:00Z","order":"o-1","lines":[{all_back}]}}"#
    ));
    assert!(back.refund_withheld.value() <= decimal("3000000003000000000.10"), "{}", back.refund_withheld);
    assert_eq!(back.refund_withheld.value(), decimal("3000000000000000000.10"), "1,000,000,000 points' worth");

    // A program whose point value rose between two returns of one order values only the
    // points the second return covers at the new value.
    let mut shop = Shop::new(&record_shop("2", "0.7"));
    two_records_spent(&mut shop);
    assert_eq!(shop.give_back("deniz", "2026-06-03", "o-1", "record", "1").refund_withheld.value(), decimal("99.40"));
    let dearer = common::program(&record_shop("2", "2")).compile().unwrap();
    let second = common::event(
        r#"{"type":"return","id":"r-2","member":"deniz","at":"2026-06-04T10:00:00Z","order":"o-1",
            "lines":[{"sku":"record","qty":"1"}]}"#,
    );
    let outcome = dearer.evaluate(&shop.state("deniz"), &second).unwrap();
    assert_eq!(outcome.refund_withheld.value(), decimal("100.00"), "50 points at 2.00, all the refund can pay for");
}

#[test]
fn money_withheld_over_several_partial_returns_is_rounded_once() {
    let mut shop = Shop::new(
        r#"{"id":"tea","currency":"TRY","owner":"tea",
            "earn":{"rules":[{"id":"base","effect":{"points_per_unit":"1"}}]},
            "redemption":{"point_value":"0.001"},
            "returns":{"when_points_spent":"deduct_from_refund"}}"#,
    );
    shop.apply(
        r#"{"type":"purchase","member":"rana","at":"2026-06-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"bag","qty":"3","unit_price":"5"}]}"#,
    );
    shop.apply(r#"{"type":"redeem","member":"rana","at":"2026-06-02T10:00:00Z","points":"3"}"#);
    let withheld: Vec<_> = (4..=6)
        .map(|day| shop.give_back("rana", &format!("2026-06-0{day}"), "o-1", "bag", "1").refund_withheld.value())
        .collect();
    assert_eq!(
        withheld,
        vec![decimal("0.01"), decimal("0.00"), decimal("0.00")],
        "3 points at 0.001 are 0.003, one cent"
    );
}

#[test]
fn a_return_of_one_of_two_lines_of_a_sku_takes_the_richer_line_unless_it_names_one() {
    let mut shop = electronics_shop(0, "negative_balance");
    let two_tvs = r#"{"type":"purchase","member":"sena","at":"2026-06-01T10:00:00Z","order":"ORDER",
        "lines":[{"sku":"tv","qty":"1","unit_price":"1000","discount":"990"},{"sku":"tv","qty":"1","unit_price":"1000"}]}"#;
    shop.apply(&two_tvs.replace("ORDER", "o-1"));
    assert_eq!(shop.available("sena"), decimal("101"), "1 point on the discounted TV, 100 on the other");
    shop.give_back("sena", "2026-06-02", "o-1", "tv", "1");
    assert_eq!(shop.available("sena"), decimal("1"), "an unnamed return takes back the TV that earned more");

    shop.apply(&two_tvs.replace("ORDER", "o-2").replace("06-01", "06-03"));
    shop.apply(
        r#"{"type":"return","member":"sena","at":"2026-06-04T10:00:00Z","order":"o-2","lines":[{"sku":"tv","line":0,"qty":"1"}]}"#,
    );
    assert_eq!(shop.available("sena"), decimal("101"), "a named line comes back as named");
    let wrong = shop.try_apply(
        r#"{"type":"return","member":"sena","at":"2026-06-05T10:00:00Z","order":"o-2","lines":[{"sku":"radio","line":1,"qty":"1"}]}"#,
    );
    assert!(matches!(wrong, Err(LedgerError::Rejected(EvalError::UnknownLine { line: 1, .. }))));
}

#[test]
fn a_supplier_pays_half_of_a_promotion() {
    let mut shop = Shop::new(
        r#"{"id":"market","currency":"TRY","owner":"market",
            "earn":{"rules":[{"id":"acme-promo","when":{"suppliers":["acme"]},"effect":{"points_per_unit":"10"},
                              "funded_by":{"market":"0.5","acme":"0.5"}}]}}"#,
    );
    shop.apply(
        r#"{"type":"purchase","member":"deniz","at":"2026-06-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"shampoo","qty":"1","unit_price":"80","supplier":"acme"},
                     {"sku":"soap","qty":"1","unit_price":"20","supplier":"other"}]}"#,
    );
    assert_eq!(shop.available("deniz"), decimal("10"));
    assert_eq!(shop.balance("deniz", &funder("market")), decimal("-5"), "5 paid by the seller");
    assert_eq!(shop.balance("deniz", &funder("acme")), decimal("-5"), "and 5 by the supplier");

    shop.give_back("deniz", "2026-06-02", "o-1", "shampoo", "1");
    assert!(shop.balance("deniz", &funder("market")).is_zero());
    assert!(shop.balance("deniz", &funder("acme")).is_zero(), "the return reverses both funders");
}

#[test]
fn odd_points_split_between_funders_add_up_exactly() {
    let mut shop = Shop::new(
        r#"{"id":"market","currency":"TRY","owner":"market",
            "earn":{"rules":[{"id":"thirds","effect":{"points_per_currency_unit":"1"},
                              "funded_by":{"a":"0.34","b":"0.33","c":"0.33"}}]}}"#,
    );
    shop.buy("deniz", "2026-06-01", "o-1", "x", "10");
    let shares: Vec<_> = ["a", "b", "c"].iter().map(|id| -shop.balance("deniz", &funder(id))).collect();
    assert_eq!(
        shares,
        vec![decimal("4"), decimal("3"), decimal("3")],
        "the left-over point goes to the largest remainder"
    );
}

#[test]
fn multipliers_stack_additively_and_excluded_lines_earn_nothing() {
    let mut shop = Shop::new(
        r#"{"id":"market","currency":"EUR","owner":"market",
            "earn":{"exclude":[{"categories":["delivery"]}],
                    "rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}},
                             {"id":"brand","when":{"labels":{"brand":"acme"}},"effect":{"multiplier":"2"}},
                             {"id":"week","when":{"categories":["shoes"]},"effect":{"multiplier":"3"}}]}}"#,
    );
    let outcome = shop.apply(
        r#"{"type":"purchase","member":"eda","at":"2026-06-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"runner","qty":"1","unit_price":"10.50","category":"shoes","labels":{"brand":"acme"}},
                     {"sku":"ship","qty":"1","unit_price":"5","category":"delivery"}]}"#,
    );
    assert_eq!(shop.available("eda"), decimal("42"), "(1 + 1 + 2) x 10.50, rounded once per line");
    let earnings = &outcome.receipt.as_ref().unwrap().earnings;
    let by_rule: Vec<_> = earnings.iter().map(|earning| (earning.rule.as_str(), earning.points)).collect();
    assert_eq!(by_rule, vec![("base", decimal("11")), ("brand", decimal("10")), ("week", decimal("21"))]);
}

/// A market whose only rule gives `points` per order of at least `minimum`.
fn bonus_market(minimum: &str, points: &str) -> Shop {
    Shop::new(&format!(
        r#"{{"id":"market","currency":"TRY","owner":"market",
            "earn":{{"rules":[{{"id":"bonus","when":{{"min_order_total":"{minimum}"}},"effect":{{"points_per_order":"{points}"}}}}]}}}}"#
    ))
}

#[test]
fn spend_2000_get_300_is_clawed_back_when_a_return_breaks_the_threshold() {
    let mut shop = bonus_market("2000", "300");
    shop.apply(
        r#"{"type":"purchase","member":"ece","at":"2026-06-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"coat","qty":"1","unit_price":"1500"},{"sku":"hat","qty":"2","unit_price":"500"}]}"#,
    );
    assert_eq!(shop.available("ece"), decimal("300"), "one bonus for the order, spread 180/120 over the lines");
    shop.give_back("ece", "2026-06-02", "o-1", "hat", "1");
    assert_eq!(shop.available("ece"), decimal("240"), "2,000 kept still meets the minimum: one hat's 60 go");
    shop.give_back("ece", "2026-06-03", "o-1", "coat", "1");
    assert!(shop.available("ece").is_zero(), "500 kept is below the minimum: the whole bonus goes");
}

/// Three lines of three units, each line worth 25.00 after its discount: a third of a line is
/// 8.333…, which a decimal cuts at 28 digits.
const THREE_LINES_OF_25: &str = r#""lines":[{"sku":"a","qty":"3","unit_price":"8.34","discount":"0.02"},
    {"sku":"b","qty":"3","unit_price":"8.34","discount":"0.02"},{"sku":"c","qty":"3","unit_price":"8.34","discount":"0.02"}]"#;

/// A return of `units` of each of the three lines of [`THREE_LINES_OF_25`].
fn return_of_each_line(order: &str, units: u32) -> String {
    format!(
        r#"{{"type":"return","member":"ece","at":"2026-06-02T10:00:00Z","order":"{order}",
            "lines":[{{"sku":"a","qty":"{units}"}},{{"sku":"b","qty":"{units}"}},{{"sku":"c","qty":"{units}"}}]}}"#
    )
}

#[test]
fn thirds_of_three_lines_that_add_up_to_the_minimum_meet_it() {
    let mut shop = bonus_market("25", "30");
    shop.apply(&format!(
        r#"{{"type":"purchase","member":"ece","at":"2026-06-01T10:00:00Z","order":"o-1",{THREE_LINES_OF_25}}}"#
    ));
    assert_eq!(shop.available("ece"), decimal("30"));

    shop.apply(&return_of_each_line("o-1", 2));

    assert_eq!(shop.available("ece"), decimal("9"), "a third of each line, 25.00 in all, keeps a third of 10 each");
}

#[test]
fn thirds_of_three_lines_refund_what_the_lines_are_worth() {
    let mut shop = Shop::new(
        r#"{"id":"market","currency":"EUR","owner":"market",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"100"}}]},
            "redemption":{"point_value":"0.01","max_share_of_order":"1"},
            "returns":{"when_points_spent":"deduct_from_refund"}}"#,
    );
    shop.apply(&format!(
        r#"{{"type":"purchase","member":"ece","at":"2026-06-01T10:00:00Z","order":"o-1",{THREE_LINES_OF_25}}}"#
    ));
    shop.buy_paying("ece", "2026-06-01", "o-2", "z", "75.00", "7500");

    let back = shop.apply(&return_of_each_line("o-1", 1));

    assert_eq!(back.refund_withheld.value(), decimal("25.00"), "the refund is 25.00, which covers 2,500 points");
    assert_eq!(shop.debt("ece"), decimal("-2"), "the units returned earned 2,502 points, rounded up");
}

/// The points `ece` keeps of order `o-1` (its `lines`, under `program`) after `returns`, each
/// a return's lines.
fn kept_after_returns(program: &str, lines: &str, returns: &[&str]) -> rust_decimal::Decimal {
    let mut shop = Shop::new(program);
    shop.apply(&format!(
        r#"{{"type":"purchase","member":"ece","at":"2026-06-01T10:00:00Z","order":"o-1","lines":[{lines}]}}"#
    ));
    for lines in returns {
        shop.apply(&format!(
            r#"{{"type":"return","member":"ece","at":"2026-06-02T10:00:00Z","order":"o-1","lines":[{lines}]}}"#
        ));
    }
    shop.available("ece")
}

#[test]
fn a_return_split_in_two_keeps_what_one_return_keeps_when_the_bonus_it_breaks_has_its_own_funder() {
    let program = r#"{"id":"p","currency":"EUR","owner":"shop","rounding":{"mode":"floor","decimal_places":2},
        "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}},
          {"id":"double-a","when":{"skus":["a"]},"effect":{"multiplier":"2"}},
          {"id":"bonus","when":{"min_order_total":"100"},"effect":{"points_per_order":"30"},
           "funded_by":{"brand":"1"}}]}}"#;
    let lines = r#"{"sku":"a","qty":"4","unit_price":"3.33"},{"sku":"b","qty":"4","unit_price":"150"}"#;
    let kept = |returns: &[&str]| kept_after_returns(program, lines, returns);
    let in_one = kept(&[r#"{"sku":"a","qty":"2"},{"sku":"b","qty":"4"}"#]);
    let in_two = kept(&[r#"{"sku":"a","qty":"2"},{"sku":"b","qty":"3"}"#, r#"{"sku":"b","qty":"1"}"#]);
    assert_eq!((in_one, in_two), (decimal("1.33"), decimal("1.33")), "half of a's 2.66 base points, either way");
}

/// Half a unit at 49.9999999999 is worth 24.99999999995, exactly: below a minimum of 25.
#[test]
fn a_kept_order_a_hair_below_the_minimum_loses_the_bonus() {
    let mut shop = bonus_market("25", "30");
    shop.apply(
        r#"{"type":"purchase","member":"ece","at":"2026-06-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"a","qty":"0.5","unit_price":"49.9999999999"},{"sku":"b","qty":"1","unit_price":"10"}]}"#,
    );
    assert_eq!(shop.available("ece"), decimal("30"));
    shop.give_back("ece", "2026-06-02", "o-1", "b", "1");
    assert!(shop.available("ece").is_zero(), "the half kept is worth less than 25");
}

/// Thirty lines of 10^17 (3 units each), of which the member keeps a unit each: exactly 10^18.
#[test]
fn thirds_of_thirty_lines_near_the_largest_amount_meet_a_minimum_they_add_up_to() {
    let mut shop = bonus_market("1000000000000000000", "300");
    let line = |at: usize, what: &str| format!(r#"{{"sku":"s{at}",{what}}}"#);
    let bought: Vec<String> = (0..30)
        .map(|at| line(at, r#""qty":"3","unit_price":"33333333333333333.3333333334","discount":"0.0000000002""#))
        .collect();
    shop.apply(&format!(
        r#"{{"type":"purchase","member":"ece","at":"2026-06-01T10:00:00Z","order":"o-1","lines":[{}]}}"#,
        bought.join(",")
    ));
    let returned: Vec<String> = (0..30).map(|at| line(at, r#""qty":"2""#)).collect();
    shop.apply(&format!(
        r#"{{"type":"return","member":"ece","at":"2026-06-02T10:00:00Z","order":"o-1","lines":[{}]}}"#,
        returned.join(",")
    ));
    assert_eq!(shop.available("ece"), decimal("90"), "each line keeps a third of its 10, rounded down");
}

/// A 4.90 item and three 3-packs worth 0.10 each: keeping a unit of each pack keeps 5.00, the
/// minimum, in thirds of a tenth (0.0333…, cut at a decimal's 28 places).
#[test]
fn thirds_of_small_packs_that_make_up_the_minimum_meet_it() {
    let mut shop = bonus_market("5", "30");
    let pack = |at: usize| format!(r#"{{"sku":"pack-{at}","qty":"3","unit_price":"0.04","discount":"0.02"}}"#);
    shop.apply(&format!(
        r#"{{"type":"purchase","member":"ece","at":"2026-06-01T10:00:00Z","order":"o-1",
            "lines":[{{"sku":"big","qty":"1","unit_price":"4.90"}},{},{},{}]}}"#,
        pack(0),
        pack(1),
        pack(2)
    ));
    let back = |at: usize| format!(r#"{{"sku":"pack-{at}","qty":"2"}}"#);
    shop.apply(&format!(
        r#"{{"type":"return","member":"ece","at":"2026-06-02T10:00:00Z","order":"o-1","lines":[{},{},{}]}}"#,
        back(0),
        back(1),
        back(2)
    ));
    assert_eq!(shop.available("ece"), decimal("28"), "the big item's 28 stay; the packs' single points go");
}

/// A line worth exactly the minimum, in all 28 digits a decimal holds, kept whole.
#[test]
fn a_kept_line_with_every_digit_a_decimal_holds_stays_exact() {
    let mut shop = bonus_market("123456789012345678.1234567891", "30");
    shop.apply(
        r#"{"type":"purchase","member":"ece","at":"2026-06-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"big","qty":"1","unit_price":"123456789012345678.1234567891"},
                     {"sku":"small","qty":"1","unit_price":"1"}]}"#,
    );
    shop.give_back("ece", "2026-06-02", "o-1", "small", "1");
    assert_eq!(shop.available("ece"), decimal("30"), "the big line alone meets the minimum");
}

/// The bonus is funded half by `aaa`, which also funds two rules on the line; `yyy` funds the
/// third. Four returns of one unit share rounding with the bonus, which the fifth revokes.
#[test]
fn a_return_that_revokes_a_co_funded_bonus_owes_no_funder_points() {
    let program = r#"{"id":"p","currency":"EUR","owner":"aaa",
        "earn":{"rules":[
          {"id":"base","when":{"skus":["l"]},"effect":{"points_per_currency_unit":"0.13"},"funded_by":{"aaa":"1"}},
          {"id":"std-y","effect":{"points_per_currency_unit":"0.37"},"funded_by":{"yyy":"1"}},
          {"id":"std-a2","when":{"skus":["l"]},"effect":{"points_per_currency_unit":"0.11"},"funded_by":{"aaa":"1"}},
          {"id":"bonus","when":{"skus":["l"],"min_order_total":"100"},"effect":{"points_per_order":"2"},
           "funded_by":{"aaa":"0.5","zzz":"0.5"}}]}}"#;
    let lines = r#"{"sku":"l","qty":"6","unit_price":"3.33"},{"sku":"m","qty":"1","unit_price":"99.99"}"#;
    let kept = |returns: &[&str]| kept_after_returns(program, lines, returns);
    let unit = r#"{"sku":"l","qty":"1"}"#;
    let in_pieces = kept(&[unit, unit, unit, unit, r#"{"sku":"m","qty":"1"}"#]);
    let in_one = kept(&[r#"{"sku":"l","qty":"4"},{"sku":"m","qty":"1"}"#]);
    assert_eq!(in_pieces, in_one);
}

#[test]
fn an_order_below_the_threshold_earns_no_bonus() {
    let mut shop = bonus_market("2000", "300");
    shop.buy("ece", "2026-06-01", "o-1", "coat", "1999.99");
    assert!(shop.available("ece").is_zero());
}

/// Points bought at 10:00 stay pending through the fifteen days of the return window to the
/// second, and their thirty days of life count from then, not from the purchase.
#[test]
fn points_vest_on_the_second_the_window_closes_and_expire_counted_from_then() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "returns":{"vesting_days":15},"expiry":{"after_days":30}}"#,
    );
    shop.apply(
        r#"{"type":"purchase","member":"can","at":"2026-03-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"kettle","qty":"1","unit_price":"80"}]}"#,
    );
    let at = |instant: &str| format!(r#"{{"type":"tick","member":"can","at":"{instant}"}}"#);
    shop.apply(&at("2026-03-16T09:59:59Z"));
    assert_eq!((shop.pending("can"), shop.available("can")), (decimal("80"), decimal("0")));
    shop.apply(&at("2026-03-16T10:00:00Z"));
    assert_eq!((shop.pending("can"), shop.available("can")), (decimal("0"), decimal("80")));
    shop.apply(&at("2026-04-15T09:59:59Z"));
    assert_eq!(shop.available("can"), decimal("80"), "thirty days from vesting, not from the purchase");
    shop.apply(&at("2026-04-15T10:00:00Z"));
    assert!(shop.available("can").is_zero());
}

/// A gift card is excluded from earning, and so from the order minimum: an order must reach
/// the minimum with what earns, when it is placed and after a return.
#[test]
fn excluded_lines_count_toward_no_order_minimum() {
    let mut shop = Shop::new(
        r#"{"id":"market","currency":"TRY","owner":"market",
            "earn":{"exclude":[{"categories":["gift_card"]}],
                    "rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}},
                             {"id":"bonus","when":{"min_order_total":"100"},"effect":{"points_per_order":"30"}}]}}"#,
    );
    let order = |id: &str, units: u32| {
        format!(
            r#"{{"type":"purchase","member":"ada","at":"2026-03-01T10:00:00Z","order":"{id}",
                "lines":[{{"sku":"tea","qty":"{units}","unit_price":"60"}},
                         {{"sku":"card","qty":"1","unit_price":"50","category":"gift_card"}}]}}"#
        )
    };
    shop.apply(&order("o-1", 1));
    assert_eq!(shop.available("ada"), decimal("60"), "60 of tea and a 50 gift card are below 100: no bonus");
    shop.apply(&order("o-2", 2));
    assert_eq!(shop.available("ada"), decimal("210"), "120 of tea earns 120 and the bonus");
    shop.give_back("ada", "2026-03-02", "o-2", "tea", "1");
    assert_eq!(shop.available("ada"), decimal("120"), "60 of tea kept, with the card, is below 100: the bonus goes");
}

#[test]
fn points_expire_at_the_end_of_the_month_in_the_programs_time_zone() {
    let mut shop = Shop::new(
        r#"{"id":"cafe","currency":"TRY","owner":"cafe","utc_offset":"+03:00",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "expiry":"end_of_month"}"#,
    );
    shop.apply(
        r#"{"type":"purchase","member":"fatma","at":"2026-01-31T21:30:00Z","order":"o-1",
            "lines":[{"sku":"latte","qty":"1","unit_price":"50"}]}"#,
    );
    let lot = shop.state("fatma").lots().next().unwrap().clone();
    assert_eq!(
        lot.expires_at.unwrap().to_rfc3339(),
        "2026-02-28T21:00:00+00:00",
        "00:30 on Feb 1 in Istanbul is February"
    );
    shop.tick("fatma", "2026-02-28");
    assert_eq!(shop.available("fatma"), decimal("50"));
    let expired = shop.apply(r#"{"type":"tick","member":"fatma","at":"2026-02-28T21:00:00Z"}"#);
    assert_eq!(expired.postings[0].to, Account::Expired);
    assert!(shop.available("fatma").is_zero());
}

#[test]
fn a_promotion_capped_per_order_gives_a_big_cart_exactly_its_cap() {
    let mut shop = Shop::new(
        r#"{"id":"market","currency":"EUR","owner":"market",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}},
              {"id":"acme-double","when":{"labels":{"brand":"acme"}},"effect":{"multiplier":"2"},
               "max_points_per_order":"100"}]}}"#,
    );
    let order = shop.apply(
        r#"{"type":"purchase","member":"can","at":"2026-03-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"soap","qty":"1","unit_price":"90","labels":{"brand":"acme"}},
                     {"sku":"mop","qty":"1","unit_price":"30","labels":{"brand":"acme"}},
                     {"sku":"pan","qty":"1","unit_price":"50"}]}"#,
    );
    let promotion: Vec<(u32, Decimal)> = order
        .receipt
        .as_ref()
        .unwrap()
        .earnings
        .iter()
        .filter(|earning| earning.rule.as_str() == "acme-double")
        .map(|earning| (earning.line, earning.points))
        .collect();
    // Doubling would add 90 + 30 = 120; the cap keeps 100, split 90 : 30 (75 and 25).
    assert_eq!(promotion, [(0, decimal("75")), (1, decimal("25"))]);
    assert_eq!(shop.available("can"), decimal("270"), "170 from the base rule and the promotion's 100");
    let back = shop.give_back("can", "2026-03-02", "o-1", "soap", "1");
    assert_eq!(back.postings.iter().map(|posting| posting.amount).sum::<Decimal>(), decimal("165"));
}

#[test]
fn a_promotion_capped_per_month_gives_later_orders_what_the_month_has_left() {
    let mut shop = Shop::new(
        r#"{"id":"market","currency":"EUR","owner":"market",
            "earn":{"rules":[{"id":"coffee-bonus","when":{"categories":["coffee"]},
              "effect":{"points_per_currency_unit":"2"},
              "max_points_per_period":{"period":"month","points":"100"}}]}}"#,
    );
    let coffee = |shop: &mut Shop, order: &str, day: &str, price: &str| {
        shop.apply(&format!(
            r#"{{"type":"purchase","member":"can","at":"{day}T10:00:00Z","order":"{order}",
                "lines":[{{"sku":"beans","qty":"1","unit_price":"{price}","category":"coffee"}}]}}"#
        ));
        shop.available("can")
    };
    assert_eq!(coffee(&mut shop, "o-1", "2026-03-02", "30"), decimal("60"));
    assert_eq!(coffee(&mut shop, "o-2", "2026-03-10", "30"), decimal("100"), "40 of the month's 100 were left");
    assert_eq!(coffee(&mut shop, "o-3", "2026-03-20", "30"), decimal("100"), "nothing left in March");
    // A return gives its room back to the month's later orders, not to earlier ones.
    shop.give_back("can", "2026-03-21", "o-1", "beans", "1");
    assert_eq!(shop.available("can"), decimal("40"));
    assert_eq!(coffee(&mut shop, "o-4", "2026-03-22", "30"), decimal("100"), "o-1's 60 came free again");
    assert_eq!(coffee(&mut shop, "o-5", "2026-04-01", "30"), decimal("160"), "April starts again");
}

#[test]
fn a_bonus_that_rejects_orders_over_its_monthly_cap_gives_whole_bonuses_or_none() {
    let mut shop = Shop::new(
        r#"{"id":"market","currency":"EUR","owner":"market",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}},
              {"id":"basket-bonus","when":{"min_order_total":"50"},"effect":{"points_per_order":"300"},
               "max_points_per_period":{"period":"month","points":"600"},"over_cap":"reject"},
              {"id":"tea-triple","when":{"categories":["tea"]},"effect":{"multiplier":"3"},
               "max_points_per_order":"100","over_cap":"reject"}]}}"#,
    );
    let basket = |shop: &mut Shop, order: &str, day: &str, category: &str| -> Decimal {
        let outcome = shop.apply(&format!(
            r#"{{"type":"purchase","member":"can","at":"{day}T10:00:00Z","order":"{order}",
                "lines":[{{"sku":"item","qty":"1","unit_price":"60","category":"{category}"}}]}}"#
        ));
        outcome.postings.iter().map(|posting| posting.amount).sum()
    };
    assert_eq!(basket(&mut shop, "o-1", "2026-03-02", "food"), decimal("360"), "60 and the bonus");
    assert_eq!(basket(&mut shop, "o-2", "2026-03-09", "food"), decimal("360"));
    assert_eq!(basket(&mut shop, "o-3", "2026-03-16", "food"), decimal("60"), "a third bonus would pass 600");
    shop.give_back("can", "2026-03-17", "o-1", "item", "1");
    assert_eq!(basket(&mut shop, "o-4", "2026-03-18", "food"), decimal("360"), "the return made room for one bonus");
    // Tripling 60 of tea adds 120, over the per-order cap of 100: the rule adds nothing.
    assert_eq!(basket(&mut shop, "o-5", "2026-04-01", "tea"), decimal("360"), "April's bonus, no triple");
    let within = shop.apply(
        r#"{"type":"purchase","member":"can","at":"2026-04-02T10:00:00Z","order":"o-6",
            "lines":[{"sku":"item","qty":"1","unit_price":"40","category":"tea"}]}"#,
    );
    assert_eq!(within.postings.iter().map(|posting| posting.amount).sum::<Decimal>(), decimal("120"), "40 tripled");
}

/// An airline's program whose miles expire as `expiry` says; bookings vest after
/// `vesting_days`.
fn airline_program(vesting_days: u32, expiry: &str) -> String {
    format!(
        r#"{{"id":"air","currency":"EUR","owner":"air",
            "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"1"}}}}]}},
            "redemption":{{"point_value":"0.01"}},
            "returns":{{"vesting_days":{vesting_days},"when_points_spent":"negative_balance"}},
            "expiry":{expiry}}}"#
    )
}

/// The airline with miles that expire after 18 months without activity.
fn airline_with_inactivity_expiry(vesting_days: u32) -> Shop {
    Shop::new(&airline_program(vesting_days, r#"{"after_inactive_months":18}"#))
}

/// Applies events, given as JSON, to a member's state under the engine of a program, as a
/// host does that changes its program between events.
fn apply_under(program: &str, state: &mut MemberState, events: &[&str]) {
    let engine = common::program(program).compile().unwrap();
    for json in events {
        state.apply(&engine.evaluate(state, &common::event(json)).unwrap());
    }
}

#[test]
fn inactivity_counts_from_the_last_activity_under_any_program_and_stops_with_the_expiry() {
    let inactive = airline_program(0, r#"{"after_inactive_months":2}"#);
    let never = airline_program(0, r#""never""#);
    let booking = |id: &str, at: &str| {
        format!(
            r#"{{"type":"purchase","id":"{id}","member":"eva","at":"{at}","order":"{id}",
                "lines":[{{"sku":"flight","qty":"1","unit_price":"100"}}]}}"#
        )
    };
    let tick = |id: &str, at: &str| format!(r#"{{"type":"tick","id":"{id}","member":"eva","at":"{at}"}}"#);

    // Booked under points that never expire, then the program expires them after two months.
    let mut state = MemberState::new(member("eva"));
    apply_under(&never, &mut state, &[&booking("b-1", "2026-01-10T12:00:00Z")]);
    apply_under(&inactive, &mut state, &[&tick("t-1", "2026-03-10T11:59:59Z")]);
    assert_eq!(state.points().available.value(), decimal("100"), "active until 10 March");
    apply_under(&inactive, &mut state, &[&tick("t-2", "2026-03-10T12:00:00Z")]);
    assert!(state.points().available.value().is_zero(), "two months after the booking, under any program");

    // Back to points that never expire: the old deadline no longer applies.
    apply_under(&never, &mut state, &[&booking("b-2", "2026-04-01T12:00:00Z"), &tick("t-3", "2027-01-01T00:00:00Z")]);
    assert_eq!(state.points().available.value(), decimal("100"));
    assert_eq!(state.last_activity_at(), Some("2026-04-01T12:00:00Z".parse().unwrap()));
}

#[test]
fn miles_expire_all_at_once_after_18_months_without_activity() {
    let mut shop = airline_with_inactivity_expiry(0);
    shop.buy("eva", "2026-01-10", "o-1", "flight", "300");
    shop.buy("eva", "2026-03-10", "o-2", "flight", "200");
    // Returns and ticks are not activity: the deadline stays 18 months after the last booking.
    shop.give_back("eva", "2026-04-01", "o-2", "flight", "1");
    shop.tick("eva", "2027-01-01");
    let deadline = "2027-09-10T12:00:00Z".parse().unwrap();
    let engine = shop.ledger.engine().clone();
    assert_eq!(engine.inactivity_expiry(&shop.state("eva")), Some(deadline));
    assert_eq!(engine.next_due(&shop.state("eva")), Some(deadline));
    assert_eq!(shop.state("eva").next_due(), None, "the state alone knows no deadline");
    let stored = serde_json::to_value(shop.state("eva")).unwrap();
    assert_eq!(stored["last_activity_at"], "2026-03-10T12:00:00Z");
    assert_eq!(serde_json::from_value::<MemberState>(stored).unwrap(), shop.state("eva"));

    let before = shop.apply(r#"{"type":"tick","member":"eva","at":"2027-09-10T11:59:59Z"}"#);
    assert!(before.postings.is_empty());
    let at_the_deadline = shop.apply(r#"{"type":"tick","member":"eva","at":"2027-09-10T12:00:00Z"}"#);
    assert_eq!(at_the_deadline.postings.len(), 1, "one lot left, the first booking's");
    assert!(shop.available("eva").is_zero());
    assert_eq!(shop.balance("eva", &Account::Expired), decimal("300"));
    assert_eq!(engine.next_due(&shop.state("eva")), None, "no points left to expire");

    // Returning the expired booking takes its miles back from expired: the member owes nothing.
    shop.give_back("eva", "2027-10-01", "o-1", "flight", "1");
    assert!(shop.balance("eva", &Account::Expired).is_zero());
    assert!(shop.debt("eva").is_zero());
}

#[test]
fn a_state_stored_before_activity_was_kept_counts_from_its_last_event_however_often_it_is_ticked() {
    let engine = common::program(&airline_program(0, r#"{"after_inactive_months":2}"#)).compile().unwrap();
    let mut state = MemberState::new(member("eva"));
    let booking = r#"{"type":"purchase","id":"b-1","member":"eva","at":"2026-01-10T12:00:00Z","order":"b-1",
        "lines":[{"sku":"flight","qty":"1","unit_price":"100"}]}"#;
    state.apply(&engine.evaluate(&state, &common::event(booking)).unwrap());
    let mut stored = serde_json::to_value(&state).unwrap();
    stored.as_object_mut().unwrap().remove("last_activity_at");
    let mut state: MemberState = serde_json::from_value(stored).unwrap();
    // A monthly batch job's ticks are not activity: the booking's deadline, 10 March, holds.
    for month in 2..=4 {
        let tick = format!(r#"{{"type":"tick","id":"t-{month}","member":"eva","at":"2026-0{month}-01T00:00:00Z"}}"#);
        state.apply(&engine.evaluate(&state, &common::event(&tick)).unwrap());
    }
    assert!(state.points().available.value().is_zero(), "expired on 10 March");
    assert_eq!(state.last_activity_at(), Some("2026-01-10T12:00:00Z".parse().unwrap()));
}

#[test]
fn next_due_names_no_inactivity_deadline_for_points_still_pending() {
    // Miles vest after a year; they expire as they vest, which the vesting date already names.
    let engine = common::program(&airline_program(365, r#"{"after_inactive_months":2}"#)).compile().unwrap();
    let mut state = MemberState::new(member("eva"));
    let booking = r#"{"type":"purchase","id":"b-1","member":"eva","at":"2026-01-10T12:00:00Z","order":"b-1",
        "lines":[{"sku":"flight","qty":"1","unit_price":"100"}]}"#;
    state.apply(&engine.evaluate(&state, &common::event(booking)).unwrap());
    let due = engine.next_due(&state).unwrap();
    assert_eq!(due, "2027-01-10T12:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap(), "the vesting");
    let tick = format!(r#"{{"type":"tick","id":"t-1","member":"eva","at":"{}"}}"#, due.to_rfc3339());
    let outcome = engine.evaluate(&state, &common::event(&tick)).unwrap();
    let moved: Vec<_> = outcome.postings.iter().map(|posting| (posting.from.clone(), posting.to.clone())).collect();
    assert_eq!(moved, [(Account::Pending, Account::Available), (Account::Available, Account::Expired)]);
    state.apply(&outcome);
    assert_eq!(engine.next_due(&state), None);
}

#[test]
fn any_activity_moves_the_inactivity_deadline() {
    let mut shop = airline_with_inactivity_expiry(0);
    shop.buy("eva", "2026-01-10", "o-1", "flight", "300");
    shop.apply(r#"{"type":"redeem","member":"eva","at":"2027-06-01T09:00:00Z","points":"100"}"#);
    shop.apply(r#"{"type":"custom","member":"eva","at":"2028-11-30T09:00:00Z","name":"app_opened"}"#);
    shop.tick("eva", "2030-05-29");
    assert_eq!(shop.available("eva"), decimal("200"), "18 months after 30 November 2028 is 30 May 2030");
    shop.tick("eva", "2030-05-30");
    assert!(shop.available("eva").is_zero());
}

#[test]
fn miles_a_return_gives_back_to_an_inactive_member_expire_at_once() {
    let mut shop = airline_with_inactivity_expiry(0);
    shop.buy("eva", "2026-01-10", "o-1", "flight", "300");
    // 100 of the 300 miles pay 1.00 of a 100.00 bag, which earns 99.
    shop.buy_paying("eva", "2026-02-10", "o-2", "bag", "100.00", "100");
    shop.tick("eva", "2027-08-10");
    assert_eq!(shop.balance("eva", &Account::Expired), decimal("299"), "200 left of the flight and the bag's 99");

    let back = shop.give_back("eva", "2027-09-01", "o-2", "bag", "1");

    // The bag's 99 come back from expired; the 100 that paid for it come back and expire.
    assert!(back.postings.iter().any(|posting| posting.to == Account::Expired && posting.amount == decimal("100")));
    assert!(shop.available("eva").is_zero());
    assert_eq!(shop.balance("eva", &Account::Expired), decimal("300"));
}

#[test]
fn miles_that_vest_after_the_inactivity_deadline_expire_as_they_vest() {
    // A booking vests 600 days later, past the 18 months (about 548 days) of the deadline.
    let mut shop = airline_with_inactivity_expiry(600);
    shop.buy("eva", "2026-01-10", "o-1", "flight", "300");
    let vesting = shop.tick("eva", "2027-09-03");
    let moved: Vec<_> = vesting.postings.iter().map(|posting| (posting.from.clone(), posting.to.clone())).collect();
    assert_eq!(moved, [(Account::Pending, Account::Available), (Account::Available, Account::Expired)]);
    assert_eq!(shop.balance("eva", &Account::Expired), decimal("300"));
}

#[test]
fn redemption_spends_the_soonest_expiring_points_first() {
    let mut shop = Shop::new(
        r#"{"id":"cafe","currency":"TRY","owner":"cafe",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "redemption":{"point_value":"0.1","min_balance":"50"},
            "expiry":{"after_days":30}}"#,
    );
    shop.buy("gul", "2026-01-01", "o-1", "beans", "40");
    let too_early = shop.try_apply(r#"{"type":"redeem","member":"gul","at":"2026-01-02T00:00:00Z","points":"10"}"#);
    assert!(matches!(too_early, Err(LedgerError::Rejected(EvalError::BelowMinimumBalance { .. }))));
    shop.buy("gul", "2026-01-20", "o-2", "beans", "40");
    let redeem =
        shop.apply(r#"{"type":"redeem","member":"gul","at":"2026-01-21T00:00:00Z","points":"50","reward":"mug"}"#);
    let drained: Vec<_> = redeem.postings.iter().map(|posting| (posting.lot.unwrap().0, posting.amount)).collect();
    assert_eq!(drained, vec![(0, decimal("40")), (1, decimal("10"))]);
    shop.tick("gul", "2026-02-20");
    assert!(shop.available("gul").is_zero(), "the second lot expired 30 days after it was earned");
    assert_eq!(shop.balance("gul", &Account::Expired), decimal("30"));
}

/// A cafe where a point is worth 1 lira and 1 lira earns a point that expires after `days`.
fn cafe_with_points_expiring_after(days: u32) -> Shop {
    Shop::new(&format!(
        r#"{{"id":"cafe","currency":"TRY","owner":"cafe",
            "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"1"}}}}]}},
            "redemption":{{"point_value":"1"}},
            "expiry":{{"after_days":{days}}}}}"#
    ))
}

#[test]
fn points_paid_for_a_returned_order_come_back_with_their_old_expiry() {
    let mut shop = cafe_with_points_expiring_after(30);
    shop.buy("hale", "2026-01-01", "o-1", "grinder", "100");
    shop.buy_paying("hale", "2026-01-10", "o-2", "kettle", "60", "60");
    assert_eq!(shop.available("hale"), decimal("40"), "the kettle earned nothing: points paid it all");
    let back = shop.give_back("hale", "2026-01-12", "o-2", "kettle", "1");
    assert_eq!(back.lots_opened[0].expires_at, shop.state("hale").lot(loyalty_engine::LotId(0)).unwrap().expires_at);
    assert_eq!(shop.available("hale"), decimal("100"));
    shop.tick("hale", "2026-01-31");
    assert!(shop.available("hale").is_zero(), "given-back points expire with the lot they came from");
}

/// Points given back at the very instant their old expiry falls are expired already.
#[test]
fn points_given_back_at_the_instant_they_expire_go_to_expired() {
    let mut shop = cafe_with_points_expiring_after(30);
    shop.buy("hale", "2026-01-01", "o-1", "grinder", "100");
    shop.buy_paying("hale", "2026-01-10", "o-2", "kettle", "60", "60");
    let back = shop.give_back("hale", "2026-01-31", "o-2", "kettle", "1");
    assert_eq!(back.lots_opened[0].expires_at.unwrap().to_rfc3339(), "2026-01-31T12:00:00+00:00");
    assert!(shop.available("hale").is_zero(), "the 40 left and the 60 given back expire at 12:00");
}

/// Points that paid for an order come back in proportion to the units returned, rounded down,
/// and the last unit returned brings back the rest.
#[test]
fn points_that_paid_come_back_rounded_down_until_the_last_unit() {
    let mut shop = electronics_shop(0, "negative_balance");
    shop.buy("ilke", "2026-06-01", "o-1", "tv", "1000");
    shop.apply(
        r#"{"type":"purchase","member":"ilke","at":"2026-06-02T10:00:00Z","order":"o-2",
            "lines":[{"sku":"cable","qty":"3","unit_price":"20"}],"pay_with_points":"10"}"#,
    );
    let paid_back = |outcome: &loyalty_engine::Outcome| {
        outcome
            .postings
            .iter()
            .filter(|posting| posting.from == Account::Redeemed)
            .map(|posting| posting.amount)
            .sum::<rust_decimal::Decimal>()
    };
    let one = shop.give_back("ilke", "2026-06-03", "o-2", "cable", "1");
    assert_eq!(paid_back(&one), decimal("3"), "a third of 10 points, rounded down");
    let rest = shop.give_back("ilke", "2026-06-04", "o-2", "cable", "2");
    assert_eq!(paid_back(&rest), decimal("7"));
}

/// An order too small to earn a whole point opens no lot and keeps no empty earning.
#[test]
fn an_order_that_earns_nothing_opens_no_lot() {
    let mut shop = electronics_shop(0, "negative_balance");
    let small = shop.buy("ilke", "2026-06-01", "o-1", "sticker", "5");
    let receipt = small.receipt.as_deref().unwrap();
    assert!(receipt.earnings.is_empty() && small.lots_opened.is_empty() && small.postings.is_empty(), "{small:?}");
}

#[test]
fn a_state_stored_in_the_old_form_keeps_what_paid_for_its_orders() {
    let mut shop = cafe_with_points_expiring_after(30);
    shop.buy("hale", "2026-01-01", "o-1", "grinder", "100");
    shop.apply(
        r#"{"type":"purchase","member":"hale","at":"2026-01-10T12:00:00Z","order":"o-2","pay_with_points":"45",
            "lines":[{"sku":"kettle","qty":"1","unit_price":"60"},{"sku":"mug","qty":"2","unit_price":"15"}]}"#,
    );
    shop.give_back("hale", "2026-01-12", "o-2", "mug", "1");
    let now = serde_json::to_value(shop.state("hale")).unwrap();
    let old = common::in_the_old_form(&now);
    assert!(old.to_string().contains(r#""points_paid_refunded":"#), "{old}");

    let loaded: MemberState = serde_json::from_value(old.clone()).unwrap();

    assert_eq!(loaded, shop.state("hale"), "what paid for the order and what came back are kept");
    assert_eq!(serde_json::to_value(&loaded).unwrap(), now, "and written back in the new form");
    let mut mixed = old;
    mixed["orders"][1]["payment"] = now["orders"][1]["payment"].clone();
    let error = serde_json::from_value::<MemberState>(mixed).unwrap_err().to_string();
    assert!(error.contains("order o-2 mixes the old and new forms"), "{error}");
}

#[test]
fn returning_an_order_whose_points_expired_unused_costs_the_member_nothing() {
    let mut shop = cafe_with_points_expiring_after(10);
    shop.buy("inci", "2026-01-01", "o-1", "machine", "100");
    shop.buy_paying("inci", "2026-01-05", "o-2", "filter", "60", "30");
    shop.tick("inci", "2026-01-20");
    assert_eq!(shop.balance("inci", &Account::Expired), decimal("100"), "70 of the machine's and the filter's 30");

    let back = shop.give_back("inci", "2026-01-21", "o-1", "machine", "1");

    assert_eq!(shop.debt("inci"), decimal("-30"), "the member owes only the 30 points spent on the filter");
    let owed = Notice::SpentPointsClawedBack { points: decimal("30").into(), covered_by: Coverage::Debt };
    assert_eq!(back.notices, vec![owed]);
    assert_eq!(shop.balance("inci", &Account::Expired), decimal("30"), "the machine's expired 70 went back");
    assert_eq!(shop.balance("inci", &funder("cafe")), decimal("-30"), "the cafe still carries the filter's points");
}

#[test]
fn a_replayed_event_returns_the_first_outcome_and_a_changed_one_is_a_conflict() {
    let mut shop = electronics_shop(0, "negative_balance");
    let purchase = common::event(
        r#"{"type":"purchase","id":"pos-17","member":"ilk","at":"2026-03-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"tv","qty":"1","unit_price":"1000"}]}"#,
    );
    let first = shop.ledger.apply(&purchase).unwrap();
    let second = shop.ledger.apply(&purchase).unwrap();
    assert_eq!(first, second);
    assert_eq!(shop.available("ilk"), decimal("100"), "one accrual, not two");

    let changed = common::event(
        r#"{"type":"purchase","id":"pos-17","member":"ilk","at":"2026-03-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"tv","qty":"2","unit_price":"1000"}]}"#,
    );
    assert!(matches!(shop.ledger.apply(&changed), Err(LedgerError::Conflict { .. })));
    assert_eq!(shop.available("ilk"), decimal("100"));
}

#[test]
fn a_member_cannot_return_another_members_order() {
    let mut shop = electronics_shop(0, "negative_balance");
    shop.buy("owner", "2026-03-01", "o-1", "tv", "1000");
    let theft = shop.try_apply(
        r#"{"type":"return","member":"thief","at":"2026-03-02T10:00:00Z","order":"o-1","lines":[{"sku":"tv","qty":"1"}]}"#,
    );
    assert!(matches!(theft, Err(LedgerError::Rejected(EvalError::UnknownOrder { .. }))));
    assert_eq!(shop.available("owner"), decimal("100"));
    assert!(shop.state("thief").balances().next().is_none());
}

#[test]
fn balances_are_the_fold_of_the_postings() {
    let mut shop = electronics_shop(0, "negative_balance");
    shop.buy("jale", "2026-03-01", "o-1", "tv", "1000");
    shop.buy_paying("jale", "2026-03-02", "o-2", "radio", "200", "100");
    shop.give_back("jale", "2026-03-03", "o-1", "tv", "1");
    let state = shop.state("jale");
    let outcomes: Vec<_> =
        shop.ledger.store().committed().unwrap().into_iter().map(|recorded| recorded.outcome).collect();
    for (account, asset, balance) in state.balances() {
        let folded: rust_decimal::Decimal = outcomes
            .iter()
            .flat_map(|outcome| &outcome.postings)
            .filter(|posting| posting.asset == *asset)
            .map(|posting| {
                let into = if posting.to == *account { posting.amount } else { decimal("0") };
                let out_of = if posting.from == *account { posting.amount } else { decimal("0") };
                into - out_of
            })
            .sum();
        assert_eq!(balance, folded, "{account}");
    }
    let total: rust_decimal::Decimal =
        state.balances().filter(|(_, asset, _)| **asset == Asset::Points).map(|(_, _, b)| b).sum();
    assert!(total.is_zero());
    assert_eq!(state.member(), &member("jale"));
}

/// Points earned on o-1 pay for a gift card (o-2); the card comes back, then o-1. Whether the
/// refunded points expired at once or later, in their refund lot, they were the member's loss
/// already: o-1's return reclaims them from `expired` and the member owes nothing.
#[test]
fn spent_points_that_came_back_and_expired_are_not_charged_again() {
    for (expiry, card_back, order_back) in
        [(r#"{"after_days":20}"#, "2026-01-25", "2026-01-25"), (r#""end_of_month""#, "2026-01-03", "2026-02-02")]
    {
        let mut shop = Shop::new(&format!(
            r#"{{"id":"p","currency":"TRY","owner":"shop",
                "earn":{{"exclude":[{{"categories":["gift_card"]}}],"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"1"}}}}]}},
                "redemption":{{"point_value":"0.1","max_share_of_order":"1"}},
                "returns":{{"when_points_spent":"negative_balance"}},"expiry":{expiry}}}"#
        ));
        shop.buy("ida", "2026-01-01", "o-1", "a", "10.00");
        shop.apply(
            r#"{"type":"purchase","member":"ida","at":"2026-01-02T12:00:00Z","order":"o-2","pay_with_points":"10",
                "lines":[{"sku":"card","qty":"1","unit_price":"1.00","category":"gift_card"}]}"#,
        );
        shop.give_back("ida", card_back, "o-2", "card", "1");

        let returned = shop.give_back("ida", order_back, "o-1", "a", "1");

        assert!(returned.notices.is_empty(), "{expiry}: nothing was spent for good: {:?}", returned.notices);
        assert_eq!((shop.available("ida"), shop.debt("ida")), (decimal("0"), decimal("0")), "{expiry}");
        assert!(shop.balance("ida", &Account::Expired).is_zero(), "{expiry}: the expired points went back");
    }
}

#[test]
fn a_month_of_small_purchases_vests_in_one_tick_and_one_redemption_spends_it_all() {
    let mut shop = electronics_shop(30, "negative_balance");
    for day in 1..=20 {
        shop.buy("deniz", &format!("2026-03-{day:02}"), &format!("o-{day}"), "tea", &format!("{day}0.00"));
    }
    let earned: u32 = (1..=20).sum();

    let vesting = shop.tick("deniz", "2026-05-01");
    assert_eq!(vesting.postings.len(), 20, "each order's lot vests once");
    assert_eq!(shop.available("deniz"), decimal(&earned.to_string()));

    let redemption =
        shop.apply(&format!(r#"{{"type":"redeem","member":"deniz","at":"2026-05-02T12:00:00Z","points":"{earned}"}}"#));

    let mut drained: Vec<_> =
        redemption.postings.iter().map(|posting| posting.lot.expect("redemption drains lots")).collect();
    drained.dedup();
    assert_eq!(drained.len(), 20, "every lot drained in one posting, oldest first: {drained:?}");
    assert!(drained.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(shop.available("deniz").is_zero());
    assert_eq!(shop.state("deniz").lots().count(), 0);
}

#[test]
fn a_preview_of_a_big_cart_leaves_nothing_in_the_next_receipt() {
    let engine = common::program(
        r#"{"id":"shop","currency":"EUR","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}},
                             {"id":"tea","when":{"skus":["tea"]},"effect":{"points_per_unit":"2"}}]}}"#,
    )
    .compile()
    .unwrap();
    let mut state = loyalty_engine::MemberState::new(member("ada"));
    let lines: Vec<String> =
        (0..40).map(|index| format!(r#"{{"sku":"tea","qty":"1","unit_price":"{}.00"}}"#, 10 + index)).collect();
    let cart = common::event(&format!(
        r#"{{"type":"purchase","id":"preview","member":"ada","at":"2026-03-01T10:00:00Z","order":"cart",
            "lines":[{}]}}"#,
        lines.join(",")
    ));
    let mut outcome = engine.evaluate(&state, &cart).unwrap();
    engine.evaluate_into(&state, &cart, &mut outcome).unwrap(); // a checkout page, asked twice

    let purchase = common::event(
        r#"{"type":"purchase","id":"e-1","member":"ada","at":"2026-03-01T10:05:00Z","order":"o-1",
            "lines":[{"sku":"mug","qty":"1","unit_price":"30.00"}]}"#,
    );
    engine.evaluate_into(&state, &purchase, &mut outcome).unwrap();
    state.apply(&outcome);

    assert_eq!(outcome, engine.evaluate(&loyalty_engine::MemberState::new(member("ada")), &purchase).unwrap());
    let receipt = state.order(&"o-1".parse().unwrap()).unwrap();
    assert_eq!((receipt.lines.len(), receipt.earnings.len()), (1, 1));
    assert!(receipt.lines.capacity() <= 2 && receipt.earnings.capacity() <= 2, "the cart's memory was given back");
    assert_eq!(state.points().available.value(), decimal("3"));
}

/// A café where everyone earns 10%, staff earn double, students get 5% cashback, and staff
/// fill a card of their own.
fn cafe_with_segments() -> common::Shop {
    common::Shop::new(
        r#"{"id":"cafe","currency":"TRY","owner":"cafe",
            "earn":{"rules":[
              {"id":"base","effect":{"points_per_currency_unit":"0.1"}},
              {"id":"staff-double","when":{"segments":["staff"]},"effect":{"multiplier":"2"}}]},
            "cashback":{"rules":[{"id":"students","when":{"segments":["student"]},"share":"0.05"}]},
            "stamp_cards":[{"id":"staff-card","when":{"segments":["staff","volunteer"]},"stamps_needed":5,
              "reward":{"points":"10"}}]}"#,
    )
}

fn cafe_order(member: &str, day: &str, order: &str, segments: &str) -> String {
    format!(
        r#"{{"type":"purchase","member":"{member}","at":"{day}T09:00:00Z","order":"{order}","segments":{segments},
            "lines":[{{"sku":"latte","qty":"2","unit_price":"50.00"}}]}}"#
    )
}

#[test]
fn segments_the_host_names_on_a_purchase_choose_the_rules_that_apply() {
    let mut cafe = cafe_with_segments();
    let guest = cafe.apply(&cafe_order("guest", "2026-03-01", "o-1", "[]"));
    assert_eq!(guest.postings.iter().map(|posting| posting.amount).sum::<Decimal>(), decimal("10"));
    assert_eq!(cafe.available("guest"), decimal("10"));

    cafe.apply(&cafe_order("emre", "2026-03-01", "o-2", r#"["staff"]"#));
    assert_eq!(cafe.available("emre"), decimal("20"), "staff earn double");
    let stamps =
        cafe.state("emre").balance(&Account::Available, loyalty_engine::Asset::Stamps("staff-card".parse().unwrap()));
    assert_eq!(stamps, decimal("2"), "and fill the staff card");

    cafe.apply(&cafe_order("zeynep", "2026-03-01", "o-3", r#"["student","chess-club"]"#));
    assert_eq!(cafe.available("zeynep"), decimal("10"));
    assert_eq!(cafe.state("zeynep").cashback().available.value(), decimal("5.00"), "students get 5% back");

    // A return works from the receipt: what the staff order earned comes back, whatever the
    // member's segments are now.
    cafe.apply(&cafe_order("emre", "2026-03-02", "o-4", "[]"));
    assert_eq!(cafe.available("emre"), decimal("30"));
    cafe.give_back("emre", "2026-03-03", "o-2", "latte", "2");
    assert_eq!(cafe.available("emre"), decimal("10"), "the staff order's 20 points went back");
}

#[test]
fn a_purchase_naming_too_many_segments_is_refused() {
    let mut cafe = cafe_with_segments();
    let many: Vec<String> =
        (0..=loyalty_engine::MAX_SEGMENTS_PER_EVENT).map(|index| format!(r#""s-{index}""#)).collect();
    let refused = cafe.try_apply(&cafe_order("emre", "2026-03-01", "o-1", &format!("[{}]", many.join(","))));
    assert!(
        matches!(refused, Err(LedgerError::Rejected(EvalError::TooManySegments { count })) if count == 101),
        "{refused:?}"
    );
}

/// A shop earning 10% under one rule capped at 600 points an order, rejecting orders over it,
/// rounded as `mode` says.
fn rejecting_shop(mode: &str) -> Shop {
    Shop::new(&format!(
        r#"{{"id":"p","currency":"EUR","owner":"shop","rounding":{{"mode":"{mode}","decimal_places":0}},
            "earn":{{"rules":[{{"id":"promo","effect":{{"points_per_currency_unit":"0.1"}},
              "max_points_per_order":"600","over_cap":"reject"}}]}}}}"#
    ))
}

#[test]
fn a_rejecting_cap_judges_the_points_as_they_round() {
    let mut floor = rejecting_shop("floor");
    let exact = floor.buy("ayse", "2026-03-01", "o-1", "tv", "6000.00");
    let fraction_more = floor.buy("ayse", "2026-03-01", "o-2", "tv", "6004.00");
    let sum =
        |outcome: &loyalty_engine::Outcome| outcome.postings.iter().map(|posting| posting.amount).sum::<Decimal>();
    assert_eq!(sum(&exact), decimal("600"));
    assert_eq!(sum(&fraction_more), decimal("600"), "600.4 floors to 600, within the cap");
    assert_eq!(sum(&floor.buy("ayse", "2026-03-01", "o-3", "tv", "6010.00")), decimal("0"), "601 is over it");

    let mut ceiling = rejecting_shop("ceiling");
    // An order of `count` lines of one unit at `price`.
    let mut identical_lines = |order: &str, count: usize, price: &str| {
        let lines: Vec<String> =
            (0..count).map(|index| format!(r#"{{"sku":"s{index}","qty":"1","unit_price":"{price}"}}"#)).collect();
        sum(&ceiling.apply(&format!(
            r#"{{"type":"purchase","member":"ayse","at":"2026-03-01T10:00:00Z","order":"{order}","lines":[{}]}}"#,
            lines.join(",")
        )))
    };
    // Seven lines of 85.71 points: each line rounds up to 86, 602 in all, over the cap: none.
    assert_eq!(identical_lines("o-1", 7, "857.10"), decimal("0"));
    // Five lines of 119.91: 120 each, 600 in all, within the cap: all of them.
    assert_eq!(identical_lines("o-2", 5, "1199.10"), decimal("600"));

    // Two lines of 300.3 points round half up to 300 each: 600, within the cap, though 600.6 as
    // a whole would round to 601. The rule is judged as the lines pay it.
    let mut half_up = rejecting_shop("half_up");
    let outcome = half_up.apply(
        r#"{"type":"purchase","member":"ayse","at":"2026-03-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"a","qty":"1","unit_price":"3003.00"},{"sku":"b","qty":"1","unit_price":"3003.00"}]}"#,
    );
    assert_eq!(sum(&outcome), decimal("600"));
}

#[test]
fn a_rejecting_cap_is_not_tipped_over_by_the_rules_beside_it_or_its_funders() {
    // The README's basket bonus under ceiling rounding: the line's spare unit goes to the
    // base rule, not to the bonus, so the month holds two whole bonuses.
    let mut basket = Shop::new(
        r#"{"id":"p","currency":"EUR","owner":"shop","rounding":{"mode":"ceiling","decimal_places":0},
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}},
              {"id":"basket","effect":{"points_per_order":"300"},
               "max_points_per_period":{"period":"month","points":"600"},"over_cap":"reject"}]}}"#,
    );
    let bonus = |outcome: &loyalty_engine::Outcome| -> Decimal {
        let earnings = &outcome.receipt.as_ref().unwrap().earnings;
        earnings.iter().filter(|earning| earning.rule.as_str() == "basket").map(|earning| earning.points).sum()
    };
    assert_eq!(bonus(&basket.buy("ayse", "2026-03-02", "o-1", "x", "50.50")), decimal("300"));
    assert_eq!(bonus(&basket.buy("ayse", "2026-03-03", "o-2", "x", "50.50")), decimal("300"));
    assert_eq!(bonus(&basket.buy("ayse", "2026-03-04", "o-3", "x", "50.50")), decimal("0"));

    // Exactly at its cap, split 50/50 between two funders whose halves round up apart.
    let mut split = Shop::new(
        r#"{"id":"p","currency":"EUR","owner":"shop","rounding":{"mode":"ceiling","decimal_places":0},
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.01"}},
              {"id":"promo","effect":{"points_per_currency_unit":"1"},"funded_by":{"shop":"0.5","acme":"0.5"},
               "max_points_per_order":"9","over_cap":"reject"}]}}"#,
    );
    let outcome = split.buy("ayse", "2026-03-01", "o-1", "x", "9.00");
    let promo: Decimal = outcome
        .receipt
        .as_ref()
        .unwrap()
        .earnings
        .iter()
        .filter(|earning| earning.rule.as_str() == "promo")
        .map(|earning| earning.points)
        .sum();
    assert_eq!(promo, decimal("9"));
}
