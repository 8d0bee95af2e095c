//! Tiers: members climb as they buy, are reviewed down as time passes, and lose at once what a
//! returned order alone paid for.

mod common;

use common::{Shop, decimal, member};
use loyalty_engine::{Notice, TierChangeReason, TierStatus};

/// A furniture shop: 1 point per lira; blue from the start, silver from 1,000 lira of net
/// spend, gold from 5,000, over `window`.
fn furniture_shop(window: &str, downgrade: &str, grace_days: u32) -> Shop {
    Shop::new(&format!(
        r#"{{"id":"furniture","currency":"TRY","owner":"shop",
            "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"1"}}}},
                              {{"id":"gold-lamps","when":{{"tiers":["gold"],"categories":["lamps"]}},
                                "effect":{{"points_per_unit":"100"}}}}]}},
            "tiers":{{"metric":"net_spend","window":{window},"downgrade":"{downgrade}","grace_days":{grace_days},
              "levels":[{{"id":"blue","threshold":"0"}},
                        {{"id":"silver","threshold":"1000","benefits":{{"earn_multiplier":"1.5","flags":["free_shipping"]}}}},
                        {{"id":"gold","threshold":"5000",
                          "benefits":{{"earn_multiplier":"2","discount_share":"0.1","flags":["free_shipping","early_access"]}}}}]}}}}"#
    ))
}

fn tier(shop: &mut Shop, id: &str, at: &str) -> TierStatus {
    let state = shop.state(id);
    let at = format!("{at}T12:00:00Z").parse().unwrap();
    shop.ledger.engine().tier_at(&state, at).unwrap().expect("the program has tiers")
}

fn tier_changes(notices: &[Notice]) -> Vec<(String, String, TierChangeReason)> {
    notices
        .iter()
        .filter_map(|notice| match notice {
            Notice::TierChanged { from, to, reason, .. } => Some((from.to_string(), to.to_string(), *reason)),
            _ => None,
        })
        .collect()
}

fn change(from: &str, to: &str, reason: TierChangeReason) -> Vec<(String, String, TierChangeReason)> {
    vec![(from.to_owned(), to.to_owned(), reason)]
}

