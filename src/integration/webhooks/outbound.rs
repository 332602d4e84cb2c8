//! Requests to the receivers' URLs, made safe: the host is resolved here and every address is
//! checked (loopback, private, link-local, metadata and other special addresses are refused
//! unless a configured network allows them), and the connection is made to the address that
//! was checked, so a DNS answer that changes between the check and the connection cannot send
//! a delivery inside. Redirects are not followed (a 3xx is a failed attempt), the whole attempt
//! has one deadline, and only the first kilobyte of an answer is read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::IpNet;

/// At most this much of an answer is read and kept.
pub const ANSWER_BYTES: usize = 1024;

/// At most this much of an answer's head (status line and headers) is read.
const HEAD_BYTES: usize = 16 * 1024;

/// What came of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The first kilobyte of the answer's body (lossy UTF-8).
    pub body: String,
    /// Why there is no usable answer (or what went wrong after the status).
    pub error: Option<String>,
    pub elapsed: Duration,
}

impl Answer {
    /// A 2xx answer.
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Makes the requests (one per attempt, on its own connection).
#[derive(Clone)]
pub struct Outbound {
    /// Networks whose addresses may be called although they are not public (and over plain
    /// HTTP): `SAMVERKAN_WEBHOOK_ALLOWED_NETWORKS`.
    allowed: Arc<Vec<IpNet>>,
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
}

impl Outbound {
    pub fn new(allowed: Vec<IpNet>, timeout: Duration) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // Only the ring provider's protocol versions can fail here, and they are its own.
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            });
        Self {
            allowed: Arc::new(allowed),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            timeout,
        }
    }

    /// Whether `ip` may be called: a public address, or one in an allowed network.
    pub fn permitted(&self, ip: IpAddr) -> bool {
        self.allowed.iter().any(|net| net.contains(ip)) || public(ip)
    }

    /// Whether plain `http://` URLs are accepted (only to allowed networks).
    pub fn allows_http(&self) -> bool {
        !self.allowed.is_empty()
    }

    /// POSTs `body` with `headers` to `url`, within the timeout.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Answer {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.attempt(url, headers, body)).await;
        let elapsed = started.elapsed();
        match result {
            Ok(Ok((status, body, error))) => Answer {
                status: Some(status),
                body,
                error,
                elapsed,
            },
            Ok(Err(error)) => Answer {
                status: None,
                body: String::new(),
                error: Some(error),
                elapsed,
            },
            Err(_) => Answer {
                status: None,
                body: String::new(),
                error: Some(format!("no answer within {} s", self.timeout.as_secs_f32())),
                elapsed,
            },
        }
    }

    async fn attempt(
        &self,
        raw: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<(u16, String, Option<String>), String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(format!("{other}: only https is called")),
        };
        let host = url.host().ok_or("the URL has no host")?;
        let port = url.port_or_known_default().ok_or("the URL has no port")?;
        let candidates: Vec<SocketAddr> = match &host {
            url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(*ip), port)],
            url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(*ip), port)],
            url::Host::Domain(name) => tokio::net::lookup_host((*name, port))
                .await
                .map_err(|e| format!("{name} cannot be resolved: {e}"))?
                .collect(),
        };
        let address = candidates
            .iter()
            .copied()
            .find(|a| self.permitted(a.ip()))
            .ok_or_else(|| {
                format!(
                    "refused: {} resolves only to addresses that are not public ({})",
                    host,
                    candidates
                        .iter()
                        .map(|a| a.ip().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        if !tls && !self.allowed.iter().any(|net| net.contains(address.ip())) {
            return Err("refused: plain http only to the allowed networks; use https".to_owned());
        }
        let stream = TcpStream::connect(address)
            .await
            .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let mut target = url.path().to_owned();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        let mut head = format!(
            "POST {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: Samverkan-Webhooks/1\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if tls {
            let name = match &host {
                url::Host::Domain(d) => rustls::pki_types::ServerName::try_from(d.to_string())
                    .map_err(|e| format!("{d}: {e}"))?,
                url::Host::Ipv4(ip) => rustls::pki_types::ServerName::from(IpAddr::V4(*ip)),
                url::Host::Ipv6(ip) => rustls::pki_types::ServerName::from(IpAddr::V6(*ip)),
            };
            let stream = self
                .tls
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?;
            exchange(stream, head.as_bytes(), body).await
        } else {
            exchange(stream, head.as_bytes(), body).await
        }
    }
}

/// Sends the request and reads the answer's status and the first kilobyte of its body.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: &[u8],
    body: &[u8],
) -> Result<(u16, String, Option<String>), String> {
    stream
        .write_all(head)
        .await
        .map_err(|e| format!("sending: {e}"))?;
    stream
        .write_all(body)
        .await
        .map_err(|e| format!("sending: {e}"))?;
    stream.flush().await.map_err(|e| format!("sending: {e}"))?;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    let end = loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            break end;
        }
        if buf.len() > HEAD_BYTES {
            return Err("the answer's head is too long".to_owned());
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        if n == 0 {
            return Err("the connection closed without an answer".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head
        .lines()
        .next()
        .and_then(|line| {
            let mut parts = line.split(' ');
            parts
                .next()
                .filter(|v| v.starts_with("HTTP/1."))
                .and(parts.next())
        })
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (100..600).contains(code))
        .ok_or_else(|| "the answer is not HTTP/1".to_owned())?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_ascii_lowercase())
        })
    };
    let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let mut body_bytes = buf[end + 4..].to_vec();
    let wanted = length.map_or(ANSWER_BYTES, |l| l.min(ANSWER_BYTES));
    // The rest of the kilobyte, if it comes; a slow or endless body does not hold the attempt
    // past its deadline, which keeps the status already read.
    let mut error = None;
    while body_bytes.len() < wanted + if chunked { 16 } else { 0 } {
        match stream.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => body_bytes.extend_from_slice(&chunk[..n]),
            Err(e) => {
                error = Some(format!("reading the answer's body: {e}"));
                break;
            }
        }
    }
    let body_bytes = if chunked {
        dechunk(&body_bytes)
    } else {
        body_bytes
    };
    let excerpt = &body_bytes[..body_bytes.len().min(ANSWER_BYTES)];
    Ok((status, String::from_utf8_lossy(excerpt).into_owned(), error))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The data of a chunked body, as far as it was read.
