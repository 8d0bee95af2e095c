//! Transfers: a member gives available points to another member, whose state receives them
//! through the transfer's follow-up.

mod common;

use common::{Shop, decimal, event, member};
use loyalty_engine::{
    Account, AssetTotals, EvalError, Event, LedgerError, MemberState, Outcome, Store, TransferredPoints,
};
use proptest::prelude::*;
use std::sync::Arc;

/// A shop where a purchase earns 10% (a supplier pays half of it on SKU `tea`), points vest
/// after `vesting_days` and expire a year after they are earned, and members may give each
/// other 50 to 1,000 points at a time.
fn family_shop(vesting_days: u32) -> Shop {
    Shop::new(&format!(
        r#"{{"id":"family","currency":"TRY","owner":"shop",
            "earn":{{"rules":[
              {{"id":"base","when":{{"skus":["tv","mug"]}},"effect":{{"points_per_currency_unit":"0.1"}}}},
              {{"id":"tea","when":{{"skus":["tea"]}},"effect":{{"points_per_currency_unit":"0.1"}},
                "funded_by":{{"shop":"0.5","tea-co":"0.5"}}}}]}},
            "redemption":{{"point_value":"1"}},
            "transfers":{{"min_points":"50","max_points":"1000"}},
            "returns":{{"vesting_days":{vesting_days},"when_points_spent":"negative_balance"}},
            "expiry":{{"after_days":365}}}}"#
    ))
}

