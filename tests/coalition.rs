//! A coalition: an airline and a hotel chain earn into one program, each funding what its own
//! sales earn, and settle between them when points of one are spent with the other.

mod common;

use std::sync::Arc;

use common::{Shop, decimal};
use loyalty_engine::{Account, Asset, AssetTotals, FunderId, Outcome};
use rust_decimal::Decimal;

/// SkyAir sells flights online and in its app; Harbour Hotels sells rooms at two hotels. A
/// point is worth 0.01, flights earn 5 points per unit of currency, rooms 10, and a partner's
/// supplier co-funds a breakfast bonus.
fn coalition(policy: &str) -> Shop {
    Shop::new(&format!(
        r#"{{"id":"travel","currency":"EUR","owner":"travel-club",
            "partners":[{{"id":"skyair","merchants":["skyair-web","skyair-app"]}},
                        {{"id":"harbour","merchants":["harbour-lisbon","harbour-porto"]}}],
            "earn":{{"rules":[
              {{"id":"flights","when":{{"merchants":["skyair-web","skyair-app"]}},"effect":{{"points_per_currency_unit":"5"}}}},
              {{"id":"rooms","when":{{"merchants":["harbour-lisbon","harbour-porto"]}},"effect":{{"points_per_currency_unit":"10"}}}},
              {{"id":"breakfast","when":{{"categories":["breakfast"]}},"effect":{{"points_per_unit":"50"}},
                "funded_by":{{"harbour":"0.5","bakery":"0.5"}}}}]}},
            "redemption":{{"point_value":"0.01"}},
            "returns":{{"when_points_spent":"{policy}"}}}}"#
    ))
}

fn book(shop: &mut Shop, day: &str, order: &str, merchant: &str, price: &str, points: &str) -> Arc<Outcome> {
    shop.apply(&format!(
        r#"{{"type":"purchase","member":"ana","at":"{day}T10:00:00Z","order":"{order}","merchant":"{merchant}",
            "lines":[{{"sku":"{order}","qty":"1","unit_price":"{price}"}}],"pay_with_points":"{points}"}}"#
    ))
}

fn funder(id: &str) -> FunderId {
    FunderId::new(id).unwrap()
}

fn settlement(shop: &mut Shop, id: &str) -> Decimal {
    shop.balance("ana", &Account::Settlement(funder(id)))
}

fn totals(shop: &Shop) -> AssetTotals {
    let mut totals = AssetTotals::default();
    for recorded in shop.ledger.store().committed().unwrap() {
        totals.record(&recorded.outcome);
    }
    totals
}

#[test]
fn each_partner_funds_what_its_own_sales_earn() {
    let mut shop = coalition("negative_balance");
    book(&mut shop, "2026-05-01", "flight", "skyair-web", "300", "0");
    book(&mut shop, "2026-05-10", "room", "harbour-porto", "120", "0");

    let by_funder = shop.state("ana").points_by_funder();

    assert_eq!(by_funder, vec![(funder("harbour"), decimal("1200")), (funder("skyair"), decimal("1500"))]);
    let costs: Vec<(FunderId, Decimal)> =
        totals(&shop).cost_by_funder().map(|(funder, cost)| (funder.clone(), cost)).collect();
    assert_eq!(costs, vec![(funder("harbour"), decimal("1200")), (funder("skyair"), decimal("1500"))]);
}

#[test]
fn spending_airline_points_at_the_hotel_makes_the_airline_owe_the_hotel() {
    let mut shop = coalition("negative_balance");
    book(&mut shop, "2026-05-01", "flight", "skyair-web", "300", "0");

    let stay = book(&mut shop, "2026-05-10", "room", "harbour-lisbon", "120", "1000");

    assert_eq!(settlement(&mut shop, "skyair"), decimal("-1000"), "SkyAir owes 1,000 points");
    assert_eq!(settlement(&mut shop, "harbour"), decimal("1000"), "Harbour is owed them");
    assert_eq!(stay.postings.iter().filter(|posting| matches!(posting.to, Account::Settlement(_))).count(), 1);
    assert_eq!(totals(&shop).settlement_owed(), vec![(funder("skyair"), funder("harbour"), decimal("1000"))]);
}

#[test]
fn spending_points_where_they_were_earned_settles_nothing() {
    let mut shop = coalition("negative_balance");
    book(&mut shop, "2026-05-01", "flight", "skyair-web", "300", "0");
    book(&mut shop, "2026-05-02", "upgrade", "skyair-app", "50", "500");
    assert!(totals(&shop).settlement_owed().is_empty());
    assert!(settlement(&mut shop, "skyair").is_zero());
}

#[test]
fn redeeming_at_a_merchant_settles_with_its_partner() {
    let mut shop = coalition("negative_balance");
    book(&mut shop, "2026-05-01", "flight", "skyair-web", "300", "0");
    shop.apply(
        r#"{"type":"redeem","member":"ana","at":"2026-05-02T10:00:00Z","points":"600","merchant":"harbour-porto"}"#,
    );
    assert_eq!(totals(&shop).settlement_owed(), vec![(funder("skyair"), funder("harbour"), decimal("600"))]);
}

