//! Cloud metadata and credential endpoints: the addresses that hand a machine or a workload its
//! credentials. They are blocked in every mode, whatever the enclave networks say, and opened
//! only by an allow rule whose CIDR is exactly that address (see [`crate::Enclave::decide`]).
//!
//! Several live outside `169.254.0.0/16`, in unique-local, shared (CGNAT), IETF or even public
//! ranges, so the address classes alone do not catch them. An IPv6 form that carries one of the
//! IPv4 addresses (mapped, NAT64, 6to4, ...) is judged by the address inside.

use crate::address::effective_ip;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One well-known metadata endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataEndpoint {
    /// Its address.
    pub ip: IpAddr,
    /// Who serves what there, for reasons and documentation.
    pub service: &'static str,
}

const fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[allow(clippy::too_many_arguments)]
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, f: u16, g: u16, h: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h))
}

const fn endpoint(ip: IpAddr, service: &'static str) -> MetadataEndpoint {
    MetadataEndpoint { ip, service }
}

/// The built-in list. docs/SECURITY.md lists each entry with its provider.
pub const METADATA_ENDPOINTS: &[MetadataEndpoint] = &[
    endpoint(
        v4(169, 254, 169, 254),
        "instance metadata of AWS, Google Cloud, Azure, Oracle and others",
    ),
    endpoint(
        v6(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
        "AWS instance metadata (IMDS) over IPv6",
    ),
    endpoint(
        v4(169, 254, 170, 2),
        "AWS ECS task metadata and credentials",
    ),
    endpoint(v4(169, 254, 170, 23), "AWS EKS Pod Identity agent"),
    endpoint(
        v6(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),
        "AWS EKS Pod Identity agent over IPv6",
    ),
    endpoint(
        v6(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254),
        "Google Cloud metadata server over IPv6",
    ),
    endpoint(
        v4(169, 254, 169, 252),
        "GKE metadata server (Workload Identity)",
    ),
    endpoint(
        v4(168, 63, 129, 16),
        "Azure WireServer (platform host agent)",
    ),
    endpoint(v4(100, 100, 100, 200), "Alibaba Cloud instance metadata"),
    endpoint(
        v6(0xfd00, 0x100, 0, 0, 0, 0, 0x100, 0x200),
        "Alibaba Cloud instance metadata over IPv6",
    ),
    endpoint(
        v4(192, 0, 0, 192),
        "Oracle Cloud (Classic) instance metadata",
    ),
    endpoint(
        v6(0xfd00, 0xc1, 0, 0, 0, 0, 0xa9fe, 0xa9fe),
        "Oracle Cloud instance metadata over IPv6",
    ),
    endpoint(
        v6(0xfe80, 0, 0, 0, 0, 0, 0xa9fe, 0xa9fe),
        "OpenStack metadata over IPv6",
    ),
    endpoint(v4(169, 254, 42, 42), "Scaleway instance metadata"),
    endpoint(
        v6(0xfd00, 0x42, 0, 0, 0, 0, 0, 0x42),
        "Scaleway instance metadata over IPv6",
    ),
    endpoint(
        v6(0xfd00, 0xa9fe, 0xa9fe, 0, 0, 0, 0, 1),
        "Akamai (Linode) metadata over IPv6",
    ),
    endpoint(v4(169, 254, 0, 23), "Tencent Cloud instance metadata"),
];

/// The metadata endpoint `ip` reaches, judged by [`effective_ip`], if it reaches one.
pub fn metadata_endpoint(ip: IpAddr) -> Option<&'static MetadataEndpoint> {
    let ip = effective_ip(ip);
    METADATA_ENDPOINTS.iter().find(|e| e.ip == ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_entry_is_found_in_every_form() {
        for e in METADATA_ENDPOINTS {
            assert_eq!(metadata_endpoint(e.ip), Some(e), "{}", e.ip);
            let IpAddr::V4(v4) = e.ip else { continue };
            let bits = u128::from(v4.to_bits());
            let carriers = [
                Ipv6Addr::from_bits(0xffff_0000_0000 | bits), // mapped
                Ipv6Addr::from_bits(0xffff_0000_0000_0000 | bits), // translated (SIIT)
                Ipv6Addr::from_bits(bits),                    // compatible
                Ipv6Addr::from_bits((0x64_ff9b << 96) | bits), // NAT64
                Ipv6Addr::from_bits((0x2002 << 112) | (bits << 80) | 1), // 6to4
                Ipv6Addr::from_bits((0x2001_0000 << 96) | (!bits & 0xffff_ffff)), // Teredo
            ];
            for carrier in carriers {
                assert_eq!(
                    metadata_endpoint(IpAddr::V6(carrier)),
                    Some(e),
                    "{carrier} carries {v4}"
                );
            }
        }
    }

    #[test]
    fn neighbours_are_not_metadata() {
        for s in [
            "169.254.169.253",
            "169.254.169.255",
            "100.100.100.201",
            "192.0.0.193",
            "168.63.129.17",
            "fd00:ec2::253",
            "fd00:ec2::1:254",
            "fd20:ce::255",
            "fe80::a9fe:a9ff",
            "::ffff:169.254.169.253",
            "8.8.8.8",
        ] {
            assert_eq!(metadata_endpoint(ip(s)), None, "{s}");
        }
    }

    #[test]
    fn entries_are_distinct_and_described() {
        for (i, e) in METADATA_ENDPOINTS.iter().enumerate() {
            assert!(!e.service.is_empty());
            assert!(
                METADATA_ENDPOINTS[..i].iter().all(|o| o.ip != e.ip),
                "{} twice",
                e.ip
            );
        }
    }
}
