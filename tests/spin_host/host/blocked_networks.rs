//! The runtime configuration's `[outbound_networking] block_networks`, as Spin 4.0.2
//! reads it (`crates/factor-outbound-networking/src/runtime_config/spin.rs`) and applies
//! it to outbound HTTP (`crates/outbound-networking-config/src/blocked_networks.rs`):
//!
//! ```toml
//! [outbound_networking]
//! block_networks = ["1.1.1.1/32", "10.0.0.0/8", "private"]
//! ```
//!
//! Each entry is a CIDR block (a bare IP address is a one-address block; host bits are
//! ignored) or the keyword `private`: every address that is not globally routable
//! (`ip_network`'s `is_global`), loopback included. An IPv6 address that embeds an IPv4
//! one (`::ffff:10.0.0.1`, `::10.0.0.1`) is also checked as that IPv4 address. What is
//! checked is the addresses a host name resolves to, not the name: `localhost` is
//! blocked by `private` or `127.0.0.0/8`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use toml::Value;

use super::outbound_hosts::IpNetwork;

/// The networks outbound connections may not reach; empty (nothing blocked) without an
/// `[outbound_networking]` table. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct BlockedNetworks {
    networks: Arc<[IpNetwork]>,
    /// `private`: every address that is not globally routable.
    block_private: bool,
}

impl BlockedNetworks {
    /// Reads an `[outbound_networking]` table; the messages are Spin's (which come from
    /// serde with `deny_unknown_fields`).
    pub fn parse(outbound_networking: &Value) -> anyhow::Result<Self> {
        Self::parse_table(outbound_networking)
            .context("failed to parse [outbound_networking] table")
    }

    fn parse_table(outbound_networking: &Value) -> anyhow::Result<Self> {
        let table = outbound_networking.as_table().with_context(|| {
            format!(
                "invalid type: {}, expected struct OutboundNetworkingToml",
                outbound_networking.type_str()
            )
        })?;
        if let Some(key) = table.keys().find(|key| key.as_str() != "block_networks") {
            bail!("unknown field `{key}`, expected `block_networks`");
        }
        let Some(entries) = table.get("block_networks") else {
            return Ok(Self::default());
        };
        let entries = entries.as_array().with_context(|| {
            format!("invalid type: {}, expected a sequence", entries.type_str())
        })?;
        let mut networks = Vec::new();
        let mut block_private = false;
        for entry in entries {
            let entry = entry.as_str().with_context(|| {
                format!(
                    "invalid type: {}, expected an IP network in CIDR notation or the keyword \
                     'private'",
                    entry.type_str()
                )
            })?;
            if entry == "private" {
                block_private = true;
                continue;
            }
            let Some(network) = IpNetwork::parse(entry) else {
                bail!(
                    "invalid value: string {entry:?}, expected an IP network in CIDR notation \
                     or the keyword 'private'"
                );
            };
            networks.push(network);
        }
        Ok(Self {
            networks: networks.into(),
            block_private,
        })
    }

    /// Whether nothing is blocked.
    pub fn is_empty(&self) -> bool {
        !self.block_private && self.networks.is_empty()
    }

    /// Whether connections to `ip` are blocked.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        if self.block_private && !is_global(ip) {
            return true;
        }
        if self.networks.iter().any(|network| network.contains(ip)) {
            return true;
        }
        // Spin checks the IPv4 address inside an IPv4-mapped or IPv4-compatible IPv6
        // one again, so that neither form gets around an IPv4 block.
        match ip {
            IpAddr::V6(ipv6) => ipv6
                .to_ipv4()
                .is_some_and(|ipv4| self.is_blocked(IpAddr::V4(ipv4))),
            IpAddr::V4(_) => false,
        }
    }

    /// Removes the blocked addresses from `addresses` and returns them.
    pub fn remove_blocked(&self, addresses: &mut Vec<SocketAddr>) -> Vec<SocketAddr> {
        if self.is_empty() {
            return Vec::new();
        }
        let (blocked, allowed) = std::mem::take(addresses)
            .into_iter()
            .partition(|address| self.is_blocked(address.ip()));
        *addresses = allowed;
        blocked
    }
}

