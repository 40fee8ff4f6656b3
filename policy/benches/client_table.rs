//! The proxy's client table against `DashMap`, as the client guard uses a table on each call:
//! the entry for a client, created when missing, then a small update under the lock.
//!
//! Run by hand (`cargo bench -p sightline-policy --bench client_table`); it prints timings and
//! asserts none. The table is built here as `proxy/src/clients/table.rs` builds it: 16
//! `CappedMap` shards behind std mutexes, a shard chosen by a keyed hash. Times are the
//! process's CPU time per call, so other work on the machine stays out of them (time spent
//! waiting on a lock held by the other thread is not counted).

use dashmap::DashMap;
use rustix::time::{clock_gettime, ClockId};
use sightline_policy::clients::CappedMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

const SHARDS: usize = 16;
/// The default `clients.max_clients`.
const CAP: usize = 100_000;
/// Calls per thread in a timed run.
const CALLS: usize = 2_000_000;

/// About the size of a client's state in the guard.
#[derive(Default)]
struct Entry {
    requests: u64,
    _rest: [u64; 15],
}

/// The proxy's client table.
struct Sharded {
    shards: Vec<Mutex<CappedMap<Arc<str>, Entry>>>,
    hasher: RandomState,
}

impl Sharded {
    fn new(cap: usize) -> Self {
        let per = cap.div_ceil(SHARDS).max(1);
        // As the proxy's table: one hasher for all shards, so the shard's hash files the key.
        let hasher = RandomState::new();
        Sharded {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(CappedMap::with_hasher(per, hasher.clone())))
                .collect(),
            hasher,
        }
    }
}

trait Table: Sync {
    fn name(&self) -> &'static str;
    /// One call from `key`: its entry, created when missing, counts the call.
    fn touch(&self, key: &Arc<str>);
    fn len(&self) -> usize;
}

impl Table for Sharded {
    fn name(&self) -> &'static str {
        "sharded CappedMap"
    }

    fn touch(&self, key: &Arc<str>) {
        let hash = self.hasher.hash_one(key);
        let i = ((hash >> 32) as usize) % SHARDS;
        let mut shard = self.shards[i].lock().unwrap_or_else(|p| p.into_inner());
        shard.entry_hashed(hash, key, Entry::default).requests += 1;
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

impl Table for DashMap<Arc<str>, Entry> {
    fn name(&self) -> &'static str {
        "DashMap"
    }

    fn touch(&self, key: &Arc<str>) {
        if let Some(mut e) = self.get_mut(key) {
            e.requests += 1;
            return;
        }
        self.entry(key.clone()).or_default().requests += 1;
    }

    fn len(&self) -> usize {
        DashMap::len(self)
    }
}

/// `n` distinct client ids, as addresses.
fn keys(n: usize) -> Vec<Arc<str>> {
    (0..n)
        .map(|i| format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255).into())
        .collect()
}

/// CPU time used by the process so far, in nanoseconds.
fn cpu_ns() -> f64 {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    t.tv_sec as f64 * 1e9 + t.tv_nsec as f64
}

/// CPU nanoseconds per call for `threads` threads each making `calls` calls from clients picked
/// at random among `keys`.
fn calls(t: &dyn Table, keys: &[Arc<str>], threads: usize, calls: usize) -> f64 {
    let start = cpu_ns();
    std::thread::scope(|s| {
        for th in 0..threads {
            s.spawn(move || {
                let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (th as u64 + 1);
                for _ in 0..calls {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    t.touch(&keys[(x as usize) % keys.len()]);
                }
            });
        }
    });
    (cpu_ns() - start) / (threads * calls) as f64
}

/// CPU nanoseconds per new client, each seen once.
fn inserts(t: &dyn Table, keys: &[Arc<str>]) -> f64 {
    let start = cpu_ns();
    for k in keys {
        t.touch(k);
    }
    (cpu_ns() - start) / keys.len() as f64
}

fn tables() -> [Box<dyn Table>; 2] {
    [Box::new(Sharded::new(CAP)), Box::new(DashMap::new())]
}

/// The best of three runs, to keep other work on the machine out of the numbers.
fn best(mut run: impl FnMut() -> f64) -> f64 {
    (0..3).map(|_| run()).fold(f64::INFINITY, f64::min)
}

fn main() {
    println!("table                 clients  threads  ns/call (known clients)");
    for n in [1_000, 10_000, 100_000] {
        let ks = keys(n);
        for t in tables() {
            inserts(&*t, &ks);
            for threads in [1, 2] {
                let ns = best(|| calls(&*t, &ks, threads, CALLS));
                println!("{:<20} {n:>9} {threads:>8}  {ns:>7.1}", t.name());
            }
        }
    }
    println!();
    println!("table                 clients  ns/insert (new clients)");
    for n in [10_000, 100_000] {
        let ks = keys(n);
        for make in [0, 1] {
            let ns = best(|| {
                let t = tables().into_iter().nth(make);
                t.map_or(f64::NAN, |t| inserts(&*t, &ks))
            });
            let name = tables()[make].name();
            println!("{name:<20} {n:>9}  {ns:>7.1}");
        }
    }
    println!();
    println!("table                 one-off clients  entries held afterwards");
    let ks = keys(1_000_000);
    for t in tables() {
        let ns = inserts(&*t, &ks);
        println!(
            "{:<20} {:>16}  {:>9} ({ns:.1} ns/insert)",
            t.name(),
            ks.len(),
            t.len()
        );
    }
}
