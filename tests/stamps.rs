//! Stamp cards: a coffee shop's "buy 6, the 7th is free", told visit by visit.

mod common;

use std::sync::Arc;

use common::{Shop, decimal};
use loyalty_engine::{
    Account, Asset, EvalError, LedgerError, MemberState, Notice, Outcome, RewardStatus, StampProgress, Tag,
};
use rust_decimal::Decimal;

/// A café: one stamp per coffee, six fill the card, the reward is a coffee up to 4.50; and a
/// pastry card worth 100 points, paid 60/40 by the café and the bakery that supplies it.
fn cafe(carry_over: bool) -> Shop {
    Shop::new(&format!(
        r#"{{"id":"cafe","currency":"EUR","owner":"cafe",
            "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"1"}}}}]}},
            "stamp_cards":[
              {{"id":"coffee","when":{{"categories":["coffee"]}},"stamps_needed":6,"carry_over":{carry_over},
                "reward":{{"free_item":{{"max_value":"4.50"}}}}}},
              {{"id":"pastry","when":{{"categories":["pastry"]}},"stamps_per_unit":2,"stamps_needed":4,
                "reward":{{"points":"100"}},"funded_by":{{"cafe":"0.6","bakery":"0.4"}}}}]}}"#
    ))
}

fn coffees(shop: &mut Shop, member: &str, day: &str, order: &str, qty: u32) -> Arc<Outcome> {
    shop.apply(&format!(
        r#"{{"type":"purchase","member":"{member}","at":"{day}T08:00:00Z","order":"{order}",
            "lines":[{{"sku":"flat-white","qty":"{qty}","unit_price":"3.80","category":"coffee"}}]}}"#
    ))
}

fn return_coffees(shop: &mut Shop, member: &str, day: &str, order: &str, qty: u32) -> Arc<Outcome> {
    shop.give_back(member, day, order, "flat-white", &qty.to_string())
}

fn progress(shop: &mut Shop, member: &str, card: &str) -> StampProgress {
    let state = shop.state(member);
    let cards = shop.ledger.engine().stamp_cards(&state);
    cards.into_iter().find(|progress| progress.card.as_str() == card).expect("the program has the card")
}

fn issued(outcome: &Outcome) -> Vec<String> {
    outcome
        .notices
        .iter()
        .filter_map(|notice| match notice {
            Notice::RewardIssued { reward, .. } => Some(reward.to_string()),
            _ => None,
        })
        .collect()
}

fn use_reward(shop: &mut Shop, member: &str, day: &str, reward: &str) -> Result<Arc<Outcome>, LedgerError> {
    shop.try_apply(&format!(
        r#"{{"type":"redeem_reward","member":"{member}","at":"{day}T09:00:00Z","reward":"{reward}"}}"#
    ))
}

#[test]
fn the_sixth_coffee_fills_the_card_and_the_seventh_is_free() {
    let mut shop = cafe(true);
    for day in 1..=5 {
        let visit = coffees(&mut shop, "lea", &format!("2026-03-0{day}"), &format!("o-{day}"), 1);
        assert!(issued(&visit).is_empty());
    }
    let before = progress(&mut shop, "lea", "coffee");
    assert_eq!((before.stamps, before.stamps_left), (decimal("5"), decimal("1")));

    let sixth = coffees(&mut shop, "lea", "2026-03-06", "o-6", 1);

    assert_eq!(issued(&sixth), vec!["r-1"]);
    let after = progress(&mut shop, "lea", "coffee");
    assert_eq!((after.stamps, after.stamps_left, after.unused_rewards), (decimal("0"), decimal("6"), 1));
    let seventh = use_reward(&mut shop, "lea", "2026-03-07", "r-1").unwrap();
    assert_eq!(seventh.rewards[0].status, RewardStatus::Redeemed);
    assert_eq!(progress(&mut shop, "lea", "coffee").unused_rewards, 0);
    let again = use_reward(&mut shop, "lea", "2026-03-08", "r-1");
    assert!(matches!(again, Err(LedgerError::Rejected(EvalError::RewardClosed { .. }))));
}

