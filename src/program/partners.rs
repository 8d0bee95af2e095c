//! Coalition partners: merchants that earn into one program, each funding its own sales.

use serde::{Deserialize, Serialize};

use crate::id::{FunderId, Tag};
use crate::program::{CompileError, MAX_CONDITION_VALUES};

/// The most partners a program may have.
pub const MAX_PARTNERS: usize = 1_000;

/// A coalition partner (an airline, a hotel chain, a restaurant chain) and the merchants that
/// sell for it.
///
/// What an order earns under a rule, tier, cashback rule or stamp card reward that names no
/// funders is funded by the partner whose merchant sold it (the program owner for merchants of
/// no partner). Stamps themselves cost nothing until a card fills, so they are counted against
/// the owner. When points (or cashback) one funder paid for are spent with another (at
/// checkout, on a reward, or to cover a clawback), the engine posts the settlement between the
/// two: from `settlement:PAYER` to `settlement:PAYEE`; a return reverses it.
///
/// ```json
/// {"id": "skyair", "merchants": ["skyair-web", "skyair-app"]}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    /// The partner, as a funder.
    pub id: FunderId,
    /// The merchants (the `merchant` of purchases and redemptions) that sell for it.
    pub merchants: Vec<Tag>,
}

/// Merchants by partner, sorted by merchant for lookups.
pub(crate) fn compile_partners(partners: &[Partner]) -> Result<Vec<(Tag, FunderId)>, CompileError> {
    if partners.len() > MAX_PARTNERS {
        let message = format!("has {} partners, more than the limit of {MAX_PARTNERS}", partners.len());
        return Err(CompileError::new("partners", message));
    }
    let mut by_merchant: Vec<(Tag, FunderId)> = Vec::new();
    for (position, partner) in partners.iter().enumerate() {
        let path = format!("partners[{position}]");
        if partners[..position].iter().any(|earlier| earlier.id == partner.id) {
            return Err(CompileError::new(format!("{path}.id"), format!("`{}` is listed twice", partner.id)));
        }
        if partner.merchants.len() > MAX_CONDITION_VALUES {
            let message = format!("has more than {MAX_CONDITION_VALUES} merchants");
            return Err(CompileError::new(format!("{path}.merchants"), message));
        }
        by_merchant.extend(partner.merchants.iter().map(|merchant| (merchant.clone(), partner.id.clone())));
    }
    by_merchant.sort();
    if let Some(pair) = by_merchant.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        let (merchant, partner) = &pair[0];
        if *partner == pair[1].1 {
            let position = partners.iter().position(|listed| listed.id == *partner).expect("a listed partner");
            let path = format!("partners[{position}].merchants");
            return Err(CompileError::new(path, format!("lists merchant `{merchant}` twice")));
        }
        return Err(CompileError::new("partners", format!("merchant `{merchant}` sells for more than one partner")));
    }
    Ok(by_merchant)
}
