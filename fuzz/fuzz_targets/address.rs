//! Any address: classification agrees with the IPv4 address an IPv6 form carries; never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline_policy::{classify, effective_ip, special_range};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    let ip = match data.len() {
        4 => IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3])),
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(data);
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return,
    };
    let inner = effective_ip(ip);
    if inner != ip {
        assert_eq!(classify(ip), classify(inner), "{ip} carries {inner}");
    }
    if let Some(net) = special_range(inner) {
        assert!(net.contains(&inner), "{net} does not contain {inner}");
    }
});