fn transfer(from: &str, to: &str, day: &str, points: &str) -> String {
    format!(r#"{{"type":"transfer","member":"{from}","at":"{day}T12:00:00Z","to":"{to}","points":"{points}"}}"#)
}

/// Ayşe gives Mehmet 100 points on 5 March.
const GIFT: &str =
    r#"{"type":"transfer","id":"gift","member":"ayse","at":"2026-03-05T12:00:00Z","to":"mehmet","points":"100"}"#;

/// Why the shop refuses `json`.
fn refused(shop: &mut Shop, json: &str) -> EvalError {
    match shop.try_apply(json) {
        Err(LedgerError::Rejected(error)) => error,
        other => panic!("{json} is not refused: {other:?}"),
    }
}

/// The outcome the ledger recorded for the follow-up of `outcome`'s event.
fn follow_up_outcome(shop: &mut Shop, outcome: &Outcome) -> Arc<Outcome> {
    let follow_up = outcome.follow_ups.first().expect("a follow-up");
    shop.ledger.store_mut().recorded(follow_up.id()).unwrap().expect("the follow-up was applied").outcome
}

#[test]
fn a_transfer_moves_points_to_the_recipient_with_their_funders_and_their_expiry() {
    let mut shop = family_shop(0);
    let bought = shop.buy("ayse", "2026-03-01", "o-1", "tea", "1000.00");
    let lots_before: Vec<_> = shop.state("ayse").lots().cloned().collect();

    let sent = shop.apply(&transfer("ayse", "mehmet", "2026-03-02", "80"));

    assert_eq!(shop.available("ayse"), decimal("20"));
    assert_eq!(shop.balance("ayse", &Account::Transfers), decimal("80"));
    assert_eq!(shop.available("mehmet"), decimal("80"));
    assert_eq!(shop.balance("mehmet", &Account::Transfers), decimal("-80"));
    let Event::ReceiveTransfer(received) = &sent.follow_ups[0] else { panic!("{:?}", sent.follow_ups) };
    assert_eq!((received.id.as_str(), received.from.as_str()), ("e-2/transfer", "ayse"));
    // Each funder's points arrive as one lot, expiring when the sender's would have.
    let expiry_of = |funder: &str| lots_before.iter().find(|lot| lot.funder.as_str() == funder).unwrap().expires_at;
    let mut arrived: Vec<(String, String, _)> = shop
        .state("mehmet")
        .lots()
        .map(|lot| (lot.funder.to_string(), lot.amount_points.to_string(), lot.expires_at))
        .collect();
    arrived.sort();
    assert_eq!(
        arrived,
        [
            ("shop".to_owned(), "50".to_owned(), expiry_of("shop")),
            ("tea-co".to_owned(), "30".to_owned(), expiry_of("tea-co"))
        ]
    );

    // Over both members the points only moved: nothing is in transit, nothing unexplained.
    let received = follow_up_outcome(&mut shop, &sent);
    let mut totals = AssetTotals::default();
    totals.record(&bought);
    totals.record(&sent);
    assert_eq!(totals.transferred, decimal("80"), "in transit until the recipient's side is recorded");
    totals.record(&received);
    assert_eq!(totals.transferred, decimal("0"));
    assert_eq!(totals.unreconciled(), decimal("0"));
}

#[test]
fn a_transfer_is_refused_beyond_what_is_available_outside_its_limits_and_to_the_sender() {
    let mut shop = family_shop(14);
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "5000.00");
    let pending = shop.try_apply(&transfer("ayse", "mehmet", "2026-03-02", "100"));
    assert!(
        matches!(pending, Err(LedgerError::Rejected(EvalError::InsufficientPoints { .. }))),
        "pending points can't be given away: {pending:?}"
    );
    shop.tick("ayse", "2026-03-20");
    let small = refused(&mut shop, &transfer("ayse", "mehmet", "2026-03-21", "49"));
    assert!(matches!(small, EvalError::TransferOutOfLimits { .. }), "{small}");
    assert_eq!(small.to_string(), "a transfer must give 50 to 1000 points, not 49");
    let large = refused(&mut shop, &transfer("ayse", "mehmet", "2026-03-21", "1001"));
    assert!(matches!(large, EvalError::TransferOutOfLimits { .. }), "{large}");
    let to_herself = refused(&mut shop, &transfer("ayse", "ayse", "2026-03-21", "100"));
    assert!(matches!(to_herself, EvalError::SelfTransfer { .. }), "{to_herself}");
    let fraction = refused(&mut shop, &transfer("ayse", "mehmet", "2026-03-21", "100.5"));
    assert!(matches!(fraction, EvalError::InvalidPoints { .. }), "{fraction}");
    assert_eq!(shop.available("ayse"), decimal("500"), "nothing left");
    assert_eq!(shop.state("mehmet"), MemberState::new(member("mehmet")), "nothing arrived");

    let mut without = Shop::new(r#"{"id":"solo","currency":"TRY","owner":"shop"}"#);
    let error = without.try_apply(&transfer("ayse", "mehmet", "2026-03-21", "100"));
    assert!(matches!(error, Err(LedgerError::Rejected(EvalError::TransfersNotOffered))), "{error:?}");
}

#[test]
fn points_given_away_from_an_order_that_comes_back_are_owed_by_the_giver_not_kept_by_the_pair() {
    let mut shop = family_shop(0);
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "10000.00");
    shop.apply(&transfer("ayse", "mehmet", "2026-03-02", "1000"));
    shop.apply(r#"{"type":"redeem","member":"mehmet","at":"2026-03-03T12:00:00Z","points":"1000"}"#);

    shop.give_back("ayse", "2026-03-04", "o-1", "tv", "1");

    assert_eq!(shop.debt("ayse"), decimal("-1000"), "the giver owes what the returned order earned");
    assert_eq!(shop.available("mehmet"), decimal("0"));
    assert_eq!(shop.balance("mehmet", &Account::Redeemed), decimal("1000"), "what the pair got, and owes");
}

#[test]
fn received_points_repay_the_recipients_debt_first() {
    let mut shop = family_shop(0);
    shop.buy("mehmet", "2026-03-01", "o-1", "mug", "1000.00");
    shop.apply(r#"{"type":"redeem","member":"mehmet","at":"2026-03-02T12:00:00Z","points":"100"}"#);
    shop.give_back("mehmet", "2026-03-03", "o-1", "mug", "1");
    assert_eq!(shop.debt("mehmet"), decimal("-100"));
    shop.buy("ayse", "2026-03-01", "o-2", "tv", "3000.00");

    shop.apply(&transfer("ayse", "mehmet", "2026-03-04", "300"));

    assert_eq!(shop.debt("mehmet"), decimal("0"));
    assert_eq!(shop.available("mehmet"), decimal("200"));
}

#[test]
fn a_transfer_applied_again_gives_nothing_twice_and_a_late_follow_up_arrives_at_the_recipients_last_event() {
    let mut shop = family_shop(0);
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "3000.00");
    shop.buy("mehmet", "2026-03-10", "o-2", "mug", "10.00");
    let gift = event(GIFT);

    let first = shop.ledger.apply(&gift).unwrap();
    let again = shop.ledger.apply(&gift).unwrap();

    assert_eq!(first, again);
    assert_eq!(shop.available("ayse"), decimal("200"));
    assert_eq!(shop.available("mehmet"), decimal("101"));
    let received = follow_up_outcome(&mut shop, &first);
    assert_eq!(received.at.to_rfc3339(), "2026-03-10T12:00:00+00:00", "mehmet's last event was later");
}

#[test]
fn points_that_expired_before_they_arrived_expire_on_arrival() {
    let mut shop = family_shop(0);
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "3000.00");
    shop.buy("mehmet", "2027-03-10", "o-2", "mug", "10.00");
    // Sent the day before they expire (1 March 2027); mehmet's last event is later.
    shop.apply(&transfer("ayse", "mehmet", "2027-02-28", "100"));
    assert_eq!(shop.available("mehmet"), decimal("1"));
    assert_eq!(shop.balance("mehmet", &Account::Expired), decimal("100"));
}

