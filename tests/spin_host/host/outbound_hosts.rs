//! `allowed_outbound_hosts`, read and checked the way Spin 4.0.2 does it
//! (`crates/outbound-networking-config/src/allowed_hosts.rs`), for the outbound
//! connections the test host makes for a guest: PostgreSQL and HTTP(S).
//!
//! Spin checks the list twice, and so does this host:
//!
//! - When the app is loaded (`spin up` refuses to start): every entry must parse, and a
//!   templated entry (`"postgres://{{ database_host }}"`) whose variables all have
//!   defaults must parse once resolved with those defaults. A template whose variables
//!   have no default (required ones, or values given only by `--variable` or the
//!   environment) is not checked then.
//! - When an instance first checks an address: every entry is resolved with the
//!   variables' actual values and parsed again. If any entry fails to parse (e.g. a
//!   template that resolves to `postgres://`, an empty host), nothing is allowed: every
//!   check of the instance is an error, which `spin:postgres` reports as `other(..)` and
//!   outbound HTTP as `http-request-denied`.
//!
//! An entry is `<scheme>://<host>[:<port>]`: the scheme may be `*`; the host `*`,
//! `*.domain`, `self` (requests to the app itself), a name, an IP address or a CIDR
//! block; the port `*`, a number, a range `start..end` (end excluded) or nothing (the
//! scheme's default port: 5432, 80, 443, ...). Hosts match literally: `localhost` does
//! not allow `127.0.0.1`. An entry `*.spin.internal` stands for every component of the
//! app (`<id>.spin.internal`), as in Spin.
//!
//! The host makes only PostgreSQL and HTTP(S) connections, so an entry whose scheme is
//! anything else (`mysql`, `redis`, `tcp`, ...) is refused at load rather than silently
//! ignored; `*://` entries are accepted, as they cover those schemes too.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

use anyhow::{Context as _, bail, ensure};

use super::variables::{self, Resolved, Variables};

/// The scheme of `spin:postgres` addresses.
pub const POSTGRES_SCHEME: &str = "postgres";

/// The schemes the test host makes connections for; `*://` entries are accepted too.
const SUPPORTED_SCHEMES: &[&str] = &[POSTGRES_SCHEME, "http", "https"];

/// The domain suffix of Spin's service chaining (`http://<component>.spin.internal`).
const SERVICE_CHAINING_DOMAIN_SUFFIX: &str = ".spin.internal";

/// A component's `allowed_outbound_hosts` entries, as written (templates unresolved).
#[derive(Debug, Clone, Default)]
pub struct AllowedOutboundHosts {
    entries: Vec<String>,
    /// Every component id of the app, for `*.spin.internal`.
    component_ids: Arc<[String]>,
}

/// One parsed entry.
#[derive(Debug, Clone, PartialEq)]
struct AllowedHost {
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq)]
enum SchemePattern {
    Any,
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
enum HostPattern {
    Any,
    /// `*.domain`, kept as `.domain`.
    AnySubdomain(String),
    /// `self` or `self.alt`: requests to the app itself (relative URLs).
    ToSelf,
    Literal(url::Host),
    /// An IP address (a one-address block) or a CIDR block.
    Network(IpNetwork),
}

#[derive(Debug, Clone, PartialEq)]
enum PortPattern {
    Any,
    Port(u16),
    Range(Range<u16>),
}

/// An IP network (`10.0.0.0/8`, or one address), parsed like `ip_network`'s
/// `IpNetwork::from_str_truncate`, which Spin uses for CIDR hosts and blocked networks:
/// the host bits of the address are ignored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IpNetwork {
    address: IpAddr,
    prefix_len: u8,
}

