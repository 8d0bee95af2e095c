//! Calendar periods in the program's UTC offset: tier windows and caps per period.

use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, TimeZone, Utc};
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
    pub(crate) fn bounds(self, at: DateTime<Utc>, offset: FixedOffset) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let local = at.with_timezone(&offset);
        let months = self.months();
        let first_month = (local.month0() / months) * months + 1;
        let first_day = NaiveDate::from_ymd_opt(local.year(), first_month, 1)?;
        let start = offset.from_local_datetime(&first_day.and_hms_opt(0, 0, 0)?).single()?;
        let end = start.checked_add_months(Months::new(months))?;
        Some((start.with_timezone(&Utc), end.with_timezone(&Utc)))
    }
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
}
