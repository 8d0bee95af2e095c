//! Bonuses: points for joining, being referred, birthdays and named events from the host.

mod common;

use common::{Shop, decimal, member, program};
use loyalty_engine::{Account, BonusCount, EvalError, FunderId, LedgerError, MemberState, Notice, RuleId};

/// A café whose points never expire unless `expiry` says so: 500 for joining, 200 more when
/// referred, 100 on each birthday, 50 for a review (at most twice a month, paid half by the
/// review site) and 5 for opening the app (three times in all).
fn cafe(expiry: &str) -> Shop {
    Shop::new(&format!(
        r#"{{"id":"cafe","currency":"EUR","owner":"cafe","utc_offset":"+02:00","expiry":{expiry},
            "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"1"}}}}]}},
            "redemption":{{"point_value":"0.01"}},
            "returns":{{"when_points_spent":"negative_balance"}},
            "bonuses":[
              {{"id":"welcome","on":"enroll","points":"500"}},
              {{"id":"friend","on":"referred","points":"200"}},
              {{"id":"birthday","on":"birthday","points":"100"}},
              {{"id":"review","on":{{"custom":"review_written"}},"points":"50",
                "limit":{{"times":2,"per":"month"}},"funded_by":{{"cafe":"0.5","reviews":"0.5"}}}},
              {{"id":"app","on":{{"custom":"app_opened"}},"points":"5","limit":{{"times":3}}}}]}}"#
    ))
}

