//! Events: what happened to a member, with the time it happened. The JSON form is the contract
//! with hosts: internally tagged by `"type"`, decimals as strings.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::{Money, Points, exact_decimal};
use crate::id::{EventId, FunderId, MemberId, OrderId, RewardId, Sku, Tag};

mod tagged;

/// Something that happened to one member at one time.
///
/// Every event has an `id` (unique across the ledger: a [`Ledger`](crate::Ledger) answers the
/// same id applied twice with its first outcome; a host calling
/// [`Engine::evaluate`](crate::Engine::evaluate) itself keeps ids unique itself), the `member`
/// it concerns and the time `at` it happened. The engine takes time only from
/// events, never from a clock.
///
/// In JSON an event is an object tagged by `"type"`. The tag may come anywhere in the object,
/// but where it comes first (as the engine writes it), an error in a field says where in the
/// input it is; the fields before the tag are held until it is read (a float among them is
/// refused at once, as every field refuses floats), and their other errors point at the tag.
///
/// ```
/// use loyalty_engine::Event;
///
/// let json = r#"{"type":"purchase","id":"e-1","member":"m-1","at":"2026-03-01T10:00:00Z",
///   "order":"o-1","lines":[{"sku":"tv-55","qty":"1","unit_price":"10000.00"}]}"#;
/// let event: Event = serde_json::from_str(json).unwrap();
/// assert_eq!(event.id().as_str(), "e-1");
///
/// let typo = r#"{"type":"tick","id":"e-2","member":"m-1","at":"2026-03-01T10:00:00Z","colour":"red"}"#;
/// let error = serde_json::from_str::<Event>(typo).unwrap_err();
/// assert_eq!((error.line(), error.column()), (1, 77)); // just past "colour"
/// ```
// Read by `tagged`, which keeps the input's positions in errors; written with the tag first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// An order: earns points, may be paid partly with points.
    Purchase(Purchase),
    /// Units of an earlier order sent back: claws back what they earned.
    Return(Return),
    /// Points spent on a reward outside an order.
    Redeem(Redeem),
    /// Points given to a cause the program lists.
    Donate(Donate),
    /// Points a back office credits or takes back, for a reason the program lists.
    Adjust(Adjust),
    /// Points given to another member of the program.
    Transfer(Transfer),
    /// Points arriving from another member's `transfer`: a follow-up the engine writes.
    ReceiveTransfer(ReceiveTransfer),
    /// The host used a stamp-card reward (a points reward credits its points).
    RedeemReward(RewardEvent),
    /// The host cancelled a stamp-card reward.
    VoidReward(RewardEvent),
    /// The member joins the program: recorded in the member's state
    /// ([`MemberState::enrollment`](crate::MemberState::enrollment)); earns the program's
    /// [bonuses](crate::Bonus) on `enroll` (and on `referred`, with a referrer).
    Enroll(Enroll),
    /// A member this member referred has enrolled: earns the program's
    /// [bonuses](crate::Bonus) on `referral`. A follow-up of the referred member's `enroll`.
    Referral(Referral),
    /// The member bought (or renewed) a paid membership plan.
    BuyMembership(BuyMembership),
    /// The member's paid membership ends now (cancelled, refunded).
    EndMembership(EndMembership),
    /// A named event from the host (a review written, an app installed). It settles the member
    /// up to `at`, as a tick does, and earns the program's [bonuses](crate::Bonus) on its name.
    Custom(Custom),
    /// Time passes: settles the member up to `at` (vesting, birthday bonuses, expiry, tier
    /// reviews), nothing else.
    Tick(Tick),
}

impl Event {
    /// The event's id.
    pub fn id(&self) -> &EventId {
        self.header().0
    }

    /// The member the event concerns.
    pub fn member(&self) -> &MemberId {
        self.header().1
    }

    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        self.header().2
    }

    fn header(&self) -> (&EventId, &MemberId, DateTime<Utc>) {
        match self {
            Event::Purchase(event) => (&event.id, &event.member, event.at),
            Event::Return(event) => (&event.id, &event.member, event.at),
            Event::Redeem(event) => (&event.id, &event.member, event.at),
            Event::Donate(event) => (&event.id, &event.member, event.at),
            Event::Adjust(event) => (&event.id, &event.member, event.at),
            Event::Transfer(event) => (&event.id, &event.member, event.at),
            Event::ReceiveTransfer(event) => (&event.id, &event.member, event.at),
            Event::RedeemReward(event) | Event::VoidReward(event) => (&event.id, &event.member, event.at),
            Event::Enroll(event) => (&event.id, &event.member, event.at),
            Event::Referral(event) => (&event.id, &event.member, event.at),
            Event::BuyMembership(event) => (&event.id, &event.member, event.at),
            Event::EndMembership(event) => (&event.id, &event.member, event.at),
            Event::Custom(event) => (&event.id, &event.member, event.at),
            Event::Tick(event) => (&event.id, &event.member, event.at),
        }
    }
}