#[test]
fn returning_the_stay_paid_with_airline_points_undoes_the_settlement() {
    let mut shop = coalition("negative_balance");
    book(&mut shop, "2026-05-01", "flight", "skyair-web", "300", "0");
    book(&mut shop, "2026-05-10", "room", "harbour-lisbon", "120", "1000");

    shop.give_back("ana", "2026-05-11", "room", "room", "1");

    assert!(settlement(&mut shop, "skyair").is_zero());
    assert!(settlement(&mut shop, "harbour").is_zero());
    assert_eq!(shop.available("ana"), decimal("1500"), "the airline points are back");
    assert!(totals(&shop).settlement_owed().is_empty());
}

#[test]
fn hotel_points_covering_a_returned_flight_are_settled_to_the_airline() {
    let mut shop = coalition("negative_balance");
    book(&mut shop, "2026-05-01", "flight", "skyair-web", "300", "0");
    book(&mut shop, "2026-05-02", "lounge", "skyair-app", "20", "1500");
    book(&mut shop, "2026-05-10", "room", "harbour-lisbon", "120", "0");

    shop.give_back("ana", "2026-05-11", "flight", "flight", "1");

    // The flight's 1,500 points were spent in the lounge; the 25 the lounge itself earned and
    // the hotel's 1,200 cover most of them, and only the hotel's are another partner's.
    assert_eq!(totals(&shop).settlement_owed(), vec![(funder("harbour"), funder("skyair"), decimal("1200"))]);
    assert_eq!(shop.debt("ana"), decimal("-275"));
}

/// Points that repay a debt owed to two partners repay them in funder order.
#[test]
fn airline_points_repay_the_hotel_first_when_the_member_owes_both() {
    let mut shop = coalition("negative_balance");
    book(&mut shop, "2026-05-01", "flight", "skyair-web", "300", "0");
    book(&mut shop, "2026-05-02", "room", "harbour-lisbon", "120", "0");
    shop.apply(r#"{"type":"redeem","member":"ana","at":"2026-05-03T10:00:00Z","points":"2700"}"#);
    shop.give_back("ana", "2026-05-04", "flight", "flight", "1");
    shop.give_back("ana", "2026-05-04", "room", "room", "1");

    book(&mut shop, "2026-05-05", "flight-2", "skyair-app", "100", "0");

    // The new flight's 500 points go to the hotel's 1,200 first, and the airline owes it them.
    let owed: Vec<(FunderId, Decimal)> =
        shop.state("ana").creditors().iter().map(|(_, _, funder, owed)| (funder.clone(), *owed)).collect();
    assert_eq!(owed, [(funder("harbour"), decimal("700")), (funder("skyair"), decimal("1500"))]);
    let airline_to_hotel = (funder("skyair"), funder("harbour"), decimal("500"));
    assert!(totals(&shop).settlement_owed().contains(&airline_to_hotel), "{:?}", totals(&shop).settlement_owed());
}

#[test]
fn a_co_funded_bonus_splits_its_cost_exactly() {
    let mut shop = coalition("negative_balance");
    let stay = shop.apply(
        r#"{"type":"purchase","member":"ana","at":"2026-05-01T10:00:00Z","order":"o-1","merchant":"harbour-porto",
            "lines":[{"sku":"breakfast","qty":"3","unit_price":"12.00","category":"breakfast"}]}"#,
    );
    let earnings = &stay.receipt.as_ref().unwrap().earnings;
    let of = |who: &str| -> Decimal {
        earnings.iter().filter(|earning| earning.funder == funder(who)).map(|earning| earning.points).sum()
    };
    assert_eq!((of("harbour"), of("bakery")), (decimal("360") + decimal("75"), decimal("75")));
}

#[test]
fn the_cost_of_a_period_counts_only_the_outcomes_of_that_period() {
    let mut shop = coalition("negative_balance");
    book(&mut shop, "2026-05-01", "flight", "skyair-web", "300", "0");
    book(&mut shop, "2026-06-01", "room", "harbour-lisbon", "100", "0");
    let june_start: chrono::DateTime<chrono::Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
    let mut june = AssetTotals::default();
    for recorded in shop.ledger.store().committed().unwrap() {
        if recorded.outcome.at >= june_start {
            june.record(&recorded.outcome);
        }
    }
    let costs: Vec<(FunderId, Decimal)> = june.cost_by_funder().map(|(funder, cost)| (funder.clone(), cost)).collect();
    assert_eq!(costs, vec![(funder("harbour"), decimal("1000"))]);
}

#[test]
fn a_merchant_can_sell_for_one_partner_only() {
    let json = r#"{"id":"travel","currency":"EUR","owner":"club",
        "partners":[{"id":"a","merchants":["m-1"]},{"id":"b","merchants":["m-2","m-1"]}]}"#;
    let error = common::program(json).compile().unwrap_err();
    assert_eq!(error.path, "partners");
    assert!(error.problem.contains("m-1"), "{}", error.problem);
}

