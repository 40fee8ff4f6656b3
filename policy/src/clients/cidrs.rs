//! CIDR list files: one network per line (`10.0.0.0/8`, a bare address), `#` comments, and the
//! Spamhaus DROP form `1.2.3.0/24 ; SBL123`. Looked up by binary search over merged ranges.

use ipnet::IpNet;
use std::net::IpAddr;

/// A set of networks read from a list file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CidrList {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    entries: usize,
}

/// A line that is not a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {text:?} is not a CIDR or an address")]
pub struct ListError {
    /// 1-based line number.
    pub line: usize,
    /// The offending text.
    pub text: String,
}

impl CidrList {
    /// Parses a list; the first bad line is an error naming it.
    pub fn parse(text: &str) -> Result<CidrList, ListError> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut entries = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split(['#', ';']).next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let net = line
                .parse::<IpNet>()
                .or_else(|_| line.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| ListError {
                    line: i + 1,
                    text: line.to_owned(),
                })?;
            entries += 1;
            match net.trunc() {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                // An IPv4-mapped network (`::ffff:192.0.2.0/120`) lists IPv4 addresses, which
                // are looked up as IPv4.
                IpNet::V6(n) => {
                    match (n.network().to_ipv4_mapped(), n.broadcast().to_ipv4_mapped()) {
                        (Some(lo), Some(hi)) if n.prefix_len() >= 96 => {
                            v4.push((u32::from(lo), u32::from(hi)))
                        }
                        _ => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
                    }
                }
            }
        }
        Ok(CidrList {
            v4: merge(v4),
            v6: merge(v6),
            entries,
        })
    }

    /// Whether `ip` is in any listed network (IPv4-mapped IPv6 addresses as their IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match crate::network::canonical(ip) {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)),
        }
    }

    /// How many networks the file listed.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Adds every network of `other`.
    pub fn extend(&mut self, other: &CidrList) {
        self.v4 = merge(self.v4.iter().chain(&other.v4).copied().collect());
        self.v6 = merge(self.v6.iter().chain(&other.v6).copied().collect());
        self.entries += other.entries;
    }
}

fn merge<T: Ord + Copy + num_like::Step>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.next_or_max() => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn find<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|&(lo, _)| lo <= x);
    i > 0 && ranges[i - 1].1 >= x
}

mod num_like {
    /// The next value, or the same at the top of the range.
    pub trait Step {
        fn next_or_max(self) -> Self;
    }
    impl Step for u32 {
        fn next_or_max(self) -> Self {
            self.saturating_add(1)
        }
    }
    impl Step for u128 {
        fn next_or_max(self) -> Self {
            self.saturating_add(1)
        }
    }
}

#[cfg(test)]
mod tests;