#[test]
fn a_crash_after_the_transfer_commits_is_completed_by_applying_the_transfer_again() {
    let mut shop = family_shop(0);
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "3000.00");
    let gift = event(GIFT);
    // The transfer is committed, and the host crashes before its follow-up is applied.
    let engine = shop.ledger.engine().clone();
    shop.ledger.store_mut().apply(&engine, &gift).unwrap();
    assert_eq!(shop.available("mehmet"), decimal("0"));

    shop.ledger.apply(&gift).unwrap();

    assert_eq!(shop.available("ayse"), decimal("200"));
    assert_eq!(shop.available("mehmet"), decimal("100"));
}

#[test]
fn an_id_with_no_room_for_its_follow_ups_id_is_refused() {
    let mut shop = family_shop(0);
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "3000.00");
    let id = "x".repeat(120);
    let json = format!(
        r#"{{"type":"transfer","id":"{id}","member":"ayse","at":"2026-03-05T12:00:00Z","to":"mehmet","points":"100"}}"#
    );
    let error = shop.ledger.apply(&event(&json)).unwrap_err();
    assert!(matches!(error, LedgerError::Rejected(EvalError::IdTooLongForFollowUp { .. })), "{error}");
    let fits = json.replace(&id, &"x".repeat(119));
    shop.ledger.apply(&event(&fits)).unwrap();
    assert_eq!(shop.available("mehmet"), decimal("100"));
}

