use super::*;

#[test]
fn registered_counters_are_shared_and_rendered() {
    let r = Registry::default();
    let a = r.counter("sightline_x_total", "X.", &[("kind", "ban")]);
    let b = r.counter("sightline_x_total", "X.", &[("kind", "ban")]);
    a.fetch_add(2, Relaxed);
    b.fetch_add(1, Relaxed);
    r.gauge("sightline_y", "Y.", &[]).store(7, Relaxed);
    let mut w = Writer::default();
    r.render(&mut w);
    let out = w.finish();
    assert!(out.contains("# TYPE sightline_x_total counter"), "{out}");
    assert!(out.contains("sightline_x_total{kind=\"ban\"} 3"), "{out}");
    assert!(out.contains("sightline_y 7"), "{out}");
}

#[test]
fn past_the_cap_registrations_share_an_overflow_series() {
    let r = Registry::default();
    for i in 0..MAX_SERIES + 3 {
        r.counter("sightline_z_total", "Z.", &[("k", &i.to_string())])
            .fetch_add(1, Relaxed);
    }
    assert_eq!(r.overflowed(), 3);
    let mut w = Writer::default();
    r.render(&mut w);
    let out = w.finish();
    assert!(out.contains("sightline_z_total{k=\"overflow\"} 3"));
}