impl AllowedOutboundHosts {
    /// Checks `entries` as `spin up` does when loading the app (see the module doc),
    /// with `app_variables`' defaults; then refuses, as the test host must, any entry
    /// whose scheme it makes no connections for. `component_ids` are every component
    /// of the app, which `*.spin.internal` stands for.
    pub fn load(
        entries: Vec<String>,
        app_variables: &BTreeMap<String, Option<String>>,
        component_ids: &[String],
    ) -> anyhow::Result<Self> {
        if entries.len() == 1 && entries[0] == "insecure:allow-all" {
            bail!(
                "'insecure:allow-all' is not allowed - use '*://*:*' instead if you really \
                 want to allow all outbound traffic'"
            );
        }
        for entry in &entries {
            let resolved = match variables::resolve_with_defaults(app_variables, entry)? {
                Resolved::Literal => Some(AllowedHost::parse(entry)?),
                Resolved::WithDefaults(resolved) => {
                    Some(AllowedHost::parse(&resolved).with_context(|| {
                        format!(
                            "using default variable value(s) with template {entry:?} results in \
                             invalid config {resolved:?}"
                        )
                    })?)
                }
                Resolved::NeedsProviders => None,
            };
            let scheme_is_supported = match &resolved {
                Some(host) => match &host.scheme {
                    SchemePattern::Any => true,
                    SchemePattern::Named(scheme) => SUPPORTED_SCHEMES.contains(&scheme.as_str()),
                },
                // Unresolved until an instance checks it: its literal start must say.
                None => {
                    let entry = entry.trim_start();
                    (SUPPORTED_SCHEMES.iter().chain(&["*"]))
                        .any(|scheme| entry.starts_with(&format!("{scheme}://")))
                }
            };
            if !scheme_is_supported {
                bail!(
                    "outbound connections other than PostgreSQL and HTTP(S) are not supported \
                     by the test host: allowed_outbound_hosts entry {entry:?} must start with \
                     postgres://, http://, https:// or *://"
                );
            }
        }
        Ok(Self {
            entries,
            component_ids: component_ids.into(),
        })
    }

    /// Whether a PostgreSQL connection to `host` (a name or IP address as the connection
    /// string gives it) on `port` (none: the default) is allowed, resolving templates
    /// with `variables` now. `Err` when an entry does not resolve to a valid one.
    pub fn allows_postgres(
        &self,
        variables: &Variables,
        host: &str,
        port: Option<u16>,
    ) -> anyhow::Result<bool> {
        // Spin parses "host[:port]" as a URL (prefixing the scheme when it is not one);
        // an address that does not parse is simply not allowed.
        let authority = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        self.allows_url(variables, &authority, POSTGRES_SCHEME)
    }

    /// Whether a request to `url` is allowed, as Spin's `OutboundAllowedHosts::check_url`
    /// decides: `url` is parsed as a URL, or as `<scheme>://<url>` when it is not one with
    /// a host, and is not allowed when neither parses. Templates are resolved with
    /// `variables` now; `Err` when an entry does not resolve to a valid one.
    pub fn allows_url(
        &self,
        variables: &Variables,
        url: &str,
        scheme: &str,
    ) -> anyhow::Result<bool> {
        let allowed = self.resolve(variables)?;
        let Some(url) = OutboundUrl::parse(url, scheme) else {
            return Ok(false);
        };
        Ok(allowed.iter().any(|entry| entry.allows(&url)))
    }

    /// Whether requests to the app itself (a relative URL, or the host `self.alt`) with
    /// any of `schemes` are allowed: an entry with the host `self`, `self.alt` or `*`.
    pub fn allows_relative_url(
        &self,
        variables: &Variables,
        schemes: &[&str],
    ) -> anyhow::Result<bool> {
        let allowed = self.resolve(variables)?;
        Ok(allowed.iter().any(|entry| entry.allows_relative(schemes)))
    }

    fn resolve(&self, variables: &Variables) -> anyhow::Result<Vec<AllowedHost>> {
        let mut allowed = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            let host = AllowedHost::parse(&variables.resolve_app_template(entry)?)?;
            allowed.extend(host.expand_service_chaining(&self.component_ids));
        }
        Ok(allowed)
    }
}

