//! Bonuses: fixed points for joining, being referred, referring, a birthday or a named event
//! from the host.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Utc};

use crate::engine::draft::Draft;
use crate::engine::{Compiled, EvalError, checked};
use crate::event::{Custom, Referral};
use crate::ledger::{BonusCount, MemberState, Notice};
use crate::program::{BirthdayFit, BonusLimit, BonusTrigger, CompiledBonus, MAX_BIRTHDAYS_PER_EVENT};

/// A `custom` event: settles, then gives each bonus on its name, within the bonus's limit.
pub(super) fn on_custom(draft: &mut Draft<'_>, event: &Custom) -> Result<(), EvalError> {
    draft.settle()?;
    credit_each(draft, event.at, |trigger| matches!(trigger, BonusTrigger::Custom(name) if *name == event.name))
}

/// Credits the referrer's bonuses on `referral`.
pub(super) fn on_referral(draft: &mut Draft<'_>, event: &Referral) -> Result<(), EvalError> {
    if event.referred == event.member {
        return Err(EvalError::SelfReferral { member: event.member.clone() });
    }
    draft.settle()?;
    // In force when the friend enrolled, even if the referral comes late.
    credit_each(draft, event.at, |trigger| *trigger == BonusTrigger::Referral)
}

/// Credits each bonus in force at `happened_at` whose trigger `fires`, within its limit; one
/// past its limit credits nothing and says so in a notice.
fn credit_each(
    draft: &mut Draft<'_>,
    happened_at: DateTime<Utc>,
    fires: impl Fn(&BonusTrigger) -> bool,
) -> Result<(), EvalError> {
    let program = draft.program;
    for compiled in &program.bonuses {
        if !fires(&compiled.bonus.on) || !compiled.bonus.in_force_at(happened_at) {
            continue;
        }
        if let Some(limit) = compiled.bonus.limit {
            let Some(count) = next_count(draft, compiled, limit)? else {
                draft.outcome.notices.push(Notice::BonusLimitReached { bonus: compiled.bonus.id.clone() });
                continue;
            };
            draft.outcome.bonus_counts.push(count);
        }
        credit(draft, compiled, draft.at)?;
    }
    Ok(())
}

/// An `enroll` event, once recorded: gives the bonuses on enrolling, and on being referred
/// when the member was.
pub(super) fn on_enroll(draft: &mut Draft<'_>, referred: bool) -> Result<(), EvalError> {
    let program = draft.program;
    for compiled in &program.bonuses {
        let earns = match compiled.bonus.on {
            BonusTrigger::Enroll => true,
            BonusTrigger::Referred => referred,
            BonusTrigger::Birthday | BonusTrigger::Referral | BonusTrigger::Custom(_) => false,
        };
        if earns && compiled.bonus.in_force_at(draft.at) {
            credit(draft, compiled, draft.at)?;
        }
    }
    Ok(())
}

/// The member's count of a limited bonus once it is given once more, or `None` when the limit
/// is reached in the period of the draft's time.
fn next_count(draft: &Draft<'_>, compiled: &CompiledBonus, limit: BonusLimit) -> Result<Option<BonusCount>, EvalError> {
    let offset = draft.program.program.utc_offset.0;
    let period_start = match limit.per {
        Some(period) => Some(checked(period.bounds(draft.at, offset))?.0),
        None => None,
    };
    let bonus = &compiled.bonus.id;
    let held = draft.state.bonus_counts().iter().find(|count| count.bonus == *bonus);
    let times = held.filter(|count| count.period_start == period_start).map_or(0, |count| count.times);
    if times >= limit.times {
        return Ok(None);
    }
    Ok(Some(BonusCount { bonus: bonus.clone(), period_start, times: times + 1 }))
}

fn credit(draft: &mut Draft<'_>, compiled: &CompiledBonus, at: DateTime<Utc>) -> Result<(), EvalError> {
    let points = compiled.bonus.points;
    draft.credit_points(&compiled.funders, points.value(), at)?;
    draft.outcome.notices.push(Notice::BonusCredited { bonus: compiled.bonus.id.clone(), points, at });
    Ok(())
}

/// The birthdays since the member's last event, up to the draft's time, oldest first.
pub(crate) fn due_birthdays(draft: &Draft<'_>) -> Vec<DateTime<Utc>> {
    let Some((birthday, since)) = birthday_since(draft.state) else { return Vec::new() };
    birthdays_between(birthday, since, draft.at, draft.program.program.utc_offset.0)
}

