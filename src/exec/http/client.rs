//! One target's requests: where its host is reached, its keep-alive connections (plain or TLS),
//! and one request's answer as counted.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Uri};

use super::stats::Answer;
use crate::runbook::http::{HttpCheck, Status, StatusItem, has_userinfo, masked_url};

/// Where a host is reached instead of resolving it (a rehearsal's: the sandbox's traffic port,
/// spoken to in plain HTTP).
pub type Resolver = Arc<dyn Fn(&str) -> Option<SocketAddr> + Send + Sync>;

/// The most of a body read to check it; the rest is not read.
const BODY_LIMIT: usize = 1 << 20;

/// What the requests are, checked once before the first is sent.
pub struct Plan {
    pub method: Method,
    pub uri: Uri,
    /// `host[:port]` as the URL has it: the `Host` header.
    pub authority: String,
    pub host: String,
    pub headers: hyper::HeaderMap,
    pub expect: Vec<Status>,
    pub body_contains: Option<String>,
    pub requests: u64,
    pub interval: Option<Duration>,
    pub timeout: Duration,
    pub max_error_rate: f64,
    pub max_p95: Option<Duration>,
}

fn duration(field: &str, v: &Option<String>) -> Result<Option<Duration>, String> {
    v.as_deref()
        .map(|d| {
            crate::runbook::vars::parse_duration(d)
                .map_err(|e| format!("`http.check` {field}: {e}"))
        })
        .transpose()
}

impl Plan {
    /// The plan of a filled `http.check`, or why it cannot be sent. Never names a header's value.
    pub fn of(c: &HttpCheck) -> Result<Plan, String> {
        // Credentials in the URL are never sent in the `Host` header nor shown: refused, masked.
        let shown = masked_url(c.url.trim());
        if has_userinfo(c.url.trim()) {
            return Err(format!(
                "`{shown}` holds credentials: put them in a header (`Authorization: Basic {{{{ secret }}}}`)"
            ));
        }
        let uri: Uri = c
            .url
            .trim()
            .parse()
            .map_err(|_| format!("`{shown}` is not a URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!("`{shown}` is not an http:// or https:// URL"));
        }
        let host = uri
            .host()
            .ok_or_else(|| format!("`{shown}` has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| host.clone());
        let method_text = c.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        let method = Method::from_bytes(method_text.as_bytes())
            .map_err(|_| format!("`{method_text}` is not an HTTP method"))?;
        let mut headers = hyper::HeaderMap::new();
        for (name, value) in &c.headers {
            let n = hyper::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("header name `{name}` is not valid"))?;
            // The value may be a secret: the error names the header only.
            let v = hyper::header::HeaderValue::from_str(value)
                .map_err(|_| format!("the value of header `{name}` is not a valid header value"))?;
            headers.append(n, v);
        }
        let expect = match &c.expect_status {
            None => vec![Status::Code(200)],
            Some(e) => e
                .items()
                .into_iter()
                .map(StatusItem::parse)
                .collect::<Result<Vec<_>, _>>()?,
        };
        let requests = match &c.requests {
            None => 1,
            Some(n) => match n.value("requests")? {
                n @ 1..=1_000_000 => n as u64,
                n => return Err(format!("requests must be 1 to 1,000,000, not {n}")),
            },
        };
        let max_error_rate = match &c.max_error_rate {
            None => 0.0,
            Some(m) => match m.value("max_error_rate")? {
                r if (0.0..=100.0).contains(&r) => r,
                r => {
                    return Err(format!("max_error_rate is a percentage, 0 to 100, not {r}"));
                }
            },
        };
        Ok(Plan {
            method,
            uri,
            authority,
            host,
            headers,
            expect,
            body_contains: c.body_contains.clone().filter(|b| !b.is_empty()),
            requests,
            interval: duration("interval", &c.interval)?.filter(|d| !d.is_zero()),
            timeout: duration("timeout", &c.timeout)?
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(10)),
            max_error_rate,
            max_p95: duration("max_p95", &c.max_p95)?,
        })
    }
}

/// Where the requests go: an address, and whether TLS is spoken there.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// Where `plan`'s host is reached: the executor's resolver (plain HTTP), the step's `resolve`,
/// else the system's resolver.
pub async fn endpoint(
    plan: &Plan,
    check: &HttpCheck,
    resolver: Option<&Resolver>,
) -> Result<Endpoint, String> {
    let https = plan.uri.scheme_str() == Some("https");
    if let Some(addr) = resolver.and_then(|r| r(&plan.host)) {
        return Ok(Endpoint { addr, tls: false });
    }
    if let Some((_, to)) = check
        .resolve
        .iter()
        .find(|(h, _)| h.trim().eq_ignore_ascii_case(&plan.host))
    {
        let addr = to
            .trim()
            .parse()
            .map_err(|_| format!("resolve {}: `{to}` is not an address and port", plan.host))?;
        return Ok(Endpoint { addr, tls: https });
    }
    let port = plan.uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let mut addrs = tokio::net::lookup_host((plan.host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", plan.host))?;
    let addr = addrs
        .next()
        .ok_or_else(|| format!("cannot resolve {}: no address", plan.host))?;
    Ok(Endpoint { addr, tls: https })
}

/// A TLS configuration with the system's roots, made once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| format!("TLS: {e}"))
        })
        .clone()
}