fn dechunk(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(line_end) = find(rest, b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size.filter(|s| *s > 0) else {
            break;
        };
        let data = &rest[line_end + 2..];
        out.extend_from_slice(&data[..size.min(data.len())]);
        if data.len() < size + 2 {
            break;
        }
        rest = &data[size + 2..];
    }
    out
}

/// Whether an address is a public unicast address: not loopback, private, link-local (where
/// cloud metadata services answer), shared (CGNAT), documentation, benchmarking, multicast,
/// reserved or unspecified; IPv4-mapped and NAT64 IPv6 addresses as their IPv4 address.
pub fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches IPv4 addresses: judge those.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let o = v6.octets();
                return public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1))
        }
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(
        ip.is_unspecified()
        || o[0] == 0 // "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, with the cloud metadata services
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || ip.is_documentation()
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || ip.is_multicast()
        || o[0] >= 240
        // reserved, broadcast
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn only_public_addresses_are_public() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
        ] {
            assert!(!public(ip(inside)), "{inside} is not public");
        }
        for outside in [
            "8.8.8.8",
            "193.45.2.1",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(ip(outside)), "{outside} is public");
        }
    }

    #[test]
    fn allowed_networks_open_their_addresses_and_plain_http() {
        let outbound = Outbound::new(
            vec!["127.0.0.1/32".parse().expect("net")],
            Duration::from_secs(1),
        );
        assert!(outbound.permitted(ip("127.0.0.1")));
        assert!(!outbound.permitted(ip("127.0.0.2")));
        assert!(outbound.allows_http());
        assert!(!Outbound::new(Vec::new(), Duration::from_secs(1)).allows_http());
    }

    #[test]
    fn a_chunked_body_is_read_as_its_data() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            b"hello world"
        );
        assert_eq!(dechunk(b"5\r\nhel"), b"hel");
    }

    #[tokio::test]
    async fn a_refused_address_is_never_connected_to() {
        let outbound = Outbound::new(Vec::new(), Duration::from_secs(2));
        let answer = outbound.post("http://127.0.0.1:9/hook", &[], b"{}").await;
        assert_eq!(answer.status, None);
        assert!(
            answer
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("refused")),
            "{answer:?}"
        );
        let answer = outbound
            .post("https://169.254.169.254/latest/meta-data", &[], b"{}")
            .await;
        assert!(
            answer
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("refused"))
        );
    }
}
