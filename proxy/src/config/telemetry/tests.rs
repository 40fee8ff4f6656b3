use super::*;

/// The section converted with `env` as the environment; its issues as (key, message).
fn convert(
    raw: Option<TelemetryFile>,
    env: &dyn Fn(&str) -> Option<String>,
    issues: &mut Vec<(String, String)>,
) -> TelemetryConfig {
    let mut cx = Convert::new("", "test.yaml", std::path::Path::new("."), env);
    let c = super::convert(raw, &mut cx);
    issues.extend(cx.issues.into_iter().map(|i| (i.key, i.message)));
    c
}

fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn unset_keys_come_from_the_otel_variables() {
    let mut issues = Vec::new();
    let e = env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_SERVICE_NAME", "edge"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_PROPAGATORS", "tracecontext,baggage,b3multi"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-token=abc"),
    ]);
    let c = convert(None, &e, &mut issues);
    assert!(issues.is_empty(), "{issues:?}");
    let o = c
        .otlp
        .unwrap_or_else(|| panic!("endpoint from the environment"));
    assert_eq!(o.endpoint, "http://127.0.0.1:4318");
    assert_eq!(o.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(o.headers.get("x-token").map(String::as_str), Some("abc"));
    assert_eq!(c.service_name, "edge");
    assert_eq!(
        c.traces.sampler,
        Sampler {
            parent_based: true,
            ratio: 0.25
        }
    );
    assert!(c.b3);
}

#[test]
fn the_file_wins_over_the_environment_and_bad_values_are_named() {
    let mut issues = Vec::new();
    let file = TelemetryFile {
        service_name: Some("file".into()),
        otlp: Some(OtlpFile {
            endpoint: Some("http://c:4318".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let e = env(&[
        ("OTEL_SERVICE_NAME", "env"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
    ]);
    let c = convert(Some(file), &e, &mut issues);
    assert_eq!(c.service_name, "file");
    // Without a protocol anywhere: http/protobuf, the specification's default.
    assert_eq!(c.otlp.map(|o| o.protocol), Some(OtlpProtocol::HttpProtobuf));
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].0, "telemetry.traces.sampler");

    let mut issues = Vec::new();
    let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")]);
    let c = convert(None, &e, &mut issues);
    assert!(c.otlp.is_none());
    assert!(issues[0].1.contains("not an http"), "{issues:?}");
}

#[test]
fn without_an_endpoint_nothing_is_exported() {
    let mut issues = Vec::new();
    let c = convert(None, &env(&[]), &mut issues);
    assert_eq!(c, TelemetryConfig::default());
}
