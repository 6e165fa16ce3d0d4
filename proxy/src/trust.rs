//! `--trusted-proxies`: the peers whose forwarding headers (`X-Forwarded-For` and friends) are
//! believed, such as the load balancer in front of the proxy. Everyone else's are replaced.
//!
//! Pure: parsing CIDR lists and matching addresses, no I/O.

use std::net::IpAddr;

/// One `address/prefix-length` range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let (whole, rest) = (bits / 8, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[whole] & mask == b[whole] & mask
}

/// A list of trusted ranges; empty trusts nobody.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Vec<Cidr>,
}

impl TrustedProxies {
    /// Parses `CIDR[,CIDR...]` (`10.0.0.0/8`, `fd00::/8`, or a bare address for one host).
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut ranges = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("'{item}' is not an IP address or CIDR range"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => match b.parse::<u8>() {
                    Ok(n) if n <= max => n,
                    _ => return Err(format!("'{item}': prefix length must be 0 to {max}")),
                },
            };
            ranges.push(Cidr { addr, bits });
        }
        Ok(TrustedProxies { ranges })
    }

    /// Whether `peer` is inside a trusted range. IPv4 peers seen on an IPv6 socket
    /// (`::ffff:a.b.c.d`) match the IPv4 ranges.
    pub fn contains(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.ranges.iter().any(|r| r.contains(peer))
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_by_prefix() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7,fd00::/8,172.16.0.0/12").unwrap();
        let yes = [
            "10.1.2.3",
            "192.168.1.7",
            "fd12::1",
            "::ffff:10.9.9.9",
            "172.31.255.1",
        ];
        for ip in yes {
            assert!(t.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["11.0.0.1", "192.168.1.8", "fe80::1", "172.32.0.1", "::1"] {
            assert!(!t.contains(ip.parse().unwrap()), "{ip}");
        }
        let all = TrustedProxies::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_ranges_are_refused() {
        for bad in [
            "10.0.0.0/33",
            "x",
            "10.0.0.0/",
            "::/129",
            "10.0.0.0/-1",
            "1.2.3.4/8/9",
        ] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }
}
