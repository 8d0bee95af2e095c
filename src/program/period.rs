//! Calendar periods in the program's UTC offset: tier windows and caps per period.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// A calendar period, in the program's UTC offset.
///
/// In JSON: `"month"`, `"quarter"`, `"half_year"` or `"year"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarPeriod {
    /// A calendar month.
    Month,
    /// January to March, April to June, July to September, October to December.
    Quarter,
    /// January to June, July to December.
    HalfYear,
    /// A calendar year.
    Year,
}

impl CalendarPeriod {
    fn months(self) -> u32 {
        match self {
            CalendarPeriod::Month => 1,
            CalendarPeriod::Quarter => 3,
            CalendarPeriod::HalfYear => 6,
            CalendarPeriod::Year => 12,
        }
    }

    /// The period that contains `at`: its start (inclusive) and end (exclusive). `None` only at
    /// the edge of the calendar chrono supports.
    ///
    /// Both ends are local midnights on the first of a month, built from the year and month
    /// directly: chrono's month arithmetic and local-time conversions took about 400
    /// instructions a call, and tiers and cashback caps ask several times an event.
    pub(crate) fn bounds(self, at: DateTime<Utc>, offset: FixedOffset) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let local = at.naive_utc().checked_add_offset(offset)?;
        let months = self.months();
        let first_month0 = (local.month0() / months) * months;
        let (year, next_month0) = (local.year(), first_month0 + months);
        let start = month_start(year, first_month0, offset)?;
        // A period never spans more than a year, so the next one starts this year or the next.
        let end = match next_month0.checked_sub(12) {
            Some(month0) => month_start(year.checked_add(1)?, month0, offset)?,
            None => month_start(year, next_month0, offset)?,
        };
        Some((start, end))
    }
}

/// Local midnight on the first of a month (0 for January), as a UTC time.
fn month_start(year: i32, month0: u32, offset: FixedOffset) -> Option<DateTime<Utc>> {
    let local = NaiveDate::from_ymd_opt(year, month0 + 1, 1)?.and_time(NaiveTime::MIN);
    Some(local.checked_sub_offset(offset)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn periods_contain_the_time_and_follow_the_offset() {
        let plus_three = FixedOffset::east_opt(3 * 3600).unwrap();
        // 22:30 UTC on 31 March is already April in UTC+3.
        let late_march = at("2026-03-31T22:30:00Z");
        let (start, end) = CalendarPeriod::Quarter.bounds(late_march, plus_three).unwrap();
        assert_eq!((start, end), (at("2026-03-31T21:00:00Z"), at("2026-06-30T21:00:00Z")));
        let utc = FixedOffset::east_opt(0).unwrap();
        let (start, end) = CalendarPeriod::HalfYear.bounds(late_march, utc).unwrap();
        assert_eq!((start, end), (at("2026-01-01T00:00:00Z"), at("2026-07-01T00:00:00Z")));
        let (start, end) = CalendarPeriod::Year.bounds(at("2026-12-31T23:59:59Z"), utc).unwrap();
        assert_eq!((start, end), (at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z")));
        let (start, end) = CalendarPeriod::Month.bounds(at("2026-02-01T00:00:00Z"), utc).unwrap();
        assert_eq!((start, end), (at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z")));
    }

    /// What `bounds` computed before it built the ends from the year and month: chrono's local
    /// time and month arithmetic.
    fn bounds_by_chrono(
        period: CalendarPeriod,
        at: DateTime<Utc>,
        offset: FixedOffset,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        use chrono::{Months, TimeZone};
        let local = at.with_timezone(&offset);
        let months = period.months();
        let first_month = (local.month0() / months) * months + 1;
        let first_day = NaiveDate::from_ymd_opt(local.year(), first_month, 1)?;
        let start = offset.from_local_datetime(&first_day.and_hms_opt(0, 0, 0)?).single()?;
        let end = start.checked_add_months(Months::new(months))?;
        Some((start.with_timezone(&Utc), end.with_timezone(&Utc)))
    }

    fn any_period() -> impl proptest::strategy::Strategy<Value = CalendarPeriod> {
        proptest::sample::select(vec![
            CalendarPeriod::Month,
            CalendarPeriod::Quarter,
            CalendarPeriod::HalfYear,
            CalendarPeriod::Year,
        ])
    }

    /// Any offset a `FixedOffset` takes, to the second.
    const OFFSET_SECONDS: std::ops::RangeInclusive<i32> = -86_399..=86_399;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Any time in chrono's calendar, half of them within a year of its edges, where the
        /// ends overflow.
        #[test]
        fn bounds_agree_with_chrono_month_arithmetic(
            seconds in DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
            near_the_edge in proptest::bool::ANY,
            offset_seconds in OFFSET_SECONDS,
            period in any_period(),
        ) {
            let year_seconds = 366 * 86_400;
            let seconds = match near_the_edge {
                true if seconds < 0 => DateTime::<Utc>::MIN_UTC.timestamp() + seconds.rem_euclid(year_seconds),
                true => DateTime::<Utc>::MAX_UTC.timestamp() - seconds.rem_euclid(year_seconds),
                false => seconds,
            };
            let at = DateTime::from_timestamp(seconds, 0).unwrap();
            let offset = FixedOffset::east_opt(offset_seconds).unwrap();
            proptest::prop_assert_eq!(period.bounds(at, offset), bounds_by_chrono(period, at, offset));
        }

        /// Times a second or two either side of a local midnight on the first of a month, where
        /// one period ends and the next begins, in any year chrono has.
        #[test]
        fn bounds_agree_at_the_turn_of_a_month(
            year in NaiveDate::MIN.year()..=NaiveDate::MAX.year(),
            month in 1_u32..=12,
            seconds_after in -2_i64..=2,
            offset_seconds in OFFSET_SECONDS,
            period in any_period(),
        ) {
            let offset = FixedOffset::east_opt(offset_seconds).unwrap();
            let midnight = NaiveDate::from_ymd_opt(year, month, 1).unwrap().and_time(NaiveTime::MIN);
            let at = midnight
                .checked_sub_offset(offset)
                .and_then(|utc| utc.checked_add_signed(chrono::TimeDelta::seconds(seconds_after)))
                .map(|utc| utc.and_utc());
            proptest::prop_assume!(at.is_some(), "beyond chrono's calendar in UTC");
            let at = at.unwrap();
            proptest::prop_assert_eq!(period.bounds(at, offset), bounds_by_chrono(period, at, offset));
        }
    }
}