/// A purchase: one order of one or more lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purchase {
    /// Event id.
    pub id: EventId,
    /// The buyer.
    pub member: MemberId,
    /// When the order was placed.
    pub at: DateTime<Utc>,
    /// The order, unique per member; returns name it.
    pub order: OrderId,
    /// Sales channel (web, app, store), for channel conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Tag>,
    /// The merchant or store that sold, for merchant conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant: Option<Tag>,
    /// The order's currency; when given it must be the program's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Tag>,
    /// The groups the host puts the member in when the order is placed (`staff`, `student`),
    /// for segment conditions; at most [`MAX_SEGMENTS_PER_EVENT`](crate::MAX_SEGMENTS_PER_EVENT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Tag>,
    /// The order lines, at most [`MAX_LINES_PER_EVENT`](crate::MAX_LINES_PER_EVENT).
    pub lines: Vec<PurchaseLine>,
    /// How many available points pay for part of the order.
    #[serde(default, skip_serializing_if = "is_zero_points")]
    pub pay_with_points: Points,
    /// How much available cashback pays for part of the order, in the program currency.
    #[serde(default, skip_serializing_if = "is_zero_money")]
    pub pay_with_cashback: Money,
}

fn is_zero_points(points: &Points) -> bool {
    points.value().is_zero()
}

fn is_zero_money(money: &Money) -> bool {
    money.value().is_zero()
}

/// One line of a purchase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseLine {
    /// What was sold.
    pub sku: Sku,
    /// How many units; positive, may be fractional (kilograms, litres).
    #[serde(with = "exact_decimal")]
    pub qty: Decimal,
    /// Price of one unit before the line discount; positive.
    pub unit_price: Money,
    /// Money off the whole line; the line earns on `qty * unit_price - discount`.
    #[serde(default, skip_serializing_if = "is_zero_money")]
    pub discount: Money,
    /// Product category, for category conditions and exclusions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Tag>,
    /// Free-form labels such as `{"brand": "acme"}`, for label conditions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<Tag, Tag>,
    /// Who supplied the product, for supplier conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<Tag>,
}

/// A return of some units of an earlier order by the same member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Return {
    /// Event id.
    pub id: EventId,
    /// The member returning; must be the buyer.
    pub member: MemberId,
    /// When the goods came back.
    pub at: DateTime<Utc>,
    /// The order the goods came from.
    pub order: OrderId,
    /// What comes back, by SKU and quantity.
    pub lines: Vec<ReturnLine>,
}

/// Units of one SKU coming back, from the order line `line` (its index in the purchase, from
/// 0) when given. Without `line`, when an order has several lines of the SKU, the units come
/// back from the lines that earned the most points per unit first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnLine {
    /// The SKU as it was bought.
    pub sku: Sku,
    /// Which line of the purchase, by index from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// How many units; positive.
    #[serde(with = "exact_decimal")]
    pub qty: Decimal,
}

/// Points spent on a reward outside an order (a voucher, a gift).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redeem {
    /// Event id.
    pub id: EventId,
    /// Who spends.
    pub member: MemberId,
    /// When.
    pub at: DateTime<Utc>,
    /// How many available points; positive.
    pub points: Points,
    /// What the points buy, for the host's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<Tag>,
    /// The merchant where the points are spent; in a coalition, its partner is paid for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant: Option<Tag>,
}

/// Points a member gives to one of the program's [donation](crate::Donations) causes: they
/// leave the member's available lots, soonest-expiring first, for the `donated:CAUSE` account.
///
/// ```
/// use loyalty_engine::Event;
/// let json = r#"{"type":"donate","id":"e-7","member":"m-1","at":"2026-03-01T10:00:00Z",
///   "points":"500","cause":"red-cross"}"#;
/// let Event::Donate(donation) = serde_json::from_str(json).unwrap() else { panic!("a donation") };
/// assert_eq!(donation.cause.as_str(), "red-cross");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Donate {
    /// Event id.
    pub id: EventId,
    /// Who gives.
    pub member: MemberId,
    /// When.
    pub at: DateTime<Utc>,
    /// How many available points; positive, and at least the program's `min_points`.
    pub points: Points,
    /// The cause, one the program's `donations` lists.
    pub cause: Tag,
}