#[test]
fn surplus_stamps_carry_over_unless_the_card_says_otherwise() {
    let mut carrying = cafe(true);
    let big_order = coffees(&mut carrying, "lea", "2026-03-01", "o-1", 14);
    assert_eq!(issued(&big_order), vec!["r-1", "r-2"], "14 stamps fill two cards of 6");
    assert_eq!(progress(&mut carrying, "lea", "coffee").stamps, decimal("2"));

    let mut strict = cafe(false);
    let big_order = coffees(&mut strict, "lea", "2026-03-01", "o-1", 14);
    assert_eq!(issued(&big_order), vec!["r-1"]);
    assert_eq!(progress(&mut strict, "lea", "coffee").stamps, decimal("0"), "8 stamps beyond the card are lost");
    assert_eq!(strict.balance("lea", &Account::Expired), decimal("0"), "no points expire");
    let state = strict.state("lea");
    assert_eq!(state.balance(&Account::Expired, Asset::Stamps(Tag::new("coffee").unwrap())), decimal("8"));
}

#[test]
fn returning_the_coffees_that_did_not_fit_on_the_card_keeps_the_reward() {
    let mut strict = cafe(false);
    coffees(&mut strict, "lea", "2026-03-01", "o-1", 10);
    let coffee = Asset::Stamps(Tag::new("coffee").unwrap());
    assert_eq!(strict.state("lea").balance(&Account::Expired, coffee.clone()), decimal("4"));

    let returned = return_coffees(&mut strict, "lea", "2026-03-02", "o-1", 4);

    assert!(returned.rewards.is_empty(), "the six coffees kept still fill the card: {:?}", returned.notices);
    let state = strict.state("lea");
    assert!(state.balance(&Account::Expired, coffee.clone()).is_zero(), "the lost stamps went back");
    assert_eq!(progress(&mut strict, "lea", "coffee").unused_rewards, 1);
    let rest = return_coffees(&mut strict, "lea", "2026-03-03", "o-1", 6);
    assert!(rest.notices.iter().any(|notice| matches!(notice, Notice::RewardRevoked { .. })));
    assert!(
        strict.state("lea").balances().filter(|(_, asset, _)| **asset == coffee).all(|(_, _, stamps)| stamps.is_zero())
    );
}

#[test]
fn returning_a_unit_of_another_line_than_the_surplus_takes_the_lost_stamp_back_and_keeps_the_reward() {
    let mut strict = cafe(false);
    // Seven stamps: the card fills with six and the last one, counted on the espressos, is lost.
    strict.apply(
        r#"{"type":"purchase","member":"lea","at":"2026-03-01T08:00:00Z","order":"o-1",
            "lines":[{"sku":"flat-white","qty":"2","unit_price":"3.80","category":"coffee"},
                     {"sku":"espresso","qty":"5","unit_price":"2.50","category":"coffee"}]}"#,
    );
    let coffee = Asset::Stamps(Tag::new("coffee").unwrap());
    assert_eq!(strict.state("lea").balance(&Account::Expired, coffee.clone()), decimal("1"));

    let returned = return_coffees(&mut strict, "lea", "2026-03-02", "o-1", 1);

    assert!(returned.rewards.is_empty(), "the six coffees kept still fill the card: {:?}", returned.notices);
    assert!(strict.state("lea").balance(&Account::Expired, coffee).is_zero(), "the lost stamp went back");
    let now = progress(&mut strict, "lea", "coffee");
    assert_eq!((now.stamps, now.unused_rewards), (decimal("0"), 1));
}

