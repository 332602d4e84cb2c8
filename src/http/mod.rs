//! HTTP plumbing shared by every route: strict extractors, conditional requests, lists and
//! exports' paging, the guarded front door, rate budgets and metrics.

pub mod conditional;
pub mod cursor;
pub mod extract;
pub mod front;
pub mod list;
pub mod metrics;
pub mod path;
pub mod ratelimit;
pub mod search;
pub mod spool;

pub use conditional::{
    IfMatch, OptionalIfMatch, conditional_json, content_etag, if_match, if_none_match, version_etag,
};
pub use extract::{
    JSON_BODY_LIMIT, Json, Lenient, Query, body_idle_timeout, find_nul, from_value, is_json,
    json_error, merge_member, path_error, payload_error, read_body,
};
pub use path::{ExternalPath, PathKey, path_parameter, segment, uuid_parameter, uuid_segments};

use actix_web::HttpRequest;

/// `text` made safe inside HTML text and quoted attributes (`&`, `<`, `>`, `"`, `'`), appended
/// to `out`.
pub fn escape_html_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `text` made safe inside HTML (see [`escape_html_into`]).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_html_into(&mut out, text);
    out
}

/// The address a request comes from: the peer, or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not one of the trusted proxies.
pub fn client_address(req: &HttpRequest, trusted: &[crate::config::IpNet]) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".to_owned();
    };
    if !trusted.iter().any(|net| net.contains(peer)) {
        return peer.to_string();
    }
    let forwarded: Vec<std::net::IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.iter().any(|net| net.contains(*ip)))
        .unwrap_or(peer)
        .to_string()
}

/// Where clients reach this service, for the absolute links it hands out (a report link): the
/// configured `SAMVERKAN_PUBLIC_URL`, else the scheme and host of the request (behind a proxy,
/// from `Forwarded` or `X-Forwarded-Host`/`-Proto`).
#[derive(Debug, Clone, Default)]
pub struct PublicUrl(pub Option<String>);

impl PublicUrl {
    /// The base URL, without a trailing `/`.
    pub fn base(&self, req: &actix_web::HttpRequest) -> String {
        match &self.0 {
            Some(url) => url.clone(),
            None => {
                let info = req.connection_info();
                format!("{}://{}", info.scheme(), info.host())
            }
        }
    }
}
