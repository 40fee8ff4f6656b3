//! The other instances' findings, alerts and incidents merged into this instance's admin
//! answers (at query time, from the view the heartbeat task last read), each shown once: what
//! this instance also holds is shown as its own, and of the copies several other instances
//! hold, the latest.

use super::FleetView;
use crate::alerts::model::{Alert, Incident};
use sightline_dashboard::views;
use std::collections::HashMap;

/// First sightings happen once per fleet whichever instance saw them first; other findings
/// are the same finding when raised for the same subject at the same time.
fn finding_key<'a>(kind: &'a str, subject: &'a str, at: u64) -> (&'a str, &'a str, u64) {
    let first_sighting = matches!(kind, "new_node" | "new_edge" | "new_endpoint");
    (kind, subject, if first_sighting { 0 } else { at })
}

/// Adds the other instances' findings to `list` (newest first), each once.
pub fn findings(list: &mut Vec<views::Finding>, fleet: &FleetView) {
    let mut seen: std::collections::HashSet<(String, String, u64)> = list
        .iter()
        .map(|f| {
            let (k, s, a) = finding_key(&f.kind, &f.subject, f.at);
            (k.to_owned(), s.to_owned(), a)
        })
        .collect();
    let before = list.len();
    for (instance, f) in &fleet.findings {
        let (k, s, a) = finding_key(&f.kind, &f.subject, f.at);
        if seen.insert((k.to_owned(), s.to_owned(), a)) {
            list.push(views::Finding {
                id: f.id,
                kind: f.kind.clone(),
                subject: f.subject.clone(),
                at: f.at,
                evidence: f.evidence.clone(),
                instance: Some(instance.clone()),
            });
        }
    }
    if list.len() > before {
        list.sort_by_key(|f| std::cmp::Reverse(f.at));
    }
}

fn live(s: &views::AlertState) -> bool {
    !matches!(s, views::AlertState::Resolved)
}

/// Adds the other instances' alerts that pass `keep` to `alerts` and their incidents to
/// `incidents` (newest first, at most `limit` alerts). An alert is the same as another when
/// it has the same kind and subject and both are live (or both resolved).
pub fn alerts(
    alerts: &mut Vec<views::AlertView>,
    incidents: &mut Vec<views::IncidentView>,
    fleet: &FleetView,
    keep: impl Fn(&Alert) -> bool,
    view: impl Fn(&Alert) -> views::AlertView,
    incident_view: impl Fn(&Incident) -> views::IncidentView,
    limit: usize,
) {
    let have: std::collections::HashSet<(String, String, bool)> = alerts
        .iter()
        .map(|a| (a.kind.clone(), a.subject.clone(), live(&a.state)))
        .collect();
    let mut remote: HashMap<(String, String, bool), views::AlertView> = HashMap::new();
    for (instance, a) in fleet.alerts.iter().filter(|(_, a)| keep(a)) {
        let mut v = view(a);
        let key = (v.kind.clone(), v.subject.clone(), live(&v.state));
        if have.contains(&key) {
            continue;
        }
        v.instance = Some(instance.clone());
        match remote.get(&key) {
            Some(old) if old.last_seen >= v.last_seen => {}
            _ => {
                remote.insert(key, v);
            }
        }
    }
    if !remote.is_empty() {
        alerts.extend(remote.into_values());
        alerts.sort_by(|a, b| b.first_seen.cmp(&a.first_seen));
        alerts.truncate(limit);
    }
    let mut roots: std::collections::HashSet<(String, bool)> = incidents
        .iter()
        .map(|i| (i.root.clone(), live(&i.state)))
        .collect();
    let before = incidents.len();
    let mut latest: Vec<&(String, Incident)> = fleet.incidents.iter().collect();
    latest.sort_by_key(|(_, i)| std::cmp::Reverse(i.last_seen));
    for (instance, i) in latest {
        let mut v = incident_view(i);
        if roots.insert((v.root.clone(), live(&v.state))) {
            v.instance = Some(instance.clone());
            incidents.push(v);
        }
    }
    if incidents.len() > before {
        incidents.sort_by(|a, b| b.first_seen.cmp(&a.first_seen));
        incidents.truncate(limit);
    }
}