#[test]
fn the_ledger_refuses_a_receive_transfer_no_transfer_sent_and_ids_of_a_follow_ups_form() {
    let mut shop = family_shop(0);
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "3000.00");
    let not_a_follow_up = |shop: &mut Shop, json: &str| {
        let error = shop.ledger.apply(&event(json)).unwrap_err();
        assert!(matches!(error, LedgerError::NotAFollowUp { .. }), "{json}: {error}");
    };
    let forged = r#"{"type":"receive_transfer","id":"gift/transfer","member":"mehmet","at":"2026-03-05T12:00:00Z",
        "from":"ayse","lots":[{"funder":"shop","points":"1000000"}]}"#;
    not_a_follow_up(&mut shop, forged);
    // Host events may not take the ids the follow-ups will need.
    not_a_follow_up(&mut shop, r#"{"type":"tick","id":"gift/transfer","member":"zeynep","at":"2026-03-05T12:00:00Z"}"#);
    not_a_follow_up(&mut shop, r#"{"type":"tick","id":"e-9/referral","member":"zeynep","at":"2026-03-05T12:00:00Z"}"#);
    assert_eq!(shop.state("mehmet"), MemberState::new(member("mehmet")));

    let sent = shop.ledger.apply(&event(GIFT)).unwrap();
    assert_eq!(shop.available("mehmet"), decimal("100"), "the gift's follow-up took its id");
    // The genuine follow-up, sent again by a host, gets its first outcome and credits nothing.
    let received = follow_up_outcome(&mut shop, &sent);
    assert_eq!(shop.ledger.apply(&sent.follow_ups[0]).unwrap(), received);
    assert_eq!(shop.available("mehmet"), decimal("100"));
    let tampered =
        serde_json::to_string(&sent.follow_ups[0]).unwrap().replace(r#""points":"100""#, r#""points":"900""#);
    not_a_follow_up(&mut shop, &tampered);
}

#[test]
fn the_engine_checks_a_receive_transfer_like_any_event() {
    let shop = family_shop(0);
    let engine = shop.ledger.engine();
    let mehmet = MemberState::new(member("mehmet"));
    let receive = |lots: &str, from: &str| {
        event(&format!(
            r#"{{"type":"receive_transfer","id":"g/transfer","member":"mehmet","at":"2026-03-05T12:00:00Z","from":"{from}","lots":{lots}}}"#
        ))
    };
    let refused = |event: &Event| engine.evaluate(&mehmet, event).unwrap_err();
    assert!(matches!(refused(&receive("[]", "ayse")), EvalError::TransferTooFragmented { lots: 0 }));
    let lots = r#"[{"funder":"shop","points":"10"}]"#;
    assert!(matches!(refused(&receive(lots, "mehmet")), EvalError::SelfTransfer { .. }));
    let negative = r#"[{"funder":"shop","points":"-10"}]"#;
    assert!(matches!(refused(&receive(negative, "ayse")), EvalError::InvalidPoints { .. }));
    // Points finer than the program's are points issued under another rounding: they arrive.
    let finer = engine.evaluate(&mehmet, &receive(r#"[{"funder":"shop","points":"16.67"}]"#, "ayse")).unwrap();
    assert_eq!(finer.postings[0].amount, decimal("16.67"));
    let unknown = r#"{"type":"receive_transfer","id":"g/transfer","member":"mehmet","at":"2026-03-05T12:00:00Z",
        "from":"ayse","lots":[{"funder":"shop","points":"10","colour":"red"}]}"#;
    assert!(serde_json::from_str::<Event>(unknown).is_err(), "an unknown field is refused as it is read");
}

#[test]
fn points_keep_their_own_expiry_when_a_funders_lots_expire_at_different_times() {
    let mut shop = family_shop(0);
    shop.buy("ayse", "2026-03-01", "o-1", "mug", "1000.00");
    shop.buy("ayse", "2026-09-01", "o-2", "mug", "10000.00");

    shop.apply(&transfer("ayse", "mehmet", "2026-09-02", "1000"));

    let mut arrived: Vec<(String, String)> = shop
        .state("mehmet")
        .lots()
        .map(|lot| (lot.amount_points.to_string(), lot.expires_at.unwrap().date_naive().to_string()))
        .collect();
    arrived.sort();
    assert_eq!(arrived, [("100".to_owned(), "2027-03-01".to_owned()), ("900".to_owned(), "2027-09-01".to_owned())]);
    shop.tick("mehmet", "2027-03-02");
    assert_eq!(shop.available("mehmet"), decimal("900"), "only the points that would have expired did");
}

#[test]
fn under_stop_at_zero_points_given_away_before_a_return_and_back_after_it_settle_what_was_forgiven() {
    let mut shop = Shop::new(
        r#"{"id":"forgiving","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}}]},
            "redemption":{"point_value":"1"},"transfers":{},
            "returns":{"when_points_spent":"stop_at_zero"}}"#,
    );
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "10000.00");
    shop.apply(&transfer("ayse", "mehmet", "2026-03-02", "1000"));
    shop.give_back("ayse", "2026-03-03", "o-1", "tv", "1");
    assert_eq!(shop.balance("ayse", &Account::Forgiven), decimal("-1000"), "forgiven, as spent points are");

    shop.apply(&transfer("mehmet", "ayse", "2026-03-04", "1000"));

    assert_eq!(shop.available("ayse"), decimal("0"), "the points settle what was forgiven");
    assert_eq!(shop.balance("ayse", &Account::Forgiven), decimal("0"));

    // A gift to a member who gave nothing away stays the member's, whatever was forgiven.
    shop.buy("zeynep", "2026-03-05", "o-2", "tv", "5000.00");
    shop.apply(r#"{"type":"redeem","member":"zeynep","at":"2026-03-06T12:00:00Z","points":"500"}"#);
    shop.give_back("zeynep", "2026-03-07", "o-2", "tv", "1");
    assert_eq!(shop.balance("zeynep", &Account::Forgiven), decimal("-500"));
    shop.buy("mehmet", "2026-03-08", "o-3", "tv", "3000.00");
    shop.apply(&transfer("mehmet", "zeynep", "2026-03-09", "300"));
    assert_eq!(shop.available("zeynep"), decimal("300"));
    assert_eq!(shop.balance("zeynep", &Account::Forgiven), decimal("-500"));
}

#[test]
fn passing_points_back_and_forth_does_not_keep_them_from_expiring_after_inactivity() {
    let mut shop = Shop::new(
        r#"{"id":"sleepy","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}}]},
            "transfers":{},"expiry":{"after_inactive_months":12}}"#,
    );
    shop.buy("ayse", "2026-03-01", "o-1", "tv", "10000.00");
    shop.buy("mehmet", "2026-03-01", "o-2", "mug", "10.00");
    shop.apply(&transfer("ayse", "mehmet", "2026-12-01", "1"));
    shop.apply(&transfer("mehmet", "ayse", "2026-12-02", "1"));

    shop.tick("ayse", "2027-03-02");

    assert_eq!(shop.available("ayse"), decimal("0"), "a year after her last purchase");
    assert_eq!(shop.balance("ayse", &Account::Expired), decimal("1000"));
}

#[cfg(feature = "sqlite")]
#[test]
fn a_batch_replaying_the_ledgers_own_log_gives_what_the_ledger_gave() {
    let mut shop = family_shop(0);
    let events = [
        r#"{"type":"purchase","id":"b-1","member":"ayse","at":"2026-03-01T12:00:00Z","order":"o-1",
            "lines":[{"sku":"tv","qty":"1","unit_price":"3000.00"}]}"#,
        GIFT,
        r#"{"type":"redeem","id":"b-2","member":"mehmet","at":"2026-03-06T12:00:00Z","points":"100"}"#,
    ];
    // The log as the ledger wrote it: each event, then its follow-ups.
    let mut log = Vec::new();
    for json in events {
        let outcome = shop.ledger.apply(&event(json)).unwrap();
        log.push(event(json));
        log.extend(outcome.follow_ups.iter().cloned());
    }
    assert_eq!(log.len(), 4);
    let engine = shop.ledger.engine().clone();

    let mut store = loyalty_engine::SqliteStore::open_in_memory().unwrap();
    let results = store.apply_batch(&engine, &log).unwrap();

    assert!(results.iter().all(Result::is_ok), "mehmet spends what the gift brought him: {results:?}");
    for name in ["ayse", "mehmet"] {
        assert_eq!(store.load(&member(name)).unwrap().state, shop.state(name), "{name}");
    }
    // A follow-up listed before the event that causes it is refused, as the ledger refuses it.
    let mut store = loyalty_engine::SqliteStore::open_in_memory().unwrap();
    log.swap(1, 2);
    let results = store.apply_batch(&engine, &log).unwrap();
    assert!(matches!(results[1], Err(LedgerError::NotAFollowUp { .. })), "{:?}", results[1]);

    // A follow-up whose event an earlier commit recorded is one the batch takes, as the ledger
    // does (a replay in chunks, whose last chunk's follow-ups failed).
    let mut store = loyalty_engine::SqliteStore::open_in_memory().unwrap();
    loyalty_engine::Store::apply(&mut store, &engine, &log[0]).unwrap();
    loyalty_engine::Store::apply(&mut store, &engine, &log[2]).unwrap();
    let results = store.apply_batch(&engine, &log[1..2]).unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    assert_eq!(store.load(&member("mehmet")).unwrap().state.points().available.value(), decimal("100"));
}

