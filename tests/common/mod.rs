//! Helpers shared by the integration tests: programs and events from JSON, and a ledger that
//! reads like the story it tells.

#![allow(dead_code)]

use loyalty_engine::{
    Account, Asset, Event, Ledger, LedgerError, MemberId, MemberState, MemoryStore, Outcome, Program,
};
use rust_decimal::Decimal;

pub fn program(json: &str) -> Program {
    serde_json::from_str(json).unwrap_or_else(|error| panic!("test program does not parse: {error}\n{json}"))
}

/// The program generated histories run under (property tests and the store conformance suite):
/// 10% on everything, a 2x multiplier on SKU `b` paid 70/30 by the shop and its supplier, 3
/// points per unit of category `cat-c`, 30 points on orders of 500 or more, a tier for 300 of
/// spend in 30 days, a stamp card on `cat-c` and 1% cashback (so that stores keep tiers, stamps,
/// rewards and the cashback wallet too); varied in what matters to returns.
pub fn history_program(policy: &str, vesting_days: u32, expiry_days: Option<u32>, min_balance: u32) -> String {
    let expiry = expiry_days.map_or("\"never\"".to_owned(), |days| format!(r#"{{"after_days":{days}}}"#));
    format!(
        r#"{{"id":"history","currency":"TRY","owner":"shop",
            "earn":{{"rules":[
                {{"id":"base","effect":{{"points_per_currency_unit":"0.1"}}}},
                {{"id":"b-double","when":{{"skus":["b"]}},"effect":{{"multiplier":"2"}},
                  "funded_by":{{"shop":"0.7","supplier":"0.3"}}}},
                {{"id":"c-unit","when":{{"categories":["cat-c"]}},"effect":{{"points_per_unit":"3"}}}},
                {{"id":"basket","when":{{"min_order_total":"500"}},"effect":{{"points_per_order":"30"}}}}]}},
            "redemption":{{"point_value":"0.1","min_balance":"{min_balance}","max_share_of_order":"0.5"}},
            "returns":{{"vesting_days":{vesting_days},"when_points_spent":"{policy}"}},
            "expiry":{expiry},
            "tiers":{{"metric":"net_spend","window":{{"rolling_days":30}},"grace_days":3,
              "levels":[{{"id":"base","threshold":"0"}},{{"id":"plus","threshold":"300","benefits":{{"discount_share":"0.05"}}}}]}},
            "stamp_cards":[{{"id":"c-card","when":{{"categories":["cat-c"]}},"stamps_needed":4,"reward":{{"points":"20"}}}}],
            "cashback":{{"rules":[{{"id":"cb","share":"0.01"}}],"vesting_days":{vesting_days},"max_per_order":"5.00"}}}}"#
    )
}

pub fn event(json: &str) -> Event {
    serde_json::from_str(json).unwrap_or_else(|error| panic!("test event does not parse: {error}\n{json}"))
}

pub fn decimal(text: &str) -> Decimal {
    text.parse().unwrap()
}

pub fn member(id: &str) -> MemberId {
    MemberId::new(id).unwrap()
}

/// A one-line purchase of one unit of SKU `x`, on 2026-03-01.
pub fn one_item_purchase(id: &str, member: &str, order: &str, price: &str) -> Event {
    event(&format!(
        r#"{{"type":"purchase","id":"{id}","member":"{member}","at":"2026-03-01T10:00:00Z","order":"{order}",
            "lines":[{{"sku":"x","qty":"1","unit_price":"{price}"}}]}}"#
    ))
}

/// A redemption of `points`, on 2026-03-02.
pub fn redemption(id: &str, member: &str, points: &str) -> Event {
    event(&format!(
        r#"{{"type":"redeem","id":"{id}","member":"{member}","at":"2026-03-02T10:00:00Z","points":"{points}"}}"#
    ))
}

/// A ledger over a memory store with helpers that build events from short arguments.
pub struct Shop {
    pub ledger: Ledger<MemoryStore>,
    next_event: u32,
}

impl Shop {
    pub fn new(program_json: &str) -> Shop {
        let engine = program(program_json).compile().expect("test program compiles");
        Shop { ledger: Ledger::new(engine, MemoryStore::new()), next_event: 0 }
    }

    fn next_id(&mut self) -> String {
        self.next_event += 1;
        format!("e-{}", self.next_event)
    }

    /// Applies an event given as JSON without its `id`, which is numbered automatically.
    pub fn try_apply(&mut self, json_without_id: &str) -> Result<Outcome, LedgerError> {
        let id = self.next_id();
        let json = json_without_id.replacen('{', &format!("{{\"id\":\"{id}\","), 1);
        self.ledger.apply(&event(&json))
    }

    pub fn apply(&mut self, json_without_id: &str) -> Outcome {
        self.try_apply(json_without_id).unwrap_or_else(|error| panic!("event refused: {error}\n{json_without_id}"))
    }

    /// A one-line purchase of one unit.
    pub fn buy(&mut self, member: &str, day: &str, order: &str, sku: &str, price: &str) -> Outcome {
        self.buy_paying(member, day, order, sku, price, "0")
    }

    pub fn buy_paying(
        &mut self,
        member: &str,
        day: &str,
        order: &str,
        sku: &str,
        price: &str,
        points: &str,
    ) -> Outcome {
        self.apply(&format!(
            r#"{{"type":"purchase","member":"{member}","at":"{day}T12:00:00Z","order":"{order}",
                "lines":[{{"sku":"{sku}","qty":"1","unit_price":"{price}"}}],"pay_with_points":"{points}"}}"#
        ))
    }

    pub fn give_back(&mut self, member: &str, day: &str, order: &str, sku: &str, qty: &str) -> Outcome {
        self.apply(&format!(
            r#"{{"type":"return","member":"{member}","at":"{day}T12:00:00Z","order":"{order}",
                "lines":[{{"sku":"{sku}","qty":"{qty}"}}]}}"#
        ))
    }

    pub fn tick(&mut self, member: &str, day: &str) -> Outcome {
        self.apply(&format!(r#"{{"type":"tick","member":"{member}","at":"{day}T12:00:00Z"}}"#))
    }

    pub fn state(&mut self, id: &str) -> MemberState {
        self.ledger.state(&member(id)).unwrap()
    }

    pub fn available(&mut self, id: &str) -> Decimal {
        self.state(id).points().available.value()
    }

    pub fn pending(&mut self, id: &str) -> Decimal {
        self.state(id).points().pending.value()
    }

    pub fn debt(&mut self, id: &str) -> Decimal {
        self.state(id).points().debt.value()
    }

    pub fn balance(&mut self, id: &str, account: &Account) -> Decimal {
        self.state(id).balance(account, Asset::Points)
    }
}