#[test]
fn the_stamps_a_full_card_leaves_over_are_marked_lost_on_the_last_lines_of_the_order() {
    let mut strict = cafe(false);

    let order = strict.apply(
        r#"{"type":"purchase","member":"lea","at":"2026-03-01T08:00:00Z","order":"o-1",
            "lines":[{"sku":"flat-white","qty":"7","unit_price":"3.80","category":"coffee"},
                     {"sku":"espresso","qty":"2","unit_price":"2.50","category":"coffee"}]}"#,
    );

    // Nine stamps fill the card with six; the last three are lost: the espressos' two, then one
    // of the flat-whites'.
    let stamps = &order.receipt.as_ref().unwrap().stamps;
    let lost: Vec<(u32, u32, u32)> = stamps.iter().map(|earned| (earned.line, earned.stamps, earned.lost)).collect();
    assert_eq!(lost, [(0, 7, 1), (1, 2, 2)]);
}

/// Lea's state as the engine stored it before lost stamps moved to the lines returned: of an
/// order of 2 flat-whites and 5 espressos (7 stamps, the espressos' last one lost to the full
/// card), one flat-white came back and took a held stamp, revoking the reward.
const STORED_WITH_LOST_STAMPS_PER_LINE: &str = r#"{"member":"lea","last_event_at":"2026-03-02T08:00:00Z",
  "enrollment":null,"balances":[{"account":"available","asset":"stamps:coffee","amount":"5"},
  {"account":"funder:cafe","asset":"stamps:coffee","amount":"-6"},{"account":"redeemed","asset":"stamps:coffee","amount":"0"},
  {"account":"expired","asset":"stamps:coffee","amount":"1"}],"lots":[],
  "orders":[{"order":"o-1","at":"2026-03-01T08:00:00Z",
    "lines":[{"sku":"flat-white","qty":"2","returned_qty":"1","value":"7.60","eligible":true},
             {"sku":"espresso","qty":"5","returned_qty":"0","value":"12.50","eligible":true}],
    "earnings":[],"first_lot":0,"lot_count":0,
    "stamps":[{"line":0,"card":"coffee","stamps":2,"taken_back":1},{"line":1,"card":"coffee","stamps":5,"taken_back":0,"lost":1}]}],
  "next_lot":0,"rewards":[{"id":"r-1","card":"coffee","kind":{"free_item":{"max_value":"4.50"}},"funded_by":{"cafe":"1"},
    "issued_at":"2026-03-01T08:00:00Z","order":"o-1","status":"revoked","closed_by":"r1","closed_at":"2026-03-02T08:00:00Z"}]}"#;

#[test]
fn an_order_stored_with_lost_stamps_per_line_returns_to_nothing() {
    let engine = cafe(false).ledger.engine().clone();
    let mut state: MemberState = serde_json::from_str(STORED_WITH_LOST_STAMPS_PER_LINE).unwrap();
    for (id, sku, qty) in [("r-2", "flat-white", 1), ("r-3", "espresso", 5)] {
        let json = format!(
            r#"{{"type":"return","id":"{id}","member":"lea","at":"2026-03-03T08:00:00Z","order":"o-1",
                "lines":[{{"sku":"{sku}","qty":"{qty}"}}]}}"#
        );
        let outcome = engine.evaluate(&state, &common::event(&json)).unwrap();
        state.apply(&outcome);
    }
    let coffee = Asset::Stamps(Tag::new("coffee").unwrap());
    assert!(state.balance(&Account::Expired, coffee).is_zero(), "the lost stamp went back");
    let now = engine.stamp_cards(&state).remove(0);
    assert_eq!((now.stamps, now.unused_rewards), (decimal("0"), 0), "nothing held, nothing owed");
}

