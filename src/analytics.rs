//! Program economics from outcomes: what was issued, vested, spent, clawed back and expired,
//! and what each funder carries.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::amount::Money;
use crate::id::FunderId;
use crate::ledger::{Account, Asset, Outcome, Posting};

/// Running totals over any number of outcomes (of any members), for reports and KPIs.
///
/// ```
/// use loyalty_engine::PointsTotals;
/// let totals = PointsTotals::default();
/// assert!(totals.outstanding().is_zero());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PointsTotals {
    /// Points funders issued to members.
    pub issued: Decimal,
    /// Points that moved from pending to available.
    pub vested: Decimal,
    /// Points spent, on orders or rewards.
    pub redeemed: Decimal,
    /// Spent points given back because the order they paid for was returned.
    pub given_back: Decimal,
    /// Points that returns took back to their funders.
    pub clawed_back: Decimal,
    /// Points that expired.
    pub expired: Decimal,
    /// Money withheld from refunds for spent points.
    pub refund_withheld: Money,
    /// Every account's balance over the outcomes recorded.
    pub balances: BTreeMap<Account, Decimal>,
}

impl PointsTotals {
    /// Adds one outcome.
    pub fn record(&mut self, outcome: &Outcome) {
        for posting in &outcome.postings {
            self.record_posting(posting);
        }
        self.refund_withheld = Money::new(self.refund_withheld.value() + outcome.refund_withheld.value());
    }

    fn record_posting(&mut self, posting: &Posting) {
        if posting.asset != Asset::Points {
            return;
        }
        let amount = posting.amount;
        let flow = match (&posting.from, &posting.to) {
            (Account::Funder(_), _) => Some(&mut self.issued),
            (Account::Pending, Account::Available) => Some(&mut self.vested),
            (_, Account::Redeemed) => Some(&mut self.redeemed),
            (Account::Redeemed, _) => Some(&mut self.given_back),
            (_, Account::Funder(_)) => Some(&mut self.clawed_back),
            (_, Account::Expired) => Some(&mut self.expired),
            _ => None,
        };
        if let Some(flow) = flow {
            *flow += amount;
        }
        *self.balances.entry(posting.from.clone()).or_default() -= amount;
        *self.balances.entry(posting.to.clone()).or_default() += amount;
    }

    /// The balance of one account.
    pub fn balance(&self, account: &Account) -> Decimal {
        self.balances.get(account).copied().unwrap_or_default()
    }

    /// Points members hold: pending plus available plus debt (which is negative).
    pub fn outstanding(&self) -> Decimal {
        self.balance(&Account::Pending) + self.balance(&Account::Available) + self.balance(&Account::Debt)
    }

    /// What each funder has paid for, net of clawbacks: points issued at its cost and not
    /// taken back.
    pub fn cost_by_funder(&self) -> impl Iterator<Item = (&FunderId, Decimal)> {
        self.balances.iter().filter_map(|(account, balance)| match account {
            Account::Funder(funder) => Some((funder, -*balance)),
            _ => None,
        })
    }
}
