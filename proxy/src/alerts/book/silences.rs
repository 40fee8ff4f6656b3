//! Silences: an operator mutes a kind (and subject) for a while. Alerts that open while a
//! silence matches are recorded and counted as always, marked `silenced_by`, and no sink is
//! owed them (neither their opening nor their end); alerts already open when a silence starts
//! are marked too and owe nothing more. Ending a silence early does not send what it muted.

use super::{Book, MAX_SILENCES};
use crate::alerts::model::{Alert, Kind, Silence, State};

impl Book {
    /// Takes back stored silences.
    pub fn restore_silences(&mut self, silences: Vec<Silence>) {
        for s in silences {
            self.next_silence = self.next_silence.max(s.id + 1);
            self.silences.insert(s.id, s);
        }
    }

    /// The silence matching an alert of `kind` about `subject` at `at`, if any.
    pub(super) fn silencing(&self, kind: Kind, subject: &str, at: u64) -> Option<u64> {
        self.silences
            .values()
            .find(|s| s.matches(kind, subject, at))
            .map(|s| s.id)
    }

    /// Starts a silence at `now` (unix milliseconds) and marks the alerts not resolved that it
    /// matches; returns it. Silences over before `now` are forgotten; `Err` when
    /// [`MAX_SILENCES`] are in force.
    pub fn silence(
        &mut self,
        kind: Kind,
        subject: Option<String>,
        until: u64,
        reason: String,
        now: u64,
    ) -> Result<Silence, String> {
        self.silences.retain(|_, s| s.until > now);
        if self.silences.len() >= MAX_SILENCES {
            return Err(format!("at most {MAX_SILENCES} silences can be in force"));
        }
        let s = Silence {
            id: self.next_silence,
            kind,
            subject,
            until,
            reason,
            created: now,
        };
        self.next_silence += 1;
        let muted: Vec<u64> = self
            .alerts
            .values()
            .filter(|a| a.state != State::Resolved && s.matches(a.kind, &a.subject, now))
            .map(|a| a.id)
            .collect();
        for id in muted {
            if let Some(a) = self.alerts.get_mut(&id) {
                mute(a, s.id);
                self.dirty.insert(id);
            }
        }
        self.silences.insert(s.id, s.clone());
        self.silences_dirty = true;
        Ok(s)
    }

    /// Ends a silence; returns it, `None` when there is no such silence.
    pub fn unsilence(&mut self, id: u64) -> Option<Silence> {
        let s = self.silences.remove(&id)?;
        self.silences_dirty = true;
        Some(s)
    }

    /// The silences, newest first.
    pub fn silences(&self) -> impl Iterator<Item = &Silence> {
        self.silences.values().rev()
    }

    /// Every silence when they changed since the last call (for the store).
    pub fn take_silences(&mut self) -> Option<Vec<Silence>> {
        if !std::mem::take(&mut self.silences_dirty) {
            return None;
        }
        Some(self.silences.values().cloned().collect())
    }

    /// Marks the silences changed again (their write failed).
    pub fn redirty_silences(&mut self) {
        self.silences_dirty = true;
    }
}

/// Marks an alert silenced: nothing more is owed to any sink for it.
pub(super) fn mute(a: &mut Alert, silence: u64) {
    a.silenced_by = Some(silence);
    for d in a.delivery.values_mut() {
        d.wanted = d.done;
    }
}