fn enroll(shop: &mut Shop, who: &str, at: &str, extra: &str) -> std::sync::Arc<loyalty_engine::Outcome> {
    shop.apply(&format!(r#"{{"type":"enroll","member":"{who}","at":"{at}"{extra}}}"#))
}

fn custom(shop: &mut Shop, who: &str, at: &str, name: &str) -> std::sync::Arc<loyalty_engine::Outcome> {
    shop.apply(&format!(r#"{{"type":"custom","member":"{who}","at":"{at}","name":"{name}"}}"#))
}

fn credited(notices: &[Notice]) -> Vec<(String, String, String)> {
    notices
        .iter()
        .filter_map(|notice| match notice {
            Notice::BonusCredited { bonus, points, at } => {
                Some((bonus.to_string(), points.to_string(), at.to_rfc3339()))
            }
            _ => None,
        })
        .collect()
}

/// A change to a stored state.
type Tampering = fn(&mut serde_json::Value);

fn funder(id: &str) -> Account {
    Account::Funder(FunderId::new(id).unwrap())
}

#[test]
fn joining_earns_the_welcome_bonus_and_a_referred_member_the_friend_bonus_too() {
    let mut shop = cafe(r#""never""#);
    let alone = enroll(&mut shop, "ana", "2026-03-01T09:00:00Z", "");
    assert_eq!(credited(&alone.notices), vec![("welcome".into(), "500".into(), "2026-03-01T09:00:00+00:00".into())]);
    assert_eq!(shop.available("ana"), decimal("500"), "available at once: no order can come back");

    let referred = enroll(&mut shop, "ben", "2026-03-01T10:00:00Z", r#","referred_by":"ana""#);
    let names: Vec<String> = credited(&referred.notices).into_iter().map(|(bonus, ..)| bonus).collect();
    assert_eq!(names, ["welcome", "friend"]);
    assert_eq!(shop.available("ben"), decimal("700"));
    assert_eq!(shop.available("ana"), decimal("500"), "the referrer's reward is the host's custom event");
    assert_eq!(shop.balance("ben", &funder("cafe")), decimal("-700"), "the owner pays for bonuses without funders");
}

#[test]
fn a_limited_review_bonus_pays_twice_a_month_split_between_its_funders() {
    let mut shop = cafe(r#""never""#);
    enroll(&mut shop, "ana", "2026-03-01T09:00:00Z", "");
    custom(&mut shop, "ana", "2026-03-02T09:00:00Z", "review_written");
    custom(&mut shop, "ana", "2026-03-20T09:00:00Z", "review_written");
    let third = custom(&mut shop, "ana", "2026-03-31T21:00:00Z", "review_written");

    let limit = Notice::BonusLimitReached { bonus: RuleId::new("review").unwrap() };
    assert_eq!(third.notices, vec![limit], "the third review of March earns nothing");
    assert!(third.postings.is_empty());
    assert_eq!(shop.available("ana"), decimal("600"), "500 for joining and two reviews of 50");
    // 50 a review, split 0.5 / 0.5: 25 each, twice.
    assert_eq!(shop.balance("ana", &funder("reviews")), decimal("-50"));
    assert_eq!(shop.balance("ana", &funder("cafe")), decimal("-550"));

    // 22:00 UTC on 31 March is 1 April at +02:00, the program's offset: a new month.
    let april = custom(&mut shop, "ana", "2026-03-31T22:00:00Z", "review_written");
    assert_eq!(credited(&april.notices).len(), 1);
    let start_of_april = "2026-03-31T22:00:00Z".parse().unwrap();
    let count = BonusCount { bonus: RuleId::new("review").unwrap(), period_start: Some(start_of_april), times: 1 };
    assert_eq!(shop.state("ana").bonus_counts(), [count]);
}

#[test]
fn a_bonus_limited_in_all_pays_only_that_many_times_ever() {
    let mut shop = cafe(r#""never""#);
    for day in 1..=5 {
        custom(&mut shop, "ana", &format!("2026-0{day}-01T09:00:00Z"), "app_opened");
    }
    assert_eq!(shop.available("ana"), decimal("15"), "three times 5, though five months passed");
    let count = BonusCount { bonus: RuleId::new("app").unwrap(), period_start: None, times: 3 };
    assert_eq!(shop.state("ana").bonus_counts(), [count]);
}

#[test]
fn a_custom_event_no_bonus_names_earns_nothing_and_settles() {
    let mut shop = cafe(r#"{"after_days":30}"#);
    enroll(&mut shop, "ana", "2026-03-01T09:00:00Z", "");
    let other = custom(&mut shop, "ana", "2026-04-15T09:00:00Z", "newsletter_read");
    assert!(credited(&other.notices).is_empty());
    assert!(shop.available("ana").is_zero(), "it settled: the welcome points expired after 30 days");
    assert_eq!(shop.balance("ana", &Account::Expired), decimal("500"));
}

#[test]
fn birthdays_after_joining_are_credited_by_the_next_event_dated_on_the_day() {
    let mut shop = cafe(r#""never""#);
    // Born on 10 May; joins after this year's birthday.
    enroll(&mut shop, "ana", "2026-06-01T09:00:00Z", r#","birthday":"1990-05-10""#);
    let state = shop.state("ana");
    let next = shop.ledger.engine().next_due(&state);
    assert_eq!(next, Some("2027-05-09T22:00:00Z".parse().unwrap()), "when a tick would credit it on the day");
    let before = shop.tick("ana", "2027-05-09");
    assert!(credited(&before.notices).is_empty());

    let after = shop.tick("ana", "2029-01-01");
    // Local midnight at +02:00 starts the day: 22:00 UTC the day before.
    let days = ["2027-05-09T22:00:00+00:00", "2028-05-09T22:00:00+00:00"];
    let expected: Vec<_> = days.iter().map(|day| ("birthday".into(), "100".into(), day.to_string())).collect();
    assert_eq!(credited(&after.notices), expected);
    let earned: Vec<String> = after.lots_opened.iter().map(|lot| lot.earned_at.to_rfc3339()).collect();
    assert_eq!(earned, days);
    assert_eq!(shop.available("ana"), decimal("700"));
}

#[test]
fn a_tick_at_the_first_instant_of_a_birthday_credits_it_once() {
    let mut shop = cafe(r#""never""#);
    enroll(&mut shop, "ana", "2026-01-01T09:00:00Z", r#","birthday":"1990-05-10""#);
    let on_the_day = shop.apply(r#"{"type":"tick","member":"ana","at":"2026-05-09T22:00:00Z"}"#);
    assert_eq!(credited(&on_the_day.notices).len(), 1, "22:00 UTC is midnight on 10 May at +02:00");
    let later = shop.tick("ana", "2026-05-10");
    assert!(credited(&later.notices).is_empty(), "the birthday is not credited again");
    assert_eq!(shop.available("ana"), decimal("600"));
}

#[test]
fn a_birthday_whose_points_have_expired_since_is_expired_by_the_event_that_credits_it() {
    let mut shop = cafe(r#"{"after_days":30}"#);
    enroll(&mut shop, "ana", "2026-01-01T09:00:00Z", r#","birthday":"1990-05-10""#);
    // The birthday's 100 points expire 30 days after 10 May: before this tick on 1 July.
    let late = shop.tick("ana", "2026-07-01");
    assert_eq!(credited(&late.notices).len(), 1);
    assert!(shop.available("ana").is_zero());
    assert_eq!(shop.balance("ana", &Account::Expired), decimal("600"), "the welcome 500 and the birthday 100");
}

#[test]
fn a_birthday_on_29_february_falls_on_28_february_in_other_years() {
    let mut shop = cafe(r#""never""#);
    enroll(&mut shop, "ana", "2026-01-01T09:00:00Z", r#","birthday":"2000-02-29""#);
    let tick = shop.tick("ana", "2026-03-01");
    let (_, _, at) = &credited(&tick.notices)[0];
    assert_eq!(at, "2026-02-27T22:00:00+00:00", "28 February, local midnight at +02:00");
}

#[test]
fn a_late_birthday_repays_a_debt_in_time_order_with_vesting_points() {
    // Points vest 14 days after a purchase; expiry 40 days after they become available.
    let program = r#"{"id":"shop","currency":"EUR","owner":"shop","expiry":{"after_days":40},
        "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
        "redemption":{"point_value":"0.01"},
        "returns":{"vesting_days":14,"when_points_spent":"negative_balance"},
        "bonuses":[{"id":"birthday","on":"birthday","points":"100"}]}"#;
    let history = |tick_on_the_birthday: bool| {
        let mut shop = Shop::new(program);
        enroll(&mut shop, "ana", "2026-01-01T09:00:00Z", r#","birthday":"1990-05-10""#);
        shop.buy("ana", "2026-01-02", "o-1", "lamp", "300");
        shop.tick("ana", "2026-01-20");
        shop.apply(r#"{"type":"redeem","member":"ana","at":"2026-01-21T09:00:00Z","points":"300"}"#);
        shop.give_back("ana", "2026-01-22", "o-1", "lamp", "1");
        shop.buy("ana", "2026-04-30", "o-2", "sofa", "1000");
        if tick_on_the_birthday {
            shop.tick("ana", "2026-05-10");
        }
        shop.tick("ana", "2026-06-20");
        (shop.available("ana"), shop.debt("ana"), shop.balance("ana", &Account::Expired))
    };
    // The birthday's 100 on 10 May repay 100 of the 300 owed before the sofa's 1,000 vest on
    // 14 May and repay the rest: 800 left, whether or not a tick came on the day.
    assert_eq!(history(true), (decimal("800"), decimal("0"), decimal("0")));
    assert_eq!(history(false), history(true));
}

#[test]
fn an_event_after_years_without_one_credits_the_latest_ten_birthdays() {
    let mut shop = cafe(r#""never""#);
    enroll(&mut shop, "ana", "2026-01-01T09:00:00Z", r#","birthday":"1990-05-10""#);
    let late = shop.tick("ana", "2046-01-01");
    let years: Vec<String> = credited(&late.notices).iter().map(|(_, _, at)| at[..4].to_owned()).collect();
    assert_eq!(years, (2036..=2045).map(|year| year.to_string()).collect::<Vec<_>>());
}

#[test]
fn a_bonus_counts_only_what_happens_between_its_from_and_until() {
    let mut shop = Shop::new(
        r#"{"id":"cafe","currency":"EUR","owner":"cafe","bonuses":[
            {"id":"march-reviews","on":{"custom":"review_written"},"points":"50",
             "from":"2026-03-01T00:00:00Z","until":"2026-04-01T00:00:00Z"},
            {"id":"birthday","on":"birthday","points":"100","from":"2027-01-01T00:00:00Z"}]}"#,
    );
    // Joined before the birthday bonus started: the 2026 birthday pays nothing, 2027's does.
    enroll(&mut shop, "ana", "2026-01-01T09:00:00Z", r#","birthday":"1990-05-10""#);
    for day in ["2026-02-28", "2026-03-01", "2026-03-31", "2026-04-01"] {
        custom(&mut shop, "ana", &format!("{day}T12:00:00Z"), "review_written");
    }
    assert_eq!(shop.available("ana"), decimal("100"), "two reviews in March");
    let tick = shop.tick("ana", "2027-06-01");
    let paid: Vec<String> = credited(&tick.notices).into_iter().map(|(_, _, at)| at).collect();
    assert_eq!(paid, ["2027-05-10T00:00:00+00:00"]);
}

#[test]
fn next_due_names_the_first_birthday_a_bonus_starting_later_pays() {
    let mut shop = Shop::new(
        r#"{"id":"cafe","currency":"EUR","owner":"cafe",
            "bonuses":[{"id":"birthday","on":"birthday","points":"100","from":"2027-06-01T00:00:00Z"}]}"#,
    );
    enroll(&mut shop, "ana", "2026-06-01T09:00:00Z", r#","birthday":"1990-05-10""#);
    let state = shop.state("ana");
    // The 2027 birthday comes before the bonus starts: the first it pays is 2028's.
    assert_eq!(shop.ledger.engine().next_due(&state), Some("2028-05-10T00:00:00Z".parse().unwrap()));
    let tick = shop.tick("ana", "2028-05-10");
    assert_eq!(credited(&tick.notices).len(), 1);
}

#[test]
fn a_member_who_names_themselves_as_referrer_is_refused() {
    let mut shop = cafe(r#""never""#);
    let refused = shop.try_apply(r#"{"type":"enroll","member":"ana","at":"2026-03-01T09:00:00Z","referred_by":"ana"}"#);
    assert!(matches!(refused, Err(LedgerError::Rejected(EvalError::SelfReferral { .. }))), "{refused:?}");
    assert!(shop.state("ana").enrollment().is_none());
}

#[test]
fn a_funder_whose_share_rounds_to_nothing_gets_no_lot() {
    let mut shop = Shop::new(
        r#"{"id":"cafe","currency":"EUR","owner":"cafe",
            "bonuses":[{"id":"tiny","on":"enroll","points":"1","funded_by":{"a":"0.5","b":"0.5"}}]}"#,
    );
    let joined = enroll(&mut shop, "ana", "2026-03-01T09:00:00Z", "");
    let funders: Vec<String> = joined.lots_opened.iter().map(|lot| lot.funder.to_string()).collect();
    assert_eq!(funders, ["a"], "one point split in halves: the tie goes to the first funder");
}

#[test]
fn purchases_around_the_birthday_earn_what_birthday_conditions_give() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"EUR","owner":"shop","utc_offset":"+02:00",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}},
              {"id":"birthday-month","when":{"birthday":"month"},"effect":{"multiplier":"2"}},
              {"id":"birthday-week","when":{"birthday":{"within_days":3}},"effect":{"points_per_order":"50"}}]}}"#,
    );
    enroll(&mut shop, "ana", "2026-01-01T09:00:00Z", r#","birthday":"1990-05-31""#);
    let earned = |shop: &mut Shop, order: &str, at: &str| {
        let outcome = shop.apply(&format!(
            r#"{{"type":"purchase","member":"ana","at":"{at}","order":"{order}",
                "lines":[{{"sku":"tea","qty":"1","unit_price":"10"}}]}}"#
        ));
        let receipt = outcome.receipt.clone().unwrap();
        receipt.earnings.iter().map(|earning| earning.rule.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(earned(&mut shop, "o-1", "2026-04-30T21:59:59Z"), ["base"], "still 30 April at +02:00");
    assert_eq!(earned(&mut shop, "o-2", "2026-04-30T22:00:00Z"), ["base", "birthday-month"], "1 May at +02:00");
    assert_eq!(earned(&mut shop, "o-3", "2026-05-28T10:00:00Z"), ["base", "birthday-month", "birthday-week"]);
    assert_eq!(earned(&mut shop, "o-4", "2026-06-03T10:00:00Z"), ["base", "birthday-week"], "3 days after");
    assert_eq!(earned(&mut shop, "o-5", "2026-06-04T10:00:00Z"), ["base"]);

    // A member with no birthday on record never matches.
    let outcome = shop.apply(
        r#"{"type":"purchase","member":"ben","at":"2026-05-31T10:00:00Z","order":"o-6",
            "lines":[{"sku":"tea","qty":"1","unit_price":"10"}]}"#,
    );
    assert_eq!(outcome.receipt.as_ref().unwrap().earnings.len(), 1);
}

#[test]
fn a_birthday_window_spans_the_turn_of_the_year() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"EUR","owner":"shop",
            "earn":{"rules":[{"id":"gift","when":{"birthday":{"within_days":2}},"effect":{"points_per_order":"50"}}]}}"#,
    );
    enroll(&mut shop, "ana", "2026-01-01T09:00:00Z", r#","birthday":"1990-01-01""#);
    shop.buy("ana", "2026-12-29", "o-1", "tea", "10");
    assert!(shop.available("ana").is_zero(), "three days before 1 January 2027");
    shop.buy("ana", "2026-12-30", "o-2", "tea", "10");
    assert_eq!(shop.available("ana"), decimal("50"), "two days before");
}

#[test]
fn bonus_points_repay_a_debt_first() {
    let mut shop = cafe(r#""never""#);
    shop.buy("ana", "2026-03-01", "o-1", "cake", "300.00");
    shop.apply(r#"{"type":"redeem","member":"ana","at":"2026-03-02T09:00:00Z","points":"300"}"#);
    shop.give_back("ana", "2026-03-03", "o-1", "cake", "1");
    assert_eq!(shop.debt("ana"), decimal("-300"));

    enroll(&mut shop, "ana", "2026-03-04T09:00:00Z", "");
    assert_eq!(shop.debt("ana"), decimal("0"));
    assert_eq!(shop.available("ana"), decimal("200"), "500 for joining, less the 300 owed");
}

#[test]
fn a_state_keeps_its_bonus_counts_through_serde_and_refuses_counts_no_engine_writes() {
    let mut shop = cafe(r#""never""#);
    custom(&mut shop, "ana", "2026-03-02T09:00:00Z", "review_written");
    let state = shop.state("ana");
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(serde_json::from_value::<MemberState>(json.clone()).unwrap(), state);

    let tamperings: [(&str, Tampering, &str); 3] = [
        ("counted zero times", |state| state["bonus_counts"][0]["times"] = 0.into(), "counted 0 times"),
        ("counted past the limit", |state| state["bonus_counts"][0]["times"] = 10_001.into(), "not 1 to 10000"),
        (
            "counted in a period to come",
            |state| state["bonus_counts"][0]["period_start"] = "2026-04-01T00:00:00Z".into(),
            "a period after the member's last event",
        ),
    ];
    for (story, tamper, expected) in tamperings {
        let mut corrupt = json.clone();
        tamper(&mut corrupt);
        let error = serde_json::from_value::<MemberState>(corrupt).expect_err(story).to_string();
        assert!(error.contains(expected), "{story}: {error}");
    }
}

#[test]
fn the_same_custom_event_applied_twice_pays_once() {
    let mut shop = cafe(r#""never""#);
    let event = common::event(
        r#"{"type":"custom","id":"review-1","member":"ana","at":"2026-03-02T09:00:00Z","name":"review_written"}"#,
    );
    let first = shop.ledger.apply(&event).unwrap();
    let again = shop.ledger.apply(&event).unwrap();
    assert_eq!(first, again);
    assert_eq!(shop.ledger.state(&member("ana")).unwrap().points().available.value(), decimal("50"));
}

#[test]
fn programs_with_bad_bonuses_do_not_compile() {
    let with_bonus = |bonus: &str| {
        let json = format!(r#"{{"id":"p","currency":"EUR","owner":"shop","bonuses":[{bonus}]}}"#);
        program(&json).compile().map(|_| ()).map_err(|error| error.to_string())
    };
    let cases = [
        (r#"{"id":"b","on":"enroll","points":"0"}"#, "bonuses[0].points: must be a positive whole number"),
        (r#"{"id":"b","on":"enroll","points":"1.5"}"#, "bonuses[0].points: must be a positive whole number"),
        (
            r#"{"id":"b","on":"enroll","points":"5","limit":{"times":1}}"#,
            "bonuses[0].limit: only a bonus on a custom event or a referral may have a limit",
        ),
        (r#"{"id":"b","on":{"custom":"x"},"points":"5","limit":{"times":0}}"#, "bonuses[0].limit.times: must be 1 to"),
        (r#"{"id":"b","on":"birthday","points":"5","funded_by":{"a":"0.5"}}"#, "bonuses[0].funded_by: shares sum to"),
        (r#"{"id":"b","on":"enroll","points":"5"},{"id":"b","on":"birthday","points":"5"}"#, "bonuses[1].id: is also"),
        (
            r#"{"id":"b","on":"enroll","points":"5","from":"2026-02-01T00:00:00Z","until":"2026-01-01T00:00:00Z"}"#,
            "bonuses[0].until: must be later than `from`",
        ),
        (
            &(0..17).map(|n| format!(r#"{{"id":"b{n}","on":"birthday","points":"5"}}"#)).collect::<Vec<_>>().join(","),
            "bonuses: birthday bonuses name 17 funders in all, more than 16",
        ),
    ];
    for (bonus, message) in cases {
        let error = with_bonus(bonus).unwrap_err();
        assert!(error.starts_with(message), "{bonus}: {error}");
    }
    assert_eq!(with_bonus(r#"{"id":"b","on":{"custom":"x"},"points":"5","limit":{"times":1,"per":"year"}}"#), Ok(()));
}

/// Generated histories of one member under the café's bonuses (with vesting, expiry and each
/// policy for spent points): what each bonus credited matches a simple model, the notices match
/// the postings, and bonuses change none of the ledger's invariants.
mod histories {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
    use loyalty_engine::{Account, Asset, AssetTotals, Bucket, Engine, Event, MemberState, Notice, Outcome};
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::common::{self, fold, held_balances, lots_in};

    const POLICIES: [&str; 3] = ["negative_balance", "deduct_from_refund", "stop_at_zero"];
    const NAMES: [&str; 3] = ["review_written", "app_opened", "newsletter_read"];
    /// Hours from UTC to the program's calendar.
    const OFFSET_HOURS: i64 = 2;

    fn engine(policy: &str, vesting_days: u32, expiry: &str) -> Engine {
        let json = format!(
            r#"{{"id":"cafe","currency":"EUR","owner":"cafe","utc_offset":"+02:00","expiry":{expiry},
                "earn":{{"rules":[{{"id":"base","effect":{{"points_per_currency_unit":"0.1"}}}}]}},
                "redemption":{{"point_value":"0.1"}},
                "returns":{{"vesting_days":{vesting_days},"when_points_spent":"{policy}"}},
                "bonuses":[
                  {{"id":"welcome","on":"enroll","points":"500"}},
                  {{"id":"friend","on":"referred","points":"200"}},
                  {{"id":"birthday","on":"birthday","points":"100","funded_by":{{"cafe":"0.5","bakery":"0.5"}}}},
                  {{"id":"review","on":{{"custom":"review_written"}},"points":"50","limit":{{"times":2,"per":"month"}}}},
                  {{"id":"app","on":{{"custom":"app_opened"}},"points":"5","limit":{{"times":3}}}}]}}"#
        );
        common::program(&json).compile().unwrap()
    }

    #[derive(Clone, Debug)]
    enum Step {
        Enroll { referred: bool, birthday: Option<NaiveDate> },
        Purchase { cents: u32 },
        Return { order_pick: usize },
        Redeem { percent: u32 },
        Custom { name: usize },
        Tick,
    }

    fn steps() -> impl Strategy<Value = Vec<(u32, Step)>> {
        let birthday = prop_oneof![
            Just(None),
            (1u32..=12, 1u32..=31).prop_map(|(month, day)| NaiveDate::from_ymd_opt(1990, month, day.min(28))),
            Just(NaiveDate::from_ymd_opt(2000, 2, 29)),
        ];
        let step = prop_oneof![
            1 => (any::<bool>(), birthday).prop_map(|(referred, birthday)| Step::Enroll { referred, birthday }),
            3 => (100u32..500_000).prop_map(|cents| Step::Purchase { cents }),
            2 => any::<usize>().prop_map(|order_pick| Step::Return { order_pick }),
            2 => (1u32..=100).prop_map(|percent| Step::Redeem { percent }),
            4 => (0..NAMES.len()).prop_map(|name| Step::Custom { name }),
            1 => Just(Step::Tick),
        ];
        // Up to about 80 days between events, so that months and birthdays pass.
        prop::collection::vec((0u32..2_000, step), 1..30)
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
        let head = format!(r#""id":"e-{index}","member":"m-1","at":"{}""#, at.to_rfc3339());
        match step {
            Step::Enroll { referred, birthday } => {
                let referred = if *referred { r#","referred_by":"m-9""# } else { "" };
                let birthday = birthday.map_or(String::new(), |day| format!(r#","birthday":"{day}""#));
                state.enrollment().is_none().then(|| format!(r#"{{"type":"enroll",{head}{referred}{birthday}}}"#))
            }
            Step::Purchase { cents } => {
                let order = format!("o-{index}");
                orders.push(order.clone());
                let price = Decimal::new(i64::from(*cents), 2);
                let line = format!(r#"{{"sku":"cake","qty":"1","unit_price":"{price}"}}"#);
                Some(format!(r#"{{"type":"purchase",{head},"order":"{order}","lines":[{line}]}}"#))
            }
            Step::Return { order_pick } => common::return_json(state, orders, &head, *order_pick, 0, 1),
            Step::Redeem { percent } => {
                let available = engine.points_at(state, at).unwrap().available.value();
                let points = (available * Decimal::from(*percent) / Decimal::ONE_HUNDRED).floor();
                (!points.is_zero()).then(|| format!(r#"{{"type":"redeem",{head},"points":"{points}"}}"#))
            }
            Step::Custom { name } => Some(format!(r#"{{"type":"custom",{head},"name":"{}"}}"#, NAMES[*name])),
            Step::Tick => Some(format!(r#"{{"type":"tick",{head}}}"#)),
        }
    }

    /// The events applied, each with its outcome and the state it was evaluated against, and
    /// the state after the last.
    fn run(engine: &Engine, steps: &[(u32, Step)]) -> (Vec<(Event, Outcome)>, Vec<MemberState>, MemberState) {
        let mut state = MemberState::new(common::member("m-1"));
        let mut orders = Vec::new();
        let mut applied = Vec::new();
        let mut before = Vec::new();
        let mut at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        for (index, (hours, step)) in steps.iter().enumerate() {
            at += Duration::hours(i64::from(*hours));
            let Some(json) = resolve(engine, &state, &mut orders, step, index, at) else { continue };
            let event = common::event(&json);
            let outcome = engine.evaluate(&state, &event).unwrap_or_else(|error| panic!("{error}\n{json}"));
            before.push(state.clone());
            state.apply(&outcome);
            applied.push((event, outcome));
        }
        (applied, before, state)
    }

    /// Under an expiry after two months of inactivity, checks each event against a model of
    /// the deadline: two calendar months after the last purchase, redemption, enrollment or
    /// custom event. Past it, settling leaves no points available (and a return leaves none
    /// either); before it, nothing expires.
    fn check_inactivity(
        engine: &Engine,
        applied: &[(Event, Outcome)],
        before: &[MemberState],
    ) -> Result<(), TestCaseError> {
        let mut deadline: Option<DateTime<Utc>> = None;
        for ((event, outcome), state) in applied.iter().zip(before) {
            let at = event.at();
            if deadline.is_some_and(|deadline| deadline <= at) {
                prop_assert!(engine.points_at(state, at).unwrap().available.value().is_zero(), "{:?}", event);
                if matches!(event, Event::Return(_) | Event::Tick(_)) {
                    let after = outcome.postings.iter().fold(state.points().available.value(), |available, posting| {
                        match (&posting.from, &posting.to) {
                            (_, Account::Available) if posting.asset == Asset::Points => available + posting.amount,
                            (Account::Available, _) if posting.asset == Asset::Points => available - posting.amount,
                            _ => available,
                        }
                    });
                    prop_assert!(after.is_zero(), "{} points left available by {:?}", after, event);
                }
            } else {
                prop_assert!(outcome.postings.iter().all(|posting| posting.to != Account::Expired), "{:?}", event);
            }
            if matches!(event, Event::Purchase(_) | Event::Redeem(_) | Event::Enroll(_) | Event::Custom(_)) {
                let local = at + Duration::hours(OFFSET_HOURS);
                let months = local.checked_add_months(chrono::Months::new(2)).unwrap();
                deadline = Some(months - Duration::hours(OFFSET_HOURS));
            }
        }
        Ok(())
    }

    /// The calendar month of `at` in the program's offset.
    fn local_month(at: DateTime<Utc>) -> (i32, u32) {
        let local = at + Duration::hours(OFFSET_HOURS);
        (local.year(), local.month())
    }

    /// The points each bonus should have credited, by a model that reads only the events.
    fn model(applied: &[(Event, Outcome)]) -> BTreeMap<&'static str, Decimal> {
        let mut points = BTreeMap::new();
        let mut credit = |bonus: &'static str, amount: i64| {
            *points.entry(bonus).or_insert(Decimal::ZERO) += Decimal::from(amount);
        };
        let mut reviews: BTreeMap<(i32, u32), u32> = BTreeMap::new();
        let mut app_opened = 0;
        let mut enrolled = None;
        for (event, _) in applied {
            match event {
                Event::Enroll(enroll) => {
                    credit("welcome", 500);
                    if enroll.referred_by.is_some() {
                        credit("friend", 200);
                    }
                    enrolled = Some((enroll.at, enroll.birthday));
                }
                Event::Custom(custom) if custom.name.as_str() == "review_written" => {
                    let count = reviews.entry(local_month(custom.at)).or_default();
                    *count += 1;
                    if *count <= 2 {
                        credit("review", 50);
                    }
                }
                Event::Custom(custom) if custom.name.as_str() == "app_opened" => {
                    app_opened += 1;
                    if app_opened <= 3 {
                        credit("app", 5);
                    }
                }
                _ => {}
            }
        }
        let last = applied.last().map(|(event, _)| event.at());
        if let (Some((joined, Some(birthday))), Some(last)) = (enrolled, last) {
            for year in joined.year()..=last.year() + 1 {
                let day = NaiveDate::from_ymd_opt(year, birthday.month(), birthday.day())
                    .unwrap_or_else(|| NaiveDate::from_ymd_opt(year, 2, 28).unwrap());
                let start = day.and_time(NaiveTime::MIN).and_utc() - Duration::hours(OFFSET_HOURS);
                if joined < start && start <= last {
                    credit("birthday", 100);
                }
            }
        }
        points
    }

    fn notices_credited(outcome: &Outcome) -> impl Iterator<Item = (String, Decimal)> + '_ {
        outcome.notices.iter().filter_map(|notice| match notice {
            Notice::BonusCredited { bonus, points, .. } => Some((bonus.to_string(), points.value())),
            _ => None,
        })
    }

    fn setups() -> impl Strategy<Value = (&'static str, u32, &'static str)> {
        (
            prop::sample::select(POLICIES.to_vec()),
            prop_oneof![Just(0u32), Just(14)],
            prop_oneof![Just(r#""never""#), Just(r#"{"after_days":30}"#), Just(r#"{"after_inactive_months":2}"#)],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        #[test]
        fn bonuses_credit_what_a_model_says_and_keep_the_ledger_whole(
            (policy, vesting_days, expiry) in setups(),
            steps in steps(),
        ) {
            let engine = engine(policy, vesting_days, expiry);
            let (applied, before, state) = run(&engine, &steps);
            if expiry.contains("inactive") {
                check_inactivity(&engine, &applied, &before)?;
            }

            let mut credited: BTreeMap<String, Decimal> = BTreeMap::new();
            for (event, outcome) in &applied {
                let from_notices: Decimal = notices_credited(outcome).map(|(_, points)| points).sum();
                for (bonus, points) in notices_credited(outcome) {
                    *credited.entry(bonus).or_insert(Decimal::ZERO) += points;
                }
                if !matches!(event, Event::Purchase(_) | Event::Return(_) | Event::Redeem(_)) {
                    let from_funders: Decimal = outcome.postings.iter()
                        .filter(|posting| matches!(posting.from, Account::Funder(_)))
                        .map(|posting| posting.amount).sum();
                    prop_assert_eq!(from_notices, from_funders, "the notices tell what the funders paid");
                }
            }
            let expected: BTreeMap<String, Decimal> =
                model(&applied).into_iter().map(|(bonus, points)| (bonus.to_owned(), points)).collect();
            prop_assert_eq!(&credited, &expected);

            let folded = fold(applied.iter().flat_map(|(_, outcome)| &outcome.postings));
            prop_assert_eq!(held_balances(&state), folded);
            prop_assert_eq!(lots_in(&state, &Asset::Points, Bucket::Pending), state.points().pending.value());
            prop_assert_eq!(lots_in(&state, &Asset::Points, Bucket::Available), state.points().available.value());
            prop_assert!(state.points().available.value() >= Decimal::ZERO);
            let mut totals = AssetTotals::new(Asset::Points);
            applied.iter().for_each(|(_, outcome)| totals.record(outcome));
            prop_assert!(totals.unreconciled().is_zero(), "{:?}", totals);

            // What the member took out never exceeds what kept orders earned and bonuses gave,
            // plus what refunds withheld and the program forgave.
            let kept_earnings: Decimal = state.orders().flat_map(|receipt| &receipt.earnings)
                .map(|earning| earning.points - earning.clawed_back).sum();
            let bonuses: Decimal = credited.values().sum();
            let extracted = state.balance(&Account::Redeemed, Asset::Points) + state.points().debt.value();
            let withheld = -state.balance(&Account::RefundWithheld, Asset::Points);
            let forgiven = -state.balance(&Account::Forgiven, Asset::Points);
            prop_assert!(extracted <= kept_earnings + bonuses + withheld + forgiven,
                "extracted {} > kept {} + bonuses {} + withheld {} + forgiven {}",
                extracted, kept_earnings, bonuses, withheld, forgiven);
        }
    }
}

/// A shop that pays a referrer 300 points for each friend who joins, for at most two friends a
/// month, and the friend 100.
fn referring_shop() -> Shop {
    Shop::new(
        r#"{"id":"shop","currency":"EUR","owner":"shop",
            "bonuses":[
              {"id":"friend","on":"referred","points":"100"},
              {"id":"referrer","on":"referral","points":"300","limit":{"times":2,"per":"month"},
               "funded_by":{"shop":"0.5","partner":"0.5"}}]}"#,
    )
}

#[test]
fn the_referrer_earns_the_referral_bonus_when_a_referred_member_joins() {
    let mut shop = referring_shop();
    let joined = enroll(&mut shop, "ana", "2026-03-01T09:00:00Z", r#","referred_by":"bo""#);

    assert_eq!(shop.available("ana"), decimal("100"));
    assert_eq!(shop.available("bo"), decimal("300"), "the referrer's bonus, through the follow-up");
    let [loyalty_engine::Event::Referral(referral)] = &joined.follow_ups[..] else { panic!("{:?}", joined.follow_ups) };
    assert_eq!((referral.id.as_str(), referral.member.as_str()), ("e-1/referral", "bo"));
    assert_eq!(referral.referred.as_str(), "ana");
    let mut lots: Vec<String> =
        shop.state("bo").lots().map(|lot| format!("{} {}", lot.funder, lot.amount_points)).collect();
    lots.sort();
    assert_eq!(lots, ["partner 150", "shop 150"]);
    assert!(shop.state("bo").enrollment().is_none(), "the referrer's own enrollment is the referrer's business");
}

#[test]
fn referrals_past_the_limit_earn_nothing_and_say_so() {
    let mut shop = referring_shop();
    for (friend, day) in [("ana", "01"), ("cem", "02"), ("dora", "03")] {
        enroll(&mut shop, friend, &format!("2026-03-{day}T09:00:00Z"), r#","referred_by":"bo""#);
    }
    assert_eq!(shop.available("bo"), decimal("600"), "two referrals paid in March");
    let third = shop.ledger.store_mut();
    let recorded = loyalty_engine::Store::recorded(third, &loyalty_engine::EventId::new("e-3/referral").unwrap());
    let outcome = recorded.unwrap().expect("the third referral was applied").outcome;
    assert_eq!(outcome.notices, [Notice::BonusLimitReached { bonus: RuleId::new("referrer").unwrap() }]);

    enroll(&mut shop, "eda", "2026-04-01T09:00:00Z", r#","referred_by":"bo""#);
    assert_eq!(shop.available("bo"), decimal("900"), "April starts a new count");
}

#[test]
fn without_a_referral_bonus_a_referred_member_joining_causes_no_follow_up() {
    let mut shop = cafe(r#""never""#);
    let joined = enroll(&mut shop, "ana", "2026-03-01T09:00:00Z", r#","referred_by":"bo""#);
    assert!(joined.follow_ups.is_empty());
    assert_eq!(shop.state("bo"), MemberState::new(member("bo")));
}

#[test]
fn a_referral_is_refused_for_a_member_referring_themselves_and_only_a_follow_up_may_come_late() {
    let mut shop = referring_shop();
    let own = shop.try_apply(r#"{"type":"referral","member":"bo","at":"2026-03-01T09:00:00Z","referred":"bo"}"#);
    assert!(matches!(own, Err(LedgerError::Rejected(EvalError::SelfReferral { .. }))), "{own:?}");

    shop.tick("bo", "2026-03-10");
    let host_written =
        shop.try_apply(r#"{"type":"referral","member":"bo","at":"2026-03-01T09:00:00Z","referred":"ana"}"#);
    assert!(
        matches!(host_written, Err(LedgerError::Rejected(EvalError::OutOfOrder { .. }))),
        "only a follow-up may come late: {host_written:?}"
    );
    enroll(&mut shop, "ana", "2026-03-01T09:00:00Z", r#","referred_by":"bo""#);
    let late = shop.ledger.store_mut();
    let late = loyalty_engine::Store::recorded(late, &loyalty_engine::EventId::new("e-4/referral").unwrap());
    let late = late.unwrap().expect("the follow-up was applied").outcome;
    assert_eq!(late.at.to_rfc3339(), "2026-03-10T12:00:00+00:00", "at bo's last event");
    assert_eq!(shop.available("bo"), decimal("300"));
    let forged = r#"{"type":"referral","id":"x/referral","member":"bo","at":"2026-03-10T12:00:00Z","referred":"cem"}"#;
    let forged = shop.ledger.apply(&common::event(forged));
    assert!(matches!(forged, Err(LedgerError::NotAFollowUp { .. })), "a follow-up's id is the ledger's: {forged:?}");
}

#[test]
fn a_late_referral_is_judged_by_when_the_friend_joined() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"EUR","owner":"shop",
            "bonuses":[{"id":"spring","on":"referral","points":"300","until":"2026-04-01T00:00:00Z"}]}"#,
    );
    shop.tick("bo", "2026-04-02");
    let joined = enroll(&mut shop, "ana", "2026-03-15T09:00:00Z", r#","referred_by":"bo""#);
    assert_eq!(joined.follow_ups.len(), 1);
    assert_eq!(shop.available("bo"), decimal("300"), "ana joined while the offer ran; bo is paid on 2 April");
}
