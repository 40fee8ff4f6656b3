//! Where a unix minute falls in the week and the day, for the seasonal profiles: in UTC, or in
//! the operator's time zone (`analysis.timezone`), so a peak at 09:00 local time stays in its
//! slot across daylight-saving changes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// The time zone the seasonal profiles follow: UTC, or an IANA zone (`Europe/Berlin`).
#[derive(Clone, Debug, Default)]
pub struct Zone {
    name: Option<String>,
    tz: Option<jiff::tz::TimeZone>,
}

impl Zone {
    /// The zone called `name` (an IANA name), or UTC for `None`. An unknown name is an error.
    pub fn new(name: Option<&str>) -> Result<Self, String> {
        let Some(name) = name else {
            return Ok(Self::default());
        };
        let tz = crate::config::time_zone(name)?;
        Ok(Self {
            name: Some(name.to_string()),
            tz: Some(tz),
        })
    }

    /// The zone's name; `None` for UTC.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The wall-clock minute in this zone of the unix minute `minute` (UTC: unchanged).
    pub fn local(&self, minute: u64) -> u64 {
        let Some(tz) = &self.tz else {
            return minute;
        };
        let seconds = i64::try_from(minute.saturating_mul(60)).unwrap_or(i64::MAX);
        let Ok(at) = jiff::Timestamp::from_second(seconds) else {
            return minute;
        };
        let offset = i64::from(tz.to_offset(at).seconds()) / 60;
        minute.saturating_add_signed(offset)
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.name.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Zone {
    /// A stored zone that this build does not know falls back to UTC.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = Option::<String>::deserialize(d)?;
        Ok(Self::new(name.as_deref()).unwrap_or_default())
    }
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

    #[test]
    fn local_time_follows_daylight_saving() {
        let berlin = Zone::new(Some("Europe/Berlin")).unwrap();
        // 2015-03-02 08:00 UTC is 09:00 in Berlin (CET); 2015-03-30 07:00 UTC is 09:00 (CEST).
        let monday = 16_496 * 1440;
        assert_eq!(hour_of_day(berlin.local(monday + 8 * 60)), 9);
        let after = monday + 28 * 1440;
        assert_eq!(hour_of_day(berlin.local(after + 7 * 60)), 9);
        assert_eq!(hour_of_week(berlin.local(after + 7 * 60)), 9);
        assert_eq!(Zone::default().local(monday), monday);
        assert!(Zone::new(Some("Mars/Olympus")).is_err());
        let text = serde_json::to_string(&berlin).unwrap();
        assert_eq!(text, "\"Europe/Berlin\"");
        let back: Zone = serde_json::from_str(&text).unwrap();
        assert_eq!(back.local(after), berlin.local(after));
    }
}
