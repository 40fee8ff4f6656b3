//! The web UI's files, compiled into the binary and served with a strict CSP.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// One embedded file.
pub(crate) struct Asset {
    /// Where it is served.
    pub(crate) path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every embedded file. Scripts and styles are files of their own: the CSP forbids inline ones.
pub(crate) const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: HTML,
        body: include_str!("../assets/index.html"),
    },
    Asset {
        path: "/index.html",
        content_type: HTML,
        body: include_str!("../assets/index.html"),
    },
    Asset {
        path: "/login",
        content_type: HTML,
        body: include_str!("../assets/login.html"),
    },
    Asset {
        path: "/style.css",
        content_type: CSS,
        body: include_str!("../assets/style.css"),
    },
    Asset {
        path: "/js/app.js",
        content_type: JS,
        body: include_str!("../assets/js/app.js"),
    },
    Asset {
        path: "/js/dom.js",
        content_type: JS,
        body: include_str!("../assets/js/dom.js"),
    },
    Asset {
        path: "/js/graph.js",
        content_type: JS,
        body: include_str!("../assets/js/graph.js"),
    },
    Asset {
        path: "/js/details.js",
        content_type: JS,
        body: include_str!("../assets/js/details.js"),
    },
    Asset {
        path: "/js/views.js",
        content_type: JS,
        body: include_str!("../assets/js/views.js"),
    },
    Asset {
        path: "/js/fleet.js",
        content_type: JS,
        body: include_str!("../assets/js/fleet.js"),
    },
    Asset {
        path: "/js/login.js",
        content_type: JS,
        body: include_str!("../assets/js/login.js"),
    },
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

impl Asset {
    /// The media type it is served as, without parameters.
    pub(crate) fn media_type(&self) -> &'static str {
        self.content_type
            .split(';')
            .next()
            .unwrap_or(self.content_type)
    }
}

/// The asset served at `path`, if any.
pub(crate) fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The response for an asset, with security headers.
pub(crate) fn serve(asset: &Asset) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(asset.body.as_bytes())));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Whether an asset is an HTML page (the OpenAPI document lists pages and files apart).
pub(crate) fn is_page(asset: &Asset) -> bool {
    asset.content_type == HTML
}
