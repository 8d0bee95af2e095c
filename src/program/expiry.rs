//! When points expire.

use chrono::{DateTime, Datelike, Days, FixedOffset, Months, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::ledger::MemberState;
use crate::program::CompileError;

/// The longest period a program may name, in days: 100 years. It bounds `expiry.after_days`,
/// `tiers.grace_days` and rolling tier windows in days; periods in months are bounded by a
/// thirtieth of it (1,217 months).
pub const MAX_EXPIRY_DAYS: u32 = 36_525;

/// When points expire: counted from the moment they become available (so a vesting period
/// never eats into the time a member has to spend them), or after a member's inactivity.
/// Calendar periods use the program's UTC offset.
///
/// In JSON: `"never"`, `{"after_days": 365}`, `{"after_months": 12}`, `"end_of_month"`,
/// `"end_of_year"` or `{"after_inactive_months": 18}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Expiry {
    /// Points never expire.
    #[default]
    Never,
    /// This many days after they become available.
    AfterDays(u32),
    /// This many calendar months after they become available (the same day of the month, or
    /// the month's last day when it is shorter).
    AfterMonths(u32),
    /// At the end of the calendar month in which they become available.
    EndOfMonth,
    /// At the end of the calendar year in which they become available.
    EndOfYear,
    /// All of a member's available points expire once this many calendar months pass without
    /// activity: a purchase, a redemption (`redeem` or `redeem_reward`), a donation, an
    /// enrollment, a membership bought or a custom event (returns, ticks, `void_reward`,
    /// adjustments, transfers sent or received, referrals and a membership's end are not
    /// activity), counted from
    /// [`MemberState::last_activity_at`](crate::MemberState::last_activity_at) whatever the
    /// program was then. Points that become available while the member stays inactive expire
    /// as they do. Lots carry no `expires_at`: the deadline is the member's,
    /// [`Engine::inactivity_expiry`](crate::Engine::inactivity_expiry).
    AfterInactiveMonths(u32),
}

impl Expiry {
    pub(crate) fn validate(&self) -> Result<(), CompileError> {
        let (field, count, limit) = match *self {
            Expiry::AfterDays(days) => ("expiry.after_days", days, MAX_EXPIRY_DAYS),
            Expiry::AfterMonths(months) => ("expiry.after_months", months, MAX_EXPIRY_DAYS / 30),
            Expiry::AfterInactiveMonths(months) => ("expiry.after_inactive_months", months, MAX_EXPIRY_DAYS / 30),
            _ => return Ok(()),
        };
        if count == 0 || count > limit {
            return Err(CompileError::new(field, format!("must be between 1 and {limit}, not {count}")));
        }
        Ok(())
    }

    /// When points that become available at `available_at` expire. Always later than
    /// `available_at`; `None` for never, and for an expiry at or past the last instant of the
    /// calendar chrono supports, which could not be told from never.
    /// Inlined, like the engine's entries of mechanics a program may not use: many programs'
    /// points never expire.
    #[inline(always)]
    pub(crate) fn expires_at(&self, available_at: DateTime<Utc>, offset: FixedOffset) -> Option<DateTime<Utc>> {
        match self {
            Expiry::Never => None,
            _ => self.expiry_after(available_at, offset),
        }
    }

    /// [`Expiry::expires_at`] for points that expire.
    #[inline(never)]
    fn expiry_after(&self, available_at: DateTime<Utc>, offset: FixedOffset) -> Option<DateTime<Utc>> {
        let local = available_at.with_timezone(&offset);
        let expires = match *self {
            Expiry::Never | Expiry::AfterInactiveMonths(_) => return None,
            Expiry::AfterDays(days) => local.checked_add_days(Days::new(u64::from(days)))?,
            Expiry::AfterMonths(months) => local.checked_add_months(Months::new(months))?,
            Expiry::EndOfMonth => {
                let (year, month) =
                    if local.month() == 12 { (local.year() + 1, 1) } else { (local.year(), local.month() + 1) };
                start_of_day(NaiveDate::from_ymd_opt(year, month, 1)?, offset)?
            }
            Expiry::EndOfYear => start_of_day(NaiveDate::from_ymd_opt(local.year() + 1, 1, 1)?, offset)?,
        };
        Some(expires.with_timezone(&Utc)).filter(|expires| *expires < DateTime::<Utc>::MAX_UTC)
    }
}

impl Expiry {
    /// Under [`Expiry::AfterInactiveMonths`], when the member's available points expire unless
    /// the member is active first: that many months after the last activity (the same day of
    /// the month, or the month's last day), counted from the last event for a state stored
    /// before activity was kept. `None` under other expiries, for a member with no event, and
    /// past the end of the calendar (never). Inlined, as `expires_at` is: most programs' points
    /// don't expire after inactivity.
    #[inline(always)]
    pub(crate) fn inactivity_deadline(&self, state: &MemberState, offset: FixedOffset) -> Option<DateTime<Utc>> {
        let Expiry::AfterInactiveMonths(months) = *self else { return None };
        inactivity_deadline_after(months, state.last_activity_at().or(state.last_event_at())?, offset)
    }
}

#[inline(never)]
fn inactivity_deadline_after(months: u32, active_at: DateTime<Utc>, offset: FixedOffset) -> Option<DateTime<Utc>> {
    let deadline = active_at.with_timezone(&offset).checked_add_months(Months::new(months))?;
    Some(deadline.with_timezone(&Utc)).filter(|deadline| *deadline < DateTime::<Utc>::MAX_UTC)
}

fn start_of_day(date: NaiveDate, offset: FixedOffset) -> Option<DateTime<FixedOffset>> {
    offset.from_local_datetime(&date.and_hms_opt(0, 0, 0)?).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_at_the_calendars_last_instant_is_never() {
        let last = DateTime::<Utc>::MAX_UTC;
        let utc = FixedOffset::east_opt(0).unwrap();
        let day_before = last - chrono::TimeDelta::days(1);
        assert_eq!(Expiry::AfterDays(1).expires_at(day_before, utc), None);
        let nanosecond_more = day_before - chrono::TimeDelta::nanoseconds(1);
        assert_eq!(
            Expiry::AfterDays(1).expires_at(nanosecond_more, utc),
            Some(last - chrono::TimeDelta::nanoseconds(1))
        );
        assert_eq!(Expiry::EndOfYear.expires_at(day_before, utc), None, "past the calendar");
    }
}
