//! OpenAPI import and shadow endpoints.

use super::*;

const PETSTORE_JSON: &str = r#"{
  "openapi": "3.0.3",
  "info": { "title": "pets", "version": "1" },
  "servers": [ { "url": "https://pets.example.com/v1/" } ],
  "paths": {
    "/pets": { "get": {}, "post": {} },
    "/pets/{petId}": {
      "parameters": [ { "name": "petId", "in": "path", "required": true } ],
      "get": { "responses": { "200": { "description": "ok" } } },
      "delete": {}
    },
    "/pets/{petId}/photos/{photoId}.{format}": { "get": {} },
    "/health": { "servers": [ { "url": "/" } ], "get": {} },
    "/docs": { "summary": "no operations" },
    "x-internal": "ignored"
  }
}"#;

const PETSTORE_YAML: &str = r#"
openapi: 3.1.0
info: { title: pets, version: "1" }
servers:
  - url: '{scheme}://pets.example.com/{base}'
    variables:
      scheme: { default: https }
      base: { default: api/v2 }
  - url: /api/v2
paths:
  /pets:
    get:
      responses:
        200: { description: ok }
  /pets/{petId}:
    patch: {}
    put: {}
"#;

#[test]
fn openapi_json_declares_paths_methods_and_base_path() {
    let mut t = Templater::default();
    assert_eq!(t.import_openapi(Some("pets.test"), PETSTORE_JSON), Ok(4));
    let table = [
        (&Method::GET, "/v1/pets", Some("/v1/pets")),
        (&Method::POST, "/v1/pets", Some("/v1/pets")),
        (&Method::GET, "/v1/pets/42", Some("/v1/pets/{petId}")),
        (&Method::HEAD, "/v1/pets/42", Some("/v1/pets/{petId}")),
        (&Method::DELETE, "/v1/pets/42", Some("/v1/pets/{petId}")),
        (
            &Method::GET,
            "/v1/pets/42/photos/7.png",
            Some("/v1/pets/{petId}/photos/{photoId}.{format}"),
        ),
        (&Method::GET, "/health", Some("/health")),
        (&Method::PUT, "/v1/pets/42", None),
        (&Method::GET, "/pets/42", None),
        (&Method::GET, "/v1/health", None),
        (&Method::GET, "/v1/docs", None),
    ];
    for (method, path, want) in table {
        let got = t.classify("pets.test", method, path, Some(200));
        match want {
            Some(template) => {
                assert_eq!(&*got.template, template, "{method} {path}");
                assert!(got.declared && !got.shadow, "{method} {path}: {got:?}");
            }
            None => assert!(!got.declared && got.shadow, "{method} {path}: {got:?}"),
        }
    }
    // The document is for its host only.
    assert!(
        !t.classify("other.test", GET, "/v1/pets", Some(200))
            .declared
    );
}

#[test]
fn openapi_yaml_declares_paths_methods_and_server_variables() {
    let mut t = Templater::default();
    // One base path (two servers agree), three operations.
    assert_eq!(t.import_openapi(None, PETSTORE_YAML), Ok(2));
    let got = t.classify("any.test", &Method::PATCH, "/api/v2/pets/tom", Some(204));
    assert_eq!(&*got.template, "/api/v2/pets/{petId}");
    assert!(got.declared && !got.shadow);
    assert!(
        !t.classify("any.test", &Method::DELETE, "/api/v2/pets/tom", Some(204))
            .declared
    );
    // Importing again adds nothing new.
    assert_eq!(t.import_openapi(None, PETSTORE_YAML), Ok(2));
    assert_eq!(t.stats().declared, 2);
}

#[test]
fn swagger_two_base_path_is_read() {
    let mut t = Templater::default();
    let doc = "swagger: '2.0'\nbasePath: /legacy\npaths:\n  /items/{id}:\n    get: {}\n";
    assert_eq!(t.import_openapi(None, doc), Ok(1));
    assert_eq!(learned(&mut t, "/legacy/items/9"), "/legacy/items/{id}");
}

#[test]
fn openapi_errors_name_the_problem_and_declare_nothing() {
    let mut t = Templater::default();
    let table = [
        ("{ \"openapi\": \"3.0.0\", \"paths\": [ }", "JSON"),
        ("openapi: 3.0.0\npaths: [unclosed\n", "YAML"),
        ("info: {}\npaths: {}\n", "no `openapi"),
        ("openapi: 4.0.0\npaths: {}\n", "unsupported version"),
        (
            "openapi: 3.0.0\npaths:\n  /ok: { get: {} }\n  /bad/{: { get: {} }\n",
            "/bad/{",
        ),
        ("openapi: 3.0.0\npaths:\n  /x: 7\n", "paths./x"),
    ];
    for (doc, needle) in table {
        let err = t.import_openapi(None, doc).unwrap_err().to_string();
        assert!(err.contains(needle), "{doc:?}: {err}");
    }
    assert_eq!(t.stats().declared, 0);
    assert!(!t.classify("a.test", GET, "/zzz", Some(200)).shadow);
}

#[test]
fn shadow_flags_undocumented_answered_calls() {
    let mut t = Templater::default();
    t.import_openapi(Some("pets.test"), PETSTORE_JSON).unwrap();
    t.declare(None, None, "/internal/{thing}").unwrap();
    let table = [
        (GET, "/v1/pets/1", Some(200), false),
        (GET, "/v1/pets/1", Some(500), false),
        (GET, "/v1/admin/export", Some(200), true),
        (GET, "/v1/admin/export", Some(302), true),
        (GET, "/v1/admin/export", Some(401), true),
        (GET, "/v1/admin/export", Some(503), true),
        (GET, "/v1/admin/export", Some(404), false),
        (GET, "/v1/admin/export", Some(405), false),
        (GET, "/v1/admin/export", None, false),
        (&Method::PUT, "/v1/pets/1", Some(200), true),
        // Declared in config, yet undocumented.
        (GET, "/internal/debug", Some(200), true),
    ];
    for (method, path, status, want) in table {
        let got = t.classify("pets.test", method, path, status);
        assert_eq!(got.shadow, want, "{method} {path} {status:?}");
    }
    // A host without a document has no shadow endpoints.
    assert!(
        !t.classify("other.test", GET, "/v1/admin/export", Some(200))
            .shadow
    );
}
