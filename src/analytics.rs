//! Program economics from outcomes: what was issued, vested, spent, clawed back and expired,
//! and what each funder carries.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::amount::Money;
use crate::id::FunderId;
use crate::ledger::{Account, Asset, Outcome, Posting};

/// Running totals of one asset (points by default, or cashback) over any number of outcomes
/// (of any members), for reports and KPIs.
///
/// The flows reconcile: `issued - clawed_back + withheld + forgiven = outstanding() + redeemed +
/// donated + transferred - given_back + expired`, which [`AssetTotals::unreconciled`] checks.
/// Amounts are in the asset's unit: points, or money for cashback.
///
/// ```
/// use loyalty_engine::{Asset, AssetTotals};
/// let points = AssetTotals::default();
/// assert_eq!(points.asset, Asset::Points);
/// assert!(points.outstanding().is_zero() && points.unreconciled().is_zero());
/// let cashback = AssetTotals::new(Asset::Cashback);
/// assert!(cashback.cost_by_funder().next().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetTotals {
    /// The asset counted; postings of other assets are skipped.
    pub asset: Asset,
    /// What funders issued to members.
    pub issued: Decimal,
    /// What moved from pending to available.
    pub vested: Decimal,
    /// What was spent, on orders or rewards.
    pub redeemed: Decimal,
    /// What members gave to causes (`donate` events), over all causes; the `donated:CAUSE`
    /// balances give it by cause.
    pub donated: Decimal,
    /// Points members sent to other members (`transfer` events) and the recipients have not
    /// received yet: zero once every transfer's follow-up is recorded too.
    pub transferred: Decimal,
    /// What was spent and given back because the order it paid for was returned.
    pub given_back: Decimal,
    /// What returns took back to the funders, from whatever account held it.
    pub clawed_back: Decimal,
    /// What expired unused (points only), less what returns reclaimed from expiry.
    pub expired: Decimal,
    /// What was spent and then clawed back by a return withholding its value from the refund.
    pub withheld: Decimal,
    /// What was spent on returned orders and forgiven by the program, and not settled since.
    pub forgiven: Decimal,
    /// Money withheld from refunds for this asset, spent before its order was returned.
    pub refund_withheld: Money,
    /// Every account's balance over the outcomes recorded.
    pub balances: BTreeMap<Account, Decimal>,
    /// What one funder paid for and another honoured, by (payer, payee), before netting.
    pub settled: BTreeMap<(FunderId, FunderId), Decimal>,
}

impl Default for AssetTotals {
    /// Totals of points.
    fn default() -> AssetTotals {
        AssetTotals::new(Asset::Points)
    }
}

impl AssetTotals {
    /// Totals of `asset`, with nothing recorded yet.
    pub fn new(asset: Asset) -> AssetTotals {
        AssetTotals {
            asset,
            issued: Decimal::ZERO,
            vested: Decimal::ZERO,
            redeemed: Decimal::ZERO,
            donated: Decimal::ZERO,
            transferred: Decimal::ZERO,
            given_back: Decimal::ZERO,
            clawed_back: Decimal::ZERO,
            expired: Decimal::ZERO,
            withheld: Decimal::ZERO,
            forgiven: Decimal::ZERO,
            refund_withheld: Money::ZERO,
            balances: BTreeMap::new(),
            settled: BTreeMap::new(),
        }
    }

    /// Adds one outcome.
    pub fn record(&mut self, outcome: &Outcome) {
        for posting in &outcome.postings {
            self.record_posting(posting);
        }
        // Cashback is withheld at face value, so what of the outcome's money it took shows in
        // its postings; the rest is for points.
        let cashback_withheld: Decimal = outcome
            .postings
            .iter()
            .filter(|posting| posting.asset == Asset::Cashback && posting.from == Account::RefundWithheld)
            .map(|posting| posting.amount)
            .sum();
        let money = match self.asset {
            Asset::Points => outcome.refund_withheld.value() - cashback_withheld,
            Asset::Cashback => cashback_withheld,
            Asset::Stamps(_) => Decimal::ZERO,
        };
        self.refund_withheld = Money::new(self.refund_withheld.value() + money);
    }

    fn record_posting(&mut self, posting: &Posting) {
        if posting.asset != self.asset {
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
            (_, Account::Donated(_)) => self.donated += amount,
            (_, Account::Transfers) => self.transferred += amount,
            (Account::Transfers, _) => self.transferred -= amount,
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
        let uses =
            self.outstanding() + self.redeemed + self.donated + self.transferred - self.given_back + self.expired;
        sources - uses
    }

    /// The balance of one account.
    pub fn balance(&self, account: &Account) -> Decimal {
        self.balances.get(account).copied().unwrap_or_default()
    }

    /// What members hold: pending plus available plus debt (which is negative).
    pub fn outstanding(&self) -> Decimal {
        self.balance(&Account::Pending) + self.balance(&Account::Available) + self.balance(&Account::Debt)
    }

    /// What each funder has paid for, net of clawbacks: what was issued at its cost and not
    /// taken back. For the cost of a period, record only the outcomes whose `at` falls in it.
    pub fn cost_by_funder(&self) -> impl Iterator<Item = (&FunderId, Decimal)> {
        self.balances.iter().filter_map(|(account, balance)| match account {
            Account::Funder(funder) => Some((funder, -*balance)),
            _ => None,
        })
    }

    /// What each funder owes another for what the first paid for and the second honoured, net
    /// of what flowed back: `(payer, payee, amount)`, positive amounts only.
    ///
    /// ```
    /// use loyalty_engine::{AssetTotals, FunderId};
    /// let (air, hotel) = (FunderId::new("air").unwrap(), FunderId::new("hotel").unwrap());
    /// let mut totals = AssetTotals::default();
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