/// Whether `ip` is globally routable, as `ip_network` 0.4 (Spin's) decides it for a
/// one-address network. The standard library's `is_global` is still unstable.
fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_global_v4(ip),
        IpAddr::V6(ip) => is_global_v6(ip),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    // The only two globally routable addresses among the IETF protocol assignments.
    if ip == Ipv4Addr::new(192, 0, 0, 9) || ip == Ipv4Addr::new(192, 0, 0, 10) {
        return true;
    }
    let local_identification = a == 0;
    let shared_address_space = a == 100 && b & 0xc0 == 64;
    let ietf_protocol_assignments = a == 192 && b == 0 && c == 0;
    let benchmarking = a == 198 && b & 0xfe == 18;
    let reserved = a & 0xf0 == 240 && !ip.is_broadcast();
    !(local_identification
        || ip.is_private()
        || ietf_protocol_assignments
        || shared_address_space
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || benchmarking
        || reserved)
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    if ip.is_multicast() {
        // Only the global multicast scope is; an unknown scope counts as a unicast
        // address, which a multicast one is not.
        return first & 0x000f == 14;
    }
    let unicast_link_local = first & 0xffc0 == 0xfe80;
    let unicast_site_local = first & 0xffc0 == 0xfec0;
    let unique_local = first & 0xfe00 == 0xfc00;
    let documentation = first == 0x2001 && ip.segments()[1] == 0xdb8;
    !(ip.is_loopback()
        || unicast_link_local
        || unicast_site_local
        || unique_local
        || ip.is_unspecified()
        || documentation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked_networks(toml: &str) -> anyhow::Result<BlockedNetworks> {
        let table: toml::Table = toml.parse().expect("valid TOML");
        BlockedNetworks::parse(&table["outbound_networking"])
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    #[test]
    fn cidr_blocks_and_addresses_block_what_they_contain() {
        let blocked = blocked_networks(
            "[outbound_networking]\nblock_networks = [\"123.123.0.0/16\", \"2001::/96\", \"1.1.1.1\", \"10.1.2.3/8\"]",
        )
        .unwrap();
        for address in [
            "123.123.123.123",
            "2001::1000",
            "::ffff:123.123.123.123",
            "1.1.1.1",
            "10.200.0.1",
        ] {
            assert!(blocked.is_blocked(ip(address)), "{address}");
        }
        for address in [
            "123.100.100.100",
            "2002::1000",
            "1.1.1.2",
            "127.0.0.1",
            "::1",
        ] {
            assert!(!blocked.is_blocked(ip(address)), "{address}");
        }
    }

    #[test]
    fn private_blocks_every_address_that_is_not_globally_routable() {
        let blocked =
            blocked_networks("[outbound_networking]\nblock_networks = [\"private\"]").unwrap();
        for private in [
            "0.0.0.0",
            "10.10.10.10",
            "100.64.1.1",
            "127.0.0.1",
            "169.254.0.1",
            "172.16.0.1",
            "192.0.0.1",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.10.10.10",
            "::ffff:127.0.0.1",
            "fc00::f00d",
            "fe80::1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(blocked.is_blocked(ip(private)), "{private}");
        }
        for public in [
            "123.123.123.123",
            "8.8.8.8",
            "192.0.0.9",
            "172.32.0.1",
            "2600::beef",
            "ff0e::1",
        ] {
            assert!(!blocked.is_blocked(ip(public)), "{public}");
        }
    }

    #[test]
    fn removing_blocked_addresses_keeps_the_others_in_order() {
        let blocked = blocked_networks(
            "[outbound_networking]\nblock_networks = [\"123.123.0.0/16\", \"private\"]",
        )
        .unwrap();
        let mut addresses: Vec<SocketAddr> = [
            "127.0.0.1:80",
            "123.200.0.1:443",
            "123.123.0.1:443",
            "[2600:beef::1000]:80",
            "[::1]:80",
        ]
        .iter()
        .map(|address| address.parse().unwrap())
        .collect();

        let removed = blocked.remove_blocked(&mut addresses);

        let text = |addresses: &[SocketAddr]| -> Vec<String> {
            addresses.iter().map(ToString::to_string).collect()
        };
        assert_eq!(
            text(&addresses),
            ["123.200.0.1:443", "[2600:beef::1000]:80"]
        );
        assert_eq!(
            text(&removed),
            ["127.0.0.1:80", "123.123.0.1:443", "[::1]:80"]
        );
    }

    #[test]
    fn no_table_or_an_empty_list_blocks_nothing() {
        assert!(BlockedNetworks::default().is_empty());
        let empty = blocked_networks("[outbound_networking]").unwrap();
        assert!(empty.is_empty());
        assert!(!empty.is_blocked(ip("127.0.0.1")));
        let mut addresses = vec!["127.0.0.1:80".parse().unwrap()];
        assert!(empty.remove_blocked(&mut addresses).is_empty());
        assert_eq!(addresses.len(), 1);
    }

    #[test]
    fn invalid_tables_are_refused_with_spins_messages() {
        let cases = [
            (
                "[outbound_networking]\nblock_networks = [\"10.0.0.0/33\"]",
                "invalid value: string \"10.0.0.0/33\", expected an IP network in CIDR notation or the keyword 'private'",
            ),
            (
                "[outbound_networking]\nblock_networks = [\"localhost\"]",
                "expected an IP network in CIDR notation or the keyword 'private'",
            ),
            (
                "[outbound_networking]\nblock_networks = \"private\"",
                "expected a sequence",
            ),
            (
                "[outbound_networking]\nblock_network = [\"private\"]",
                "unknown field `block_network`, expected `block_networks`",
            ),
            (
                "outbound_networking = 1",
                "failed to parse [outbound_networking] table",
            ),
        ];
        for (toml, message) in cases {
            let error = format!("{:#}", blocked_networks(toml).unwrap_err());
            assert!(error.contains(message), "{toml}: {error}");
        }
    }
}
