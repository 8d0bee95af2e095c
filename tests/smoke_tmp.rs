use loyalty_engine::*;
#[test]
fn smoke() {
    let program: Program = serde_json::from_str(r#"{"id":"shop","currency":"TRY","owner":"shop",
      "earn":{"rules":[{"id":"base","effect":{"points_per_currency_unit":"0.1"}},
                       {"id":"acme","when":{"labels":{"brand":"acme"}},"effect":{"multiplier":"2"},"funded_by":{"shop":"0.5","acme":"0.5"}}]},
      "redemption":{"point_value":"1","max_share_of_order":"0.5"},
      "returns":{"vesting_days":0,"when_points_spent":"deduct_from_refund"}}"#).unwrap();
    let mut ledger = Ledger::new(program.compile().unwrap(), MemoryStore::new());
    let e: Event = serde_json::from_str(
        r#"{"type":"purchase","id":"e-1","member":"m-1","at":"2026-03-01T10:00:00Z","order":"tv",
      "lines":[{"sku":"tv-55","qty":"1","unit_price":"10000.00","labels":{"brand":"acme"}}]}"#,
    )
    .unwrap();
    let o = ledger.apply(&e).unwrap();
    println!("{}", serde_json::to_string_pretty(&o).unwrap());
    let e: Event = serde_json::from_str(
        r#"{"type":"purchase","id":"e-2","member":"m-1","at":"2026-03-02T10:00:00Z","order":"oven",
      "lines":[{"sku":"oven","qty":"1","unit_price":"2000.00"}],"pay_with_points":"1000"}"#,
    )
    .unwrap();
    let o = ledger.apply(&e).unwrap();
    println!("{}", serde_json::to_string_pretty(&o).unwrap());
    let e: Event = serde_json::from_str(
        r#"{"type":"return","id":"e-3","member":"m-1","at":"2026-03-05T10:00:00Z","order":"tv",
      "lines":[{"sku":"tv-55","qty":"1"}]}"#,
    )
    .unwrap();
    let o = ledger.apply(&e).unwrap();
    println!("{}", serde_json::to_string_pretty(&o).unwrap());
    let s = ledger.state(&MemberId::new("m-1").unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&s).unwrap());
}
