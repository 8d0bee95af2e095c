//! Paid membership: a plan the member buys for some months, whose segment's rules apply while
//! it runs.

mod common;

use common::{Shop, decimal};
use loyalty_engine::{EvalError, LedgerError, MemberState, Membership};
use rust_decimal::Decimal;

/// A bookshop where everyone earns 10%, and members of the paid "plus" plan (12 months) earn
/// double; a "student" plan runs for 6 months and gives nothing extra.
fn bookshop() -> Shop {
    Shop::new(
        r#"{"id":"books","currency":"EUR","owner":"books",
            "earn":{"rules":[
              {"id":"base","effect":{"points_per_currency_unit":"0.1"}},
              {"id":"plus-double","when":{"segments":["plus"]},"effect":{"multiplier":"2"}}]},
            "memberships":[{"id":"plus","months":12},{"id":"student","months":6}]}"#,
    )
}

/// Buys a 100-euro book on `day` and returns the points it earned.
fn book(shop: &mut Shop, day: &str, order: &str) -> Decimal {
    let outcome = shop.apply(&format!(
        r#"{{"type":"purchase","member":"lena","at":"{day}T10:00:00Z","order":"{order}",
            "lines":[{{"sku":"novel","qty":"1","unit_price":"100.00"}}]}}"#
    ));
    outcome.postings.iter().map(|posting| posting.amount).sum()
}

