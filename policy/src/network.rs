//! A network with exceptions: `10.0.0.0/8 except 10.9.0.0/16`.

use ipnet::IpNet;
use std::net::IpAddr;

/// A set of addresses: one network minus any number of excepted sub-networks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    /// The covering network.
    pub net: IpNet,
    /// Networks inside `net` that are not part of the set.
    pub except: Vec<IpNet>,
}

impl Network {
    /// A network with no exceptions.
    pub fn new(net: IpNet) -> Self {
        Network {
            net: net.trunc(),
            except: Vec::new(),
        }
    }

    /// Whether `ip` is in the network and in none of its exceptions.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.net.contains(&ip) && !self.except.iter().any(|e| e.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are judged as the IPv4 address they carry.
/// A dual-stack (`[::]`) listener sees IPv4 peers in that form; every comparison of a peer with
/// an IPv4 network goes through here.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn exceptions_carve_holes() {
        let n = Network {
            net: net("10.0.0.0/8"),
            except: vec![net("10.9.0.0/16")],
        };
        let cases = [
            ("10.1.2.3", true),
            ("10.9.0.1", false),
            ("10.255.255.255", true),
            ("11.0.0.1", false),
            ("::ffff:10.1.2.3", true),
            ("::ffff:10.9.1.1", false),
        ];
        for (ip, want) in cases {
            assert_eq!(n.contains(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn new_truncates_host_bits() {
        let n = Network::new(net("192.168.1.77/24"));
        assert_eq!(n.net, net("192.168.1.0/24"));
        assert!(n.contains("192.168.1.1".parse().unwrap()));
    }
}
