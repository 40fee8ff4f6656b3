use super::*;

#[test]
fn a_family_is_its_help_and_type_then_its_samples() {
    let mut w = Writer::default();
    w.family("sightline_x_total", Kind::Counter, "X done.")
        .sample("sightline_x_total", &[("kind", "a"), ("side", "in")], 3)
        .sample("sightline_x_total", &[("kind", "b"), ("side", "out")], 0);
    w.single("sightline_y", Kind::Gauge, "Y now.", 7);
    assert_eq!(
        w.finish(),
        "# HELP sightline_x_total X done.\n# TYPE sightline_x_total counter\n\
         sightline_x_total{kind=\"a\",side=\"in\"} 3\n\
         sightline_x_total{kind=\"b\",side=\"out\"} 0\n\
         # HELP sightline_y Y now.\n# TYPE sightline_y gauge\nsightline_y 7\n"
    );
}

#[test]
fn label_values_are_escaped_and_no_labels_means_no_braces() {
    let mut w = Writer::default();
    w.sample("m", &[("host", "a\\b\"c\nd")], 1);
    let none: [(&str, &str); 0] = [];
    w.sample("m", &none, 2);
    w.sample("m", &Labels::new([("k", "\"v\""), ("j", "w")]), 3);
    assert_eq!(
        w.finish(),
        "m{host=\"a\\\\b\\\"c\\nd\"} 1\nm 2\nm{k=\"\\\"v\\\"\",j=\"w\"} 3\n"
    );
}

#[test]
fn a_histogram_series_is_cumulative_and_ends_at_inf() {
    let mut w = Writer::default();
    w.histogram("d", &[("svc", "a")], &[0.5, 1.0], &[2, 0, 1], 1.75);
    let none: [(&str, &str); 0] = [];
    w.histogram("e", &none, &[10.0], &[1, 1], 12);
    assert_eq!(
        w.finish(),
        "d_bucket{svc=\"a\",le=\"0.5\"} 2\nd_bucket{svc=\"a\",le=\"1\"} 2\n\
         d_bucket{svc=\"a\",le=\"+Inf\"} 3\nd_sum{svc=\"a\"} 1.75\nd_count{svc=\"a\"} 3\n\
         e_bucket{le=\"10\"} 1\ne_bucket{le=\"+Inf\"} 2\ne_sum 12\ne_count 2\n"
    );
}
