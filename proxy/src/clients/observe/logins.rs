//! Failed logins: a failure status on a login route (`clients.logins`) goes into the client's
//! failure window for that rule; `failures` of them within `within` call for a ban.

use super::{BanCause, Finished};
use crate::clients::entry::ClientState;
use crate::config::clients::ClientsConfig;
use sightline_policy::clients::FailureWindow;

/// Notes a failure on every login rule the call fails (their indexes go to `failed`); the ban
/// of the last rule whose window filled.
pub(super) fn fail(
    st: &mut ClientState,
    cfg: &ClientsConfig,
    call: &Finished,
    failed: &mut Vec<usize>,
) -> Option<BanCause> {
    let mut ban = None;
    for (i, rule) in cfg.logins.iter().enumerate() {
        if !rule.statuses.contains(&call.status) || !rule.route.matches(call.method, call.path) {
            continue;
        }
        failed.push(i);
        let pos = match st.failures.iter().position(|(j, _)| *j == i) {
            Some(p) => p,
            None => {
                st.failures.push((i, FailureWindow::default()));
                st.failures.len() - 1
            }
        };
        if st.failures[pos]
            .1
            .fail(call.now, rule.within, rule.failures)
        {
            ban = Some(BanCause {
                reason: "failed_logins",
                escalation: rule.escalation,
                mode: cfg.modes.logins,
            });
        }
    }
    ban
}
