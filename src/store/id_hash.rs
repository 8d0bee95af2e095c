//! A fast hasher for the memory store's maps, which are keyed by identifiers.
//!
//! The standard library's SipHash resists hash flooding, at a cost that showed as a third of the
//! memory store's own work per event (about a thousand instructions for its three lookups).
//! Identifiers are short strings (at most [`MAX_ID_BYTES`](crate::MAX_ID_BYTES)), so a
//! multiply-and-rotate hash in the style of FxHash, eight bytes at a time, does the same job in
//! a few instructions.
//!
//! Hash flooding: ids come from the host, and the host may take some (member ids, say) from
//! people it does not trust, who could then look for ids that collide and make the maps slow.
//! That is acceptable here because the memory store is meant for tests, replays and hosts
//! running in one process, which hold everything in memory without limit and so must bound
//! what untrusted parties can submit anyway; a host exposed to adversarial ids at scale keeps
//! them in a database store. Each map still gets a random seed, so that ids found to collide in
//! one process do not collide in another, and the final mix folds every bit of the state into
//! the low bits the table indexes by, so that ids that differ only in their last bytes (the
//! usual `e-000001`, `e-000002`, ...) do not crowd into the same buckets.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A map from identifiers, hashed with [`IdHasher`].
pub(crate) type IdMap<K, V> = HashMap<K, V, IdHashBuilder>;

/// The multiplier of FxHash as rustc-hash 1 has it.
const MULTIPLIER: u64 = 0x51_7c_c1_b7_27_22_0a_95;
/// The final mix's multiplier, another odd constant with well spread bits (from PCG).
const FOLD: u64 = 0x5851_f42d_4c95_7f2d;

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

/// The hasher: FxHash's word step, then a folded multiply on finish.
#[derive(Clone, Debug)]
pub(crate) struct IdHasher {
    state: u64,
}

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
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
        // The word step's multiply leaves each bit depending only on the bits below it, and the
        // table indexes by the low bits: folding the 128-bit product's halves together mixes
        // the high bits down.
        let product = u128::from(self.state) * u128::from(FOLD);
        (product as u64) ^ ((product >> 64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::IdHashBuilder;
    use crate::id::EventId;

    /// Sequential ids differ only in their last bytes; the low bits a table indexes by must
    /// still be spread as by a random hash (10,000 keys over 65,536 buckets hit about 9,270).
    #[test]
    fn sequential_ids_spread_over_the_low_bits() {
        let builder = IdHashBuilder::default();
        for width in [1, 6, 8, 9, 16] {
            let buckets: HashSet<u64> = (0..10_000)
                .map(|index| EventId::new(&format!("e-{index:0width$}")).unwrap())
                .map(|id| builder.hash_one(&id) & 0xffff)
                .collect();
            assert!(buckets.len() > 8_800, "ids of width {width} hit only {} buckets", buckets.len());
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