#[test]
fn a_member_is_upgraded_by_the_order_that_reaches_the_threshold_and_earns_more_from_then_on() {
    let mut shop = furniture_shop(r#"{"calendar":"year"}"#, "one_level", 0);
    let first = shop.buy("deniz", "2026-02-01", "o-1", "chair", "800");
    assert!(tier_changes(&first.notices).is_empty());
    assert_eq!(tier(&mut shop, "deniz", "2026-02-01").metric, decimal("800"), "at the purchase's own instant");
    let blue = tier(&mut shop, "deniz", "2026-02-02");
    assert_eq!((blue.level.as_str(), blue.next_review), ("blue", None), "the lowest level can't go down");
    assert_eq!(shop.state("deniz").next_due(), None, "nor is a review of it ever due");

    let second = shop.buy("deniz", "2026-03-01", "o-2", "table", "400");
    assert_eq!(tier_changes(&second.notices), change("blue", "silver", TierChangeReason::Upgrade));
    assert_eq!(second.receipt.as_ref().unwrap().earnings.len(), 1, "the upgrading order earns at the old level");

    let third = shop.buy("deniz", "2026-03-02", "o-3", "rug", "100");
    let earnings = &third.receipt.as_ref().unwrap().earnings;
    let bonus = earnings.iter().find(|earning| earning.rule.as_str() == "tier:silver").expect("a tier bonus");
    assert_eq!(bonus.points, decimal("50"), "1.5x on 100 points adds 50");
    let status = tier(&mut shop, "deniz", "2026-03-03");
    assert_eq!(status.benefits.flags.len(), 1);
    assert_eq!(status.next_level.unwrap().as_str(), "gold");
    assert_eq!(status.missing_for_next.unwrap(), decimal("3700"), "5,000 less 1,300 spent");
}

#[test]
fn returning_the_order_that_paid_for_a_tier_takes_the_tier_away_at_once() {
    let mut shop = furniture_shop(r#"{"calendar":"year"}"#, "one_level", 0);
    shop.buy("deniz", "2026-03-01", "sofa", "sofa", "6000");
    assert_eq!(tier(&mut shop, "deniz", "2026-03-02").level.as_str(), "gold");

    let returned = shop.give_back("deniz", "2026-03-05", "sofa", "sofa", "1");

    assert_eq!(tier_changes(&returned.notices), change("gold", "blue", TierChangeReason::Return));
    let status = tier(&mut shop, "deniz", "2026-03-06");
    assert_eq!(status.level.as_str(), "blue");
    assert!(status.metric.is_zero(), "a fully returned order leaves nothing in the metric");
}

#[test]
fn a_partial_return_that_keeps_the_threshold_keeps_the_tier() {
    let mut shop = furniture_shop(r#"{"calendar":"year"}"#, "one_level", 0);
    shop.apply(
        r#"{"type":"purchase","member":"deniz","at":"2026-03-01T12:00:00Z","order":"chairs",
            "lines":[{"sku":"chair","qty":"6","unit_price":"1000"}]}"#,
    );
    let one_back = shop.give_back("deniz", "2026-03-05", "chairs", "chair", "1");
    assert!(tier_changes(&one_back.notices).is_empty(), "5,000 kept still makes gold");
    let two_back = shop.give_back("deniz", "2026-03-06", "chairs", "chair", "1");
    assert_eq!(tier_changes(&two_back.notices), change("gold", "silver", TierChangeReason::Return));
}

#[test]
fn the_spend_a_partial_return_keeps_is_rounded_down_to_the_cent() {
    let mut shop = furniture_shop(r#"{"calendar":"year"}"#, "one_level", 0);
    shop.apply(
        r#"{"type":"purchase","member":"deniz","at":"2026-03-01T12:00:00Z","order":"chairs",
            "lines":[{"sku":"chair","qty":"3","unit_price":"500","discount":"0.01"}]}"#,
    );
    assert_eq!(tier(&mut shop, "deniz", "2026-03-02").level.as_str(), "silver", "1,499.99 lira");

    let one_back = shop.give_back("deniz", "2026-03-05", "chairs", "chair", "1");

    // Two chairs of three keep 1,499.99 x 2 / 3 = 999.99333…, rounded down to 999.99.
    assert_eq!(tier_changes(&one_back.notices), change("silver", "blue", TierChangeReason::Return));
    assert_eq!(tier(&mut shop, "deniz", "2026-03-06").metric, decimal("999.99"));
}

#[test]
fn the_bonus_a_returned_order_s_tier_gave_other_orders_is_clawed_back_with_it() {
    let mut shop = furniture_shop(r#"{"calendar":"year"}"#, "one_level", 0);
    shop.buy("deniz", "2026-03-01", "sofa", "sofa", "6000");
    let lamp = shop.buy("deniz", "2026-03-02", "lamp", "lamp", "100");
    let earned: rust_decimal::Decimal =
        lamp.receipt.as_ref().unwrap().earnings.iter().map(|earning| earning.points).sum();
    assert_eq!(earned, decimal("200"), "gold's 2x on the lamp");

    let returned = shop.give_back("deniz", "2026-03-05", "sofa", "sofa", "1");

    let revised = &returned.revised[0];
    assert_eq!((revised.order.as_str(), revised.tier.as_ref().unwrap().as_str()), ("lamp", "blue"));
    let bonus = revised.earnings.iter().find(|earning| earning.rule.as_str() == "tier:gold").unwrap();
    assert_eq!(bonus.clawed_back, decimal("100"));
    assert_eq!(shop.available("deniz"), decimal("100"), "the lamp's own 100 points, not gold's 200");
    let lamp_back = shop.give_back("deniz", "2026-03-06", "lamp", "lamp", "1");
    assert!(lamp_back.revised.is_empty());
    assert_eq!((shop.available("deniz"), shop.debt("deniz")), (decimal("0"), decimal("0")), "nothing clawed twice");
}

#[test]
fn a_year_without_purchases_costs_one_level_at_the_review() {
    let mut shop = furniture_shop(r#"{"calendar":"year"}"#, "one_level", 0);
    shop.buy("deniz", "2026-06-01", "sofa", "sofa", "6000");
    let new_year = shop.tick("deniz", "2027-01-01");
    assert!(tier_changes(&new_year.notices).is_empty(), "2026 supported gold");
    let status = tier(&mut shop, "deniz", "2027-06-01");
    assert_eq!(status.downgrade_at_next_review.unwrap().as_str(), "silver", "nothing bought in 2027 yet");

    let next_year = shop.tick("deniz", "2028-01-02");

    assert_eq!(tier_changes(&next_year.notices), change("gold", "silver", TierChangeReason::Review));
    let later = shop.tick("deniz", "2029-01-02");
    assert_eq!(tier_changes(&later.notices), change("silver", "blue", TierChangeReason::Review));
}

#[test]
fn to_qualified_goes_straight_to_the_level_the_metric_supports() {
    let mut shop = furniture_shop(r#"{"calendar":"year"}"#, "to_qualified", 0);
    shop.buy("deniz", "2026-06-01", "sofa", "sofa", "6000");
    shop.buy("deniz", "2027-06-01", "lamp", "lamp", "200");
    let review = shop.tick("deniz", "2028-01-02");
    assert_eq!(tier_changes(&review.notices), change("gold", "blue", TierChangeReason::Review));
}

#[test]
fn buying_during_the_grace_period_cancels_the_downgrade() {
    let mut shop = furniture_shop(r#"{"calendar":"year"}"#, "one_level", 30);
    shop.buy("deniz", "2026-06-01", "sofa", "sofa", "6000");
    shop.buy("ece", "2026-06-01", "sofa-2", "sofa", "6000");
    for who in ["deniz", "ece"] {
        let review = shop.tick(who, "2028-01-02");
        assert!(tier_changes(&review.notices).is_empty(), "the grace period has begun");
        let told = review.notices.iter().find_map(|notice| match notice {
            Notice::TierDowngradePending { level, to, at } => Some((level.to_string(), to.to_string(), at.to_string())),
            _ => None,
        });
        let expected = ("gold".to_owned(), "silver".to_owned(), "2028-01-31 00:00:00 UTC".to_owned());
        assert_eq!(told, Some(expected), "the member is told what the review decided");
        let status = tier(&mut shop, who, "2028-01-03");
        let (level, at) = status.downgrade_pending.expect("a downgrade is pending");
        assert_eq!((level.as_str(), at.to_string()), ("silver", "2028-01-31 00:00:00 UTC".to_owned()));
        assert_eq!(shop.state(who).next_due(), Some(at), "the host is told when to come back");
    }
    shop.buy("deniz", "2028-01-20", "wardrobe", "wardrobe", "5000");
    let requalified = tier(&mut shop, "deniz", "2028-01-21");
    assert_eq!(requalified.downgrade_pending, None, "5,000 this year is exactly gold again");

    let deniz = shop.tick("deniz", "2028-02-01");
    let ece = shop.tick("ece", "2028-02-01");

    assert!(tier_changes(&deniz.notices).is_empty(), "Deniz requalified in time");
    assert_eq!(tier(&mut shop, "deniz", "2028-02-02").level.as_str(), "gold");
    assert_eq!(tier_changes(&ece.notices), change("gold", "silver", TierChangeReason::GraceEnded));
}

#[test]
fn a_grace_period_ends_on_the_level_the_spend_since_the_review_supports() {
    let mut shop = furniture_shop(r#"{"calendar":"year"}"#, "to_qualified", 30);
    shop.buy("deniz", "2026-06-01", "sofa", "sofa", "6000");
    // The review of 2028-01-01 finds nothing bought in 2027: blue, after 30 days' grace.
    shop.tick("deniz", "2028-01-02");
    shop.buy("deniz", "2028-01-20", "desk", "desk", "1200");
    let pending = tier(&mut shop, "deniz", "2028-01-21").downgrade_pending.expect("1,200 is short of gold");
    assert_eq!(pending.0.as_str(), "blue");

    let grace_ended = shop.tick("deniz", "2028-02-01");

    // When the grace ends on 2028-01-31, the 1,200 lira bought in 2028 support silver.
    assert_eq!(tier_changes(&grace_ended.notices), change("gold", "silver", TierChangeReason::GraceEnded));
}

/// February 2026 has 28 days: the grace a review on 1 February starts ends at the review of
/// 1 March.
#[test]
fn a_grace_period_ending_at_a_review_ends_before_the_review_judges_the_level() {
    let mut shop = furniture_shop(r#"{"calendar":"month"}"#, "to_qualified", 28);
    shop.buy("deniz", "2025-12-10", "sofa", "sofa", "6000");
    shop.buy("deniz", "2026-01-10", "desk", "desk", "1200");
    shop.tick("deniz", "2026-02-02");
    let pending = tier(&mut shop, "deniz", "2026-02-02").downgrade_pending.expect("January supports silver");
    assert_eq!((pending.0.as_str(), pending.1.to_string()), ("silver", "2026-03-01 00:00:00 UTC".to_owned()));

    let march = shop.tick("deniz", "2026-03-02");

    // The grace ends first, at silver; then the review finds nothing bought in February and
    // gives silver a grace of its own, to 29 March.
    assert_eq!(tier_changes(&march.notices), change("gold", "silver", TierChangeReason::GraceEnded));
    let (level, at) = tier(&mut shop, "deniz", "2026-03-02").downgrade_pending.expect("February supports blue");
    assert_eq!((level.as_str(), at.to_string()), ("blue", "2026-03-29 00:00:00 UTC".to_owned()));
}

#[test]
fn a_member_above_the_levels_a_changed_program_still_has_keeps_the_highest() {
    let three_levels = furniture_shop(r#"{"calendar":"year"}"#, "one_level", 0);
    let mut shop = three_levels;
    shop.buy("deniz", "2026-02-01", "sofa", "sofa", "6000");
    let state = shop.state("deniz");
    assert_eq!(state.tier().unwrap().current.level, 2, "gold");
    let program = shop.ledger.engine().program().clone();
    let mut two_levels = program.clone();
    two_levels.tiers.as_mut().unwrap().levels.remove(1);
    let engine = two_levels.compile().unwrap();

    let status = engine.tier_at(&state, "2026-02-02T00:00:00Z".parse().unwrap()).unwrap().unwrap();
    assert_eq!(status.level.as_str(), "gold");
    let purchase = common::event(
        r#"{"type":"purchase","id":"e-9","member":"deniz","at":"2026-02-03T10:00:00Z","order":"lamp",
            "lines":[{"sku":"lamp","qty":"1","unit_price":"100","category":"lamps"}]}"#,
    );
    let outcome = engine.evaluate(&state, &purchase).unwrap();
    assert_eq!(outcome.receipt.unwrap().tier.as_ref().map(|tier| tier.as_str()), Some("gold"));
}

#[test]
fn later_reviews_never_extend_a_grace_period_longer_than_the_window() {
    let mut shop = furniture_shop(r#"{"calendar":"month"}"#, "one_level", 45);
    shop.buy("deniz", "2026-01-15", "sofa", "sofa", "1000");
    shop.tick("deniz", "2026-02-02");
    let march = shop.tick("deniz", "2026-03-02");
    let pending = tier(&mut shop, "deniz", "2026-03-03").downgrade_pending.expect("February did not qualify");
    assert_eq!(pending.1.to_string(), "2026-04-15 00:00:00 UTC", "45 days after the review of 1 March");
    let next_due = shop.state("deniz").next_due().map(|at| at.to_string());
    assert_eq!(next_due.as_deref(), Some("2026-04-01 00:00:00 UTC"), "a host ticks at the next review");
    assert!(march.notices.iter().any(|notice| matches!(notice, Notice::TierDowngradePending { .. })));

    let april = shop.tick("deniz", "2026-04-02");

    assert!(april.notices.is_empty(), "the April review keeps the date: {:?}", april.notices);
    let later = shop.tick("deniz", "2026-04-16");
    assert_eq!(tier_changes(&later.notices), change("silver", "blue", TierChangeReason::GraceEnded));
}

#[test]
fn returning_in_january_an_order_that_held_the_tier_through_the_review_undoes_the_review() {
    let mut shop = furniture_shop(r#"{"calendar":"year"}"#, "one_level", 0);
    shop.buy("deniz", "2026-12-20", "sofa", "sofa", "6000");
    shop.tick("deniz", "2027-01-01");
    assert_eq!(tier(&mut shop, "deniz", "2027-01-02").level.as_str(), "gold", "confirmed for 2027 by 2026");

    let returned = shop.give_back("deniz", "2027-01-03", "sofa", "sofa", "1");

    assert_eq!(tier_changes(&returned.notices), change("gold", "blue", TierChangeReason::Return));
}

#[test]
fn a_rolling_window_reviews_the_level_when_its_term_ends() {
    let mut shop = furniture_shop(r#"{"rolling_days":90}"#, "to_qualified", 0);
    shop.buy("deniz", "2026-01-10", "desk", "desk", "1200");
    let status = tier(&mut shop, "deniz", "2026-01-11");
    assert_eq!(status.level.as_str(), "silver");
    assert_eq!(status.next_review.unwrap().to_string(), "2026-04-10 12:00:00 UTC");
    shop.buy("deniz", "2026-03-01", "lamp", "lamp", "1000");

    let review = shop.tick("deniz", "2026-04-11");

    assert!(tier_changes(&review.notices).is_empty(), "the last 90 days hold 1,000: still silver");
    let later = shop.tick("deniz", "2026-07-10");
    assert_eq!(tier_changes(&later.notices), change("silver", "blue", TierChangeReason::Review));
}

#[test]
fn a_rolling_window_level_reached_by_one_order_holds_for_two_windows() {
    let mut shop = furniture_shop(r#"{"rolling_days":90}"#, "to_qualified", 0);
    shop.buy("deniz", "2026-01-10", "desk", "desk", "1200");

    // The first review, 90 days on, judges a window that starts with the desk.
    let first = shop.tick("deniz", "2026-04-11");
    assert!(tier_changes(&first.notices).is_empty(), "the window ending at the review holds the desk");
    let second = shop.tick("deniz", "2026-07-10");
    assert_eq!(tier_changes(&second.notices), change("silver", "blue", TierChangeReason::Review));
}

#[test]
fn rules_can_reward_one_tier_only() {
    let mut shop = furniture_shop(r#""lifetime""#, "one_level", 0);
    let blue = shop.apply(
        r#"{"type":"purchase","member":"deniz","at":"2026-01-10T12:00:00Z","order":"o-1",
            "lines":[{"sku":"lamp","qty":"1","unit_price":"10","category":"lamps"}]}"#,
    );
    assert!(blue.receipt.as_ref().unwrap().earnings.iter().all(|earning| earning.rule.as_str() != "gold-lamps"));
    shop.buy("deniz", "2026-02-01", "sofa", "sofa", "6000");
    let gold = shop.apply(
        r#"{"type":"purchase","member":"deniz","at":"2026-02-10T12:00:00Z","order":"o-2",
            "lines":[{"sku":"lamp","qty":"1","unit_price":"10","category":"lamps"}]}"#,
    );
    let receipt = gold.receipt.as_ref().unwrap();
    let total: rust_decimal::Decimal = receipt.earnings.iter().map(|earning| earning.points).sum();
    assert_eq!(total, decimal("120"), "10 base, 10 more for gold's 2x, 100 for gold lamps");
    let status = tier(&mut shop, "deniz", "2030-01-01");
    assert_eq!((status.level.as_str(), status.next_review), ("gold", None), "a lifetime tier is never reviewed");
}

#[test]
fn spending_points_never_costs_a_tier_earned_on_points() {
    let mut shop = Shop::new(
        r#"{"id":"cafe","currency":"EUR","owner":"cafe",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"10"}}]},
            "redemption":{"point_value":"0.01"},
            "tiers":{"metric":"points_earned","window":{"rolling_months":12},
              "levels":[{"id":"regular","threshold":"0"},{"id":"vip","threshold":"1000"}]}}"#,
    );
    shop.buy("mira", "2026-01-10", "o-1", "cake", "100");
    assert_eq!(tier(&mut shop, "mira", "2026-01-11").level.as_str(), "vip");
    shop.apply(r#"{"type":"redeem","member":"mira","at":"2026-01-12T12:00:00Z","points":"1000"}"#);
    let status = tier(&mut shop, "mira", "2026-01-13");
    assert_eq!((status.level.as_str(), status.metric), ("vip", decimal("1000")));
}

#[test]
fn purchases_count_orders_and_a_fully_returned_order_does_not_count() {
    let mut shop = Shop::new(
        r#"{"id":"cafe","currency":"EUR","owner":"cafe",
            "tiers":{"metric":"purchases","window":{"calendar":"month"},
              "levels":[{"id":"regular","threshold":"0"},{"id":"friend","threshold":"3"}]}}"#,
    );
    shop.buy("mira", "2026-01-10", "o-1", "cake", "5");
    shop.buy("mira", "2026-01-11", "o-2", "cake", "5");
    shop.give_back("mira", "2026-01-12", "o-2", "cake", "1");
    shop.buy("mira", "2026-01-13", "o-3", "cake", "5");
    assert_eq!(tier(&mut shop, "mira", "2026-01-14").level.as_str(), "regular", "two orders kept");
    shop.buy("mira", "2026-01-15", "o-4", "cake", "5");
    assert_eq!(tier(&mut shop, "mira", "2026-01-16").level.as_str(), "friend");
}

/// A gift card is excluded from earning, and so from the spend that qualifies for a tier.
#[test]
fn excluded_lines_are_no_spend_toward_a_tier() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"TRY","owner":"shop",
            "earn":{"exclude":[{"categories":["gift_card"]}],
                    "rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "tiers":{"metric":"net_spend","window":"lifetime",
              "levels":[{"id":"blue","threshold":"0"},{"id":"silver","threshold":"1000"}]}}"#,
    );
    shop.apply(
        r#"{"type":"purchase","member":"su","at":"2026-03-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"vase","qty":"1","unit_price":"100"},
                     {"sku":"card","qty":"1","unit_price":"1000","category":"gift_card"}]}"#,
    );
    let status = tier(&mut shop, "su", "2026-03-02");
    assert_eq!((status.level.as_str(), status.metric), ("blue", decimal("100")));
}

#[test]
fn a_member_above_the_top_of_a_shortened_ladder_is_held_at_its_top() {
    let mut shop = furniture_shop(r#""lifetime""#, "one_level", 0);
    shop.buy("deniz", "2026-01-10", "sofa", "sofa", "6000");
    assert_eq!(tier(&mut shop, "deniz", "2026-01-11").level.as_str(), "gold");
    let mut shortened = shop.ledger.engine().program().clone();
    shortened.tiers.as_mut().unwrap().levels.pop();
    shortened.earn.rules.retain(|rule| rule.id.as_str() != "gold-lamps");
    let engine = shortened.compile().unwrap();
    let state = shop.state("deniz");

    let at = "2026-01-12T12:00:00Z".parse().unwrap();
    assert_eq!(engine.tier_at(&state, at).unwrap().unwrap().level.as_str(), "silver");
    let lamp = common::event(
        r#"{"type":"purchase","id":"e-lamp","member":"deniz","at":"2026-01-12T12:00:00Z","order":"lamp",
            "lines":[{"sku":"lamp","qty":"1","unit_price":"100"}]}"#,
    );
    let outcome = engine.evaluate(&state, &lamp).unwrap();
    // Silver's earn multiplier, 1.5: 150 points, where gold's would give 200.
    assert_eq!(
        outcome.receipt.as_ref().unwrap().earnings.iter().map(|earning| earning.points).sum::<rust_decimal::Decimal>(),
        decimal("150")
    );
}

#[test]
fn the_tier_state_survives_serialization() {
    let mut shop = furniture_shop(r#"{"calendar":"quarter"}"#, "one_level", 10);
    shop.buy("deniz", "2026-01-10", "desk", "desk", "1200");
    shop.tick("deniz", "2026-07-02");
    let state = shop.state("deniz");
    let json = serde_json::to_string(&state).unwrap();
    let back: loyalty_engine::MemberState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    assert!(back.tier().is_some());
    assert_eq!(shop.state("deniz").member(), &member("deniz"));
}

mod properties {
    use chrono::{DateTime, Duration, Utc};
    use loyalty_engine::{Engine, Event, MemberState, TierStatus};
    use proptest::prelude::*;

    use super::common;

    const WINDOWS: [&str; 6] = [
        r#""lifetime""#,
        r#"{"rolling_days":30}"#,
        r#"{"rolling_months":3}"#,
        r#"{"calendar":"month"}"#,
        r#"{"calendar":"quarter"}"#,
        r#"{"calendar":"year"}"#,
    ];
    const METRICS: [&str; 3] = ["net_spend", "purchases", "points_earned"];

    /// Whole points everywhere (whole prices, 1 point per unit, multipliers 2 and 3), so that
    /// rounding can't tell the two histories apart.
    fn engine(window: usize, metric: usize, downgrade: &str, grace_days: u32) -> Engine {
        let json = format!(
            r#"{{"id":"p","currency":"EUR","owner":"shop",
                "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"1"}}}}]}},
                "tiers":{{"metric":"{}","window":{},"downgrade":"{downgrade}","grace_days":{grace_days},
                  "levels":[{{"id":"l0","threshold":"0"}},{{"id":"l1","threshold":"2"}},
                            {{"id":"l2","threshold":"1500","benefits":{{"earn_multiplier":"2"}}}},
                            {{"id":"l3","threshold":"4000","benefits":{{"earn_multiplier":"3"}}}}]}}}}"#,
            METRICS[metric], WINDOWS[window]
        );
        common::program(&json).compile().unwrap()
    }

    /// An order: days after the previous one, its price, and whether it comes back in full
    /// (and how many days later).
    type Order = (i64, u32, Option<i64>);

    /// Runs the purchases, and the returns of the orders that come back, in time order, up to
    /// `end`; or, with `keep_returned` false, only the orders not returned by `end`.
    fn run(engine: &Engine, orders: &[Order], keep_returned: bool, end: DateTime<Utc>) -> MemberState {
        let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut events: Vec<(DateTime<Utc>, String)> = Vec::new();
        let mut at = start;
        for (index, (gap_days, price, returned_after)) in orders.iter().enumerate() {
            at += Duration::days(*gap_days);
            let back = returned_after.map(|after_days| at + Duration::days(after_days) + Duration::hours(1));
            if back.is_some_and(|back| back <= end) && !keep_returned {
                continue;
            }
            events.push((
                at,
                format!(
                    r#"{{"type":"purchase","id":"p-{index}","member":"m","at":"{}","order":"o-{index}",
                    "lines":[{{"sku":"x","qty":"1","unit_price":"{price}"}}]}}"#,
                    at.to_rfc3339()
                ),
            ));
            if let Some(back) = back {
                events.push((
                    back,
                    format!(
                        r#"{{"type":"return","id":"r-{index}","member":"m","at":"{}","order":"o-{index}",
                        "lines":[{{"sku":"x","qty":"1"}}]}}"#,
                        back.to_rfc3339()
                    ),
                ));
            }
        }
        events.sort_by_key(|(at, _)| *at);
        let mut state = MemberState::new(common::member("m"));
        for (_, json) in events.iter().filter(|(at, _)| *at <= end) {
            let event: Event = common::event(json);
            let outcome = engine.evaluate(&state, &event).unwrap();
            state.apply(&outcome);
        }
        state
    }

    fn observed(status: TierStatus) -> (String, rust_decimal::Decimal, Option<DateTime<Utc>>, Option<String>) {
        let pending = status.downgrade_pending.map(|(level, at)| format!("{level}@{at}"));
        (status.level.to_string(), status.metric, status.next_review, pending)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// A member who returns orders in full stands, at every later moment, exactly where a
        /// member who never placed them would: no level, metric, review or pending downgrade
        /// is left behind by what came back.
        #[test]
        fn returned_orders_leave_no_trace_in_the_tier(
            window in 0..WINDOWS.len(),
            metric in 0..METRICS.len(),
            to_qualified in any::<bool>(),
            grace_days in prop_oneof![Just(0u32), Just(10)],
            orders in prop::collection::vec(
                (0i64..70, 100u32..3000, prop_oneof![Just(None), (0i64..14).prop_map(Some)]), 1..12),
            probe_days in 0i64..500,
        ) {
            let downgrade = if to_qualified { "to_qualified" } else { "one_level" };
            let engine = engine(window, metric, downgrade, grace_days);
            let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
            let probe = start + Duration::days(probe_days) + Duration::minutes(30);
            let with_returns = run(&engine, &orders, true, probe);
            let never_bought = run(&engine, &orders, false, probe);
            let later = with_returns.last_event_at().max(never_bought.last_event_at()).unwrap_or(probe).max(probe);
            let seen = engine.tier_at(&with_returns, later).unwrap().unwrap();
            let expected = engine.tier_at(&never_bought, later).unwrap().unwrap();
            prop_assert_eq!(observed(seen), observed(expected));
            // What a tier gave other orders goes back with the orders that paid for the tier:
            // the member never holds more points than one who never placed them.
            let held = |state: &MemberState| {
                let points = state.points();
                points.pending.value() + points.available.value() + points.debt.value()
            };
            prop_assert!(held(&with_returns) <= held(&never_bought),
                "{} points kept against {}", held(&with_returns), held(&never_bought));
        }
    }
}

