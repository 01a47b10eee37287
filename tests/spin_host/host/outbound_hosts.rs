//! `allowed_outbound_hosts`, read and checked the way Spin 4.0.2 does it, for the one
//! kind of outbound connection the test host makes for a guest: PostgreSQL.
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
//!   check of the instance is an error, which `spin:postgres` reports as `other(..)`.
//!
//! An entry is `<scheme>://<host>[:<port>]`: the host may be `*`, `*.domain`, a name, an
//! IP address or a CIDR block; the port `*`, a number, a range `start..end` (end
//! excluded) or nothing (PostgreSQL's 5432). Only `postgres://` entries are accepted:
//! the host makes no other outbound connections, so any other scheme (`http`, `*`, ...)
//! is refused at load rather than silently ignored.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;

use anyhow::{Context as _, bail, ensure};

use super::variables::{self, Resolved, Variables};

/// The only scheme the test host accepts in `allowed_outbound_hosts`.
pub const POSTGRES_SCHEME: &str = "postgres";

/// A component's `allowed_outbound_hosts` entries, as written (templates unresolved).
#[derive(Debug, Clone, Default)]
pub struct AllowedOutboundHosts {
    entries: Vec<String>,
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
    /// `self`: requests to the app itself, which a database address never is.
    ToSelf,
    Literal(url::Host),
    /// An IP address (a one-address block) or a CIDR block.
    Network {
        address: IpAddr,
        prefix_len: u8,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum PortPattern {
    Any,
    Port(u16),
    Range(Range<u16>),
}

impl AllowedOutboundHosts {
    /// Checks `entries` as `spin up` does when loading the app (see the module doc),
    /// with `app_variables`' defaults; then refuses, as the test host must, any entry
    /// whose scheme is not `postgres`.
    pub fn load(
        entries: Vec<String>,
        app_variables: &BTreeMap<String, Option<String>>,
    ) -> anyhow::Result<Self> {
        for entry in &entries {
            if entries.len() == 1 && entry == "insecure:allow-all" {
                bail!(
                    "'insecure:allow-all' is not allowed - use '*://*:*' instead if you really \
                     want to allow all outbound traffic'"
                );
            }
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
            let scheme_is_postgres = match &resolved {
                Some(host) => host.scheme == SchemePattern::Named(POSTGRES_SCHEME.to_owned()),
                // Unresolved until an instance checks it: its literal start must say.
                None => entry.trim_start().starts_with("postgres://"),
            };
            if !scheme_is_postgres {
                bail!(
                    "outbound connections other than PostgreSQL are not supported by the test \
                     host: allowed_outbound_hosts entry {entry:?} must start with postgres://"
                );
            }
        }
        Ok(Self { entries })
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
        let allowed = self.resolve(variables)?;
        // Spin parses "host[:port]" as a URL (prefixing the scheme when it is not one);
        // an address that does not parse is simply not allowed.
        let authority = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let Some(url) = OutboundUrl::parse(&authority, POSTGRES_SCHEME) else {
            return Ok(false);
        };
        Ok(allowed.iter().any(|entry| entry.allows(&url)))
    }

    fn resolve(&self, variables: &Variables) -> anyhow::Result<Vec<AllowedHost>> {
        self.entries
            .iter()
            .map(|entry| AllowedHost::parse(&variables.resolve_app_template(entry)?))
            .collect()
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
                     <scheme>://<host>[:<port>], with '*' wildcards allowed for each."
                ),
                _ => bail!("{url:?} does not contain a scheme (e.g., 'http://' or '*://')"),
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
        if let Some(network) = parse_network(host) {
            return Ok(network);
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
            (
                Self::Network {
                    address,
                    prefix_len,
                },
                url::Host::Ipv4(ip),
            ) => network_contains(*address, *prefix_len, IpAddr::V4(ip)),
            (
                Self::Network {
                    address,
                    prefix_len,
                },
                url::Host::Ipv6(ip),
            ) => network_contains(*address, *prefix_len, IpAddr::V6(ip)),
            (Self::AnySubdomain(_) | Self::Network { .. } | Self::ToSelf, _) => false,
        }
    }
}

/// `address` or `address/prefix` as a network, its host bits cleared (like Spin's
/// `ip_network` `from_str_truncate`); `None` when `host` is neither.
fn parse_network(host: &str) -> Option<HostPattern> {
    let (address, prefix_len) = match host.split_once('/') {
        Some((address, prefix)) => (address.parse::<IpAddr>().ok()?, prefix.parse::<u8>().ok()?),
        None => {
            let address = host.parse::<IpAddr>().ok()?;
            (address, max_prefix_len(address))
        }
    };
    if prefix_len > max_prefix_len(address) {
        return None;
    }
    Some(HostPattern::Network {
        address,
        prefix_len,
    })
}

fn max_prefix_len(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn network_contains(network: IpAddr, prefix_len: u8, ip: IpAddr) -> bool {
    let (network, ip, bits) = match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) => (
            u128::from(u32::from(network)),
            u128::from(u32::from(ip)),
            32,
        ),
        (IpAddr::V6(network), IpAddr::V6(ip)) => (u128::from(network), u128::from(ip), 128),
        _ => return false,
    };
    let host_bits = bits - u32::from(prefix_len);
    let mask = if host_bits >= 128 {
        0
    } else {
        (u128::MAX << host_bits) & (u128::MAX >> (128 - bits))
    };
    network & mask == ip & mask
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
    /// `authority` as a URL, or as `<scheme>://<authority>` when it is not one with a
    /// host (`127.0.0.1:5432` is not).
    fn parse(authority: &str, scheme: &str) -> Option<Self> {
        let url = match url::Url::parse(authority) {
            Ok(url) if url.has_host() => url,
            _ => url::Url::parse(&format!("{scheme}://{authority}")).ok()?,
        };
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_owned(),
            port: url.port(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, host: &str, port: Option<u16>) -> bool {
        let url = OutboundUrl::parse(
            &match port {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            },
            POSTGRES_SCHEME,
        )
        .expect("a parsable address");
        AllowedHost::parse(entry)
            .expect("a valid entry")
            .allows(&url)
    }

    #[test]
    fn entries_match_hosts_and_ports_as_in_spin() {
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
    fn invalid_entries_are_refused_with_spins_messages() {
        let cases = [
            ("postgres://", "Invalid allowed host \"\""),
            ("127.0.0.1:5432", "does not contain a scheme"),
            ("postgres://db:x", "Invalid allowed host port \"x\""),
            (
                "postgres://db:5432/path",
                "has a path but is not allowed to",
            ),
            ("postgres://db/path", "must not include a path"),
            ("postgres://a*b", "Invalid allowed host \"a*b\""),
        ];
        for (entry, message) in cases {
            let error = format!("{:#}", AllowedHost::parse(entry).unwrap_err());
            assert!(error.contains(message), "{entry}: {error}");
        }
    }

    #[test]
    fn loading_refuses_other_schemes_and_templates_invalid_with_defaults() {
        let mut app_variables = BTreeMap::new();
        app_variables.insert("empty".to_owned(), Some(String::new()));
        app_variables.insert("required".to_owned(), None);
        let load = |entry: &str| AllowedOutboundHosts::load(vec![entry.to_owned()], &app_variables);

        assert!(load("postgres://{{ required }}").is_ok());
        assert!(load("postgres://127.0.0.1:5432").is_ok());
        let empty = format!("{:#}", load("postgres://{{ empty }}").unwrap_err());
        assert!(
            empty.contains("using default variable value(s) with template"),
            "{empty}"
        );
        for other in ["http://example.com", "*://*:*", "{{ required }}"] {
            let error = format!("{:#}", load(other).unwrap_err());
            assert!(error.contains("not supported by the test host"), "{error}");
        }
    }
}