impl AllowedHost {
    /// Parses one entry; the messages are Spin's.
    fn parse(entry: &str) -> anyhow::Result<Self> {
        let url = entry.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            match url {
                "*" | ":" | "" | "?" => bail!(
                    "{url:?} is not an allowed outbound host format.\nHosts must be in the form \
                     <scheme>://<host>[:<port>], with '*' wildcards allowed for each.\nIf you \
                     intended to allow all outbound networking, you can use '*://*:*' - this \
                     will obviate all network sandboxing.\nLearn more: \
                     https://spinframework.dev/v3/http-outbound#granting-http-permissions-to-components"
                ),
                _ => bail!(
                    "{url:?} does not contain a scheme (e.g., 'http://' or '*://')\nLearn more: \
                     https://spinframework.dev/v3/http-outbound#granting-http-permissions-to-components"
                ),
            }
        };
        let (host, rest) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match rest.split_once('/') {
            Some((_, path)) if !path.is_empty() => {
                bail!("{url:?} has a path but is not allowed to")
            }
            Some((port, _)) => port,
            None => rest,
        };
        let port = PortPattern::parse(port, scheme)
            .with_context(|| format!("Invalid allowed host port {port:?}"))?;
        let scheme = SchemePattern::parse(scheme)
            .with_context(|| format!("Invalid allowed host scheme {scheme:?}"))?;
        let host =
            HostPattern::parse(host).with_context(|| format!("Invalid allowed host {host:?}"))?;
        Ok(Self { scheme, host, port })
    }

    fn allows(&self, url: &OutboundUrl) -> bool {
        self.scheme.allows(&url.scheme)
            && self.host.allows(&url.host)
            && self.port.allows(url.port, &url.scheme)
    }

    fn allows_relative(&self, schemes: &[&str]) -> bool {
        schemes.iter().any(|scheme| self.scheme.allows(scheme))
            && matches!(self.host, HostPattern::Any | HostPattern::ToSelf)
    }

    /// `*.spin.internal` becomes one literal entry per component of the app; any other
    /// entry stays as it is.
    fn expand_service_chaining(self, component_ids: &[String]) -> Vec<Self> {
        match &self.host {
            HostPattern::AnySubdomain(suffix) if suffix == SERVICE_CHAINING_DOMAIN_SUFFIX => {
                (component_ids.iter())
                    .map(|id| Self {
                        host: HostPattern::Literal(url::Host::Domain(format!(
                            "{id}{SERVICE_CHAINING_DOMAIN_SUFFIX}"
                        ))),
                        ..self.clone()
                    })
                    .collect()
            }
            _ => vec![self],
        }
    }
}

impl SchemePattern {
    fn parse(scheme: &str) -> anyhow::Result<Self> {
        if scheme == "*" {
            return Ok(Self::Any);
        }
        ensure!(!scheme.starts_with('{'), "scheme lists are not supported");
        ensure!(
            scheme.chars().all(char::is_alphabetic),
            "only alphabetic characters are allowed"
        );
        Ok(Self::Named(scheme.to_owned()))
    }

    fn allows(&self, scheme: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Named(named) => named == scheme,
        }
    }
}

impl HostPattern {
    fn parse(host: &str) -> anyhow::Result<Self> {
        let host = host.trim();
        if host == "*" {
            return Ok(Self::Any);
        }
        if host == "self" || host == "self.alt" {
            return Ok(Self::ToSelf);
        }
        if host.starts_with('{') {
            ensure!(host.ends_with('}'));
            bail!("host lists are not yet supported");
        }
        if let Some(network) = IpNetwork::parse(host) {
            return Ok(Self::Network(network));
        }
        let host = host.trim_end_matches('/');
        ensure!(!host.contains('/'), "must not include a path");
        if let Some(domain) = host.strip_prefix("*.") {
            ensure!(
                !domain.contains('*'),
                "wildcards are allowed only as prefixes"
            );
            return Ok(Self::AnySubdomain(format!(".{domain}")));
        }
        ensure!(
            !host.contains('*'),
            "wildcards are allowed only as subdomains"
        );
        Ok(Self::Literal(url::Host::parse(host)?))
    }