#[test]
fn a_card_with_an_order_minimum_takes_every_stamp_back_when_a_return_takes_the_order_below_it() {
    let mut shop = Shop::new(
        r#"{"id":"cafe","currency":"EUR","owner":"cafe",
            "stamp_cards":[{"id":"coffee","when":{"categories":["coffee"],"min_order_total":"10"},
                            "stamps_needed":3,"reward":{"free_item":{"max_value":"4.50"}}}]}"#,
    );
    for (day, order) in [("2026-03-01", "o-1"), ("2026-03-02", "o-2")] {
        shop.apply(&format!(
            r#"{{"type":"purchase","member":"lea","at":"{day}T08:00:00Z","order":"{order}",
                "lines":[{{"sku":"latte","qty":"2","unit_price":"5.00","category":"coffee"}}]}}"#
        ));
        assert_eq!(progress(&mut shop, "lea", "coffee").stamps, decimal("2"), "two stamps for an order of 10");
        shop.give_back("lea", day, order, "latte", "1");
        assert_eq!(progress(&mut shop, "lea", "coffee").stamps, decimal("0"), "the latte kept is worth 5");
    }
}

/// Pastry sold by weight: a line earns its quantity times the card's stamps per unit, rounded
/// down to whole stamps.
#[test]
fn a_fractional_quantity_earns_its_share_of_stamps_rounded_down() {
    let mut shop = cafe(true);
    for (order, kilograms) in [("o-1", "2.5"), ("o-2", "0.4")] {
        shop.apply(&format!(
            r#"{{"type":"purchase","member":"m","at":"2026-03-02T08:00:00Z","order":"{order}",
                "lines":[{{"sku":"croissant","qty":"{kilograms}","unit_price":"12","category":"pastry"}}]}}"#
        ));
    }
    let pastry = progress(&mut shop, "m", "pastry");
    assert_eq!((pastry.stamps, pastry.unused_rewards), (decimal("1"), 1), "5 stamps fill one card of 4, one left");
}

#[test]
fn one_purchase_fills_at_most_a_hundred_cards() {
    let mut shop = cafe(true);
    let hundred = coffees(&mut shop, "lea", "2026-03-01", "o-1", 600);
    assert_eq!(issued(&hundred).len(), 100);
    let error = shop
        .try_apply(
            r#"{"type":"purchase","member":"lea","at":"2026-03-02T08:00:00Z","order":"o-2",
                "lines":[{"sku":"flat-white","qty":"606","unit_price":"3.80","category":"coffee"}]}"#,
        )
        .unwrap_err();
    assert!(matches!(error, LedgerError::Rejected(EvalError::TooManyRewards { .. })), "{error}");
    assert_eq!(progress(&mut shop, "lea", "coffee").unused_rewards, 100, "the refused purchase left nothing");
}

/// Two orders each fill a card: returning the second revokes its own reward, the newest, and
/// leaves the first order's.
#[test]
fn a_return_revokes_the_newest_unused_reward() {
    let mut shop = cafe(true);
    coffees(&mut shop, "ela", "2026-03-01", "o-1", 6);
    coffees(&mut shop, "ela", "2026-03-02", "o-2", 6);
    return_coffees(&mut shop, "ela", "2026-03-03", "o-2", 6);
    let statuses: Vec<(String, RewardStatus)> =
        shop.state("ela").rewards().iter().map(|reward| (reward.id.to_string(), reward.status)).collect();
    assert_eq!(statuses, [("r-1".to_string(), RewardStatus::Issued), ("r-2".to_string(), RewardStatus::Revoked)]);
}

#[test]
fn returning_the_coffees_that_filled_the_card_revokes_the_unused_reward() {
    let mut shop = cafe(true);
    coffees(&mut shop, "lea", "2026-03-01", "o-1", 4);
    coffees(&mut shop, "lea", "2026-03-02", "o-2", 3);
    assert_eq!(progress(&mut shop, "lea", "coffee").stamps, decimal("1"));

    let returned = return_coffees(&mut shop, "lea", "2026-03-03", "o-2", 3);

    assert!(returned.notices.iter().any(|notice| matches!(notice, Notice::RewardRevoked { .. })));
    assert_eq!(returned.rewards[0].status, RewardStatus::Revoked);
    let now = progress(&mut shop, "lea", "coffee");
    assert_eq!((now.stamps, now.unused_rewards), (decimal("4"), 0), "the first order's 4 stamps remain");
}

