//! Stamp cards: qualifying items earn stamps; a full card issues a reward.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::{Money, Points, Ratio};
use crate::id::{FunderId, Tag};
use crate::program::CompileError;
use crate::program::earn::{Condition, compile_funders};

/// The most stamp cards a program may have.
pub const MAX_STAMP_CARDS: usize = 100;
/// The most stamps one card may need, and give per unit.
pub const MAX_STAMPS: u32 = 10_000;

/// A stamp card: "buy 6 coffees, the 7th is free".
///
/// Every qualifying unit bought earns `stamps_per_unit` stamps: a line earns its quantity times
/// `stamps_per_unit`, rounded down to whole stamps (2.5 kg at 2 stamps a kilogram earn 5,
/// 0.4 kg earn none). When the member holds `stamps_needed`, they are used up
/// and a reward is issued, which the host sees in the outcome and the member's state, and
/// redeems or voids with `redeem_reward` and `void_reward` events. Surplus stamps stay on the
/// next card, and one purchase may fill several (at most
/// [`MAX_REWARDS_PER_EVENT`](crate::MAX_REWARDS_PER_EVENT)); with `carry_over` false it fills
/// one at most and the stamps beyond it are lost (a return takes those back first).
///
/// A return takes back the returned units' share of the line's stamps, rounded up, as for
/// points: the kept units keep their share, rounded down (returning 0.5 of a line of 2.5 units
/// that earned 2 stamps takes 1 back). If they had already filled a card, the
/// latest unused reward of that card is revoked and its stamps come back; if the reward was
/// closed (redeemed, or voided by the host, which counts as used up), the stamp count goes
/// negative and later stamps fill it first.
///
/// ```json
/// {"id": "coffee", "when": {"categories": ["coffee"]}, "stamps_needed": 6,
///  "reward": {"free_item": {"max_value": "4.50"}}}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StampCard {
    /// The card's id; its stamps are the asset `stamps:ID`.
    pub id: Tag,
    /// Which lines qualify; empty matches every line not excluded from earning.
    #[serde(default)]
    pub when: Condition,
    /// Stamps per unit bought; default 1.
    #[serde(default = "one")]
    pub stamps_per_unit: u32,
    /// Stamps that fill the card.
    pub stamps_needed: u32,
    /// What a full card gives.
    pub reward: RewardKind,
    /// Whether stamps beyond a full card count toward the next one; default true.
    #[serde(default = "yes")]
    pub carry_over: bool,
    /// Who pays for the rewards, as shares that sum to exactly one; default whoever sold the
    /// order that filled the card (as for earn rules).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub funded_by: BTreeMap<FunderId, Ratio>,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// What a full stamp card gives.
///
/// In JSON, one key: `{"free_item": {"max_value": "4.50"}}`, `{"points": "50"}` or
/// `{"discount_share": "0.5"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RewardKind {
    /// One item free, worth at most `max_value`.
    FreeItem {
        /// The most the free item may be worth.
        max_value: Money,
    },
    /// Points, credited (available at once) when the reward is redeemed.
    Points(Points),
    /// A share off one order, in (0, 1].
    DiscountShare(Ratio),
}

/// A card ready to evaluate: its condition sorted, its funders resolved (empty: the seller).
#[derive(Debug)]
pub(crate) struct CompiledCard {
    pub(crate) card: StampCard,
    pub(crate) when: Condition,
    pub(crate) funders: Vec<(FunderId, Decimal)>,
}

pub(crate) fn compile_cards(cards: &[StampCard], decimal_places: u32) -> Result<Vec<CompiledCard>, CompileError> {
    if cards.len() > MAX_STAMP_CARDS {
        let message = format!("has {} cards, more than the limit of {MAX_STAMP_CARDS}", cards.len());
        return Err(CompileError::new("stamp_cards", message));
    }
    let mut compiled = Vec::with_capacity(cards.len());
    for (position, card) in cards.iter().enumerate() {
        let path = format!("stamp_cards[{position}]");
        if let Some(first) = cards[..position].iter().position(|earlier| earlier.id == card.id) {
            return Err(CompileError::new(format!("{path}.id"), format!("is also the id of stamp_cards[{first}]")));
        }
        card.when.validate(&format!("{path}.when"))?;
        if !card.when.tiers.is_empty() {
            // Stamps are not revised when a return takes a tier away, so they may not need one.
            return Err(CompileError::new(format!("{path}.when.tiers"), "stamp cards can't depend on tiers"));
        }
        for (field, count) in [("stamps_per_unit", card.stamps_per_unit), ("stamps_needed", card.stamps_needed)] {
            if count == 0 || count > MAX_STAMPS {
                return Err(CompileError::new(format!("{path}.{field}"), format!("must be 1 to {MAX_STAMPS}")));
            }
        }
        check_reward(&card.reward, decimal_places, &format!("{path}.reward"))?;
        let funders = compile_funders(&card.funded_by, &format!("{path}.funded_by"))?;
        compiled.push(CompiledCard { card: card.clone(), when: card.when.sorted(), funders });
    }
    Ok(compiled)
}

pub(crate) fn check_reward(reward: &RewardKind, decimal_places: u32, path: &str) -> Result<(), CompileError> {
    let (field, value, at_most_one) = match reward {
        RewardKind::FreeItem { max_value } => ("free_item.max_value", max_value.value(), false),
        RewardKind::Points(points) => ("points", points.value(), false),
        RewardKind::DiscountShare(share) => ("discount_share", share.value(), true),
    };
    if value <= Decimal::ZERO || (at_most_one && value > Decimal::ONE) {
        let range = if at_most_one { "more than 0 and at most 1" } else { "positive" };
        return Err(CompileError::new(format!("{path}.{field}"), format!("must be {range}")));
    }
    if matches!(reward, RewardKind::Points(_)) && value.normalize().scale() > decimal_places {
        let problem = format!("must be a whole number of points at {decimal_places} decimal places");
        return Err(CompileError::new(format!("{path}.{field}"), problem));
    }
    Ok(())
}