/// The member's birthday, and the time after which birthdays are still to be credited: the
/// later of the enrollment and the last event.
fn birthday_since(state: &MemberState) -> Option<(NaiveDate, DateTime<Utc>)> {
    let enrollment = state.enrollment()?;
    let since = state.last_event_at().map_or(enrollment.at, |last| last.max(enrollment.at));
    Some((enrollment.birthday?, since))
}

/// Credits every birthday bonus for the birthday starting at `day`.
pub(crate) fn credit_birthday(draft: &mut Draft<'_>, day: DateTime<Utc>) -> Result<(), EvalError> {
    let program = draft.program;
    let birthday = |compiled: &&CompiledBonus| compiled.bonus.on == BonusTrigger::Birthday;
    for compiled in program.bonuses.iter().filter(birthday).filter(|compiled| compiled.bonus.in_force_at(day)) {
        credit(draft, compiled, day)?;
    }
    Ok(())
}

/// The first instant of the member's next birthday after the last event that a birthday bonus
/// pays (each bonus from its `from` on), for a member enrolled with a birthday.
pub(crate) fn next_birthday(program: &Compiled, state: &MemberState) -> Option<DateTime<Utc>> {
    if !program.birthday_bonus {
        return None;
    }
    let (birthday, since) = birthday_since(state)?;
    let offset = program.program.utc_offset.0;
    let birthday_bonuses = program.bonuses.iter().filter(|compiled| compiled.bonus.on == BonusTrigger::Birthday);
    let first_paid = |compiled: &CompiledBonus| {
        let from = compiled.bonus.from.map_or(since, |from| from.max(since));
        let year = from.naive_utc().checked_add_offset(offset)?.year();
        // The first birthday at or after `from`: this year's, or the next.
        let day = [year, year.checked_add(1)?]
            .into_iter()
            .filter_map(|year| birthday_in(birthday, year, offset))
            .find(|day| *day > since && *day >= from)?;
        compiled.bonus.in_force_at(day).then_some(day)
    };
    birthday_bonuses.filter_map(first_paid).min()
}

/// The first instants of the birthdays after `after` and at or before `until`, oldest first,
/// at most [`MAX_BIRTHDAYS_PER_EVENT`] of them (the latest).
fn birthdays_between(
    birthday: NaiveDate,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    offset: FixedOffset,
) -> Vec<DateTime<Utc>> {
    let year_of = |at: DateTime<Utc>| at.naive_utc().checked_add_offset(offset).map_or(at.year(), |local| local.year());
    let last_year = year_of(until);
    // The last year's birthday may still be to come: one year more than the most credited.
    let oldest_year = last_year.saturating_sub(MAX_BIRTHDAYS_PER_EVENT as i32);
    let mut days: Vec<DateTime<Utc>> = (year_of(after).max(oldest_year)..=last_year)
        .filter_map(|year| birthday_in(birthday, year, offset))
        .filter(|day| after < *day && *day <= until)
        .collect();
    let surplus = days.len().saturating_sub(MAX_BIRTHDAYS_PER_EVENT);
    days.drain(..surplus);
    days
}

/// The local midnight that starts the birthday in `year`.
fn birthday_in(birthday: NaiveDate, year: i32, offset: FixedOffset) -> Option<DateTime<Utc>> {
    Some(birthday_date(birthday, year)?.and_time(NaiveTime::MIN).checked_sub_offset(offset)?.and_utc())
}

/// The birthday's date in `year`: 28 February for 29 February outside leap years.
fn birthday_date(birthday: NaiveDate, year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, birthday.month(), birthday.day()).or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
}

/// How an order placed at `at` stands to the member's birthday, in a program with birthday
/// conditions and for a member whose birthday is on record. Inlined (see the module `engine`):
/// most programs have none.
#[inline(always)]
pub(crate) fn birthday_fit(draft: &Draft<'_>, at: DateTime<Utc>) -> Option<BirthdayFit> {
    if !draft.program.birthday_conditions {
        return None;
    }
    fit_to_birthday(draft.state.enrollment()?.birthday?, at, draft.program.program.utc_offset.0)
}

#[inline(never)]
fn fit_to_birthday(birthday: NaiveDate, at: DateTime<Utc>, offset: FixedOffset) -> Option<BirthdayFit> {
    let date = at.naive_utc().checked_add_offset(offset)?.date();
    let year = date.year();
    // The nearest birthday is this year's, last year's or next year's.
    let days_away = [year - 1, year, year + 1]
        .into_iter()
        .filter_map(|year| birthday_date(birthday, year))
        .map(|day| (date - day).num_days().unsigned_abs())
        .min()?;
    let days_away = u32::try_from(days_away).unwrap_or(u32::MAX);
    Some(BirthdayFit { days_away, same_month: date.month() == birthday.month() })
}