/// Points a host's back office credits (positive) or takes back (negative) for one of the
/// program's [adjustment](crate::Adjustments) reasons: goodwill after a complaint, a correction.
///
/// ```
/// use loyalty_engine::Event;
/// let json = r#"{"type":"adjust","id":"e-8","member":"m-1","at":"2026-03-01T10:00:00Z",
///   "points":"-250","reason":"correction"}"#;
/// let Event::Adjust(adjustment) = serde_json::from_str(json).unwrap() else { panic!("an adjustment") };
/// assert!(adjustment.points.value().is_sign_negative());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    /// Event id.
    pub id: EventId,
    /// Whose points.
    pub member: MemberId,
    /// When.
    pub at: DateTime<Utc>,
    /// Points to credit (positive) or take back (negative); not zero, at most the program's
    /// `max_points` either way.
    pub points: Points,
    /// Why, one of the program's reasons.
    pub reason: Tag,
    /// For a credit, who pays for it (the program's owner if not given; any funder id); for a
    /// take-back, whose points to take (any funder's if not given; more than that funder's
    /// available points is refused), each going back to the funder that paid for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funder: Option<FunderId>,
}

/// A stamp-card reward the host redeems or voids.
///
/// ```
/// use loyalty_engine::Event;
/// let json = r#"{"type":"redeem_reward","id":"e-9","member":"m-1","at":"2026-03-01T10:00:00Z","reward":"r-1"}"#;
/// assert!(matches!(serde_json::from_str(json).unwrap(), Event::RedeemReward(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardEvent {
    /// Event id.
    pub id: EventId,
    /// Whose reward.
    pub member: MemberId,
    /// When.
    pub at: DateTime<Utc>,
    /// The reward, as the member's state and the outcome that issued it name it.
    pub reward: RewardId,
}

/// Points a member gives to another member (a family member, a friend), in a program with
/// [`transfers`](crate::Transfers): they leave the member's available lots, soonest-expiring
/// first, for the `transfers` account, and the outcome's
/// [`follow_ups`](crate::Outcome::follow_ups) carry them to the recipient as a
/// [`ReceiveTransfer`] (a [`Ledger`](crate::Ledger) applies it in turn). Not activity, for an
/// expiry after inactivity.
///
/// ```
/// use loyalty_engine::Event;
/// let json = r#"{"type":"transfer","id":"e-8","member":"m-1","at":"2026-03-01T10:00:00Z",
///   "to":"m-2","points":"250"}"#;
/// let Event::Transfer(transfer) = serde_json::from_str(json).unwrap() else { panic!("a transfer") };
/// assert_eq!(transfer.to.as_str(), "m-2");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// Event id. The follow-up's id is this id with `/transfer` appended, so this one may have
    /// at most [`MAX_ID_BYTES`](crate::MAX_ID_BYTES) less 9 bytes.
    pub id: EventId,
    /// Who gives the points.
    pub member: MemberId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who receives them; another member.
    pub to: MemberId,
    /// How many points; positive, no finer than the program's points, within the program's
    /// `transfers` limits and what the member has available.
    pub points: Points,
}

/// Points arriving from another member's [`Transfer`]: the follow-up the engine writes into the
/// sender's outcome, for the recipient. Each entry (one per funder and expiry) opens one
/// available lot for its funder, expiring when the sender's points would have; the points
/// repay a debt first, then, up to the net points the member has given away by transfer,
/// what a `stop_at_zero` program forgave. Not activity.
///
/// Only the engine writes these: a [`Ledger`](crate::Ledger) (and a SQL store's `apply_batch`)
/// applies one only as the follow-up recorded in the outcome of the transfer its id names (the
/// transfer's id with `/transfer` appended), and refuses any other with
/// [`LedgerError::NotAFollowUp`](crate::LedgerError::NotAFollowUp). `Store::apply` and
/// `Engine::evaluate` apply what they are given.
///
/// Its `at` is the transfer's. A recipient whose last event is later receives the points at
/// that later time, so that a follow-up is never refused for arriving late.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiveTransfer {
    /// Event id: the transfer's with `/transfer` appended.
    pub id: EventId,
    /// Who receives the points.
    pub member: MemberId,
    /// When they were sent.
    pub at: DateTime<Utc>,
    /// Who sent them.
    pub from: MemberId,
    /// The points, one entry per funder and expiry time (at most
    /// [`MAX_LOTS_PER_TRANSFER`](crate::MAX_LOTS_PER_TRANSFER)).
    pub lots: Vec<TransferredPoints>,
}

