//! Helpers shared by the integration tests: programs and events from JSON, and a ledger that
//! reads like the story it tells.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use loyalty_engine::{
    Account, Asset, Bucket, Commit, CommitStatus, Event, EventId, Ledger, LedgerError, MemberId, MemberState,
    MemoryStore, MemoryStoreError, Outcome, Posting, Program, Recorded, Store, Versioned,
};
use rust_decimal::Decimal;

pub fn program(json: &str) -> Program {
    serde_json::from_str(json).unwrap_or_else(|error| panic!("test program does not parse: {error}\n{json}"))
}

/// The program generated histories run under (property tests and the store conformance suite):
/// 10% on everything, a 2x multiplier on SKU `b` paid 70/30 by the shop and its supplier, 3
/// points per unit of category `cat-c`, 30 points on orders of 500 or more, a tier for 300 of
/// spend in 30 days, a stamp card on `cat-c` and 1% cashback (so that stores keep tiers, stamps,
/// rewards and the cashback wallet too), and transfers between members; varied in what matters
/// to returns.
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
            "donations":{{"causes":["red-cross"]}},
            "adjustments":{{"reasons":["goodwill"],"max_points":"500"}},
            "transfers":{{}},
            "returns":{{"vesting_days":{vesting_days},"when_points_spent":"{policy}"}},
            "expiry":{expiry},
            "tiers":{{"metric":"net_spend","window":{{"rolling_days":30}},"grace_days":3,
              "levels":[{{"id":"base","threshold":"0"}},{{"id":"plus","threshold":"300","benefits":{{"discount_share":"0.05"}}}}]}},
            "stamp_cards":[{{"id":"c-card","when":{{"categories":["cat-c"]}},"stamps_needed":4,"reward":{{"points":"20"}}}}],
            "cashback":{{"rules":[{{"id":"cb","share":"0.01"}}],"vesting_days":{vesting_days},"max_per_order":"5.00"}}}}"#
    )
}

/// Why the program in `json` does not compile, as its error prints.
pub fn compile_error(json: &str) -> String {
    program(json).compile().unwrap_err().to_string()
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
    pub fn try_apply(&mut self, json_without_id: &str) -> Result<Arc<Outcome>, LedgerError> {
        let id = self.next_id();
        let json = json_without_id.replacen('{', &format!("{{\"id\":\"{id}\","), 1);
        self.ledger.apply(&event(&json))
    }

    pub fn apply(&mut self, json_without_id: &str) -> Arc<Outcome> {
        self.try_apply(json_without_id).unwrap_or_else(|error| panic!("event refused: {error}\n{json_without_id}"))
    }

    /// A one-line purchase of one unit.
    pub fn buy(&mut self, member: &str, day: &str, order: &str, sku: &str, price: &str) -> Arc<Outcome> {
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
    ) -> Arc<Outcome> {
        self.apply(&format!(
            r#"{{"type":"purchase","member":"{member}","at":"{day}T12:00:00Z","order":"{order}",
                "lines":[{{"sku":"{sku}","qty":"1","unit_price":"{price}"}}],"pay_with_points":"{points}"}}"#
        ))
    }

    pub fn give_back(&mut self, member: &str, day: &str, order: &str, sku: &str, qty: &str) -> Arc<Outcome> {
        self.apply(&format!(
            r#"{{"type":"return","member":"{member}","at":"{day}T12:00:00Z","order":"{order}",
                "lines":[{{"sku":"{sku}","qty":"{qty}"}}]}}"#
        ))
    }

    pub fn tick(&mut self, member: &str, day: &str) -> Arc<Outcome> {
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

/// Postings folded into balances per account and asset; accounts that net to zero are left out.
pub fn fold<'a>(postings: impl IntoIterator<Item = &'a Posting>) -> BTreeMap<(Account, Asset), Decimal> {
    let mut balances = BTreeMap::new();
    for posting in postings {
        *balances.entry((posting.from.clone(), posting.asset.clone())).or_insert(Decimal::ZERO) -= posting.amount;
        *balances.entry((posting.to.clone(), posting.asset.clone())).or_insert(Decimal::ZERO) += posting.amount;
    }
    balances.retain(|_, amount: &mut Decimal| !amount.is_zero());
    balances
}

