//! Where a unix minute falls in the week and the day (UTC), for the seasonal profiles.

/// Slots in the hour-of-week profile.
pub(crate) const WEEK_SLOTS: usize = 168;
/// Slots in the hour-of-day profile.
pub(crate) const DAY_SLOTS: usize = 24;

/// The epoch (1970-01-01) was a Thursday: 72 hours after Monday 00:00.
const EPOCH_HOURS_AFTER_MONDAY: u64 = 72;

/// Hour of the week, 0 = Monday 00:00–00:59 UTC.
pub(crate) fn hour_of_week(minute: u64) -> usize {
    ((minute / 60 + EPOCH_HOURS_AFTER_MONDAY) % WEEK_SLOTS as u64) as usize
}

/// Hour of the day, 0 = 00:00–00:59 UTC.
pub(crate) fn hour_of_day(minute: u64) -> usize {
    ((minute / 60) % DAY_SLOTS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_thursday_midnight() {
        assert_eq!(hour_of_week(0), 72);
        assert_eq!(hour_of_day(0), 0);
    }

    #[test]
    fn monday_is_slot_zero() {
        // 2015-03-02 was a Monday: 16496 days after the epoch.
        let monday = 16_496 * 1440;
        assert_eq!(hour_of_week(monday), 0);
        assert_eq!(hour_of_week(monday + 59), 0);
        assert_eq!(hour_of_week(monday + 60), 1);
        assert_eq!(hour_of_week(monday + 7 * 1440 - 1), 167);
        assert_eq!(hour_of_day(monday + 13 * 60 + 5), 13);
    }
}
