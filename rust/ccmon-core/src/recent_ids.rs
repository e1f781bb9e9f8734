//! The ids of a source's last events, to drop an event sent twice (a producer that retried a batch: SPEC §7).
//!
//! Ids are kept as 64-bit hashes: two different ids among 65,536 collide with odds of about 1 in 10¹⁰.
//! Every JSON line with an `id` asks once, so the cost is memory latency: the table is about a megabyte and
//! each id lands anywhere in it. Hence one open-addressing table of bare hashes (a probe reads one cache line,
//! where a general hash set reads a control line and a bucket line) and a ring of the window in arrival order,
//! whose next-to-leave id is fetched one event ahead of its removal. Against a hash set and a queue, the
//! whole JSON-lines path (parser and engine) took about a tenth less time (see the commit).

/// The last `window` distinct ids let through.
#[derive(Debug, Clone)]
pub(crate) struct RecentIds {
    /// Linear probing over twice the window (short probes); 0 is an empty slot.
    slots: Vec<u64>,
    /// The window's hashes in arrival order; `ring[next]` is the oldest (0 while the ring is filling).
    ring: Vec<u64>,
    next: usize,
    window: usize,
}

/// The window of a source: 65,536 events.
pub(crate) const RECENT_IDS: usize = 1 << 16;

impl Default for RecentIds {
    fn default() -> Self {
        RecentIds::with_window(RECENT_IDS)
    }
}

impl RecentIds {
    /// `window` is rounded up to a power of two. Nothing is allocated before the first id.
    pub(crate) fn with_window(window: usize) -> Self {
        RecentIds {
            slots: Vec::new(),
            ring: Vec::new(),
            next: 0,
            window: window.max(1).next_power_of_two(),
        }
    }

    /// False when `hash` (an id's) is among the window's; else it joins the window, and the oldest leaves.
    pub(crate) fn insert(&mut self, hash: u64) -> bool {
        // 0 marks an empty slot: the one hash in 2^64 that is 0 shares 1's place.
        let hash = hash.max(1);
        if self.slots.is_empty() {
            self.slots = vec![0; 2 * self.window];
            self.ring = vec![0; self.window];
        }
        if self.find(hash).is_some() {
            return false;
        }
        let oldest = std::mem::replace(&mut self.ring[self.next], hash);
        if let Some(at) = self.find(oldest) {
            self.remove_at(at);
        }
        self.next = (self.next + 1) & (self.window - 1);
        // At most half the slots are taken, so a free one is near.
        let free = self.probe(hash).find(|&i| self.slots[i] == 0);
        if let Some(free) = free {
            self.slots[free] = hash;
        }
        // The next to leave was stored a window ago and is out of cache: fetched now, its slot is there when
        // the next id comes.
        self.prefetch(self.ring[self.next]);
        true
    }

    /// Fetches the slot where `hash` would be looked for, ahead of its `insert`.
    pub(crate) fn prefetch(&self, hash: u64) {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
        if !self.slots.is_empty() {
            if let Some(slot) = self.slots.get(self.home(hash.max(1))) {
                safe_arch::prefetch_t0(slot);
            }
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
        let _ = hash;
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Where a hash's probe starts: its top bits (the low bits of an Fx hash mix less).
    fn home(&self, hash: u64) -> usize {
        (hash >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// The slots `hash`'s probe visits, from its home on: each slot once at most, so a bug cannot hang it.
    fn probe(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let home = self.home(hash);
        (0..self.slots.len()).map(move |k| (home + k) & self.mask())
    }

    fn find(&self, hash: u64) -> Option<usize> {
        if hash == 0 {
            return None;
        }
        self.probe(hash)
            .take_while(|&i| self.slots[i] != 0)
            .find(|&i| self.slots[i] == hash)
    }

    /// Empties slot `at` and moves back the hashes after it that its emptiness would cut off from their home
    /// (linear probing's deletion without tombstones, so probes stay as short as the table is full).
    fn remove_at(&mut self, at: usize) {
        let mask = self.mask();
        let mut hole = at;
        self.slots[hole] = 0;
        let mut i = hole;
        // Each step looks one slot further; a free one ends it (bounded, as `probe` is).
        for _ in 1..self.slots.len() {
            i = (i + 1) & mask;
            let h = self.slots[i];
            if h == 0 {
                return;
            }
            // `h` may fill the hole unless its home lies cyclically in (hole, i].
            if (i.wrapping_sub(self.home(h)) & mask) >= (i.wrapping_sub(hole) & mask) {
                self.slots[hole] = h;
                self.slots[i] = 0;
                hole = i;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashSet, VecDeque};

    /// The obvious version: a set and a queue.
    struct Reference {
        set: HashSet<u64>,
        order: VecDeque<u64>,
        window: usize,
    }

    impl Reference {
        fn insert(&mut self, hash: u64) -> bool {
            let hash = hash.max(1);
            if !self.set.insert(hash) {
                return false;
            }
            if self.order.len() == self.window {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
            self.order.push_back(hash);
            true
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Random ids, many repeated (drawn from a few) and crowded in the table (a handful of top bits, so
        /// probes run long and wrap around its end), against the obvious version.
        #[test]
        fn it_answers_as_a_set_and_a_queue_do(
            window_bits in 0u32..5,
            ids in proptest::collection::vec((0u64..40, 0u64..4), 0..400),
        ) {
            let window = 1usize << window_bits;
            let mut recent = RecentIds::with_window(window);
            let mut reference = Reference { set: HashSet::new(), order: VecDeque::new(), window };
            for (low, top) in ids {
                let hash = (top << 62) | low;
                proptest::prop_assert_eq!(recent.insert(hash), reference.insert(hash), "{:#x}", hash);
            }
            let live = recent.slots.iter().filter(|h| **h != 0).count();
            proptest::prop_assert_eq!(live, reference.set.len());
        }
    }

    #[test]
    fn an_id_is_dropped_within_the_window_and_let_through_after_it() {
        let mut recent = RecentIds::with_window(4);
        assert!(recent.insert(7));
        assert!(!recent.insert(7));
        for other in 10..14 {
            assert!(recent.insert(other));
        }
        assert!(recent.insert(7), "four newer ids pushed it out");
        assert!(recent.insert(0));
        assert!(!recent.insert(1), "0 and 1 share a place");
    }
}
