//! The HTTP client the webhook, Slack and Alertmanager sinks post through.

use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A client for one sink: plain HTTP, or HTTPS trusting `ca` (or the system roots).
#[derive(Clone, Debug)]
pub struct Poster {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Poster {
    /// A client with a per-attempt timeout.
    pub fn new(ca: Option<&std::path::Path>, timeout: Duration) -> Result<Poster, String> {
        let tls = sightline_certs::client_config(ca, &[]).map_err(|e| e.to_string())?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Poster { client, timeout })
    }

    /// POSTs a JSON body; any 2xx answer is a delivery.
    pub async fn post(
        &self,
        uri: &http::Uri,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> Result<(), String> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("sightline/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let attempt = async {
            let resp = self.client.request(req).await.map_err(|e| {
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg = format!("{msg}: {s}");
                    src = s.source();
                }
                msg
            })?;
            let status = resp.status();
            // Read the answer so the connection can be reused; its content does not matter.
            let _ = resp.into_body().collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("answered {status}"))
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}
