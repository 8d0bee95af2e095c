//! A fast hasher for maps keyed by identifiers: the memory store's members and events, and the
//! compiled program's rules by SKU, category and label.
//!
//! The standard library's SipHash resists hash flooding, at a cost that showed as a third of the
//! memory store's own work per event (about a thousand instructions for its three lookups), and
//! rule lookups run for every purchase line. Identifiers are short strings (at most
//! [`MAX_ID_BYTES`](crate::MAX_ID_BYTES)), so a folded multiply per eight bytes (the step of
//! foldhash and aHash's fallback) does the same job in a few instructions. Each step folds the
//! high half of its 128-bit product into the low bits a table indexes by, so ids that differ
//! only in a few characters (the usual `e-000001`, `e-000002`, ...) spread like random keys.
//!
//! Hash flooding: a program's keys are chosen by whoever writes the program, not by its
//! members. Ids in the memory store come from the host, which may take some (member ids, say)
//! from people it does not trust, who could then look for ids that collide and make the maps
//! slow. That is acceptable here because the memory store is meant for tests, replays and hosts
//! running in one process, which hold everything in memory without limit and so must bound what
//! untrusted parties can submit anyway; a host exposed to adversarial ids at scale keeps them in
//! a database store. Each map still gets a random seed, so that ids found to collide in one
//! process do not collide in another.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A map from identifiers, hashed with [`IdHasher`].
pub(crate) type IdMap<K, V> = HashMap<K, V, IdHashBuilder>;

/// An odd constant with well spread bits (FxHash's, as rustc-hash 1 has it).
const MULTIPLIER: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Builds [`IdHasher`]s that all start from one random seed, drawn when the map is made.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdHashBuilder {
    seed: u64,
}

impl Default for IdHashBuilder {
    fn default() -> IdHashBuilder {
        // The standard library's random keys, drawn once per thread and then varied per call,
        // give each map its own seed at the cost of one SipHash of nothing.
        IdHashBuilder { seed: RandomState::new().build_hasher().finish() }
    }
}

impl BuildHasher for IdHashBuilder {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher { state: self.seed }
    }
}

/// The hasher: a folded multiply per word of input.
#[derive(Clone, Debug)]
pub(crate) struct IdHasher {
    state: u64,
}

impl IdHasher {
    fn add(&mut self, word: u64) {
        // A folded multiply, not FxHash's rotate-xor-multiply: that one carries a word's high
        // bits only upward, so the next word's low bits could cancel them and ids that differ
        // in two places collided (sequential ids of 9 digits filled 7% fewer buckets).
        let product = u128::from(self.state ^ word) * u128::from(MULTIPLIER);
        self.state = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for chunk in &mut words {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            // Zero padding makes `ab` and `ab\0` alike here; `str`'s hash writes a terminator
            // byte after the text, and identifiers have no control characters anyway.
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        // Every word step already folds the high half of its product into the low bits that a
        // table indexes by.
        self.state
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::IdHashBuilder;
    use crate::id::EventId;

    /// Sequential ids differ only in their last bytes; the low bits a table indexes by must
    /// still be spread as by a random hash (10,000 keys over 65,536 buckets hit about 9,270,
    /// give or take 40), whatever the seed: checked for many seeds, so the test is the same on
    /// every run.
    #[test]
    fn sequential_ids_spread_over_the_low_bits() {
        for seed in (0..16_u64).map(|index| index.wrapping_mul(0x9e37_79b9_7f4a_7c15)) {
            let builder = IdHashBuilder { seed };
            for width in [1, 6, 8, 9, 16] {
                let buckets: HashSet<u64> = (0..10_000)
                    .map(|index| EventId::new(&format!("e-{index:0width$}")).unwrap())
                    .map(|id| builder.hash_one(&id) & 0xffff)
                    .collect();
                assert!(buckets.len() > 9_000, "seed {seed:#x}, width {width}: only {} buckets", buckets.len());
            }
        }
    }

    #[test]
    fn equal_ids_hash_alike_and_maps_find_them() {
        let builder = IdHashBuilder::default();
        let (first, second) = (EventId::new("order-1").unwrap(), EventId::new("order-1").unwrap());
        assert_eq!(builder.hash_one(&first), builder.hash_one(&second));
        let mut map = super::IdMap::default();
        map.insert(first, 1);
        assert_eq!(map.get("order-1"), Some(&1));
        assert_eq!(map.get("order-2"), None);
    }
}