#[cfg(feature = "sqlite")]
#[test]
fn a_batch_pays_a_recipient_outside_it_after_it_and_refuses_a_receive_transfer_it_did_not_send() {
    let engine = family_shop(0).ledger.engine().clone();
    let mut store = loyalty_engine::SqliteStore::open_in_memory().unwrap();
    let events: Vec<Event> = [
        r#"{"type":"purchase","id":"b-1","member":"ayse","at":"2026-03-01T12:00:00Z","order":"o-1",
            "lines":[{"sku":"tv","qty":"1","unit_price":"3000.00"}]}"#,
        GIFT,
        r#"{"type":"receive_transfer","id":"b-9/transfer","member":"mehmet","at":"2026-03-05T12:00:00Z",
            "from":"ayse","lots":[{"funder":"shop","points":"5"}]}"#,
    ]
    .into_iter()
    .map(event)
    .collect();
    let results = store.apply_batch(&engine, &events).unwrap();
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    assert!(matches!(results[2], Err(LedgerError::NotAFollowUp { .. })), "{:?}", results[2]);
    let mehmet = store.load(&member("mehmet")).unwrap().state;
    assert_eq!(mehmet.points().available.value(), decimal("100"), "the gift's follow-up, after the batch");
}

#[test]
fn transfer_events_and_outcomes_read_back_as_they_were_written() {
    let mut shop = family_shop(0);
    shop.buy("ayse", "2026-03-01", "o-1", "tea", "1000.00");
    let sent = shop.apply(&transfer("ayse", "mehmet", "2026-03-02", "80"));
    let json = serde_json::to_string(&*sent).unwrap();
    assert!(json.contains(r#""follow_ups":[{"type":"receive_transfer","#), "{json}");
    assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), *sent);
    let Event::ReceiveTransfer(received) = &sent.follow_ups[0] else { panic!("a receive_transfer") };
    let lots: Vec<TransferredPoints> = serde_json::from_str(&serde_json::to_string(&received.lots).unwrap()).unwrap();
    assert_eq!(lots, received.lots);
    let state = shop.state("mehmet");
    assert_eq!(serde_json::from_str::<MemberState>(&serde_json::to_string(&state).unwrap()).unwrap(), state);
}

