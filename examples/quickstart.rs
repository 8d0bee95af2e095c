//! The smallest complete story: a program, a purchase, vesting, a partial return.
//!
//! Run it with `cargo run --example quickstart`.

use std::error::Error;

use loyalty_engine::{Event, Ledger, MemberId, MemoryStore, Program};

/// One point per euro; points stay pending for 30 days (longer than the return window), then
/// expire 12 months after they become available.
const PROGRAM: &str = r#"{
  "id": "shop", "currency": "EUR", "owner": "shop",
  "earn": {"rules": [{"id": "base", "effect": {"points_per_currency_unit": "1"}}]},
  "returns": {"vesting_days": 30},
  "expiry": {"after_months": 12}
}"#;

fn main() -> Result<(), Box<dyn Error>> {
    let program: Program = serde_json::from_str(PROGRAM)?;
    let mut ledger = Ledger::new(program.compile()?, MemoryStore::new());

    // Two pairs of headphones at 89.90: 179.80 earns 179 points (rounded down), pending.
    apply(
        &mut ledger,
        r#"{"type": "purchase", "id": "e-1", "member": "m-1", "at": "2026-03-01T10:00:00Z",
        "order": "o-1", "lines": [{"sku": "headphones", "qty": "2", "unit_price": "89.90"}]}"#,
    )?;

    // 31 days later any event settles the member first: the points vest. A tick does only that.
    apply(&mut ledger, r#"{"type": "tick", "id": "e-2", "member": "m-1", "at": "2026-04-01T10:00:00Z"}"#)?;

    // One pair comes back: the return claws back what that pair earned (179 / 2, rounded up).
    apply(
        &mut ledger,
        r#"{"type": "return", "id": "e-3", "member": "m-1", "at": "2026-04-02T09:00:00Z",
        "order": "o-1", "lines": [{"sku": "headphones", "qty": "1"}]}"#,
    )?;

    // Every posting moves points between two accounts, so the balances sum to zero.
    println!("points by account:");
    for (account, _asset, balance) in ledger.state(&MemberId::new("m-1")?)?.balances() {
        println!("  {:<12} {balance:>4}", account.to_string());
    }
    Ok(())
}

/// Applies one event, then prints its postings and the member's points.
fn apply(ledger: &mut Ledger<MemoryStore>, json: &str) -> Result<(), Box<dyn Error>> {
    let event: Event = serde_json::from_str(json)?;
    println!("{} at {}:", event.id(), event.at());
    for posting in &ledger.apply(&event)?.postings {
        println!("  {}: {} -> {}  {}", posting.id, posting.from, posting.to, posting.amount);
    }
    let points = ledger.state(event.member())?.points();
    println!("  pending {}, available {}, debt {}\n", points.pending, points.available, points.debt);
    Ok(())
}
