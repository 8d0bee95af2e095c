//! Donations: members give available points to a cause the program lists.

mod common;

use common::{Shop, decimal};
use loyalty_engine::{Account, Asset, AssetTotals, EvalError, FunderId, LedgerError, Tag};

/// A shop where a purchase earns 10% (a supplier pays half of it on SKU `tea`), points vest
/// after `vesting_days`, spending needs 500 points, and members may give at least 50 points
/// to the red cross or a tree-planting fund.
fn giving_shop(vesting_days: u32) -> Shop {
    Shop::new(&format!(
        r#"{{"id":"giving","currency":"TRY","owner":"shop",
            "earn":{{"rules":[
              {{"id":"base","when":{{"skus":["tv","oven","mug"]}},"effect":{{"points_per_currency_unit":"0.1"}}}},
              {{"id":"tea","when":{{"skus":["tea"]}},"effect":{{"points_per_currency_unit":"0.1"}},
                "funded_by":{{"shop":"0.5","tea-co":"0.5"}}}}]}},
            "redemption":{{"point_value":"1","min_balance":"500"}},
            "donations":{{"causes":["red-cross","trees"],"min_points":"50"}},
            "returns":{{"vesting_days":{vesting_days},"when_points_spent":"negative_balance"}}}}"#
    ))
}

fn donated_to(cause: &str) -> Account {
    Account::Donated(Tag::new(cause).unwrap())
}

fn donation(member: &str, day: &str, points: &str, cause: &str) -> String {
    format!(r#"{{"type":"donate","member":"{member}","at":"{day}T12:00:00Z","points":"{points}","cause":"{cause}"}}"#)
}

#[test]
fn a_donation_moves_available_points_to_the_cause_and_the_owner_honours_a_partners_share() {
    let mut shop = giving_shop(0);
    shop.buy("ayse", "2026-03-01", "o-1", "tea", "1000.00");
    assert_eq!(shop.available("ayse"), decimal("100"), "50 from the shop's lot, 50 from tea-co's");
    let before = shop.state("ayse");

    let outcome = shop.apply(&donation("ayse", "2026-03-02", "80", "red-cross"));

    assert_eq!(shop.available("ayse"), decimal("20"));
    assert_eq!(shop.balance("ayse", &donated_to("red-cross")), decimal("80"));
    let donated: Vec<_> = outcome.postings.iter().filter(|posting| posting.to == donated_to("red-cross")).collect();
    assert!(donated.iter().all(|posting| posting.from == Account::Available && posting.lot.is_some()));
    // The shop pays the cause for all 80 points; tea-co owes it for those tea-co paid for.
    let settlement = |funder: &str| Account::Settlement(FunderId::new(funder).unwrap());
    let settled: rust_decimal::Decimal = outcome
        .postings
        .iter()
        .filter(|posting| posting.from == settlement("tea-co") && posting.to == settlement("shop"))
        .map(|posting| posting.amount)
        .sum();
    let from_tea_co: rust_decimal::Decimal = donated
        .iter()
        .filter(|posting| before.lot(posting.lot.unwrap()).unwrap().funder.as_str() == "tea-co")
        .map(|posting| posting.amount)
        .sum();
    assert!(from_tea_co > decimal("0"), "tea-co's lot gave some of the points");
    assert_eq!(settled, from_tea_co);

    let mut totals = AssetTotals::default();
    totals.record(&outcome);
    assert_eq!(totals.donated, decimal("80"));
    assert_eq!(totals.balance(&donated_to("red-cross")), decimal("80"));
}

#[test]
fn the_spending_minimum_does_not_stop_a_donation_but_the_donations_own_minimum_does() {
    let mut shop = giving_shop(0);
    shop.buy("ayse", "2026-03-01", "o-1", "mug", "1200.00");
    assert_eq!(shop.available("ayse"), decimal("120"), "below the 500 a redemption needs");
    let redeem = shop.try_apply(r#"{"type":"redeem","member":"ayse","at":"2026-03-02T12:00:00Z","points":"100"}"#);
    assert!(matches!(redeem, Err(LedgerError::Rejected(EvalError::BelowMinimumBalance { .. }))));

    let small = shop.try_apply(&donation("ayse", "2026-03-02", "49", "trees"));
    let Err(LedgerError::Rejected(EvalError::BelowMinimumDonation { requested, minimum })) = small else {
        panic!("a donation below the minimum is refused: {small:?}")
    };
    assert_eq!((requested.value(), minimum.value()), (decimal("49"), decimal("50")));

    shop.apply(&donation("ayse", "2026-03-02", "120", "trees"));
    assert_eq!(shop.available("ayse"), decimal("0"));
    assert_eq!(shop.balance("ayse", &donated_to("trees")), decimal("120"));
}

#[test]
fn a_donation_is_refused_for_an_unlisted_cause_pending_points_or_a_finer_amount() {
    let mut shop = giving_shop(14);
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "10000.00");
    assert_eq!(shop.pending("ayse"), decimal("1000"));

    let pending = shop.try_apply(&donation("ayse", "2026-03-02", "100", "red-cross"));
    assert!(matches!(pending, Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. }))), "{pending:?}");
    let unknown = shop.try_apply(&donation("ayse", "2026-03-20", "100", "casino"));
    let Err(LedgerError::Rejected(EvalError::UnknownCause { cause })) = unknown else { panic!("{unknown:?}") };
    assert_eq!(cause.as_str(), "casino");
    let finer = shop.try_apply(&donation("ayse", "2026-03-20", "100.5", "red-cross"));
    assert!(matches!(finer, Err(LedgerError::Rejected(EvalError::InvalidPoints { .. }))), "{finer:?}");
    let too_much = shop.try_apply(&donation("ayse", "2026-03-20", "1001", "red-cross"));
    assert!(matches!(too_much, Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. }))), "{too_much:?}");

    shop.apply(&donation("ayse", "2026-03-20", "1000", "red-cross"));
    assert_eq!(shop.available("ayse"), decimal("0"), "vested on 15 March, then given");
}

