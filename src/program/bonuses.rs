//! Bonuses: fixed points for something other than an order (joining, a referral, a birthday,
//! a named event from the host).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amount::{Points, Ratio};
use crate::id::{FunderId, RuleId, Tag};
use crate::program::earn::{MAX_FUNDERS_PER_RULE, compile_funders};
use crate::program::{CalendarPeriod, CompileError};

/// The most bonuses a program may have.
pub const MAX_BONUSES: usize = 1_000;
/// The most times a limited bonus may be given per member and period.
pub const MAX_BONUS_TIMES: u32 = 10_000;

/// Fixed points a member earns for something other than an order.
///
/// The points are available at once (no vesting: they come from no order a return could take
/// back) and expire like every other point, counted from when they are credited (a birthday's
/// from the birthday). Like any available points, a return may take them to cover spent
/// points of the order it claws back. They are split between the funders of `funded_by`
/// exactly, as an earn rule's are; without it the program's owner pays.
/// The outcome tells the host with a [`Notice::BonusCredited`](crate::Notice::BonusCredited).
///
/// ```json
/// [{"id": "welcome", "on": "enroll", "points": "500"},
///  {"id": "friend", "on": "referred", "points": "200"},
///  {"id": "birthday", "on": "birthday", "points": "100"},
///  {"id": "review", "on": {"custom": "review_written"}, "points": "50",
///   "limit": {"times": 3, "per": "month"}, "funded_by": {"shop": "0.5", "reviews-inc": "0.5"}}]
/// ```
///
/// ```
/// use loyalty_engine::{Event, MemberId, MemberState, Notice, Program};
///
/// let program: Program = serde_json::from_str(r#"{"id": "cafe", "currency": "EUR", "owner": "cafe",
///   "bonuses": [{"id": "welcome", "on": "enroll", "points": "500"},
///               {"id": "review", "on": {"custom": "review_written"}, "points": "50",
///                "limit": {"times": 1, "per": "month"}}]}"#).unwrap();
/// let engine = program.compile().unwrap();
/// let mut state = MemberState::new(MemberId::new("m-1").unwrap());
/// for json in [
///     r#"{"type": "enroll", "id": "e-1", "member": "m-1", "at": "2026-03-01T10:00:00Z"}"#,
///     r#"{"type": "custom", "id": "e-2", "member": "m-1", "at": "2026-03-02T10:00:00Z", "name": "review_written"}"#,
/// ] {
///     let event: Event = serde_json::from_str(json).unwrap();
///     state.apply(&engine.evaluate(&state, &event).unwrap());
/// }
/// assert_eq!(state.points().available.to_string(), "550");
///
/// // A second review in March is past the limit: accepted, and it earns nothing.
/// let event: Event = serde_json::from_str(r#"{"type": "custom", "id": "e-3", "member": "m-1",
///   "at": "2026-03-20T10:00:00Z", "name": "review_written"}"#).unwrap();
/// let outcome = engine.evaluate(&state, &event).unwrap();
/// assert!(matches!(outcome.notices[..], [Notice::BonusLimitReached { .. }]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bonus {
    /// Unique among the program's bonuses; notices and the member's counts name it.
    pub id: RuleId,
    /// What earns it.
    pub on: BonusTrigger,
    /// The points, a whole number of the program's points.
    pub points: Points,
    /// How often one member may earn it; without it, every time. Only bonuses `on` a custom
    /// event or a `referral` may have one: a member enrolls once and has one birthday a year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<BonusLimit>,
    /// Who pays, as shares that sum to exactly one; empty means the program's owner.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub funded_by: BTreeMap<FunderId, Ratio>,
    /// The bonus counts what happens at or after this time (the event's, or the birthday's
    /// first instant): a bonus added to a running program pays no birthday from before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// The bonus counts what happens before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl Bonus {
    /// Whether what happens at `at` is within the bonus's `from` and `until`.
    pub(crate) fn in_force_at(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| at >= from) && self.until.is_none_or(|until| at < until)
    }
}