/// The few words of an I/O error (`connection refused`).
fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        std::io::ErrorKind::TimedOut => "connect timed out".into(),
        _ => crate::text::one_line(&e.to_string()),
    }
}

/// Keep-alive connections to one endpoint, reused between requests.
pub struct Client {
    pub endpoint: Endpoint,
    server_name: String,
    idle: Mutex<Vec<SendRequest<Empty<Bytes>>>>,
}

impl Client {
    pub fn new(endpoint: Endpoint, plan: &Plan) -> Client {
        Client {
            endpoint,
            server_name: plan.host.clone(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<SendRequest<Empty<Bytes>>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, String> {
        let stream = tokio::net::TcpStream::connect(self.endpoint.addr)
            .await
            .map_err(|e| io_words(&e))?;
        let _ = stream.set_nodelay(true);
        if self.endpoint.tls {
            let config = tls_config()?;
            let name = rustls::pki_types::ServerName::try_from(self.server_name.clone())
                .map_err(|_| format!("TLS: `{}` is not a server name", self.server_name))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS: {}", crate::text::one_line(&e.to_string())))?;
            let (send, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                    .await
                    .map_err(|e| crate::text::one_line(&e.to_string()))?;
            tokio::spawn(conn);
            Ok(send)
        } else {
            let (send, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| crate::text::one_line(&e.to_string()))?;
            tokio::spawn(conn);
            Ok(send)
        }
    }

    /// A connection ready for a request: an idle one, or a new one.
    async fn conn(&self) -> Result<SendRequest<Empty<Bytes>>, String> {
        loop {
            let Some(c) = self.idle().pop() else { break };
            if c.is_ready() {
                return Ok(c);
            }
        }
        self.connect().await
    }

    /// Sends one request and counts its answer.
    pub async fn request(&self, plan: &Plan) -> Answer {
        let mut conn = match self.conn().await {
            Ok(c) => c,
            Err(why) => return Answer::Failed(why),
        };
        let path = plan
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let mut req = Request::new(Empty::<Bytes>::new());
        *req.method_mut() = plan.method.clone();
        *req.uri_mut() = path.parse().unwrap_or_else(|_| Uri::from_static("/"));
        *req.headers_mut() = plan.headers.clone();
        if let Ok(h) = hyper::header::HeaderValue::from_str(&plan.authority) {
            req.headers_mut().insert(hyper::header::HOST, h);
        }
        let resp = match conn.send_request(req).await {
            Ok(r) => r,
            Err(e) => return Answer::Failed(crate::text::one_line(&e.to_string())),
        };
        let code = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut kept: Vec<u8> = Vec::new();
        let mut whole = true;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        if kept.len() + data.len() > BODY_LIMIT {
                            whole = false;
                            break;
                        }
                        kept.extend_from_slice(&data);
                    }
                }
                Err(e) => return Answer::Failed(crate::text::one_line(&e.to_string())),
            }
        }
        if whole && !conn.is_closed() {
            self.idle().push(conn);
        }
        let status_ok = plan.expect.iter().any(|s| s.matches(code));
        let (ok, why) = if !status_ok {
            (false, code.to_string())
        } else if let Some(want) = &plan.body_contains
            && !String::from_utf8_lossy(&kept).contains(want.as_str())
        {
            (false, format!("{code} without `{want}` in the body"))
        } else {
            (true, String::new())
        };
        Answer::Status { code, ok, why }
    }
}