mod properties {
    use loyalty_engine::{Engine, MemberState};
    use proptest::prelude::*;

    use super::*;

    const MERCHANTS: [&str; 3] = ["skyair-web", "harbour-porto", "club-shop"];
    const POLICIES: [&str; 3] = ["negative_balance", "deduct_from_refund", "stop_at_zero"];

    fn engine(policy: &str) -> Engine {
        coalition(policy).ledger.engine().clone()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Settlements always add up to zero between the funders, and once every order has come
        /// back (nothing was redeemed outside an order), nobody owes anybody anything.
        #[test]
        fn settlements_add_up_and_returned_orders_settle_nothing(
            policy in 0..POLICIES.len(),
            orders in prop::collection::vec((0..MERCHANTS.len(), 10u32..500, 0u32..=100), 1..10),
            return_order in any::<prop::sample::Index>(),
        ) {
            let engine = engine(POLICIES[policy]);
            let mut state = MemberState::new(common::member("ana"));
            let mut totals = AssetTotals::default();
            let mut apply = |state: &mut MemberState, json: String| -> Result<(), TestCaseError> {
                let outcome = engine.evaluate(state, &common::event(&json)).unwrap();
                totals.record(&outcome);
                state.apply(&outcome);
                let settled: Decimal = state
                    .balances()
                    .filter(|(account, _, _)| matches!(account, Account::Settlement(_)))
                    .map(|(_, _, amount)| amount)
                    .sum();
                prop_assert!(settled.is_zero(), "settlements sum to {}", settled);
                Ok(())
            };
            for (index, (merchant, price, pay_percent)) in orders.iter().enumerate() {
                let at = format!("2026-05-01T10:{index:02}:00Z");
                let cap = engine.spendable_on_order(&state, at.parse().unwrap(), Decimal::from(*price).into()).unwrap();
                let points = (cap.value() * Decimal::from(*pay_percent) / Decimal::from(100)).floor();
                apply(&mut state, format!(
                    r#"{{"type":"purchase","id":"p-{index}","member":"ana","at":"{at}","order":"o-{index}",
                        "merchant":"{}","lines":[{{"sku":"x","qty":"1","unit_price":"{price}"}}],
                        "pay_with_points":"{points}"}}"#, MERCHANTS[*merchant]))?;
            }
            let mut order_of_returns: Vec<usize> = (0..orders.len()).collect();
            order_of_returns.rotate_left(return_order.index(orders.len()));
            for (step, index) in order_of_returns.into_iter().enumerate() {
                apply(&mut state, format!(
                    r#"{{"type":"return","id":"r-{index}","member":"ana","at":"2026-05-02T10:{step:02}:00Z",
                        "order":"o-{index}","lines":[{{"sku":"x","qty":"1"}}]}}"#))?;
            }
            prop_assert!(totals.settlement_owed().is_empty(), "still owed: {:?}", totals.settlement_owed());
        }
    }
}

#[test]
fn cashback_debt_repaid_with_the_owners_cashback_settles_with_the_partner_it_is_owed_to() {
    let mut shop = Shop::new(
        r#"{"id":"c","currency":"EUR","owner":"club","partners":[{"id":"air","merchants":["air-web"]}],
            "earn":{"exclude":[{"categories":["gift_card"]}]},"returns":{"when_points_spent":"negative_balance"},
            "cashback":{"rules":[{"id":"ten","share":"0.1"}],"spending":{"min_balance":"0"}}}"#,
    );
    let purchase = |order: &str, merchant: &str, category: &str, paid: &str| {
        format!(
            r#"{{"type":"purchase","member":"ana","at":"2026-05-0{}T10:00:00Z","order":"{order}"{merchant},
                "lines":[{{"sku":"{order}","qty":"1","unit_price":"100","category":"{category}"}}],
                "pay_with_cashback":"{paid}"}}"#,
            &order[2..],
        )
    };
    shop.apply(&purchase("o-1", r#","merchant":"air-web""#, "flight", "0"));
    shop.apply(&purchase("o-2", "", "gift_card", "10.00"));
    shop.give_back("ana", "2026-05-03", "o-1", "o-1", "1");
    assert_eq!(shop.state("ana").cashback().debt.value(), decimal("-10.00"), "air's cashback was spent");

    shop.apply(&purchase("o-4", "", "shoes", "0"));

    let mut cashback = AssetTotals::new(Asset::Cashback);
    for recorded in shop.ledger.store().committed().unwrap() {
        cashback.record(&recorded.outcome);
    }
    assert!(cashback.settlement_owed().is_empty(), "{:?}", cashback.settlement_owed());
    let creditors = shop.state("ana").creditors().to_vec();
    assert!(creditors.is_empty(), "the debt is repaid: {creditors:?}");
}