fn buy(shop: &mut Shop, day: &str, plan: &str) -> Membership {
    let outcome =
        shop.apply(&format!(r#"{{"type":"buy_membership","member":"lena","at":"{day}T09:00:00Z","plan":"{plan}"}}"#));
    assert!(outcome.activity, "buying a plan is the member's activity");
    *outcome.membership.clone().expect("the outcome carries the membership")
}

fn time(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

#[test]
fn a_running_plan_gives_its_segments_rules_and_a_renewal_extends_it() {
    let mut shop = bookshop();
    assert_eq!(book(&mut shop, "2026-01-05", "o-1"), decimal("10"), "no plan yet");

    let plus = buy(&mut shop, "2026-01-10", "plus");
    assert_eq!((plus.since, plus.until), (time("2026-01-10T09:00:00Z"), time("2027-01-10T09:00:00Z")));
    assert_eq!(book(&mut shop, "2026-02-01", "o-2"), decimal("20"), "plus members earn double");

    let renewed = buy(&mut shop, "2026-12-01", "plus");
    assert_eq!((renewed.since, renewed.until), (plus.since, time("2028-01-10T09:00:00Z")), "from the running end");
    assert_eq!(book(&mut shop, "2027-06-01", "o-3"), decimal("20"));
    assert_eq!(shop.state("lena").membership(), Some(&renewed));
}

#[test]
fn an_ended_or_lapsed_plan_stops_its_benefits_but_its_orders_keep_what_they_earned() {
    let mut shop = bookshop();
    buy(&mut shop, "2026-01-10", "plus");
    assert_eq!(book(&mut shop, "2026-02-01", "o-1"), decimal("20"));

    let ended = shop.apply(r#"{"type":"end_membership","member":"lena","at":"2026-03-01T00:00:00Z"}"#);
    assert!(!ended.activity);
    assert_eq!(ended.membership.as_ref().unwrap().until, time("2026-03-01T00:00:00Z"));
    assert_eq!(book(&mut shop, "2026-03-02", "o-2"), decimal("10"), "the plan no longer runs");
    let again = shop.try_apply(r#"{"type":"end_membership","member":"lena","at":"2026-03-03T00:00:00Z"}"#);
    assert!(matches!(again, Err(LedgerError::Rejected(EvalError::NoMembership { .. }))), "{again:?}");

    // The plus order's return takes back the 20 it earned, though the plan has ended.
    let back = shop.give_back("lena", "2026-03-04", "o-1", "novel", "1");
    assert_eq!(back.postings.iter().map(|posting| posting.amount).sum::<Decimal>(), decimal("20"));

    let student = buy(&mut shop, "2026-04-01", "student");
    assert_eq!(student.until, time("2026-10-01T09:00:00Z"));
    assert_eq!(book(&mut shop, "2026-10-01", "o-3"), decimal("10"), "the student plan adds nothing");
}

#[test]
fn another_plan_replaces_the_running_one_from_its_purchase() {
    let mut shop = bookshop();
    buy(&mut shop, "2026-01-10", "student");
    let plus = buy(&mut shop, "2026-02-10", "plus");
    assert_eq!((plus.since, plus.until), (time("2026-02-10T09:00:00Z"), time("2027-02-10T09:00:00Z")));
    assert_eq!(book(&mut shop, "2026-02-11", "o-1"), decimal("20"));
    assert_eq!(book(&mut shop, "2027-02-10", "o-2"), decimal("10"), "a year on, the plan has lapsed");
    let lapsed = shop.try_apply(r#"{"type":"end_membership","member":"lena","at":"2027-02-11T00:00:00Z"}"#);
    assert!(matches!(lapsed, Err(LedgerError::Rejected(EvalError::NoMembership { .. }))), "{lapsed:?}");
}

#[test]
fn an_unknown_plan_is_refused() {
    let mut shop = bookshop();
    let refused =
        shop.try_apply(r#"{"type":"buy_membership","member":"lena","at":"2026-01-10T09:00:00Z","plan":"gold"}"#);
    let Err(LedgerError::Rejected(EvalError::UnknownPlan { plan })) = refused else { panic!("{refused:?}") };
    assert_eq!(plan.as_str(), "gold");
    assert!(shop.state("lena").membership().is_none());
}

#[test]
fn a_stored_state_keeps_the_membership_and_refuses_one_from_its_future() {
    let mut shop = bookshop();
    let plus = buy(&mut shop, "2026-01-10", "plus");
    let state = shop.state("lena");
    let json = serde_json::to_value(&state).unwrap();
    let read: MemberState = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(read.membership(), Some(&plus));
    assert_eq!(read, state);

    let mut future = json;
    future["membership"]["since"] = serde_json::json!("2026-05-01T00:00:00Z");
    let error = serde_json::from_value::<MemberState>(future).unwrap_err().to_string();
    assert!(error.contains("membership plus runs from"), "{error}");
}

#[test]
fn plans_are_checked_when_the_program_compiles() {
    let compile = |plans: &str| {
        common::compile_error(&format!(r#"{{"id":"p","currency":"EUR","owner":"o","memberships":{plans}}}"#))
    };
    assert_eq!(compile(r#"[{"id":"plus","months":0}]"#), "memberships[0].months: must be between 1 and 120, not 0");
    assert_eq!(
        compile(r#"[{"id":"plus","months":1},{"id":"plus","months":2}]"#),
        "memberships[1].id: `plus` is listed twice"
    );
}

#[test]
fn a_plan_the_program_no_longer_sells_puts_no_one_in_its_segment() {
    let mut shop = bookshop();
    buy(&mut shop, "2026-01-10", "plus");
    let state = shop.state("lena");
    let purchase = common::event(
        r#"{"type":"purchase","id":"e-p","member":"lena","at":"2026-02-01T10:00:00Z","order":"o-1",
            "lines":[{"sku":"novel","qty":"1","unit_price":"100.00"}]}"#,
    );
    let earned = |plans: &str| -> Decimal {
        let engine = common::program(&format!(
            r#"{{"id":"books","currency":"EUR","owner":"books",
                "earn":{{"rules":[
                  {{"id":"base","effect":{{"points_per_currency_unit":"0.1"}}}},
                  {{"id":"plus-double","when":{{"segments":["plus"]}},"effect":{{"multiplier":"2"}}}}]}},
                "memberships":{plans}}}"#
        ))
        .compile()
        .unwrap();
        engine.evaluate(&state, &purchase).unwrap().postings.iter().map(|posting| posting.amount).sum()
    };
    assert_eq!(earned(r#"[{"id":"plus","months":12}]"#), decimal("20"));
    assert_eq!(earned(r#"[{"id":"student","months":6}]"#), decimal("10"), "plus is no longer sold");
    assert_eq!(earned("[]"), decimal("10"));
}