/// One funder's points in a [`ReceiveTransfer`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferredPoints {
    /// Who paid for the points, and stays liable for them.
    pub funder: FunderId,
    /// How many; positive.
    pub points: Points,
    /// When they expire; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A member this member referred has enrolled (an [`Enroll`] naming this member as
/// `referred_by`): credits the program's [bonuses](crate::Bonus) on `referral`, within their
/// limits. The engine writes it into the referred member's outcome as a follow-up, when the
/// program has such a bonus; a host may also send its own. Not activity.
///
/// Its `at` is the enrollment's, and the bonuses' `from` and `until` judge it. A referrer whose
/// last event is later is credited at that later time, so that a follow-up is never refused for
/// arriving late; the credit then counts toward the limit of the period it is credited in.
///
/// ```
/// use loyalty_engine::Event;
/// let json = r#"{"type":"referral","id":"e-9/referral","member":"m-9","at":"2026-03-01T10:00:00Z",
///   "referred":"m-1"}"#;
/// let Event::Referral(referral) = serde_json::from_str(json).unwrap() else { panic!("a referral") };
/// assert_eq!(referral.referred.as_str(), "m-1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    /// Event id: the enrollment's with `/referral` appended, when the engine writes it.
    pub id: EventId,
    /// The referrer.
    pub member: MemberId,
    /// When the referred member enrolled.
    pub at: DateTime<Utc>,
    /// The member who enrolled.
    pub referred: MemberId,
}

/// A member joins the program, once. The engine records the enrollment and credits the
/// program's [bonuses](crate::Bonus) on `enroll`, and on `referred` when `referred_by` is given;
/// with bonuses on `referral`, its outcome's [`follow_ups`](crate::Outcome::follow_ups) carry a
/// [`Referral`] to the referrer. Its id then may have at most
/// [`MAX_ID_BYTES`](crate::MAX_ID_BYTES) less 9 bytes (the follow-up's id appends `/referral`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enroll {
    /// Event id.
    pub id: EventId,
    /// Who joins.
    pub member: MemberId,
    /// When.
    pub at: DateTime<Utc>,
    /// The member who referred this one, if any: recorded, and earns bonuses on `referred`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referred_by: Option<MemberId>,
    /// The member's birthday (the year is not used): each one after enrolling earns the
    /// bonuses on `birthday`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<NaiveDate>,
}

/// A member buys one of the program's [membership plans](crate::MembershipPlan), paid for
/// through the host: it runs for the plan's months from `at`, or, bought again while the same
/// plan runs, from the end of the running one. A different plan replaces the running one from
/// `at`.
///
/// ```
/// use loyalty_engine::Event;
/// let json = r#"{"type":"buy_membership","id":"e-5","member":"m-1","at":"2026-03-01T10:00:00Z","plan":"plus"}"#;
/// assert!(matches!(serde_json::from_str(json).unwrap(), Event::BuyMembership(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyMembership {
    /// Event id.
    pub id: EventId,
    /// Who buys.
    pub member: MemberId,
    /// When; the membership runs from here (or from the end of the running one).
    pub at: DateTime<Utc>,
    /// The plan.
    pub plan: Tag,
}

/// The member's running paid membership ends at `at` (cancelled or refunded by the host).
/// Orders placed before keep what they earned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndMembership {
    /// Event id.
    pub id: EventId,
    /// Whose membership.
    pub member: MemberId,
    /// When it ends.
    pub at: DateTime<Utc>,
}

/// A named event from the host; it settles the member up to `at` and earns the bonuses on its
/// name, within their limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Custom {
    /// Event id.
    pub id: EventId,
    /// Whom it concerns.
    pub member: MemberId,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened, such as `review_written`.
    pub name: Tag,
}

/// Time passes for a member; the engine settles the member up to `at`: vesting, birthday
/// bonuses, expiry and tier reviews.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tick {
    /// Event id.
    pub id: EventId,
    /// Whom it concerns.
    pub member: MemberId,
    /// Settle up to this time.
    pub at: DateTime<Utc>,
}