#[test]
fn programs_with_bad_transfer_limits_do_not_compile() {
    let with = |transfers: &str, rest: &str| {
        format!(r#"{{"id":"p","currency":"TRY","owner":"shop","transfers":{transfers}{rest}}}"#)
    };
    let error = common::compile_error(&with(r#"{"min_points":"100","max_points":"50"}"#, ""));
    assert!(error.starts_with("transfers.max_points:"), "{error}");
    let error = common::compile_error(&with(r#"{"min_points":"0.5"}"#, ""));
    assert!(error.starts_with("transfers.min_points:"), "{error}");
    let error = common::compile_error(&with("{}", r#","returns":{"when_points_spent":"deduct_from_refund"}"#));
    assert!(error.starts_with("returns.when_points_spent:") && error.contains("transferred"), "{error}");
}

/// One step of a family's history: three members buy, give each other points, spend them,
/// return orders and let time pass.
#[derive(Clone, Debug)]
enum Step {
    Buy { member: usize, price: u32 },
    Give { from: usize, to: usize, points: u32 },
    Spend { member: usize, points: u32 },
    Return { order: usize, units: u32 },
    Wait { member: usize, days: u32 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 1..5_000u32).prop_map(|(member, price)| Step::Buy { member, price }),
        4 => (0..3usize, 1..3usize, 50..400u32).prop_map(|(from, other, points)| Step::Give {
            from,
            to: (from + other) % 3,
            points
        }),
        1 => (0..3usize, 10..300u32).prop_map(|(member, points)| Step::Spend { member, points }),
        2 => (0..8usize, 1..3u32).prop_map(|(order, units)| Step::Return { order, units }),
        2 => (0..3usize, 0..5u32).prop_map(|(member, days)| Step::Wait { member, days }),
    ]
}

const FAMILY: [&str; 3] = ["ayse", "mehmet", "zeynep"];

/// A family's history through the shop: each step's outcome, its follow-ups' after it.
struct History {
    shop: Shop,
    /// Each order: who bought it, and how many of its two units are still kept.
    orders: Vec<(usize, u32)>,
    outcomes: Vec<Arc<Outcome>>,
    day: u64,
}

impl History {
    fn at(&self) -> String {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + chrono::Days::new(self.day);
        format!("{date}")
    }

    fn run(&mut self, step: &Step) {
        let json = match *step {
            Step::Buy { member, price } => {
                self.orders.push((member, 2));
                format!(
                    r#"{{"type":"purchase","member":"{}","at":"{}T12:00:00Z","order":"o-{}",
                        "lines":[{{"sku":"tea","qty":"2","unit_price":"{price}"}}]}}"#,
                    FAMILY[member],
                    self.at(),
                    self.orders.len() - 1
                )
            }
            Step::Give { from, to, points } => transfer(FAMILY[from], FAMILY[to], &self.at(), &points.to_string()),
            Step::Spend { member, points } => format!(
                r#"{{"type":"redeem","member":"{}","at":"{}T12:00:00Z","points":"{points}"}}"#,
                FAMILY[member],
                self.at()
            ),
            Step::Return { order, units } => {
                let Some((member, kept)) = self.orders.get_mut(order) else { return };
                let units = units.min(*kept);
                if units == 0 {
                    return;
                }
                *kept -= units;
                let member = *member;
                self.give_back(member, order, units)
            }
            Step::Wait { member, days } => {
                self.day += u64::from(days);
                format!(r#"{{"type":"tick","member":"{}","at":"{}T12:00:00Z"}}"#, FAMILY[member], self.at())
            }
        };
        self.apply(&json);
    }

    fn give_back(&self, member: usize, order: usize, units: u32) -> String {
        format!(
            r#"{{"type":"return","member":"{}","at":"{}T12:00:00Z","order":"o-{order}","lines":[{{"sku":"tea","qty":"{units}"}}]}}"#,
            FAMILY[member],
            self.at()
        )
    }

    fn apply(&mut self, json: &str) {
        match self.shop.try_apply(json) {
            Ok(outcome) => {
                self.outcomes.push(Arc::clone(&outcome));
                for follow_up in &outcome.follow_ups {
                    let recorded = self.shop.ledger.store_mut().recorded(follow_up.id()).unwrap();
                    self.outcomes.push(recorded.expect("the ledger applied the follow-up").outcome);
                }
            }
            Err(LedgerError::Rejected(_)) => {}
            Err(error) => panic!("{error}"),
        }
    }

    /// Returns what is still kept of every order.
    fn return_everything(&mut self) {
        for order in 0..self.orders.len() {
            let (member, kept) = self.orders[order];
            if kept > 0 {
                self.orders[order].1 = 0;
                let json = self.give_back(member, order, kept);
                self.apply(&json);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// However a family passes points around, points only move: over all members' outcomes,
    /// follow-ups included, nothing is left in transit and the flows reconcile; each member's
    /// lots add up to their buckets; and once every order is back, the family has had nothing
    /// of them: what it holds (debt included) and what it spent add up to zero.
    #[test]
    fn points_passed_around_a_family_only_move_and_returned_orders_leave_it_nothing(
        steps in prop::collection::vec(step(), 1..60),
        vesting_days in prop_oneof![Just(0u32), Just(3)],
    ) {
        let mut history = History { shop: family_shop(vesting_days), orders: Vec::new(), outcomes: Vec::new(), day: 0 };
        for step in &steps {
            history.run(step);
        }
        history.return_everything();

        let mut totals = AssetTotals::default();
        for outcome in &history.outcomes {
            totals.record(outcome);
        }
        prop_assert_eq!(totals.transferred, decimal("0"));
        prop_assert_eq!(totals.unreconciled(), decimal("0"));
        let (mut held, mut spent) = (decimal("0"), decimal("0"));
        for name in FAMILY {
            let state = history.shop.state(name);
            let points = state.points();
            let in_lots: rust_decimal::Decimal = state.lots().map(|lot| lot.amount_points).sum();
            prop_assert_eq!(in_lots, points.pending.value() + points.available.value());
            held += points.pending.value() + points.available.value() + points.debt.value();
            spent += state.balance(&Account::Redeemed, loyalty_engine::Asset::Points);
        }
        // Nothing expired: the steps span well under a year.
        prop_assert_eq!(held + spent, decimal("0"), "the family keeps nothing of returned orders");
    }
}

#[test]
fn a_transfer_carries_at_most_a_thousand_lots_each_with_its_own_expiry() {
    let mut shop = Shop::new(
        r#"{"id":"family","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}}]},
            "transfers":{},"expiry":{"after_days":365}}"#,
    );
    for minute in 0..1_001 {
        let at =
            chrono::DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap() + chrono::Duration::minutes(minute);
        shop.apply(&format!(
            r#"{{"type":"purchase","member":"ayse","at":"{}","order":"o-{minute}",
                "lines":[{{"sku":"mug","qty":"1","unit_price":"10"}}]}}"#,
            at.to_rfc3339()
        ));
    }
    let error = refused(&mut shop, &transfer("ayse", "mehmet", "2026-03-02", "1001"));
    assert!(matches!(error, EvalError::TransferTooFragmented { lots: 1_001 }), "{error}");

    shop.apply(&transfer("ayse", "mehmet", "2026-03-02", "1000"));

    let received = shop.state("mehmet");
    assert_eq!(received.lots().count(), 1_000, "a point a lot, each expiring at its own minute");
    assert_eq!(shop.available("ayse"), decimal("1"));
}