#[test]
fn an_order_placed_as_a_grace_period_ends_counts_at_the_level_the_grace_left() {
    let mut shop = Shop::new(
        r#"{"id":"p","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}}]},
            "tiers":{"metric":"net_spend","window":{"rolling_months":1},"grace_days":3,
              "levels":[{"id":"base","threshold":"0"},{"id":"silver","threshold":"300","benefits":{"earn_multiplier":"1.5"}},
                        {"id":"gold","threshold":"900","benefits":{"earn_multiplier":"2"}}]}}"#,
    );
    let at = |day: &str, time: &str| format!("{day}T{time}:00Z");
    let buy = |order: &str, at: &str, price: &str| {
        format!(
            r#"{{"type":"purchase","member":"eda","at":"{at}","order":"{order}",
                "lines":[{{"sku":"a","qty":"1","unit_price":"{price}"}}]}}"#
        )
    };
    let give_back = |order: &str, at: &str| {
        format!(r#"{{"type":"return","member":"eda","at":"{at}","order":"{order}","lines":[{{"sku":"a","qty":"1"}}]}}"#)
    };
    shop.apply(&buy("o-1", &at("2026-01-01", "00:00"), "900.00"));
    shop.tick("eda", "2026-03-02");
    shop.apply(&buy("o-2", &at("2026-03-03", "00:00"), "900.00"));
    let grace_end = at("2026-03-04", "00:00");
    shop.apply(&buy("o-3", &grace_end, "1000.00"));

    let without_o2 = shop.apply(&give_back("o-2", &at("2026-03-04", "01:00")));

    let revised = without_o2.revised.iter().find(|receipt| receipt.order.as_str() == "o-3").expect("o-3 is revised");
    assert_eq!(revised.tier.as_ref().map(|tier| tier.as_str()), Some("silver"), "o-2 alone had kept gold");
    let without_o3 = shop.apply(&give_back("o-3", &at("2026-03-04", "01:00")));
    assert!(without_o3.revised.is_empty(), "a return never revises its own order");
    let o3 = shop.state("eda").order(&"o-3".parse().unwrap()).unwrap().clone();
    assert_eq!(o3.lines[0].returned_qty, o3.lines[0].qty);
    assert_eq!((shop.available("eda"), shop.debt("eda")), (decimal("90"), decimal("0")), "o-1's points, no debt");
    let again = shop.try_apply(&give_back("o-3", &at("2026-03-04", "02:00")));
    assert!(again.is_err(), "nothing of o-3 is left to return");
}