    fn allows(&self, host: &str) -> bool {
        let Ok(host) = url::Host::parse(host) else {
            return false;
        };
        match (self, host) {
            (Self::Any, _) => true,
            (Self::AnySubdomain(suffix), url::Host::Domain(domain)) => domain.ends_with(suffix),
            (Self::Literal(literal), host) => host == *literal,
            (Self::Network(network), url::Host::Ipv4(ip)) => network.contains(IpAddr::V4(ip)),
            (Self::Network(network), url::Host::Ipv6(ip)) => network.contains(IpAddr::V6(ip)),
            // `self` is only for relative URLs (`allows_relative`).
            (Self::AnySubdomain(_) | Self::Network(_) | Self::ToSelf, _) => false,
        }
    }
}

impl IpNetwork {
    /// `address` or `address/prefix`; `None` when `text` is neither.
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix_len) = match text.split_once('/') {
            Some((address, prefix)) => {
                (address.parse::<IpAddr>().ok()?, prefix.parse::<u8>().ok()?)
            }
            None => {
                let address = text.parse::<IpAddr>().ok()?;
                (address, max_prefix_len(address))
            }
        };
        if prefix_len > max_prefix_len(address) {
            return None;
        }
        Some(Self {
            address,
            prefix_len,
        })
    }

    /// Whether `ip` is in this network; an IPv4 network never contains an IPv6 address
    /// and vice versa.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (network, ip, bits) = match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => (
                u128::from(u32::from(network)),
                u128::from(u32::from(ip)),
                32,
            ),
            (IpAddr::V6(network), IpAddr::V6(ip)) => (u128::from(network), u128::from(ip), 128),
            _ => return false,
        };
        let host_bits = bits - u32::from(self.prefix_len);
        let mask = if host_bits >= 128 {
            0
        } else {
            (u128::MAX << host_bits) & (u128::MAX >> (128 - bits))
        };
        network & mask == ip & mask
    }
}

fn max_prefix_len(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl PortPattern {
    fn parse(port: &str, scheme: &str) -> anyhow::Result<Self> {
        if port.is_empty() {
            return well_known_port(scheme).map(Self::Port).with_context(|| {
                format!(
                    "no port was provided and the scheme {scheme:?} does not have a known \
                     default port number"
                )
            });
        }
        if port == "*" {
            return Ok(Self::Any);
        }
        ensure!(!port.starts_with('{'), "port lists are not yet supported");
        if let Some((start, end)) = port.split_once("..") {
            let start = start
                .parse()
                .with_context(|| format!("port range {port:?} contains non-number"))?;
            let end = end
                .parse()
                .with_context(|| format!("port range {port:?} contains non-number"))?;
            return Ok(Self::Range(start..end));
        }
        Ok(Self::Port(port.parse().with_context(|| {
            format!("port {port:?} is not a number")
        })?))
    }

    fn allows(&self, port: Option<u16>, scheme: &str) -> bool {
        let Some(port) = port.or_else(|| well_known_port(scheme)) else {
            return matches!(self, Self::Any);
        };
        match self {
            Self::Any => true,
            Self::Port(allowed) => *allowed == port,
            Self::Range(range) => range.contains(&port),
        }
    }
}

/// Spin's default ports by scheme.
fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// The address being checked, parsed like a URL.
struct OutboundUrl {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl OutboundUrl {
    /// `url` as a URL, or as `<scheme>://<url>` when it is not one with a host
    /// (`127.0.0.1:5432` is not). Like Spin, a user-info part before the host is
    /// percent-encoded first, so that any characters in it parse. A URL's default port
    /// (`http://h:80`) reads as no port, which then means the scheme's default.
    fn parse(url: &str, scheme: &str) -> Option<Self> {
        let url = encode_user_info(url);
        let url = match url::Url::parse(&url) {
            Ok(url) if url.has_host() => url,
            _ => url::Url::parse(&format!("{scheme}://{url}")).ok()?,
        };
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_owned(),
            port: url.port(),
        })
    }
}