/// A member's non-zero balances, keyed as [`fold`] keys them.
pub fn held_balances(state: &MemberState) -> BTreeMap<(Account, Asset), Decimal> {
    let balances = state.balances().filter(|(_, _, amount)| !amount.is_zero());
    balances.map(|(account, asset, amount)| ((account.clone(), asset.clone()), amount)).collect()
}

/// What the member's open lots of `asset` hold in `bucket`.
pub fn lots_in(state: &MemberState, asset: &Asset, bucket: Bucket) -> Decimal {
    state.lots().filter(|lot| lot.bucket == bucket && lot.asset == *asset).map(|lot| lot.amount_points).sum()
}

/// A generated return's JSON: up to `qty` units of one still-open line (picked by
/// `line_pick`) of one of `orders` (picked by `order_pick`). Every other return names its
/// line; the rest leave the engine to choose among the lines of the SKU. `None` when the order
/// has nothing left to return. `head` is the event's `"id"`, `"member"` and `"at"` fields.
pub fn return_json(
    state: &MemberState,
    orders: &[String],
    head: &str,
    order_pick: usize,
    line_pick: usize,
    qty: u32,
) -> Option<String> {
    let order = orders.get(order_pick % orders.len().max(1))?;
    let receipt = state.order(&order.parse().unwrap())?;
    let open: Vec<_> = receipt.lines.iter().enumerate().filter(|(_, line)| line.returned_qty < line.qty).collect();
    let (index, line) = open.get(line_pick % open.len().max(1))?;
    let named = if line_pick % 2 == 0 { format!(r#","line":{index}"#) } else { String::new() };
    let (sku, left) = (&line.sku, line.qty - line.returned_qty);
    let unnamed_left: Decimal =
        receipt.lines.iter().filter(|other| other.sku == *sku).map(|other| other.qty - other.returned_qty).sum();
    let qty = Decimal::from(qty).min(if named.is_empty() { unnamed_left } else { left });
    Some(format!(r#"{{"type":"return",{head},"order":"{order}","lines":[{{"sku":"{sku}"{named},"qty":"{qty}"}}]}}"#))
}

/// A stored member state as this crate wrote it until receipts kept their payment in
/// `payment`: `paid_with` on the receipt, and each line's share on the line (`points_paid` and
/// `points_paid_refunded` always, the cashback shares when not zero).
pub fn in_the_old_form(state: &serde_json::Value) -> serde_json::Value {
    let mut old = state.clone();
    for receipt in old["orders"].as_array_mut().expect("a state has orders") {
        let receipt = receipt.as_object_mut().expect("a receipt is an object");
        let payment = receipt.remove("payment").unwrap_or_default();
        if !payment.is_null() {
            receipt.insert("paid_with".into(), payment["paid_with"].clone());
        }
        for (index, line) in receipt["lines"].as_array_mut().expect("a receipt has lines").iter_mut().enumerate() {
            let share = |name: &str| payment["lines"].get(index).and_then(|share| share.get(name)).cloned();
            line["points_paid"] = share("points").unwrap_or("0".into());
            line["points_paid_refunded"] = share("points_refunded").unwrap_or("0".into());
            for (old_name, name) in [("cashback_paid", "cashback"), ("cashback_paid_refunded", "cashback_refunded")] {
                if let Some(value) = share(name) {
                    line[old_name] = value;
                }
            }
        }
    }
    old
}

/// The memory store behind only `load`, `recorded` and `commit`, so that a ledger takes the
/// provided `Store::apply`, the path database stores take; with a pause before each commit
/// (as long as a network round trip, say) so that other writers can land in between.
pub struct ByCommit {
    pub store: MemoryStore,
    pub pause_before_commit: Duration,
}

impl ByCommit {
    pub fn new(store: MemoryStore) -> ByCommit {
        ByCommit { store, pause_before_commit: Duration::ZERO }
    }
}

impl Store for ByCommit {
    type Error = MemoryStoreError;

    fn load(&mut self, member: &MemberId) -> Result<Versioned, MemoryStoreError> {
        self.store.load(member)
    }

    fn recorded(&mut self, event: &EventId) -> Result<Option<Recorded>, MemoryStoreError> {
        self.store.recorded(event)
    }

    fn commit(&mut self, commit: Commit<'_>) -> Result<CommitStatus, MemoryStoreError> {
        std::thread::sleep(self.pause_before_commit);
        self.store.commit(commit)
    }
}