#[test]
fn when_the_reward_was_used_the_stamps_are_owed_and_the_next_coffees_make_up_for_them() {
    let mut shop = cafe(true);
    coffees(&mut shop, "lea", "2026-03-01", "o-1", 6);
    use_reward(&mut shop, "lea", "2026-03-01", "r-1").unwrap();

    let returned = return_coffees(&mut shop, "lea", "2026-03-02", "o-1", 2);

    let owed = Notice::StampsOwed { card: Tag::new("coffee").unwrap(), stamps: 2 };
    assert!(returned.notices.contains(&owed));
    assert_eq!(progress(&mut shop, "lea", "coffee").stamps_left, decimal("8"), "2 owed plus a card of 6");
    let seven = coffees(&mut shop, "lea", "2026-03-03", "o-2", 7);
    assert!(issued(&seven).is_empty(), "7 stamps less 2 owed do not fill a card of 6");
    let eighth = coffees(&mut shop, "lea", "2026-03-04", "o-3", 1);
    assert_eq!(issued(&eighth), vec!["r-2"]);
}

#[test]
fn a_partial_return_takes_back_only_the_stamps_of_the_units_returned() {
    let mut shop = cafe(true);
    coffees(&mut shop, "lea", "2026-03-01", "o-1", 3);
    return_coffees(&mut shop, "lea", "2026-03-02", "o-1", 1);
    assert_eq!(progress(&mut shop, "lea", "coffee").stamps, decimal("2"));
    return_coffees(&mut shop, "lea", "2026-03-03", "o-1", 2);
    assert_eq!(progress(&mut shop, "lea", "coffee").stamps, decimal("0"));
}

/// The points a reward credits expire as any other points do, counted from when they are
/// credited; and a fractional line's stamps come back rounded up, so the member never keeps a
/// stamp the kept units did not earn.
#[test]
fn a_points_reward_expires_like_points_and_fractional_stamps_come_back_rounded_up() {
    let mut shop = Shop::new(
        r#"{"id":"bakery","currency":"EUR","owner":"bakery","expiry":{"after_days":30},
            "stamp_cards":[{"id":"bread","when":{"categories":["bread"]},"stamps_needed":2,
                            "reward":{"points":"100"}}]}"#,
    );
    let loaf = |order: &str, kilograms: &str| {
        format!(
            r#"{{"type":"purchase","member":"ali","at":"2026-03-01T08:00:00Z","order":"{order}",
                "lines":[{{"sku":"rye","qty":"{kilograms}","unit_price":"6","category":"bread"}}]}}"#
        )
    };
    assert_eq!(issued(&shop.apply(&loaf("o-1", "2"))), vec!["r-1"]);
    use_reward(&mut shop, "ali", "2026-03-02", "r-1").unwrap();
    assert_eq!(shop.available("ali"), decimal("100"));
    shop.apply(r#"{"type":"tick","member":"ali","at":"2026-04-01T08:59:59Z"}"#);
    assert_eq!(shop.available("ali"), decimal("100"), "credited 2026-03-02 09:00, so due 2026-04-01 09:00");
    shop.apply(r#"{"type":"tick","member":"ali","at":"2026-04-01T09:00:00Z"}"#);
    assert!(shop.available("ali").is_zero());

    shop.apply(&loaf("o-2", "2.5").replace("03-01", "04-02"));
    shop.give_back("ali", "2026-04-03", "o-2", "rye", "1");
    assert_eq!(progress(&mut shop, "ali", "bread").stamps, decimal("1"), "2 of 2.5 kg earned 2; 1.5 kept earn 1");
}

#[test]
fn a_points_reward_credits_its_points_split_between_its_funders() {
    let mut shop = cafe(true);
    let order = shop.apply(
        r#"{"type":"purchase","member":"lea","at":"2026-03-01T08:00:00Z","order":"o-1",
            "lines":[{"sku":"croissant","qty":"2","unit_price":"2.00","category":"pastry"}]}"#,
    );
    assert_eq!(issued(&order), vec!["r-1"], "2 croissants give 4 stamps");
    let before = shop.available("lea");

    let redeemed = use_reward(&mut shop, "lea", "2026-03-02", "r-1").unwrap();

    assert_eq!(shop.available("lea") - before, decimal("100"));
    let paid_by = |funder: &str| {
        let account = Account::Funder(loyalty_engine::FunderId::new(funder).unwrap());
        redeemed.postings.iter().filter(|posting| posting.from == account).map(|posting| posting.amount).sum()
    };
    assert_eq!((paid_by("cafe"), paid_by("bakery")), (decimal("60"), decimal("40")));
}