#[test]
fn a_program_without_donations_refuses_them() {
    let mut shop = Shop::new(
        r#"{"id":"plain","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}}]}}"#,
    );
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "1000.00");
    let refused = shop.try_apply(&donation("ayse", "2026-03-02", "10", "red-cross"));
    assert!(matches!(refused, Err(LedgerError::Rejected(EvalError::UnknownCause { .. }))), "{refused:?}");
    assert_eq!(shop.available("ayse"), decimal("100"));
}

#[test]
fn donating_a_returned_tvs_points_leaves_the_member_owing_them() {
    let mut shop = giving_shop(0);
    shop.buy("ayse", "2026-03-01", "tv", "tv", "10000.00");
    shop.apply(&donation("ayse", "2026-03-02", "1000", "red-cross"));

    shop.give_back("ayse", "2026-03-10", "tv", "tv", "1");

    assert_eq!(shop.debt("ayse"), decimal("-1000"), "the gift stands; the member owes its points");
    assert_eq!(shop.balance("ayse", &donated_to("red-cross")), decimal("1000"));
    let shop_account = Account::Funder(FunderId::new("shop").unwrap());
    assert!(shop.balance("ayse", &shop_account).is_zero(), "the shop carries no cost for a returned TV");
}

#[test]
fn a_donated_account_reads_back_from_its_name() {
    let account: Account = "donated:red-cross".parse().unwrap();
    assert_eq!(account, donated_to("red-cross"));
    assert_eq!(account.to_string(), "donated:red-cross");
    assert!("donated:".parse::<Account>().is_err());
    assert_eq!(serde_json::to_string(&account).unwrap(), r#""donated:red-cross""#);
    let points = AssetTotals::new(Asset::Points);
    assert!(points.donated.is_zero());
}

#[test]
fn a_donation_is_activity_that_keeps_the_rest_from_expiring_after_inactivity() {
    let mut shop = Shop::new(
        r#"{"id":"idle","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}}]},
            "donations":{"causes":["trees"]},
            "expiry":{"after_inactive_months":2}}"#,
    );
    shop.buy("ayse", "2026-01-10", "o-1", "mug", "1000.00");
    shop.apply(&donation("ayse", "2026-03-01", "10", "trees"));
    shop.tick("ayse", "2026-04-20");
    assert_eq!(shop.available("ayse"), decimal("90"), "two months from the donation have not passed");
    shop.tick("ayse", "2026-05-02");
    assert!(shop.available("ayse").is_zero(), "two months after the donation, the rest expired");
}

#[test]
fn donations_under_deduct_from_refund_need_a_point_value_to_price_them() {
    let error = common::compile_error(
        r#"{"id":"p","currency":"TRY","owner":"shop","donations":{"causes":["red-cross"]},
            "returns":{"when_points_spent":"deduct_from_refund"}}"#,
    );
    assert!(
        error.starts_with("returns.when_points_spent: deduct_from_refund prices donated, transferred and taken-back"),
        "{error}"
    );
}
