//! Bad input gets a specific error and changes nothing.

mod common;

use common::{Shop, compile_error, event, program};
use loyalty_engine::{
    Asset, EvalError, Event, LedgerError, MAX_EARN_RULES, MAX_LINES_PER_EVENT, MemberId, MemberState, Program,
};

const SHOP: &str = r#"{"id":"shop","currency":"TRY","owner":"shop",
    "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
    "redemption":{"point_value":"1","max_share_of_order":"0.5"}}"#;

/// A shop where member `m` holds 100 available points from order `o-1`.
fn shop_with_points() -> Shop {
    let mut shop = Shop::new(SHOP);
    shop.buy("m", "2026-03-01", "o-1", "tv", "100");
    shop
}

/// Applies `json` (an event without id), expects it refused, and checks nothing changed.
fn refused(shop: &mut Shop, json: &str) -> EvalError {
    let before = shop.state("m");
    let committed_before = shop.ledger.store().committed().unwrap().len();
    let error = match shop.try_apply(json) {
        Err(LedgerError::Rejected(error)) => error,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(shop.state("m"), before, "a refused event changes nothing");
    assert_eq!(shop.ledger.store().committed().unwrap().len(), committed_before);
    assert!(!error.to_string().is_empty());
    error
}

/// A change to a stored state, as a corrupt row or a bad migration would make it.
type Tampering = fn(&mut serde_json::Value);

fn purchase_line(line: &str) -> String {
    format!(r#"{{"type":"purchase","member":"m","at":"2026-03-02T10:00:00Z","order":"o-2","lines":[{line}]}}"#)
}

#[test]
fn quantities_and_prices_must_be_positive() {
    let mut shop = shop_with_points();
    let zero_qty = refused(&mut shop, &purchase_line(r#"{"sku":"a","qty":"0","unit_price":"10"}"#));
    assert!(matches!(zero_qty, EvalError::InvalidQuantity { line: 0, .. }));
    let negative_qty = refused(&mut shop, &purchase_line(r#"{"sku":"a","qty":"-1","unit_price":"10"}"#));
    assert!(matches!(negative_qty, EvalError::InvalidQuantity { .. }));
    let zero_price = refused(&mut shop, &purchase_line(r#"{"sku":"a","qty":"1","unit_price":"0"}"#));
    assert!(matches!(zero_price, EvalError::InvalidPrice { .. }));
    let negative_price = refused(&mut shop, &purchase_line(r#"{"sku":"a","qty":"1","unit_price":"-5"}"#));
    assert!(matches!(negative_price, EvalError::InvalidPrice { .. }));
    let big_discount = refused(&mut shop, &purchase_line(r#"{"sku":"a","qty":"1","unit_price":"5","discount":"6"}"#));
    assert!(matches!(big_discount, EvalError::InvalidDiscount { .. }));
    let negative_discount =
        refused(&mut shop, &purchase_line(r#"{"sku":"a","qty":"1","unit_price":"5","discount":"-1"}"#));
    assert!(matches!(negative_discount, EvalError::InvalidDiscount { .. }));
    let no_lines =
        refused(&mut shop, r#"{"type":"purchase","member":"m","at":"2026-03-02T10:00:00Z","order":"o-2","lines":[]}"#);
    assert_eq!(no_lines, EvalError::NoLines);
    let nothing_back = refused(
        &mut shop,
        r#"{"type":"return","member":"m","at":"2026-03-02T10:00:00Z","order":"o-1","lines":[{"sku":"tv","qty":"0"}]}"#,
    );
    assert!(matches!(nothing_back, EvalError::InvalidQuantity { line: 0, .. }), "{nothing_back:?}");
    // A line given away (its discount its whole price) is a line of the order that earns nothing.
    let free = shop.apply(&purchase_line(r#"{"sku":"a","qty":"2","unit_price":"5","discount":"10"}"#));
    let receipt = free.receipt.as_deref().unwrap();
    assert_eq!((receipt.lines.len(), receipt.earnings.len(), free.lots_opened.len()), (1, 0, 0));
}

#[test]
fn a_purchase_in_another_currency_is_refused() {
    let mut shop = shop_with_points();
    let error = refused(
        &mut shop,
        r#"{"type":"purchase","member":"m","at":"2026-03-02T10:00:00Z","order":"o-2","currency":"EUR",
            "lines":[{"sku":"a","qty":"1","unit_price":"10"}]}"#,
    );
    assert!(matches!(error, EvalError::CurrencyMismatch { .. }));
    assert!(error.to_string().contains("EUR") && error.to_string().contains("TRY"));
}

#[test]
fn returns_must_name_a_known_order_and_sku_and_no_more_units_than_are_left() {
    let mut shop = shop_with_points();
    let unknown = refused(
        &mut shop,
        r#"{"type":"return","member":"m","at":"2026-03-02T10:00:00Z","order":"nope","lines":[{"sku":"tv","qty":"1"}]}"#,
    );
    assert!(matches!(unknown, EvalError::UnknownOrder { .. }));
    let sku = refused(
        &mut shop,
        r#"{"type":"return","member":"m","at":"2026-03-02T10:00:00Z","order":"o-1","lines":[{"sku":"radio","qty":"1"}]}"#,
    );
    assert!(matches!(sku, EvalError::UnknownSku { .. }));
    let too_many = refused(
        &mut shop,
        r#"{"type":"return","member":"m","at":"2026-03-02T10:00:00Z","order":"o-1",
            "lines":[{"sku":"tv","qty":"1"},{"sku":"tv","qty":"1"}]}"#,
    );
    assert!(matches!(too_many, EvalError::ReturnExceedsPurchase { .. }));
}

#[test]
fn spending_more_than_available_or_above_the_cap_is_refused() {
    let mut shop = shop_with_points();
    let redeem = refused(&mut shop, r#"{"type":"redeem","member":"m","at":"2026-03-02T10:00:00Z","points":"101"}"#);
    assert!(matches!(redeem, EvalError::InsufficientPoints { .. }));
    let zero = refused(&mut shop, r#"{"type":"redeem","member":"m","at":"2026-03-02T10:00:00Z","points":"0"}"#);
    assert!(matches!(zero, EvalError::InvalidPoints { .. }));
    let fraction = refused(&mut shop, r#"{"type":"redeem","member":"m","at":"2026-03-02T10:00:00Z","points":"1.5"}"#);
    assert!(matches!(fraction, EvalError::InvalidPoints { .. }), "the program counts whole points");
    assert!(fraction.to_string().contains("no finer than the program's points"), "{fraction}");
    // Trailing zeros are no finer: "10.0" is ten whole points.
    let spent = shop.apply(r#"{"type":"redeem","member":"m","at":"2026-03-02T09:00:00Z","points":"10.0"}"#);
    assert_eq!(
        spent.postings.iter().map(|posting| posting.amount).sum::<rust_decimal::Decimal>(),
        common::decimal("10")
    );
    let capped = refused(
        &mut shop,
        r#"{"type":"purchase","member":"m","at":"2026-03-02T10:00:00Z","order":"o-2",
            "lines":[{"sku":"a","qty":"1","unit_price":"100"}],"pay_with_points":"51"}"#,
    );
    assert!(matches!(capped, EvalError::PointsAboveCap { .. }), "points pay at most half of 100");
    let negative = refused(
        &mut shop,
        r#"{"type":"purchase","member":"m","at":"2026-03-02T10:00:00Z","order":"o-2",
            "lines":[{"sku":"a","qty":"1","unit_price":"100"}],"pay_with_points":"-5"}"#,
    );
    assert!(matches!(negative, EvalError::InvalidPoints { .. }));
}

#[test]
fn a_program_without_redemption_refuses_spending() {
    let mut shop = Shop::new(r#"{"id":"shop","currency":"TRY","owner":"shop"}"#);
    let error = refused(&mut shop, r#"{"type":"redeem","member":"m","at":"2026-03-02T10:00:00Z","points":"1"}"#);
    assert_eq!(error, EvalError::RedemptionNotOffered);
}

#[test]
fn events_older_than_the_last_one_and_reused_orders_are_refused() {
    let mut shop = shop_with_points();
    let old = refused(&mut shop, r#"{"type":"tick","member":"m","at":"2026-02-01T00:00:00Z"}"#);
    assert!(matches!(old, EvalError::OutOfOrder { .. }));
    let reused = refused(&mut shop, &purchase_line(r#"{"sku":"a","qty":"1","unit_price":"10"}"#).replace("o-2", "o-1"));
    assert!(matches!(reused, EvalError::DuplicateOrder { .. }));
    let enrolled = shop.try_apply(r#"{"type":"enroll","member":"m","at":"2026-03-02T10:00:00Z"}"#);
    assert!(enrolled.is_ok());
    let twice = refused(&mut shop, r#"{"type":"enroll","member":"m","at":"2026-03-02T10:00:00Z"}"#);
    assert!(matches!(twice, EvalError::AlreadyEnrolled { .. }));
}

/// A purchase of one line under one rule of `points_per_currency_unit` `rate`, refused.
fn refused_at_rate(rate: &str, line: &str) -> EvalError {
    let mut shop = Shop::new(&format!(
        r#"{{"id":"shop","currency":"TRY","owner":"shop",
            "earn":{{"rules":[{{"id":"rate","effect":{{"points_per_currency_unit":"{rate}"}}}}]}}}}"#
    ));
    refused(&mut shop, &purchase_line(line))
}

#[test]
fn arithmetic_overflow_is_an_error_not_a_panic() {
    let line = r#"{"sku":"a","qty":"1000000000000000000","unit_price":"1000000000000000000"}"#;
    assert_eq!(refused_at_rate("1000000000000000000", line), EvalError::Overflow);
}

/// Every input is within 10^18, but points earned from one at a rate above one may not be: the
/// error says which posting, not that a decimal overflowed.
#[test]
fn points_past_what_one_posting_may_move_are_refused_by_name() {
    let error = refused_at_rate("2", r#"{"sku":"a","qty":"1","unit_price":"999999999999999999"}"#);
    let amount = "1999999999999999998".parse().unwrap();
    assert_eq!(error, EvalError::PostingTooLarge { asset: Asset::Points, amount });
    assert_eq!(
        error.to_string(),
        "1999999999999999998 points in one posting is more than the 10^18 a posting may move"
    );
}

#[test]
fn an_event_for_another_member_than_the_state_is_refused() {
    let engine = program(SHOP).compile().unwrap();
    let state = MemberState::new(MemberId::new("someone-else").unwrap());
    let purchase =
        event(&purchase_line(r#"{"sku":"a","qty":"1","unit_price":"10"}"#).replacen('{', r#"{"id":"e","#, 1));
    assert!(matches!(engine.evaluate(&state, &purchase), Err(EvalError::WrongMember { .. })));
}

#[test]
fn decimals_built_in_rust_are_held_to_the_same_limits_as_parsed_ones() {
    let engine = program(SHOP).compile().unwrap();
    let state = MemberState::new(MemberId::new("m").unwrap());
    let mut purchase =
        event(&purchase_line(r#"{"sku":"a","qty":"1","unit_price":"10"}"#).replacen('{', r#"{"id":"e","#, 1));
    // On the second line, which the error names.
    if let loyalty_engine::Event::Purchase(purchase) = &mut purchase {
        let mut second = purchase.lines[0].clone();
        second.qty = rust_decimal::Decimal::new(1, 20);
        purchase.lines.push(second);
    }
    let refused = engine.evaluate(&state, &purchase).unwrap_err();
    assert!(matches!(refused, EvalError::DecimalOutOfRange { line: Some(1), field: "qty", .. }), "{refused:?}");
    assert!(refused.to_string().starts_with("lines[1]: qty 0.00000000000000000001 is out of range"), "{refused}");
    // Zero too: a zero with more places than the limit is as out of range as any other value.
    let out_of_range_zero = || rust_decimal::Decimal::new(0, 20);
    if let loyalty_engine::Event::Purchase(purchase) = &mut purchase {
        purchase.lines.pop();
        purchase.pay_with_cashback = loyalty_engine::Money::new(out_of_range_zero());
    }
    let refused = engine.evaluate(&state, &purchase);
    assert!(
        matches!(refused, Err(EvalError::DecimalOutOfRange { line: None, field: "pay_with_cashback", .. })),
        "{refused:?}"
    );
    if let loyalty_engine::Event::Purchase(purchase) = &mut purchase {
        purchase.pay_with_cashback = loyalty_engine::Money::ZERO;
        purchase.pay_with_points = loyalty_engine::Points::new(out_of_range_zero());
    }
    let refused = engine.evaluate(&state, &purchase);
    assert!(
        matches!(refused, Err(EvalError::DecimalOutOfRange { line: None, field: "pay_with_points", .. })),
        "{refused:?}"
    );

    // A return's line, named too.
    let mut shop = shop_with_points();
    let state = shop.state("m");
    let mut giving_back = event(
        r#"{"type":"return","id":"r","member":"m","at":"2026-03-02T10:00:00Z","order":"o-1",
            "lines":[{"sku":"tv","qty":"1"},{"sku":"tv","qty":"1"}]}"#,
    );
    if let loyalty_engine::Event::Return(giving_back) = &mut giving_back {
        giving_back.lines[1].qty = rust_decimal::Decimal::new(1, 20);
    }
    let refused = shop.ledger.engine().evaluate(&state, &giving_back);
    assert!(matches!(refused, Err(EvalError::DecimalOutOfRange { line: Some(1), field: "qty", .. })), "{refused:?}");
}

#[test]
fn events_with_unknown_fields_floats_or_too_many_decimals_do_not_parse() {
    let unknown = r#"{"type":"tick","id":"e","member":"m","at":"2026-03-02T10:00:00Z","colour":"red"}"#;
    assert!(serde_json::from_str::<loyalty_engine::Event>(unknown).unwrap_err().to_string().contains("colour"));
    let float = purchase_line(r#"{"sku":"a","qty":1,"unit_price":10.5}"#).replacen('{', r#"{"id":"e","#, 1);
    let error = serde_json::from_str::<loyalty_engine::Event>(&float).unwrap_err().to_string();
    assert!(error.contains("floating point") && error.contains("decimal written as a string"), "{error}");
    let fine = purchase_line(r#"{"sku":"a","qty":"1","unit_price":"0.00000000001"}"#).replacen('{', r#"{"id":"e","#, 1);
    assert!(serde_json::from_str::<loyalty_engine::Event>(&fine).is_err());
}

/// Where the event's `"type"` comes first, as the engine writes it, an error in a field says
/// where in the input it is: the column just past the offending value.
#[test]
fn an_error_in_an_event_field_says_where_it_is() {
    let json = r#"{"type":"purchase","id":"e","member":"m","at":"2026-03-02T10:00:00Z","order":"o",
"lines":[{"sku":"a","qty":"1","unit_price":"10"},{"sku":"b","qty":"1","unit_price":"10","colour":"red"}]}"#;
    let error = serde_json::from_str::<Event>(json).unwrap_err();
    assert!(error.to_string().starts_with("unknown field `colour`"), "{error}");
    let column = json.lines().nth(1).unwrap().find("\"colour\"").unwrap() + "\"colour\"".len();
    assert_eq!((error.line(), error.column()), (2, column));
}

/// The tag may come anywhere in the object (a host's JSON library may sort the keys): the
/// event reads the same, optional fields, labels and all.
#[test]
fn an_event_reads_the_same_wherever_its_type_is() {
    let fields = [
        r#""id":"e""#,
        r#""member":"m""#,
        r#""at":"2026-03-02T10:00:00Z""#,
        r#""order":"o""#,
        r#""channel":null"#,
        r#""lines":[{"sku":"a","qty":"1.5","unit_price":10,"labels":{"brand":"acme"},"category":null}]"#,
        r#""pay_with_points":"0""#,
    ];
    let read = |position: usize| {
        let mut fields: Vec<&str> = fields.to_vec();
        fields.insert(position, r#""type":"purchase""#);
        serde_json::from_str::<Event>(&format!("{{{}}}", fields.join(","))).unwrap()
    };
    let first = read(0);
    assert!(matches!(&first, Event::Purchase(purchase) if purchase.lines[0].labels.len() == 1));
    for position in 1..=fields.len() {
        assert_eq!(read(position), first, "with the type at {position}");
    }
    let written = serde_json::to_string(&first).unwrap();
    assert!(written.starts_with(r#"{"type":"purchase","#), "{written}");
    assert_eq!(serde_json::from_str::<Event>(&written).unwrap(), first);
}

/// Before or after the tag, a field's errors are the same, and a second tag is refused.
#[test]
fn events_without_one_known_type_do_not_parse() {
    let cases = [
        (r#"{"id":"e","member":"m","at":"2026-03-02T10:00:00Z"}"#, "missing field `type`"),
        (r#"{"type":"tock","id":"e","member":"m","at":"2026-03-02T10:00:00Z"}"#, "unknown variant `tock`"),
        (
            r#"{"type":7,"id":"e","member":"m","at":"2026-03-02T10:00:00Z"}"#,
            "invalid type: integer `7`, expected a string",
        ),
        (
            r#"{"type":"tick","id":"e","type":"tick","member":"m","at":"2026-03-02T10:00:00Z"}"#,
            "duplicate field `type`",
        ),
        (
            r#"{"id":"e","member":"m","at":"2026-03-02T10:00:00Z","type":"tick","type":"tick"}"#,
            "duplicate field `type`",
        ),
        (r#"{"member":"m","at":"2026-03-02T10:00:00Z","type":"tick"}"#, "missing field `id`"),
        (
            r#"{"colour":"red","type":"tick","id":"e","member":"m","at":"2026-03-02T10:00:00Z"}"#,
            "unknown field `colour`",
        ),
        (r#"{"id":"","type":"tick","member":"m","at":"2026-03-02T10:00:00Z"}"#, "empty"),
        (
            r#"{"points":1.5,"type":"redeem","id":"e","member":"m","at":"2026-03-02T10:00:00Z"}"#,
            "floating point `1.5`, expected a field of an event (a decimal written as a string",
        ),
        (r#"["tick","e","m","2026-03-02T10:00:00Z"]"#, "invalid type: sequence, expected an event"),
    ];
    for (json, expected) in cases {
        let error = serde_json::from_str::<Event>(json).unwrap_err().to_string();
        assert!(error.contains(expected), "{json}: {error}");
    }
}

#[test]
fn too_many_lines_are_refused() {
    let mut shop = shop_with_points();
    let line = r#"{"sku":"a","qty":"1","unit_price":"1"}"#;
    let lines = vec![line; MAX_LINES_PER_EVENT + 1].join(",");
    let error = refused(&mut shop, &purchase_line(&lines));
    assert_eq!(error, EvalError::TooManyLines { count: MAX_LINES_PER_EVENT + 1 });
}

#[test]
fn a_program_with_unknown_fields_does_not_parse() {
    let typo = r#"{"id":"p","currency":"TRY","owner":"o","earn":{"rules":[{"id":"r","effect":{"points_per_currency_unit":"1"},"fundedby":{}}]}}"#;
    let error = serde_json::from_str::<Program>(typo).unwrap_err().to_string();
    assert!(error.contains("fundedby"), "{error}");
}

#[test]
fn compile_errors_name_the_path_of_the_field() {
    let shares = compile_error(
        r#"{"id":"p","currency":"TRY","owner":"o","earn":{"rules":[
            {"id":"a","effect":{"points_per_currency_unit":"1"}},
            {"id":"b","effect":{"points_per_unit":"5"},"funded_by":{"x":"0.5","y":"0.4"}}]}}"#,
    );
    assert_eq!(shares, "earn.rules[1].funded_by: shares sum to 0.9, not exactly 1");
    let duplicate = compile_error(
        r#"{"id":"p","currency":"TRY","owner":"o","earn":{"rules":[
            {"id":"a","effect":{"points_per_currency_unit":"1"}},{"id":"a","effect":{"points_per_unit":"5"}}]}}"#,
    );
    assert!(duplicate.starts_with("earn.rules[1].id:"), "{duplicate}");
    let multiplier = compile_error(
        r#"{"id":"p","currency":"TRY","owner":"o","earn":{"rules":[{"id":"a","effect":{"multiplier":"0.5"}}]}}"#,
    );
    assert!(multiplier.starts_with("earn.rules[0].effect.multiplier:"), "{multiplier}");
    let cap = compile_error(
        r#"{"id":"p","currency":"TRY","owner":"o","redemption":{"point_value":"1","max_share_of_order":"1.5"}}"#,
    );
    assert!(cap.starts_with("redemption.max_share_of_order:"), "{cap}");
    let exclusion =
        compile_error(r#"{"id":"p","currency":"TRY","owner":"o","earn":{"exclude":[{"channels":["web"]}]}}"#);
    assert!(exclusion.starts_with("earn.exclude[0]:"), "{exclusion}");
    let expiry = compile_error(r#"{"id":"p","currency":"TRY","owner":"o","expiry":{"after_days":0}}"#);
    assert!(expiry.starts_with("expiry.after_days:"), "{expiry}");
    let inactive = compile_error(r#"{"id":"p","currency":"TRY","owner":"o","expiry":{"after_inactive_months":0}}"#);
    assert!(inactive.starts_with("expiry.after_inactive_months: must be between 1 and 1217"), "{inactive}");
    let capped = |effect: &str, cap: &str| {
        compile_error(&format!(
            r#"{{"id":"p","currency":"TRY","owner":"o","earn":{{"rules":[{{"id":"a","effect":{effect},"max_points_per_order":"{cap}"}}]}}}}"#
        ))
    };
    let fractional = capped(r#"{"points_per_unit":"1"}"#, "2.5");
    assert!(
        fractional.starts_with("earn.rules[0].max_points_per_order: must be a positive whole number"),
        "{fractional}"
    );
    let per_month = compile_error(
        r#"{"id":"p","currency":"TRY","owner":"o","earn":{"rules":[{"id":"a","effect":{"points_per_unit":"1"},
            "max_points_per_period":{"period":"month","points":"0"}}]}}"#,
    );
    assert!(per_month.starts_with("earn.rules[0].max_points_per_period.points: must be a positive"), "{per_month}");
    let fixed = capped(r#"{"points_per_order":"300"}"#, "200");
    assert!(fixed.starts_with("earn.rules[0].max_points_per_order: a points_per_order rule"), "{fixed}");
    let tier_named = compile_error(
        r#"{"id":"p","currency":"TRY","owner":"o","earn":{"rules":[{"id":"tier:gold","effect":{"points_per_unit":"1"}}]}}"#,
    );
    assert!(tier_named.starts_with("earn.rules[0].id:"), "{tier_named}");
    let partners = r#"{"id":"p","currency":"TRY","owner":"o","partners":[{"id":"a","merchants":["m","m"]}]}"#;
    let listed_twice = compile_error(partners);
    assert_eq!(listed_twice, "partners[0].merchants: lists merchant `m` twice");
    let shared = compile_error(&partners.replace(r#""m","m"]}"#, r#""m"]},{"id":"b","merchants":["m"]}"#));
    assert_eq!(shared, "partners: merchant `m` sells for more than one partner");
    let segments: Vec<String> =
        (0..=loyalty_engine::MAX_CONDITION_VALUES).map(|index| format!(r#""s-{index}""#)).collect();
    let segmented = compile_error(&format!(
        r#"{{"id":"p","currency":"TRY","owner":"o","earn":{{"rules":[{{"id":"a","when":{{"segments":[{}]}},"effect":{{"points_per_unit":"1"}}}}]}}}}"#,
        segments.join(",")
    ));
    let over = format!("earn.rules[0].when.segments: has {} values", loyalty_engine::MAX_CONDITION_VALUES + 1);
    assert!(segmented.starts_with(&over), "{segmented}");
    let segment_exclusion =
        compile_error(r#"{"id":"p","currency":"TRY","owner":"o","earn":{"exclude":[{"segments":["staff"]}]}}"#);
    assert!(segment_exclusion.starts_with("earn.exclude[0]:"), "{segment_exclusion}");
    let rejecting = compile_error(
        r#"{"id":"p","currency":"TRY","owner":"o","earn":{"rules":[{"id":"a","effect":{"points_per_unit":"1"},"over_cap":"reject"}]}}"#,
    );
    assert!(rejecting.starts_with("earn.rules[0].over_cap: a rule without max_points_per_order"), "{rejecting}");
    let donations =
        |section: &str| compile_error(&format!(r#"{{"id":"p","currency":"TRY","owner":"o","donations":{section}}}"#));
    assert_eq!(donations(r#"{"causes":[]}"#), "donations.causes: must list 1 to 1000 causes, not 0");
    assert_eq!(donations(r#"{"causes":["a","b","a"]}"#), "donations.causes[2]: `a` is listed twice");
    let negative = donations(r#"{"causes":["a"],"min_points":"-1"}"#);
    assert!(negative.starts_with("donations.min_points: must not be negative"), "{negative}");
    assert!(donations(r#"{"causes":["a"],"min_points":"0.5"}"#).starts_with("donations.min_points:"));
}

#[test]
fn a_program_over_the_rule_limit_is_refused() {
    let rule = r#"{"id":"r","effect":{"points_per_unit":"1"}}"#;
    let rules: Vec<String> =
        (0..=MAX_EARN_RULES).map(|index| rule.replace("\"r\"", &format!("\"r{index}\""))).collect();
    let json = format!(r#"{{"id":"p","currency":"TRY","owner":"o","earn":{{"rules":[{}]}}}}"#, rules.join(","));
    let error = compile_error(&json);
    assert!(error.starts_with("earn.rules:") && error.contains("100000"), "{error}");
}

#[test]
fn a_stored_payment_that_could_give_back_more_than_it_took_is_refused_when_read() {
    let mut shop = shop_with_points();
    shop.buy_paying("m", "2026-03-02", "o-2", "radio", "80", "40");
    let stored = serde_json::to_value(shop.state("m")).unwrap();
    let payment = &stored["orders"][1]["payment"];
    assert_eq!(payment["paid_with"][0]["points"], "40", "{payment}");

    let tamperings: [(&str, Tampering); 3] = [
        ("a group gave back more than it paid", |payment| payment["paid_with"][0]["refunded"] = "41".into()),
        ("the line paid more than the group", |payment| payment["lines"][0]["points"] = "50".into()),
        ("the line gave back what no group did", |payment| payment["lines"][0]["points_refunded"] = "1".into()),
    ];
    for (story, tamper) in tamperings {
        let mut tampered = stored.clone();
        tamper(&mut tampered["orders"][1]["payment"]);
        let error = serde_json::from_value::<MemberState>(tampered).unwrap_err().to_string();
        assert!(error.contains("order o-2 has a payment"), "{story}: {error}");
    }
    assert_eq!(serde_json::from_value::<MemberState>(stored).unwrap(), shop.state("m"));
}

#[test]
fn a_corrupt_stored_state_is_refused_when_read_not_when_used() {
    let mut shop = shop_with_points();
    let stored = serde_json::to_value(shop.state("m")).unwrap();

    let mut tampered = stored.clone();
    tampered["lots"][0]["amount_points"] = serde_json::json!("1000000");
    let error = serde_json::from_value::<MemberState>(tampered).unwrap_err().to_string();
    assert!(error.contains("not the sum of its lots"), "{error}");

    let mut reordered = stored.clone();
    reordered["next_lot"] = serde_json::json!(0);
    let error = serde_json::from_value::<MemberState>(reordered).unwrap_err().to_string();
    assert!(error.contains("lot 0"), "{error}");

    // The order opened lot 0 alone; a receipt naming lot 1 too names a lot not yet opened.
    let mut one_lot_more = stored.clone();
    one_lot_more["orders"][0]["lot_count"] = serde_json::json!(2);
    let error = serde_json::from_value::<MemberState>(one_lot_more).unwrap_err().to_string();
    assert!(error.contains("order o-1 names lots not yet opened"), "{error}");

    assert_eq!(serde_json::from_value::<MemberState>(stored).unwrap(), shop.state("m"));
}

/// A member who owes the shop 100 points: the stored book of creditors must name only positive
/// debts, and add up to the debt.
#[test]
fn a_stored_creditor_book_that_does_not_match_the_debt_is_refused_when_read() {
    let mut shop = shop_with_points();
    shop.apply(r#"{"type":"redeem","member":"m","at":"2026-03-02T10:00:00Z","points":"100"}"#);
    shop.give_back("m", "2026-03-03", "o-1", "tv", "1");
    let stored = serde_json::to_value(shop.state("m")).unwrap();
    assert_eq!(stored["creditors"], serde_json::json!([{"account":"debt","funder":"shop","amount":"100"}]));

    let mut owed_nothing = stored.clone();
    let nobody = serde_json::json!({"account":"debt","funder":"partner","amount":"0"});
    owed_nothing["creditors"].as_array_mut().unwrap().push(nobody);
    let error = serde_json::from_value::<MemberState>(owed_nothing).unwrap_err().to_string();
    assert!(error.contains("creditor partner of debt is not a positive debt"), "{error}");

    let mut half_owed = stored.clone();
    half_owed["creditors"][0]["amount"] = "50".into();
    let error = serde_json::from_value::<MemberState>(half_owed).unwrap_err().to_string();
    assert!(error.contains("balance is not what its creditors are owed"), "{error}");

    assert_eq!(serde_json::from_value::<MemberState>(stored).unwrap(), shop.state("m"));
}

#[test]
fn a_stored_tier_that_counts_an_unknown_order_or_is_out_of_time_order_is_refused_when_read() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "tiers":{"metric":"net_spend","window":"lifetime","downgrade":"one_level","grace_days":0,
              "levels":[{"id":"blue","threshold":"0"},{"id":"silver","threshold":"1000"}]}}"#,
    );
    shop.buy("m", "2026-03-01", "o-1", "desk", "600");
    shop.buy("m", "2026-03-02", "o-2", "lamp", "600");
    let stored = serde_json::to_value(shop.state("m")).unwrap();
    let contributions = &stored["tier"]["contributions"];
    assert_eq!(contributions.as_array().map(Vec::len), Some(2), "{contributions}");

    let mut unknown_order = stored.clone();
    unknown_order["tier"]["contributions"][1]["order"] = "o-3".into();
    let error = serde_json::from_value::<MemberState>(unknown_order).unwrap_err().to_string();
    assert!(error.contains("counts order o-3, which has no receipt"), "{error}");

    let mut out_of_order = stored.clone();
    out_of_order["tier"]["contributions"].as_array_mut().unwrap().swap(0, 1);
    let error = serde_json::from_value::<MemberState>(out_of_order).unwrap_err().to_string();
    assert!(error.contains("out of time order"), "{error}");

    assert_eq!(serde_json::from_value::<MemberState>(stored).unwrap(), shop.state("m"));
}

#[test]
fn what_the_engine_writes_reads_back_even_past_the_limits_on_input() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"star","when":{"skus":["star"]},"effect":{"points_per_unit":"1000000000000000000"}}]},
            "tiers":{"metric":"net_spend","window":"lifetime",
              "levels":[{"id":"blue","threshold":"0"},{"id":"gold","threshold":"1000"}]}}"#,
    );
    // A line worth more places than any input may have, an order worth more than 10^18 (which
    // the tier counts), and two accruals of 10^18 points, which take the balances past 10^18.
    let orders = [
        r#"{"sku":"dust","qty":"0.1","unit_price":"0.0000000001"}"#,
        r#"{"sku":"gold","qty":"1","unit_price":"1000000000000000000"},{"sku":"gold","qty":"1","unit_price":"1000000000000000000"}"#,
        r#"{"sku":"star","qty":"1","unit_price":"1"}"#,
        r#"{"sku":"star","qty":"1","unit_price":"1"}"#,
    ];
    let outcomes: Vec<_> = (0..orders.len())
        .map(|index| {
            let purchase = purchase_line(orders[index]).replace("o-2", &format!("o-{index}"));
            shop.apply(&purchase.replace("10:00", &format!("10:0{index}")))
        })
        .collect();
    let state = shop.state("m");
    assert_eq!(state.points().available.value(), common::decimal("2000000000000000000"));
    assert_eq!(state.order(&"o-0".parse().unwrap()).unwrap().lines[0].value.value().scale(), 11);
    assert_eq!(state.tier().unwrap().contributions[1].amount, common::decimal("2000000000000000000"));

    let stored = serde_json::to_value(&state).unwrap();
    assert_eq!(serde_json::from_value::<MemberState>(stored.clone()).unwrap(), state);
    for outcome in outcomes {
        let recorded = serde_json::to_string(&*outcome).unwrap();
        assert_eq!(serde_json::from_str::<loyalty_engine::Outcome>(&recorded).unwrap(), *outcome);
    }

    // What no engine writes is refused: a line worth more than 10^18, and stored that way; a
    // balance past 10^27.
    let too_much = purchase_line(r#"{"sku":"gold","qty":"10","unit_price":"1000000000000000000"}"#);
    let error = refused(&mut shop, &too_much.replace("10:00", "11:00").replace("o-2", "o-9"));
    assert!(matches!(error, EvalError::DecimalOutOfRange { line: Some(0), field: "qty x unit_price", .. }), "{error}");
    let tamperings: [Tampering; 2] = [
        |state| state["orders"][1]["lines"][0]["value"] = "10000000000000000000".into(),
        |state| state["balances"][0]["amount"] = "10000000000000000000000000000".into(),
    ];
    for tamper in tamperings {
        let mut tampered = stored.clone();
        tamper(&mut tampered);
        let error = serde_json::from_value::<MemberState>(tampered).unwrap_err().to_string();
        assert!(error.contains("larger than the engine stores there"), "{error}");
    }
}

#[test]
fn points_worth_a_hair_more_than_the_order_are_above_its_cap() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "redemption":{"point_value":"3"}}"#,
    );
    shop.buy("m", "2026-03-01", "o-1", "tv", "150000000");
    // The order is worth 449,999,999.99999999999999999999: 150,000,000 points at 3 are worth
    // a hair more, though the quotient, rounded to a decimal's 28 digits, is 150,000,000.
    let line = r#"{"sku":"b","qty":"0.0000000929","unit_price":"4843918191603875.1345532831"}"#;
    let paying = purchase_line(line).replace("}]}", r#"}],"pay_with_points":"POINTS"}"#);
    let error = refused(&mut shop, &paying.replace("POINTS", "150000000"));
    assert!(
        matches!(error, EvalError::PointsAboveCap { max_points, .. } if max_points.value() == common::decimal("149999999"))
    );
    let paid = shop.apply(&paying.replace("POINTS", "149999999"));
    let redeemed = paid.postings.iter().filter(|posting| posting.to == loyalty_engine::Account::Redeemed);
    assert_eq!(redeemed.map(|posting| posting.amount).sum::<rust_decimal::Decimal>(), common::decimal("149999999"));
}

#[test]
fn a_stored_state_whose_numbers_no_engine_writes_is_refused_when_read() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "redemption":{"point_value":"1"},
            "stamp_cards":[{"id":"card","stamps_needed":2,"reward":{"points":"5"}}]}"#,
    );
    shop.apply(&purchase_line(r#"{"sku":"mug","qty":"3","unit_price":"10"}"#));
    let stored = serde_json::to_value(shop.state("m")).unwrap();
    assert_eq!(stored["orders"][0]["stamps"][0]["stamps"], 3, "{stored}");
    assert_eq!(stored["rewards"][0]["funded_by"]["shop"], "1", "{stored}");

    let tamperings: [(&str, Tampering, &str); 10] = [
        ("a next lot id past any ledger's", |state| state["next_lot"] = u64::MAX.into(), "next lot id"),
        (
            "lots past the last lot id",
            |state| {
                state["orders"][0]["first_lot"] = (u64::MAX - 1).into();
                state["orders"][0]["lot_count"] = 2.into();
            },
            "names lots not yet opened",
        ),
        (
            "more clawed back than earned",
            |state| state["orders"][0]["earnings"][0]["clawed_back"] = "31".into(),
            "clawed back more",
        ),
        (
            "a negative line value",
            |state| state["orders"][0]["lines"][0]["value"] = "-30".into(),
            "bad quantity or value",
        ),
        (
            "more stamps taken back than earned",
            |state| state["orders"][0]["stamps"][0]["taken_back"] = 4.into(),
            "takes back or lost more",
        ),
        (
            "more stamps lost than earned",
            |state| state["orders"][0]["stamps"][0]["lost"] = 4.into(),
            "takes back or lost more",
        ),
        ("a reward nobody funds", |state| state["rewards"][0]["funded_by"] = serde_json::json!({}), "has no funder"),
        ("a reward funded twice over", |state| state["rewards"][0]["funded_by"]["shop"] = "2".into(), "funded_by"),
        (
            "a reward of negative points",
            |state| state["rewards"][0]["kind"] = serde_json::json!({"points": "-5"}),
            "kind",
        ),
        (
            "one reward stored twice",
            |state| {
                let reward = state["rewards"][0].clone();
                state["rewards"].as_array_mut().unwrap().push(reward);
            },
            "stored twice",
        ),
    ];
    for (story, tamper, expected) in tamperings {
        let mut tampered = stored.clone();
        tamper(&mut tampered);
        let error = serde_json::from_value::<MemberState>(tampered).expect_err(story).to_string();
        assert!(error.contains(expected), "{story}: {error}");
    }
    assert_eq!(serde_json::from_value::<MemberState>(stored.clone()).unwrap(), shop.state("m"));

    // Stamps a receipt says were taken back already stay taken back: a return takes no more.
    let mut taken = stored;
    taken["orders"][0]["stamps"][0]["taken_back"] = 3.into();
    let state: MemberState = serde_json::from_value(taken).expect("no more taken back than earned");
    let back = event(
        r#"{"type":"return","id":"r-1","member":"m","at":"2026-03-03T10:00:00Z","order":"o-2","lines":[{"sku":"mug","qty":"1"}]}"#,
    );
    let outcome = shop.ledger.engine().evaluate(&state, &back).expect("a return of a stored order");
    assert!(outcome.postings.iter().all(|posting| !matches!(posting.asset, loyalty_engine::Asset::Stamps(_))));
}

#[test]
fn a_stored_receipt_that_already_gave_back_more_than_its_returns_gives_back_nothing_more() {
    let mut shop = shop_with_points();
    shop.apply(
        r#"{"type":"purchase","member":"m","at":"2026-03-02T10:00:00Z","order":"o-2",
            "lines":[{"sku":"radio","qty":"2","unit_price":"80"}],"pay_with_points":"40"}"#,
    );
    let mut stored = serde_json::to_value(shop.state("m")).unwrap();
    let payment = &mut stored["orders"][1]["payment"];
    (payment["paid_with"][0]["refunded"], payment["lines"][0]["points_refunded"]) = ("40".into(), "40".into());
    let state: MemberState = serde_json::from_value(stored).expect("within what a payment may give back");

    let engine = shop.ledger.engine();
    let back = event(
        r#"{"type":"return","id":"r-1","member":"m","at":"2026-03-03T10:00:00Z","order":"o-2","lines":[{"sku":"radio","qty":"1"}]}"#,
    );
    let outcome = engine.evaluate(&state, &back).expect("a return of a stored order");
    assert!(
        outcome.postings.iter().all(|posting| posting.to != loyalty_engine::Account::Available),
        "nothing given back"
    );
}

#[test]
fn points_pay_for_an_order_worth_more_than_a_line_times_what_money_paid_can_hold() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "redemption":{"point_value":"0.01","max_share_of_order":"0.5"}}"#,
    );
    shop.buy("m", "2026-03-01", "o-1", "yacht", "1000000000000000000");
    let order_value = common::decimal("1000000000000000");
    let state = shop.state("m");
    let at = "2026-03-02T10:00:00Z".parse().unwrap();
    let spendable = shop.ledger.engine().spendable_on_order(&state, at, order_value.into()).unwrap();
    assert_eq!(spendable.value(), common::decimal("50000000000000000"), "half the order, at 0.01 a point");
    // The line's base (its value times what money paid, over the order) is past what a decimal
    // holds before the division.
    let paying = purchase_line(r#"{"sku":"jet","qty":"1","unit_price":"1000000000000000"}"#)
        .replace("}]}", &format!(r#"}}],"pay_with_points":"{spendable}"}}"#));
    let paid = shop.apply(&paying);
    let earned = paid.postings.iter().filter(|posting| posting.to == loyalty_engine::Account::Available);
    assert_eq!(earned.map(|posting| posting.amount).sum::<rust_decimal::Decimal>(), common::decimal("500000000000000"));
}

/// 10^18 points, the most an input may ask for, at ten decimal places and 10^-10 each, are worth
/// 10^8: they may pay the whole of such an order where the program lets points pay all of it.
#[test]
fn the_most_points_at_the_finest_places_may_pay_for_an_order_they_are_worth() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"EUR","owner":"shop","rounding":{"decimal_places":10},
            "earn":{"rules":[{"id":"welcome","effect":{"points_per_unit":"1000000000000000000"}}]},
            "redemption":{"point_value":"0.0000000001","max_share_of_order":"1"}}"#,
    );
    shop.buy("m", "2026-03-01", "o-1", "card", "1");
    let most = common::decimal("1000000000000000000");
    let at = "2026-03-02T10:00:00Z".parse().unwrap();
    let state = shop.state("m");
    let spendable = shop.ledger.engine().spendable_on_order(&state, at, common::decimal("100000000").into());
    assert_eq!(spendable.unwrap().value(), most);
    let paying = purchase_line(r#"{"sku":"villa","qty":"1","unit_price":"100000000"}"#)
        .replace("}]}", &format!(r#"}}],"pay_with_points":"{most}"}}"#));
    let paid = shop.apply(&paying);
    let redeemed = paid.postings.iter().filter(|posting| posting.to == loyalty_engine::Account::Redeemed);
    assert_eq!(redeemed.map(|posting| posting.amount).sum::<rust_decimal::Decimal>(), most);
}

#[test]
fn a_stored_review_at_the_first_instant_a_date_holds_is_an_error_not_a_panic() {
    let mut shop = Shop::new(
        r#"{"id":"shop","currency":"TRY","owner":"shop",
            "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"1"}}]},
            "tiers":{"metric":"net_spend","window":{"calendar":"month"},
              "levels":[{"id":"blue","threshold":"0"},{"id":"silver","threshold":"1000"}]}}"#,
    );
    shop.buy("m", "2026-03-01", "o-1", "desk", "1200");
    let mut stored = serde_json::to_value(shop.state("m")).unwrap();
    assert_eq!(stored["tier"]["current"]["level"], 1, "{stored}");
    stored["tier"]["current"]["next_review"] = "-262143-01-01T00:00:00Z".into();
    let state: MemberState = serde_json::from_value(stored).unwrap();

    let tick = event(r#"{"type":"tick","id":"t-1","member":"m","at":"2026-03-02T10:00:00Z"}"#);
    let error = shop.ledger.engine().evaluate(&state, &tick).unwrap_err();
    assert_eq!(error, EvalError::Overflow, "the window before a review at the first instant starts before any date");
}