#[test]
fn a_voided_reward_can_not_be_used_and_an_unknown_one_is_an_error() {
    let mut shop = cafe(true);
    coffees(&mut shop, "lea", "2026-03-01", "o-1", 6);
    shop.apply(r#"{"type":"void_reward","member":"lea","at":"2026-03-02T09:00:00Z","reward":"r-1"}"#);
    let used = use_reward(&mut shop, "lea", "2026-03-03", "r-1");
    assert!(matches!(used, Err(LedgerError::Rejected(EvalError::RewardClosed { status: RewardStatus::Voided, .. }))));
    let unknown = use_reward(&mut shop, "lea", "2026-03-03", "r-9");
    assert!(matches!(unknown, Err(LedgerError::Rejected(EvalError::UnknownReward { .. }))));
}

#[test]
fn card_definitions_are_checked_with_the_path_of_the_field() {
    let json = r#"{"id":"cafe","currency":"EUR","owner":"cafe",
        "stamp_cards":[{"id":"coffee","stamps_needed":0,"reward":{"points":"10"}}]}"#;
    let error = common::program(json).compile().unwrap_err();
    assert_eq!(error.path, "stamp_cards[0].stamps_needed");
    let json = r#"{"id":"cafe","currency":"EUR","owner":"cafe",
        "stamp_cards":[{"id":"coffee","stamps_needed":6,"reward":{"discount_share":"1.5"}}]}"#;
    assert_eq!(common::program(json).compile().unwrap_err().path, "stamp_cards[0].reward.discount_share");
}

mod properties {
    use loyalty_engine::{Engine, MemberState};
    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Step {
        Buy(u32),
        Return { order_pick: usize, qty_pick: u32 },
        UseReward(usize),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let step = prop_oneof![
            3 => (1u32..6).prop_map(Step::Buy),
            2 => (any::<usize>(), 1u32..6).prop_map(|(order_pick, qty_pick)| Step::Return { order_pick, qty_pick }),
            1 => any::<usize>().prop_map(Step::UseReward),
        ];
        prop::collection::vec(step, 1..30)
    }

    fn apply(engine: &Engine, state: &mut MemberState, json: String, postings: &mut Vec<loyalty_engine::Posting>) {
        let outcome = engine.evaluate(state, &common::event(&json)).unwrap();
        postings.extend(outcome.postings.iter().cloned());
        state.apply(&outcome);
    }