/// Where a webhook's URL leads, as it may be shown: its scheme and host, the path (which often
/// holds the webhook's secret) and any credentials left out: `https://hooks.slack.com/…`.
pub fn shown_webhook(url: &str) -> String {
    match url.trim().parse::<Uri>() {
        Ok(u) if u.scheme_str().is_some() && u.host().is_some() => {
            let port = u.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}/…",
                u.scheme_str().unwrap_or_default(),
                u.host().unwrap_or_default()
            )
        }
        _ => "(a webhook URL)".to_string(),
    }
}

/// POSTs `body` (JSON) to `url` and returns the answer's status code, or why it was not
/// answered, all within `timeout`. Never names the URL beyond [`shown_webhook`] (it may hold a
/// secret). Plain HTTP or TLS with the system's roots, one connection, closed after.
pub async fn post_json(url: &str, body: String, timeout: Duration) -> Result<u16, String> {
    match tokio::time::timeout(timeout, post(url, body)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {}s", timeout.as_secs())),
    }
}

async fn post(url: &str, body: String) -> Result<u16, String> {
    let url = url.trim();
    if has_userinfo(url) {
        return Err("the URL holds credentials".into());
    }
    let uri: Uri = url.parse().map_err(|_| "not a URL".to_string())?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("not an http:// or https:// URL".into()),
    };
    let host = uri
        .host()
        .ok_or_else(|| "the URL has no host".to_string())?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| host.clone());
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {}", io_words(&e)))?
        .next()
        .ok_or_else(|| format!("cannot resolve {host}: no address"))?;
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| io_words(&e))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let mut req = Request::new(Full::new(Bytes::from(body)));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = path.parse().unwrap_or_else(|_| Uri::from_static("/"));
    let h = req.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&authority) {
        h.insert(hyper::header::HOST, v);
    }
    let words = |e: hyper::Error| crate::text::one_line(&e.to_string());
    let code = if https {
        let config = tls_config()?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| format!("TLS: `{host}` is not a server name"))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS: {}", crate::text::one_line(&e.to_string())))?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(words)?;
        tokio::spawn(conn);
        send.send_request(req).await.map_err(words)?.status()
    } else {
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(words)?;
        tokio::spawn(conn);
        send.send_request(req).await.map_err(words)?.status()
    };
    Ok(code.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::http::HttpAction;

    /// The check as a runbook gives it (as JSON), its `{{ var }}` filled with `value`.
    fn filled(json: &str, value: &str) -> HttpCheck {
        let c: HttpCheck = serde_json::from_str(json).expect("a check");
        let HttpAction::Check(c) = HttpAction::Check(c).filled(&|t| t.replace("{{ v }}", value));
        c
    }

    #[test]
    fn counts_and_thresholds_filled_from_variables_are_read_when_the_step_runs() {
        let both = r#"{"url": "http://app.example.com/", "requests": "{{ v }}", "max_error_rate": "{{ v }}"}"#;
        let p = Plan::of(&filled(both, "5")).unwrap();
        assert_eq!((p.requests, p.max_error_rate), (5, 5.0));
        let p = Plan::of(&filled(
            r#"{"url": "http://app.example.com/", "max_error_rate": "{{ v }}"}"#,
            "2.5",
        ))
        .unwrap();
        assert_eq!((p.requests, p.max_error_rate), (1, 2.5));
        assert_eq!(
            Plan::of(&filled(both, "lots")).err().as_deref(),
            Some("requests: `lots` is not a whole number")
        );
        assert_eq!(
            Plan::of(&filled(
                r#"{"url": "http://app.example.com/", "max_error_rate": "{{ v }}"}"#,
                "150"
            ))
            .err()
            .as_deref(),
            Some("max_error_rate is a percentage, 0 to 100, not 150")
        );
        assert_eq!(
            Plan::of(&filled(
                r#"{"url": "http://app.example.com/", "requests": "{{ v }}"}"#,
                "0"
            ))
            .err()
            .as_deref(),
            Some("requests must be 1 to 1,000,000, not 0")
        );
    }
}
