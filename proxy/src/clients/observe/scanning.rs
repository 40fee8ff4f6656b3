//! Scanning: 404 and 405 answers on distinct paths within `scanning.within`; at
//! `scanning.distinct_paths` the client is a scanner (a signal, and a ban when configured).

use super::{BanCause, Finished};
use crate::clients::entry::ClientState;
use crate::clients::ClientSignal;
use crate::config::clients::ClientsConfig;

/// Notes the call's path (`path_hash`) when it was missing; on reaching the count, a signal,
/// the window starts over, and the ban the rule calls for, if any.
pub(super) fn note(
    st: &mut ClientState,
    cfg: &ClientsConfig,
    path_hash: u64,
    call: &Finished,
    signals: &mut Vec<ClientSignal>,
) -> Option<BanCause> {
    let (Some(scan), 404 | 405) = (&cfg.scanning, call.status) else {
        return None;
    };
    let n = st.scan.note(
        path_hash,
        call.now,
        scan.within,
        scan.distinct_paths as usize,
    );
    if n < scan.distinct_paths as usize {
        return None;
    }
    st.scan.clear();
    signals.push(ClientSignal::Scanning {
        distinct_paths: n as u32,
    });
    scan.ban.map(|escalation| BanCause {
        reason: "scanning",
        escalation,
        mode: cfg.modes.scanning,
    })
}