    /// What the model knows: the units kept of each order.
    fn check(
        state: &MemberState,
        kept_units: &[u32],
        postings: &[loyalty_engine::Posting],
    ) -> Result<(), TestCaseError> {
        let coffee = Asset::Stamps(Tag::new("coffee").unwrap());
        let held = state.balance(&Account::Available, coffee.clone());
        let rewards = state.rewards();
        let active = rewards.iter().filter(|reward| reward.status != RewardStatus::Revoked).count();
        let unused = rewards.iter().filter(|reward| reward.status == RewardStatus::Issued).count();
        let kept: u32 = kept_units.iter().sum();
        prop_assert_eq!(held, Decimal::from(kept) - Decimal::from(6 * active), "stamps = kept - 6 per reward");
        prop_assert!(held < Decimal::from(6), "a full card is always turned into a reward");
        prop_assert!(unused == 0 || held >= Decimal::ZERO, "no unused reward while stamps are owed");
        let into_available: Decimal = postings
            .iter()
            .filter(|posting| posting.asset == coffee)
            .map(|posting| {
                let into = if posting.to == Account::Available { posting.amount } else { Decimal::ZERO };
                let out_of = if posting.from == Account::Available { posting.amount } else { Decimal::ZERO };
                into - out_of
            })
            .sum();
        prop_assert_eq!(into_available, held, "the balance is the fold of the postings");
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Stamps held are always the stamps of the units kept less a card per reward not
        /// revoked; and once every order is back, no unused reward is left and the member owes
        /// a card of stamps for every reward used.
        #[test]
        fn no_reward_outlives_the_coffees_that_paid_for_it(steps in steps()) {
            let engine = cafe(true).ledger.engine().clone();
            let mut state = MemberState::new(common::member("lea"));
            let mut postings = Vec::new();
            let mut bought: Vec<u32> = Vec::new();
            let mut kept: Vec<u32> = Vec::new();
            for (index, step) in steps.iter().enumerate() {
                let at = format!("2026-03-01T08:{:02}:00Z", index);
                let json = match step {
                    Step::Buy(qty) => {
                        bought.push(*qty);
                        kept.push(*qty);
                        format!(r#"{{"type":"purchase","id":"e-{index}","member":"lea","at":"{at}","order":"o-{}",
                            "lines":[{{"sku":"flat-white","qty":"{qty}","unit_price":"3.80","category":"coffee"}}]}}"#, bought.len())
                    }
                    Step::Return { order_pick, qty_pick } => {
                        let open: Vec<usize> = (0..kept.len()).filter(|order| kept[*order] > 0).collect();
                        if open.is_empty() { continue; }
                        let order = open[order_pick % open.len()];
                        let qty = 1 + (qty_pick - 1) % kept[order];
                        kept[order] -= qty;
                        format!(r#"{{"type":"return","id":"e-{index}","member":"lea","at":"{at}","order":"o-{}",
                            "lines":[{{"sku":"flat-white","qty":"{qty}"}}]}}"#, order + 1)
                    }
                    Step::UseReward(pick) => {
                        let unused: Vec<String> = state.rewards().iter()
                            .filter(|reward| reward.status == RewardStatus::Issued)
                            .map(|reward| reward.id.to_string()).collect();
                        if unused.is_empty() { continue; }
                        format!(r#"{{"type":"redeem_reward","id":"e-{index}","member":"lea","at":"{at}","reward":"{}"}}"#,
                            unused[pick % unused.len()])
                    }
                };
                apply(&engine, &mut state, json, &mut postings);
                check(&state, &kept, &postings)?;
            }
            for order in 0..kept.len() {
                if kept[order] == 0 { continue; }
                let json = format!(r#"{{"type":"return","id":"back-{order}","member":"lea","at":"2026-03-02T08:00:00Z",
                    "order":"o-{}","lines":[{{"sku":"flat-white","qty":"{}"}}]}}"#, order + 1, kept[order]);
                kept[order] = 0;
                apply(&engine, &mut state, json, &mut postings);
                check(&state, &kept, &postings)?;
            }
            let used = state.rewards().iter().filter(|reward| reward.status == RewardStatus::Redeemed).count();
            prop_assert!(state.rewards().iter().all(|reward| reward.status != RewardStatus::Issued));
            let coffee = Asset::Stamps(Tag::new("coffee").unwrap());
            prop_assert_eq!(state.balance(&Account::Available, coffee), -Decimal::from(6 * used));
        }
    }
}
