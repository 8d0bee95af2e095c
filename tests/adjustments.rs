//! Manual adjustments: a back office credits or takes back points for a listed reason.

mod common;

use common::{Shop, decimal};
use loyalty_engine::{Account, AssetTotals, EvalError, FunderId, LedgerError};

/// A shop earning 10% (a supplier pays for SKU `tea`), points expiring 12 months after they are
/// available, spending allowed; the back office may adjust up to 1,000 points for goodwill or a
/// correction.
fn shop() -> Shop {
    Shop::new(
        r#"{"id":"shop","currency":"EUR","owner":"shop",
            "earn":{"rules":[
              {"id":"base","when":{"skus":["tv","mug"]},"effect":{"points_per_currency_unit":"0.1"}},
              {"id":"tea","when":{"skus":["tea"]},"effect":{"points_per_currency_unit":"0.1"},"funded_by":{"tea-co":"1"}}]},
            "redemption":{"point_value":"0.01"},
            "expiry":{"after_months":12},
            "adjustments":{"reasons":["goodwill","correction"],"max_points":"1000"}}"#,
    )
}

fn adjust(points: &str, reason: &str, day: &str) -> String {
    format!(r#"{{"type":"adjust","member":"ayse","at":"{day}T12:00:00Z","points":"{points}","reason":"{reason}"}}"#)
}

fn funder(id: &str) -> Account {
    Account::Funder(FunderId::new(id).unwrap())
}

fn refused(shop: &mut Shop, json: &str) -> EvalError {
    match shop.try_apply(json) {
        Err(LedgerError::Rejected(error)) => error,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn goodwill_credits_available_points_that_the_owner_pays_for_and_that_expire_like_others() {
    let mut shop = shop();
    let outcome = shop.apply(&adjust("300", "goodwill", "2026-03-01"));
    assert_eq!(shop.available("ayse"), decimal("300"));
    assert_eq!(shop.balance("ayse", &funder("shop")), decimal("-300"));
    let lot = &outcome.lots_opened[0];
    assert_eq!(lot.expires_at, Some("2027-03-01T12:00:00Z".parse().unwrap()));
    assert!(!outcome.activity, "an adjustment is the back office's doing, not the member's");

    let named = shop.apply(
        r#"{"type":"adjust","member":"ayse","at":"2026-03-02T12:00:00Z","points":"50","reason":"goodwill","funder":"tea-co"}"#,
    );
    assert_eq!(named.lots_opened[0].funder.as_str(), "tea-co");
    assert_eq!(shop.balance("ayse", &funder("tea-co")), decimal("-50"));
}

#[test]
fn a_credit_repays_debt_first() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"EUR","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}}]},
            "redemption":{"point_value":"1"},
            "adjustments":{"reasons":["goodwill"],"max_points":"1000"}}"#,
    );
    shop.buy("ayse", "2026-03-01", "tv", "tv", "1000.00");
    shop.apply(r#"{"type":"redeem","member":"ayse","at":"2026-03-02T12:00:00Z","points":"100"}"#);
    shop.give_back("ayse", "2026-03-03", "tv", "tv", "1");
    assert_eq!(shop.debt("ayse"), decimal("-100"));
    shop.apply(&adjust("150", "goodwill", "2026-03-04"));
    assert_eq!((shop.debt("ayse"), shop.available("ayse")), (decimal("0"), decimal("50")));
}

#[test]
fn a_correction_takes_back_available_points_soonest_expiring_first_each_to_its_funder() {
    let mut shop = shop();
    shop.buy("ayse", "2026-01-10", "o-1", "tea", "1000.00"); // 100 points from tea-co, expiring first
    shop.buy("ayse", "2026-02-10", "o-2", "mug", "500.00"); // 50 from the shop
    let too_much = refused(&mut shop, &adjust("-151", "correction", "2026-03-01"));
    assert!(matches!(too_much, EvalError::InsufficientPoints { .. }), "{too_much:?}");

    let outcome = shop.apply(&adjust("-120", "correction", "2026-03-01"));
    assert_eq!(shop.available("ayse"), decimal("30"));
    assert_eq!(shop.debt("ayse"), decimal("0"));
    // All 100 of tea-co's lot back to tea-co, and 20 of the shop's back to the shop: each funder
    // carries the cost of what the member keeps, and nobody settles for points nobody honoured.
    assert_eq!(shop.balance("ayse", &funder("tea-co")), decimal("0"));
    assert_eq!(shop.balance("ayse", &funder("shop")), decimal("-30"));
    assert!(outcome.postings.iter().all(|posting| !matches!(posting.to, Account::Settlement(_))));
    let mut totals = AssetTotals::default();
    totals.record(&outcome);
    assert_eq!(totals.clawed_back, decimal("120"));
}

#[test]
fn a_correction_naming_a_funder_takes_back_only_that_funders_points() {
    let mut shop = shop();
    shop.buy("ayse", "2026-01-10", "o-1", "tea", "1000.00"); // 100 from tea-co
    shop.buy("ayse", "2026-02-10", "o-2", "mug", "500.00"); // 50 from the shop
    let take = |points: &str| {
        format!(
            r#"{{"type":"adjust","member":"ayse","at":"2026-03-01T12:00:00Z","points":"{points}","reason":"correction","funder":"shop"}}"#
        )
    };
    let short = refused(&mut shop, &take("-60"));
    assert!(
        matches!(short, EvalError::InsufficientPoints { available, .. } if available.value() == decimal("50")),
        "the shop paid for 50 of the 150: {short:?}"
    );
    shop.apply(&take("-50"));
    assert_eq!(shop.available("ayse"), decimal("100"), "tea-co's 100 stay, though they expire first");
    assert_eq!(shop.balance("ayse", &funder("shop")), decimal("0"));
}

#[test]
fn adjustments_need_a_listed_reason_a_nonzero_amount_in_the_programs_points_and_at_most_its_most() {
    let mut shop = shop();
    let reason = refused(&mut shop, &adjust("10", "birthday", "2026-03-01"));
    assert!(matches!(&reason, EvalError::UnknownReason { reason } if reason.as_str() == "birthday"), "{reason:?}");
    assert!(matches!(refused(&mut shop, &adjust("0", "goodwill", "2026-03-01")), EvalError::InvalidPoints { .. }));
    assert!(matches!(refused(&mut shop, &adjust("1.5", "goodwill", "2026-03-01")), EvalError::InvalidPoints { .. }));
    for points in ["1001", "-1001"] {
        let large = refused(&mut shop, &adjust(points, "goodwill", "2026-03-01"));
        assert!(
            matches!(large, EvalError::AdjustmentTooLarge { points: given, .. } if given.value() == decimal(points)),
            "{large:?}"
        );
    }
    shop.apply(&adjust("1000", "goodwill", "2026-03-01"));
    assert_eq!(shop.available("ayse"), decimal("1000"));

    let mut plain = Shop::new(r#"{"id":"p","currency":"EUR","owner":"shop"}"#);
    assert!(matches!(refused(&mut plain, &adjust("10", "goodwill", "2026-03-01")), EvalError::UnknownReason { .. }));
}

#[test]
fn adjustment_sections_are_checked_when_the_program_compiles() {
    let compile = |section: &str| {
        common::compile_error(&format!(r#"{{"id":"p","currency":"EUR","owner":"o","adjustments":{section}}}"#))
    };
    assert_eq!(
        compile(r#"{"reasons":[],"max_points":"10"}"#),
        "adjustments.reasons: must list 1 to 100 reasons, not 0"
    );
    assert_eq!(compile(r#"{"reasons":["a","a"],"max_points":"10"}"#), "adjustments.reasons[1]: `a` is listed twice");
    assert!(compile(r#"{"reasons":["a"],"max_points":"0"}"#).starts_with("adjustments.max_points: must be a positive"));
    assert!(compile(r#"{"reasons":["a"],"max_points":"2.5"}"#).starts_with("adjustments.max_points:"));
}

#[test]
fn taken_back_points_count_as_spent_when_their_order_is_returned_later() {
    let mut shop = shop();
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "1000.00");
    shop.apply(&adjust("-100", "correction", "2026-03-02"));
    shop.give_back("ayse", "2026-03-03", "o-1", "tv", "1");
    // As the README says: a return after a take-back claws the points back again, so the
    // way to undo an order's points is its return.
    assert_eq!(shop.debt("ayse"), decimal("-100"));
    assert_eq!(shop.balance("ayse", &funder("shop")), decimal("100"));
}

#[test]
fn adjustments_under_deduct_from_refund_need_a_point_value_to_price_them() {
    let error = common::compile_error(
        r#"{"id":"p","currency":"EUR","owner":"shop","adjustments":{"reasons":["fix"],"max_points":"100"},
            "returns":{"when_points_spent":"deduct_from_refund"}}"#,
    );
    assert!(
        error.starts_with("returns.when_points_spent: deduct_from_refund prices donated, transferred and taken-back"),
        "{error}"
    );
}
