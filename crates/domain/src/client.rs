//! How a client's address is counted by rate limits and login throttling.

use std::net::{IpAddr, Ipv6Addr};

/// The block one client is assumed to control: the address itself for IPv4, its /64 for IPv6
/// (one subscriber or host usually gets a whole /64, so counting single IPv6 addresses would
/// let one client pick a fresh address per request). IPv4-mapped IPv6 addresses count as IPv4.
#[must_use]
pub fn client_block(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ipv6_counts_by_its_64_ipv4_by_address() {
        let b = |s: &str| super::client_block(s.parse().unwrap_or_else(|_| panic!("{s}")));
        assert_eq!(b("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(b("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
        assert_ne!(b("2001:db8:1:3::1"), b("2001:db8:1:2::1"));
        assert_eq!(b("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(b("192.0.2.7"), "192.0.2.7");
    }
}