#[test]
fn a_tier_can_be_read_and_reviewed_at_the_last_instant_a_date_holds() {
    let mut shop = Shop::new(
        r#"{"id":"p","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "tiers":{"metric":"net_spend","window":{"rolling_days":1},"grace_days":1,
              "levels":[{"id":"blue","threshold":"0"},{"id":"silver","threshold":"10"}]}}"#,
    );
    let last_instant = chrono::DateTime::<chrono::Utc>::MAX_UTC;
    let fresh = shop.state("m");
    let status = shop.ledger.engine().tier_at(&fresh, last_instant).unwrap().expect("the program has tiers");
    assert_eq!(status.level.as_str(), "blue");

    shop.apply(
        r#"{"type":"purchase","member":"m","at":"+262142-12-28T23:59:59.999999999Z","order":"o-1",
            "lines":[{"sku":"a","qty":"1","unit_price":"100"}]}"#,
    );
    // The review on the 29th keeps silver (the order is still in the day's window); the one on
    // the 30th starts a day's grace, which ends at the last instant.
    shop.apply(r#"{"type":"tick","member":"m","at":"+262142-12-31T23:59:59.999999999Z"}"#);
    let reviewed = shop.state("m");
    assert_eq!(reviewed.tier().unwrap().current.level, 0, "no spend in the day before: back to blue");
}

