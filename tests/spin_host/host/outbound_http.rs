//! Outbound HTTP (`wasi:http/client@0.3.0-rc-2026-03-15#send`, spin-sdk 6's
//! `spin_sdk::http::send`) with Spin 4.0.2's rules for WASIp3 components
//! (`crates/factor-outbound-http/src/wasi.rs`, `impl p3::WasiHttpHooks`):
//!
//! 1. The URL is checked against the component's `allowed_outbound_hosts`
//!    (`outbound_hosts.rs`); a URL that is not allowed, or entries that do not resolve
//!    to valid ones, give `http-request-denied`. A request to the app itself (no
//!    authority, or the host `self.alt`) is checked against `self` entries and, when
//!    allowed, fails with `http-request-uri-invalid`: Spin 4.0.2 sets no self-request
//!    origin for WASIp3 instances (fixed only after the release).
//! 2. With `[outbound_networking] block_networks` in the runtime configuration
//!    (`blocked_networks.rs`), the host name is resolved and the blocked addresses are
//!    dropped; if that drops all of them, `destination-ip-prohibited`. A failed lookup
//!    is `dns-error("address not available")`.
//! 3. The request goes out through wasmtime-wasi-http's `default_send_request`: plain
//!    HTTP/1.1, or TLS with the webpki roots for `https`. Its errors match Spin's
//!    (`connection-refused`, `connection-timeout`, `connection-read-timeout`,
//!    `tls-protocol-error`, `dns-error`), and it applies the guest's `request-options`
//!    timeouts (connect, first byte, between bytes) with Spin's default of 600 s each.
//!
//! Like Spin's hooks, the `Host` header is the URL's host plus any non-default port
//! (Spin's HTTP client sets it so), not wasmtime's copy of the authority.
//!
//! Where this differs from Spin: no connection pooling (a connection per request; the
//! peer sees the same requests), and when `block_networks` drops only some of a name's
//! addresses, Spin connects to the others in turn while this host sends a plain-HTTP
//! request to the first of them only, and refuses an `https` one with
//! `destination-ip-prohibited` (connecting by name could reach a blocked address, and
//! connecting by address would fail TLS verification).
//!
//! Like Spin, the request (and the connection driving its response body) lives in the
//! instance's store: a request still running when the instance is dropped is dropped
//! with it, with no error reported anywhere (see `server.rs` on work after the
//! response).

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Bytes;
use hyper::header::{HOST, HeaderValue};
use hyper::http::uri::{Authority, Scheme};
use hyper::{Request, Response, Uri};
use wasmtime_wasi::TrappableError;
use wasmtime_wasi_http::p3::bindings::http::types::{DnsErrorPayload, ErrorCode};
use wasmtime_wasi_http::{p2, p3};

use super::blocked_networks::BlockedNetworks;
use super::outbound_hosts::AllowedOutboundHosts;
use super::variables::Variables;

/// The body of outgoing requests and incoming responses in p3's hooks.
type P3Body = UnsyncBoxBody<Bytes, ErrorCode>;

/// A future reporting an error of the request or response processing, if any.
type DoneFuture = Box<dyn Future<Output = Result<(), ErrorCode>> + Send>;

/// What p3's `send_request` hook resolves to.
type P3SendResult = Result<(Response<P3Body>, DoneFuture), TrappableError<ErrorCode>>;

/// One instance's wasi:http hooks: where its component may send requests.
pub struct OutboundHttp {
    allowed_hosts: AllowedOutboundHosts,
    variables: Arc<Variables>,
    blocked_networks: BlockedNetworks,
}

impl OutboundHttp {
    /// Hooks allowing what `allowed_hosts` (templates resolved with `variables`) allows,
    /// except `blocked_networks`.
    pub fn new(
        allowed_hosts: AllowedOutboundHosts,
        variables: Arc<Variables>,
        blocked_networks: BlockedNetworks,
    ) -> Self {
        Self {
            allowed_hosts,
            variables,
            blocked_networks,
        }
    }

    /// Spin's `allowed_outbound_hosts` check of a request to `uri` (wasi.rs,
    /// `RequestSender::prepare_request`).
    fn check_allowed(&self, uri: &Uri) -> Result<(), ErrorCode> {
        let is_self_request = uri
            .authority()
            .is_none_or(|authority| authority.host().is_empty() || authority.host() == "self.alt");
        let allowed = if is_self_request {
            (self.allowed_hosts).allows_relative_url(&self.variables, &["http", "https"])
        } else {
            (self.allowed_hosts).allows_url(&self.variables, &uri.to_string(), "https")
        };
        // Entries that do not resolve to valid ones allow nothing (Spin logs the error).
        if !allowed.unwrap_or(false) {
            return Err(ErrorCode::HttpRequestDenied);
        }
        if is_self_request {
            // Spin 4.0.2's WASIp3 instances have no self-request origin to send it to.
            return Err(ErrorCode::HttpRequestUriInvalid);
        }
        Ok(())
    }
}

