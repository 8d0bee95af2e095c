//! Program economics from outcomes: what was issued, vested, spent, clawed back and expired,
//! and what each funder carries.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::amount::Money;
use crate::id::FunderId;
use crate::ledger::{Account, Asset, Outcome, Posting};

/// Running totals over any number of outcomes (of any members), for reports and KPIs.
///
/// The flows reconcile: `issued - clawed_back + withheld + forgiven = outstanding() + redeemed -
/// given_back + expired`, which [`PointsTotals::unreconciled`] checks.
///
/// ```
/// use loyalty_engine::PointsTotals;
/// let totals = PointsTotals::default();
/// assert!(totals.outstanding().is_zero());
/// assert!(totals.unreconciled().is_zero());
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
    /// Points that returns took back to their funders, from whatever account held them.
    pub clawed_back: Decimal,
    /// Points that expired unused, less those that returns reclaimed from expiry.
    pub expired: Decimal,
    /// Spent points that a return clawed back by withholding their value from the refund.
    pub withheld: Decimal,
    /// Spent points of returned orders that the program forgave and that are not settled since.
    pub forgiven: Decimal,
    /// Money withheld from refunds for spent points.
    pub refund_withheld: Money,
    /// Every account's balance over the outcomes recorded.
    pub balances: BTreeMap<Account, Decimal>,
    /// Points one funder paid for and another honoured, by (payer, payee), before netting.
    pub settled: BTreeMap<(FunderId, FunderId), Decimal>,
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
        match (&posting.from, &posting.to) {
            (Account::Settlement(payer), Account::Settlement(payee)) => {
                *self.settled.entry((payer.clone(), payee.clone())).or_default() += amount;
            }
            (Account::Funder(_), _) => self.issued += amount,
            (Account::Pending, Account::Available) => self.vested += amount,
            (_, Account::Redeemed) => self.redeemed += amount,
            (Account::RefundWithheld, _) => {
                self.clawed_back += amount;
                self.withheld += amount;
            }
            (Account::Forgiven, _) => {
                self.clawed_back += amount;
                self.forgiven += amount;
            }
            (_, Account::Forgiven) => self.forgiven -= amount,
            (Account::Expired, _) => {
                self.clawed_back += amount;
                self.expired -= amount;
            }
            (_, Account::Funder(_)) => self.clawed_back += amount,
            _ => {}
        }
        // A posting can be two flows at once: points given back after they expired.
        match (&posting.from, &posting.to) {
            (Account::Redeemed, to) => {
                self.given_back += amount;
                if *to == Account::Expired {
                    self.expired += amount;
                }
            }
            (_, Account::Expired) => self.expired += amount,
            _ => {}
        }
        *self.balances.entry(posting.from.clone()).or_default() -= amount;
        *self.balances.entry(posting.to.clone()).or_default() += amount;
    }

    /// What the flows fail to explain: always zero, unless postings were lost or invented.
    pub fn unreconciled(&self) -> Decimal {
        let sources = self.issued - self.clawed_back + self.withheld + self.forgiven;
        let uses = self.outstanding() + self.redeemed - self.given_back + self.expired;
        sources - uses
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
    /// taken back. For the cost of a period, record only the outcomes whose `at` falls in it.
    pub fn cost_by_funder(&self) -> impl Iterator<Item = (&FunderId, Decimal)> {
        self.balances.iter().filter_map(|(account, balance)| match account {
            Account::Funder(funder) => Some((funder, -*balance)),
            _ => None,
        })
    }

    /// What each funder owes another for points the first paid for and the second honoured,
    /// net of what flowed back: `(payer, payee, points)`, positive amounts only.
    ///
    /// ```
    /// use loyalty_engine::{FunderId, PointsTotals};
    /// let (air, hotel) = (FunderId::new("air").unwrap(), FunderId::new("hotel").unwrap());
    /// let mut totals = PointsTotals::default();
    /// totals.settled.insert((air.clone(), hotel.clone()), "500".parse().unwrap());
    /// totals.settled.insert((hotel.clone(), air.clone()), "120".parse().unwrap());
    /// assert_eq!(totals.settlement_owed(), vec![(air, hotel, "380".parse().unwrap())]);
    /// ```
    pub fn settlement_owed(&self) -> Vec<(FunderId, FunderId, Decimal)> {
        let mut owed = Vec::new();
        for ((payer, payee), amount) in &self.settled {
            let back = self.settled.get(&(payee.clone(), payer.clone())).copied().unwrap_or_default();
            if *amount > back {
                owed.push((payer.clone(), payee.clone(), *amount - back));
            }
        }
        owed
    }
}