#[test]
fn a_grace_period_that_would_end_past_the_calendar_never_ends() {
    let mut shop = Shop::new(
        r#"{"id":"p","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "tiers":{"metric":"net_spend","window":{"calendar":"year"},"grace_days":36525,
              "levels":[{"id":"blue","threshold":"0"},{"id":"gold","threshold":"1"}]}}"#,
    );
    shop.apply(
        r#"{"type":"purchase","member":"m","at":"+262100-06-01T00:00:00Z","order":"o-1",
            "lines":[{"sku":"a","qty":"1","unit_price":"10"}]}"#,
    );
    // The review at the end of +262101 finds no spend; its grace would end a century later.
    shop.apply(r#"{"type":"tick","member":"m","at":"+262102-01-01T00:00:00Z"}"#);
    shop.apply(
        r#"{"type":"purchase","member":"m","at":"+262102-02-01T00:00:00Z","order":"o-2",
            "lines":[{"sku":"a","qty":"1","unit_price":"10"}]}"#,
    );
    let tier = shop.state("m").tier().unwrap().current.clone();
    assert_eq!((tier.level, tier.downgrade), (1, None), "gold, with no downgrade waiting");
}

#[test]
fn years_away_leave_the_tier_as_a_tick_every_month_would() {
    let shop = || furniture_shop(r#"{"calendar":"month"}"#, "one_level", 10);
    let (mut away, mut ticking) = (shop(), shop());
    for shop in [&mut away, &mut ticking] {
        shop.buy("m", "2026-03-01", "o-1", "sofa", "6000");
    }
    for month in 0..120 {
        let (year, month) = (2026 + (month + 3) / 12, (month + 3) % 12 + 1);
        ticking.tick("m", &format!("{year}-{month:02}-15"));
    }
    for shop in [&mut away, &mut ticking] {
        shop.tick("m", "2036-03-20");
    }
    // When a run was last looked at differs: the ticks left nothing to change at the end.
    let tier = |shop: &mut Shop| {
        let mut tier = shop.state("m").tier().unwrap().clone();
        for run in std::iter::once(&mut tier.current).chain(&mut tier.last_review).chain([&mut tier.anchor]) {
            run.at = chrono::DateTime::<chrono::Utc>::MIN_UTC;
        }
        tier
    };
    let (away, ticking) = (tier(&mut away), tier(&mut ticking));
    assert_eq!(away.current.level, 0, "gold for the spend's month, then down a level each month");
    assert_eq!(away, ticking, "the same levels, dates and anchor");
}

#[test]
fn a_return_that_makes_a_later_order_reach_the_level_takes_back_what_the_level_gave_the_orders_before_it() {
    let mut shop = furniture_shop(r#""lifetime""#, "one_level", 0);
    shop.buy("deniz", "2026-03-01", "o-1", "desk", "600");
    shop.apply(
        r#"{"type":"purchase","member":"deniz","at":"2026-03-02T10:00:00Z","order":"o-2",
            "lines":[{"sku":"chair","qty":"2","unit_price":"300"}]}"#,
    );
    assert_eq!(tier(&mut shop, "deniz", "2026-03-02").level.as_str(), "silver", "1,200 lira: silver from o-2");
    shop.buy("deniz", "2026-03-03", "o-3", "shelf", "400");
    assert_eq!(shop.available("deniz"), decimal("1800"), "o-3 earned 400 and 200 more at silver");

    let back = shop.give_back("deniz", "2026-03-04", "o-2", "chair", "1");

    // Without the returned chair, 900 lira before o-3: silver only from o-3, placed at blue.
    assert_eq!(tier(&mut shop, "deniz", "2026-03-04").level.as_str(), "silver");
    let revised: Vec<_> = back.revised.iter().map(|receipt| receipt.order.as_str().to_owned()).collect();
    assert_eq!(revised, ["o-3"]);
    assert!(tier_changes(&back.notices).is_empty(), "the level held is the same");
    assert_eq!(shop.available("deniz"), decimal("1300"), "the chair's 300 and o-3's 200 at silver come back");
}

#[test]
fn a_return_split_in_two_keeps_what_one_return_keeps_when_a_later_return_takes_the_tier_away() {
    let silver_shop = || {
        Shop::new(
            r#"{"id":"p","currency":"TRY","owner":"shop",
                "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}}]},
                "tiers":{"metric":"net_spend","window":"lifetime",
                         "levels":[{"id":"blue","threshold":"0"},
                                   {"id":"silver","threshold":"1000","benefits":{"earn_multiplier":"1.3"}}]}}"#,
        )
    };
    let mut kept = Vec::new();
    for pieces in [vec!["2"], vec!["1", "1"]] {
        let mut shop = silver_shop();
        shop.buy("deniz", "2026-03-01", "o-1", "sofa", "1000");
        // Three cushions at silver: 45 points and 13 more for the level.
        shop.apply(
            r#"{"type":"purchase","member":"deniz","at":"2026-03-02T10:00:00Z","order":"o-2",
                "lines":[{"sku":"cushion","qty":"3","unit_price":"150"}]}"#,
        );
        for qty in pieces {
            shop.give_back("deniz", "2026-03-03", "o-2", "cushion", qty);
        }
        let revised = shop.give_back("deniz", "2026-03-04", "o-1", "sofa", "1");
        assert_eq!(revised.revised.len(), 1, "the cushions no longer count as bought at silver");
        kept.push(shop.available("deniz"));
    }
    assert_eq!(kept, vec![decimal("15"), decimal("15")], "the cushion kept keeps a third of 45, either way");
}