/// What earns a [`Bonus`].
///
/// In JSON: `"enroll"`, `"referred"`, `"referral"`, `"birthday"` or `{"custom": "review_written"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BonusTrigger {
    /// The member's `enroll` event.
    Enroll,
    /// An `enroll` event naming the member who referred this one (`referred_by`). The bonus is
    /// the new member's; [`Referral`](BonusTrigger::Referral) rewards the referrer.
    Referred,
    /// A member this one referred enrolled: the referrer's bonus, credited by the
    /// [`Referral`](crate::Referral) event that the referred member's `enroll` causes (in its
    /// outcome's [`follow_ups`](crate::Outcome::follow_ups)). A `limit` bounds how many
    /// referrals a member is paid for.
    Referral,
    /// Each birthday after the member enrolled (with a `birthday`): the local midnight that
    /// starts it, in the program's UTC offset; a birthday on 29 February falls on 28 February
    /// in other years. The first event at or after the birthday credits it, dated then and
    /// settled in time order with the member's vesting lots, so points that would have
    /// expired since are expired at once; a host that wants it on the day sends a `tick`. At
    /// most [`MAX_BIRTHDAYS_PER_EVENT`] birthdays are credited by one event: the latest ones
    /// (a member with no event for longer loses the older ones).
    Birthday,
    /// A `custom` event of this name.
    Custom(Tag),
}

/// The most birthdays one event credits, when a member has had no event for that many years.
pub const MAX_BIRTHDAYS_PER_EVENT: usize = 10;

/// How often one member may earn a bonus: `times` per calendar `per` period, or `times` in
/// all when `per` is absent. Events beyond it are accepted and earn nothing from the bonus;
/// the outcome says so with a [`Notice::BonusLimitReached`](crate::Notice::BonusLimitReached).
///
/// ```json
/// {"times": 3, "per": "month"}
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BonusLimit {
    /// How many times, 1 to [`MAX_BONUS_TIMES`].
    pub times: u32,
    /// The calendar period the count starts again in, in the program's UTC offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<CalendarPeriod>,
}

/// A bonus ready to evaluate: its funders resolved.
#[derive(Debug)]
pub(crate) struct CompiledBonus {
    pub(crate) bonus: Bonus,
    /// Never empty: the owner when the bonus names no funders.
    pub(crate) funders: Vec<(FunderId, Decimal)>,
}

pub(crate) fn compile_bonuses(
    bonuses: &[Bonus],
    owner: &FunderId,
    decimal_places: u32,
) -> Result<Vec<CompiledBonus>, CompileError> {
    if bonuses.len() > MAX_BONUSES {
        let message = format!("has {} bonuses, more than the limit of {MAX_BONUSES}", bonuses.len());
        return Err(CompileError::new("bonuses", message));
    }
    let mut compiled = Vec::with_capacity(bonuses.len());
    for (position, bonus) in bonuses.iter().enumerate() {
        let path = format!("bonuses[{position}]");
        if let Some(first) = bonuses[..position].iter().position(|earlier| earlier.id == bonus.id) {
            return Err(CompileError::new(format!("{path}.id"), format!("is also the id of bonuses[{first}]")));
        }
        let points = bonus.points.value();
        if points <= Decimal::ZERO || points.normalize().scale() > decimal_places {
            let problem = format!("must be a positive whole number of points at {decimal_places} decimal places");
            return Err(CompileError::new(format!("{path}.points"), problem));
        }
        check_limit(bonus, &path)?;
        if let (Some(from), Some(until)) = (bonus.from, bonus.until) {
            if from >= until {
                return Err(CompileError::new(format!("{path}.until"), "must be later than `from`"));
            }
        }
        let mut funders = compile_funders(&bonus.funded_by, &format!("{path}.funded_by"))?;
        if funders.is_empty() {
            funders.push((owner.clone(), Decimal::ONE));
        }
        compiled.push(CompiledBonus { bonus: bonus.clone(), funders });
    }
    // A birthday opens a lot per funder of each birthday bonus, and an event catching up on
    // several birthdays opens that many times more: bounded, so that one event stays cheap.
    let birthday_lots: usize =
        compiled.iter().filter(|compiled| compiled.bonus.on == BonusTrigger::Birthday).map(|c| c.funders.len()).sum();
    if birthday_lots > MAX_FUNDERS_PER_RULE {
        let message = format!("birthday bonuses name {birthday_lots} funders in all, more than {MAX_FUNDERS_PER_RULE}");
        return Err(CompileError::new("bonuses", message));
    }
    Ok(compiled)
}

fn check_limit(bonus: &Bonus, path: &str) -> Result<(), CompileError> {
    let Some(limit) = bonus.limit else { return Ok(()) };
    if !matches!(bonus.on, BonusTrigger::Custom(_) | BonusTrigger::Referral) {
        let message = "only a bonus on a custom event or a referral may have a limit";
        return Err(CompileError::new(format!("{path}.limit"), message));
    }
    if limit.times == 0 || limit.times > MAX_BONUS_TIMES {
        return Err(CompileError::new(format!("{path}.limit.times"), format!("must be 1 to {MAX_BONUS_TIMES}")));
    }
    Ok(())
}