impl p3::WasiHttpHooks for OutboundHttp {
    fn set_host_header(&mut self) -> bool {
        // `send_request` sets it as Spin's HTTP client does.
        false
    }

    fn send_request(
        &mut self,
        mut request: Request<P3Body>,
        options: Option<p3::RequestOptions>,
        response_done: DoneFuture,
    ) -> Box<dyn Future<Output = P3SendResult> + Send> {
        // The guest's report on consuming the response: like Spin, nothing can be done
        // with it here.
        drop(response_done);
        let allowed = self.check_allowed(request.uri());
        let blocked_networks = self.blocked_networks.clone();
        Box::new(async move {
            allowed?;
            set_host_header(&mut request)?;
            let request = avoid_blocked_networks(request, &blocked_networks).await?;
            let (response, io) = p3::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as DoneFuture,
            ))
        })
    }
}

/// WASI 0.2 (spin-sdk 5) components get no outbound HTTP from the test host: none of the
/// app's components is one any more, so every request is refused as Spin refuses one
/// that `allowed_outbound_hosts` does not allow.
impl p2::WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        _request: Request<p2::body::HyperOutgoingBody>,
        _config: p2::types::OutgoingRequestConfig,
    ) -> p2::HttpResult<p2::types::HostFutureIncomingResponse> {
        Err(p2::bindings::http::types::ErrorCode::HttpRequestDenied.into())
    }
}