/// `url` with everything between `://` (or the start) and the first `@` before the path
/// percent-encoded (all but ASCII letters, digits and `-_.~`), as Spin's `OutboundUrl`
/// does with the `urlencoding` crate.
fn encode_user_info(url: &str) -> String {
    let Some(at) = url.find('@') else {
        return url.to_owned();
    };
    let user_info_start = url.find("://").map_or(0, |end| end + 3);
    let path_start = url[user_info_start..]
        .find('/')
        .map_or(usize::MAX, |slash| slash + user_info_start);
    if at >= path_start || at < user_info_start {
        return url.to_owned();
    }
    let mut encoded = url[..user_info_start].to_owned();
    for byte in url[user_info_start..at].bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded.push_str(&url[at..]);
    encoded
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::host::manifest::App;

    fn allows(entry: &str, host: &str, port: Option<u16>) -> bool {
        let address = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        allows_url(entry, &address, POSTGRES_SCHEME)
    }

    fn allows_url(entry: &str, url: &str, default_scheme: &str) -> bool {
        let url = OutboundUrl::parse(url, default_scheme).expect("a parsable URL");
        AllowedHost::parse(entry)
            .expect("a valid entry")
            .allows(&url)
    }

    /// An app with one component `app` allowed `entries`, its variables given `provided`
    /// values, loaded as `start` loads it; the manifest's directory is removed again.
    pub(in crate::host) fn load_app(
        variables: &str,
        entries: &[&str],
        provided: &[(&str, &str)],
    ) -> anyhow::Result<(AllowedOutboundHosts, Variables)> {
        let dir = std::env::temp_dir().join(format!(
            "spin-host-outbound-hosts-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir)?;
        let manifest: PathBuf = dir.join("spin.toml");
        let entries = (entries.iter())
            .map(|entry| format!("{entry:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            &manifest,
            format!(
                r#"spin_manifest_version = 2
[application]
name = "outbound"
[variables]
{variables}
[[trigger.http]]
route = "/..."
component = "app"
[component.app]
source = "app.wasm"
allowed_outbound_hosts = [{entries}]
[component.other]
source = "other.wasm"
"#
            ),
        )?;
        let app = App::load(&manifest, None);
        let _ = std::fs::remove_dir_all(&dir);
        let app = app?;
        let component = &app.components[0];
        let provided: Vec<(String, String)> = (provided.iter())
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let variables = Variables::new(&app, component, &provided)?;
        Ok((component.allowed_outbound_hosts.clone(), variables))
    }

    #[test]
    fn postgres_entries_match_hosts_and_ports_as_in_spin() {
        let cases = [
            ("postgres://127.0.0.1:5433", "127.0.0.1", Some(5433), true),
            ("postgres://127.0.0.1:5433", "127.0.0.1", Some(5432), false),
            ("postgres://127.0.0.1", "127.0.0.1", None, true),
            ("postgres://127.0.0.1", "127.0.0.1", Some(5432), true),
            ("postgres://127.0.0.1", "127.0.0.1", Some(5433), false),
            ("postgres://localhost:*", "localhost", Some(1), true),
            ("postgres://LocalHost:5432", "localhost", None, true),
            (
                "postgres://*.example.com:5432",
                "db.example.com",
                None,
                true,
            ),
            ("postgres://*.example.com:5432", "example.com", None, false),
            ("postgres://10.0.0.0/8:5432", "10.1.2.3", None, true),
            ("postgres://10.0.0.0/8:5432", "11.1.2.3", None, false),
            ("postgres://*:5400..5500", "db", Some(5499), true),
            ("postgres://*:5400..5500", "db", Some(5500), false),
            ("postgres://self", "localhost", None, false),
            ("http://127.0.0.1:5432", "127.0.0.1", Some(5432), false),
        ];
        for (entry, host, port, expected) in cases {
            assert_eq!(
                allows(entry, host, port),
                expected,
                "{entry} vs {host}:{port:?}"
            );
        }
    }

    #[test]
    fn http_entries_match_urls_as_in_spin() {
        let cases = [
            // No port in the entry: only the scheme's default port.
            ("http://example.com", "http://example.com/hook", true),
            ("http://example.com", "http://example.com:80/hook", true),
            ("http://example.com", "http://example.com:8080/hook", false),
            ("http://example.com", "https://example.com/hook", false),
            ("https://example.com", "https://example.com/", true),
            ("https://example.com", "https://example.com:443/", true),
            ("https://example.com", "https://example.com:8443/", false),
            ("https://example.com", "http://example.com:443/", false),
            // Hosts match literally.
            ("http://localhost:3000", "http://localhost:3000/", true),
            ("http://localhost:3000", "http://127.0.0.1:3000/", false),
            ("http://127.0.0.1:3000", "http://localhost:3000/", false),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000/x?y=1", true),
            ("http://127.0.0.1", "http://127.0.0.1:3000/", false),
            ("http://Example.COM", "http://example.com/", true),
            ("http://[::1]:3000", "http://[::1]:3000/", true),
            ("http://[::1]:3000", "http://127.0.0.1:3000/", false),
            // Wildcards.
            ("https://*", "https://anything.example/", true),
            ("https://*", "https://anything.example:8443/", false),
            ("https://*:*", "https://anything.example:8443/", true),
            ("https://*", "http://anything.example/", false),
            ("*://example.com:*", "http://example.com/", true),
            ("*://example.com:*", "https://example.com:8443/", true),
            ("*://example.com:443", "http://example.com:443/", true),
            ("*://example.com:443", "https://example.com:80/", false),
            ("*://*:*", "http://10.1.2.3:1234/", true),
            ("http://*.example.com", "http://hooks.example.com/", true),
            ("http://*.example.com", "http://a.b.example.com/", true),
            ("http://*.example.com", "http://example.com/", false),
            ("http://*.example.com", "http://badexample.com/", false),
            ("http://*.example.com", "http://10.0.0.1/", false),
            // Ports and port ranges.
            ("http://127.0.0.1:*", "http://127.0.0.1:49152/", true),
            ("http://127.0.0.1:*", "http://127.0.0.1/", true),
            (
                "http://127.0.0.1:3000..3002",
                "http://127.0.0.1:3001/",
                true,
            ),
            (
                "http://127.0.0.1:3000..3002",
                "http://127.0.0.1:3002/",
                false,
            ),
            (
                "http://127.0.0.1:3000..3002",
                "http://127.0.0.1:2999/",
                false,
            ),
            // CIDR blocks.
            ("http://127.0.0.0/8:*", "http://127.1.2.3:9/", true),
            ("http://127.0.0.0/8:*", "http://localhost:9/", false),
            ("http://10.0.0.0/8", "http://11.0.0.1/", false),
            // `self` is only for relative URLs.
            ("http://self", "http://self/", false),
            ("http://self", "http://127.0.0.1/", false),
        ];
        for (entry, url, expected) in cases {
            assert_eq!(
                allows_url(entry, url, "https"),
                expected,
                "{entry} vs {url}"
            );
        }
    }

    #[test]
    fn a_url_without_a_scheme_is_checked_with_the_default_scheme() {
        assert!(allows_url(
            "https://example.com",
            "example.com/path",
            "https"
        ));
        assert!(!allows_url("http://example.com", "example.com", "https"));
        assert!(allows_url(
            "https://example.com",
            "https://user:p%40ss@example.com/",
            "https"
        ));
        assert!(OutboundUrl::parse("", "https").is_none());
    }

    #[test]
    fn relative_urls_need_a_self_or_any_host() {
        let relative = |entry: &str| {
            AllowedHost::parse(entry)
                .expect("a valid entry")
                .allows_relative(&["http", "https"])
        };
        assert!(relative("http://self"));
        assert!(relative("https://self.alt"));
        assert!(relative("*://*:*"));
        assert!(relative("http://*"));
        assert!(!relative("http://localhost"));
        assert!(!relative("postgres://self"));
    }

    #[test]
    fn invalid_entries_are_refused_with_spins_messages() {
        let cases = [
            ("postgres://", "Invalid allowed host \"\""),
            (
                "127.0.0.1:5432",
                "does not contain a scheme (e.g., 'http://' or '*://')",
            ),
            ("*", "\"*\" is not an allowed outbound host format"),
            ("postgres://db:x", "Invalid allowed host port \"x\""),
            ("http://db:x..y", "port range \"x..y\" contains non-number"),
            (
                "postgres://db:5432/path",
                "has a path but is not allowed to",
            ),
            ("postgres://db/path", "must not include a path"),
            ("postgres://a*b", "wildcards are allowed only as subdomains"),
            ("http://*.a.*.com", "wildcards are allowed only as prefixes"),
            ("ht-tp://db:1", "only alphabetic characters are allowed"),
            ("{http,https}://db:1", "scheme lists are not supported"),
            (
                "*://example.com",
                "the scheme \"*\" does not have a known default port number",
            ),
            ("http://{a,b}", "host lists are not yet supported"),
            ("http://db:{1,2}", "port lists are not yet supported"),
            (
                "tcp://db",
                "the scheme \"tcp\" does not have a known default port number",
            ),
        ];
        for (entry, message) in cases {
            let error = format!("{:#}", AllowedHost::parse(entry).unwrap_err());
            assert!(error.contains(message), "{entry}: {error}");
        }
    }

    #[test]
    fn loading_refuses_unsupported_schemes_and_templates_invalid_with_defaults() {
        let mut app_variables = BTreeMap::new();
        app_variables.insert("empty".to_owned(), Some(String::new()));
        app_variables.insert("required".to_owned(), None);
        let load =
            |entry: &str| AllowedOutboundHosts::load(vec![entry.to_owned()], &app_variables, &[]);

        for supported in [
            "postgres://{{ required }}",
            "postgres://127.0.0.1:5432",
            "http://127.0.0.1:3000",
            "https://*",
            "http://{{ required }}",
            "https://{{ required }}:443",
            "*://*:*",
            "*://{{ required }}",
            "http://self",
            "https://*.example.com:*",
        ] {
            assert!(load(supported).is_ok(), "{supported}");
        }
        let empty = format!("{:#}", load("postgres://{{ empty }}").unwrap_err());
        assert!(
            empty.contains("using default variable value(s) with template"),
            "{empty}"
        );
        for unsupported in [
            "mysql://db",
            "redis://127.0.0.1:*",
            "tcp://db:1",
            "{{ required }}",
            "mqtt://{{ required }}",
        ] {
            let error = format!("{:#}", load(unsupported).unwrap_err());
            assert!(
                error.contains("not supported by the test host"),
                "{unsupported}: {error}"
            );
        }
        let allow_all = format!("{:#}", load("insecure:allow-all").unwrap_err());
        assert!(allow_all.contains("use '*://*:*' instead"), "{allow_all}");
    }

    #[test]
    fn templated_http_entries_resolve_with_the_variables_at_check_time() {
        let (hosts, variables) = load_app(
            "webhook_host = { required = true }\nwebhook_port = { default = \"3000\" }",
            &["http://{{ webhook_host }}:{{ webhook_port }}"],
            &[("webhook_host", "127.0.0.1")],
        )
        .expect("a valid app");

        let allowed = |url: &str| hosts.allows_url(&variables, url, "https").unwrap();
        assert!(allowed("http://127.0.0.1:3000/hook"));
        assert!(!allowed("http://127.0.0.1:3001/hook"));
        assert!(!allowed("http://localhost:3000/hook"));
        assert!(!allowed("https://127.0.0.1:3000/hook"));
    }

    #[test]
    fn a_template_resolving_to_an_invalid_entry_allows_nothing() {
        let (hosts, variables) = load_app(
            "webhook_host = { required = true }",
            &["http://{{ webhook_host }}", "http://127.0.0.1:*"],
            &[("webhook_host", "")],
        )
        .expect("a valid app");

        assert!(
            hosts
                .allows_url(&variables, "http://127.0.0.1:3000/", "https")
                .is_err()
        );
        assert!(
            hosts
                .allows_relative_url(&variables, &["http", "https"])
                .is_err()
        );
    }

    #[test]
    fn any_spin_internal_subdomain_stands_for_the_apps_components() {
        let (hosts, variables) =
            load_app("", &["http://*.spin.internal"], &[]).expect("a valid app");

        let allowed = |url: &str| hosts.allows_url(&variables, url, "https").unwrap();
        assert!(allowed("http://app.spin.internal/"));
        assert!(allowed("http://other.spin.internal/"));
        assert!(!allowed("http://unknown.spin.internal/"));
    }
}