/// Sets `Host` to the URL's host and its port unless it is the scheme's default, as
/// hyper-util's client (Spin's) does after Spin removed the header.
fn set_host_header<B>(request: &mut Request<B>) -> Result<(), ErrorCode> {
    let uri = request.uri();
    let host = uri.host().ok_or(ErrorCode::HttpRequestUriInvalid)?;
    let default_port = match uri.scheme() {
        Some(scheme) if *scheme == Scheme::HTTPS => 443,
        _ => 80,
    };
    let value = match uri.port_u16() {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    let value = HeaderValue::try_from(value).map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
    request.headers_mut().insert(HOST, value);
    Ok(())
}

/// Applies `block_networks` to `request`'s host: resolves it as Spin does and fails when
/// every address is blocked. When only some are, the request is pinned to the first
/// address left (plain HTTP) or refused (`https`); see the module doc.
async fn avoid_blocked_networks<B>(
    mut request: Request<B>,
    blocked_networks: &BlockedNetworks,
) -> Result<Request<B>, ErrorCode> {
    if blocked_networks.is_empty() {
        return Ok(request);
    }
    let uri = request.uri();
    let authority = uri.authority().ok_or(ErrorCode::HttpRequestUriInvalid)?;
    let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
    let host_and_port = match authority.port() {
        Some(_) => authority.as_str().to_owned(),
        None => format!("{}:{}", authority.as_str(), if use_tls { 443 } else { 80 }),
    };
    let mut addresses: Vec<SocketAddr> = tokio::net::lookup_host(&host_and_port)
        .await
        .map_err(|_| dns_error("address not available"))?
        .collect();
    let blocked = blocked_networks.remove_blocked(&mut addresses);
    if blocked.is_empty() {
        return Ok(request);
    }
    let Some(permitted) = addresses.first() else {
        return Err(ErrorCode::DestinationIpProhibited);
    };
    if use_tls {
        return Err(ErrorCode::DestinationIpProhibited);
    }
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(
        Authority::try_from(permitted.to_string()).map_err(|_| ErrorCode::HttpRequestUriInvalid)?,
    );
    *request.uri_mut() = Uri::from_parts(parts).map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
    Ok(request)
}

/// Spin's DNS error.
fn dns_error(rcode: &str) -> ErrorCode {
    ErrorCode::DnsError(DnsErrorPayload {
        rcode: Some(rcode.to_owned()),
        info_code: Some(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::outbound_hosts::tests::load_app;

    fn request(uri: &str) -> Request<()> {
        Request::builder().uri(uri).body(()).unwrap()
    }

    fn blocking(toml: &str) -> BlockedNetworks {
        let table: toml::Table = toml.parse().unwrap();
        BlockedNetworks::parse(&table["outbound_networking"]).unwrap()
    }

    #[test]
    fn requests_are_checked_against_allowed_outbound_hosts_as_in_spin() {
        let (hosts, variables) =
            load_app("", &["http://127.0.0.1:3000", "https://*.example.com"], &[]).unwrap();
        let hooks = OutboundHttp::new(hosts, Arc::new(variables), BlockedNetworks::default());
        let check = |uri: &str| format!("{:?}", hooks.check_allowed(&uri.parse().unwrap()));

        assert_eq!(check("http://127.0.0.1:3000/hook"), "Ok(())");
        assert_eq!(check("https://hooks.example.com/x?y=1"), "Ok(())");
        for denied in [
            "http://localhost:3000/hook",
            "http://127.0.0.1:3001/hook",
            "https://127.0.0.1:3000/hook",
            "https://example.com/",
            "http://self.alt/hook",
            "/hook",
        ] {
            assert_eq!(
                check(denied),
                "Err(ErrorCode::HttpRequestDenied)",
                "{denied}"
            );
        }
    }

    #[test]
    fn an_allowed_self_request_fails_as_in_spin_4_0_2() {
        let (hosts, variables) = load_app("", &["http://self"], &[]).unwrap();
        let hooks = OutboundHttp::new(hosts, Arc::new(variables), BlockedNetworks::default());
        let check = |uri: &str| format!("{:?}", hooks.check_allowed(&uri.parse().unwrap()));

        assert_eq!(
            check("http://self.alt/hook"),
            "Err(ErrorCode::HttpRequestUriInvalid)"
        );
        assert_eq!(check("/hook"), "Err(ErrorCode::HttpRequestUriInvalid)");
        assert_eq!(
            check("http://self/hook"),
            "Err(ErrorCode::HttpRequestDenied)"
        );
    }

    #[test]
    fn the_host_header_carries_only_a_non_default_port() {
        let cases = [
            ("http://example.com/x", "example.com"),
            ("http://example.com:80/x", "example.com"),
            ("http://example.com:443/x", "example.com:443"),
            ("https://example.com:443/x", "example.com"),
            ("https://example.com:8443/x", "example.com:8443"),
            ("http://127.0.0.1:3000/hook", "127.0.0.1:3000"),
            ("http://[::1]:3000/hook", "[::1]:3000"),
        ];
        for (uri, host) in cases {
            let mut request = request(uri);
            set_host_header(&mut request).unwrap();
            assert_eq!(request.headers()[HOST], host, "{uri}");
        }
    }

    #[tokio::test]
    async fn a_host_whose_addresses_are_all_blocked_is_prohibited() {
        let blocked = blocking("[outbound_networking]\nblock_networks = [\"private\"]");
        for uri in [
            "http://127.0.0.1:3000/hook",
            "http://localhost:3000/hook",
            "https://[::1]/hook",
            "http://10.1.2.3/",
        ] {
            let result = avoid_blocked_networks(request(uri), &blocked).await;
            assert!(
                matches!(result, Err(ErrorCode::DestinationIpProhibited)),
                "{uri}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_host_with_no_blocked_address_is_sent_unchanged() {
        let blocked = blocking("[outbound_networking]\nblock_networks = [\"1.1.1.1/32\"]");
        for uri in ["http://127.0.0.1:3000/hook", "http://localhost:3000/hook"] {
            let sent = avoid_blocked_networks(request(uri), &blocked)
                .await
                .unwrap();
            assert_eq!(sent.uri(), uri);
        }
        let nothing_blocked = BlockedNetworks::default();
        let sent = avoid_blocked_networks(request("http://localhost:1/"), &nothing_blocked)
            .await
            .unwrap();
        assert_eq!(sent.uri(), "http://localhost:1/");
    }

    #[tokio::test]
    async fn a_plain_http_request_is_pinned_to_an_address_left_unblocked() {
        let blocked = blocking("[outbound_networking]\nblock_networks = [\"::1\"]");
        // `localhost` resolves to 127.0.0.1 and usually also ::1.
        let sent = avoid_blocked_networks(request("http://localhost:3000/hook?x=1"), &blocked)
            .await
            .unwrap();
        let uri = sent.uri().to_string();
        assert!(
            uri == "http://127.0.0.1:3000/hook?x=1" || uri == "http://localhost:3000/hook?x=1",
            "{uri}"
        );
    }

    #[tokio::test]
    async fn a_host_that_does_not_resolve_is_a_dns_error() {
        let blocked = blocking("[outbound_networking]\nblock_networks = [\"private\"]");
        let result =
            avoid_blocked_networks(request("http://no-such-host.invalid/"), &blocked).await;
        assert!(
            matches!(
                &result,
                Err(ErrorCode::DnsError(DnsErrorPayload { rcode: Some(rcode), .. }))
                    if rcode == "address not available"
            ),
            "{result:?}"
        );
    }
}
