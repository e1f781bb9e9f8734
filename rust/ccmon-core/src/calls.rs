//! The table of calls in progress, laid out for memory: each call is one fixed-size record in a chunked slab
//! (no doubling waste), and the hash index holds only 4-byte slot numbers, hashed and compared through the
//! record's own key. About 160 bytes per call in progress (benches/bench_memory.py, without caller numbers).

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use smallvec::SmallVec;

use crate::stats::Outcome;

/// A call id, stored inline when short (queue_log and AMI ids are ~12–20 bytes) to save an allocation per call;
/// inline keys compare and hash as three machine words.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CallKey {
    /// Up to 23 bytes, zero-padded, the length in the last byte.
    Inline([u64; 3]),
    Heap(Box<[u8]>),
}

impl CallKey {
    pub(crate) fn new(b: &[u8]) -> CallKey {
        if b.len() <= 23 {
            let mut buf = [0u8; 24];
            buf[..b.len()].copy_from_slice(b);
            buf[23] = b.len() as u8;
            let word = |i: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&buf[i * 8..i * 8 + 8]);
                u64::from_le_bytes(w)
            };
            CallKey::Inline([word(0), word(1), word(2)])
        } else {
            CallKey::Heap(b.into())
        }
    }

    pub(crate) fn to_text(&self) -> String {
        match self {
            CallKey::Inline(words) => {
                let mut buf = [0u8; 24];
                for (i, w) in words.iter().enumerate() {
                    buf[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
                }
                let len = usize::from(buf[23]).min(23);
                String::from_utf8_lossy(&buf[..len]).into_owned()
            }
            CallKey::Heap(b) => String::from_utf8_lossy(b).into_owned(),
        }
    }

    /// An inline key's three words in two folded multiplies (foldhash's mixing step: the full 128-bit
    /// product, its halves XORed, so the low bits that pick a bucket and the high bits of the control byte
    /// both depend on every input bit). A derived hash feeds the enum tag, a length and each word through the
    /// hasher one at a time, several times the work for the one key looked up per event.
    fn hash(&self) -> u64 {
        let folded = |x: u64, y: u64| {
            let m = u128::from(x) * u128::from(y);
            (m as u64) ^ ((m >> 64) as u64)
        };
        match self {
            CallKey::Inline([a, b, c]) => folded(
                folded(a ^ 0x243f_6a88_85a3_08d3, b ^ 0x1319_8a2e_0370_7344) ^ c,
                0x9e37_79b9_7f4a_7c15,
            ),
            CallKey::Heap(bytes) => FxBuildHasher.hash_one(bytes),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    Waiting,
    Talking,
    /// No open entry: after a transfer or a flow-out, the call may enter another queue.
    Between,
    /// Its talk ended where the source cannot tell a hang-up from a transfer (FreeSWITCH's bridge end): over,
    /// unless the call enters a queue again within `CONTINUE_SECONDS`, which makes it a transfer. Not listed
    /// among the calls in progress.
    Ended,
}

/// One entry of a journey.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) enter_ts: f64,
    pub(crate) queue: u32,
    pub(crate) wait: f32,
    pub(crate) talk: f32,
    pub(crate) outcome: Option<Outcome>,
}

/// Most calls visit one queue: that entry lives inline, no allocation per call.
pub(crate) type Journey = SmallVec<[Entry; 1]>;

#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) key: CallKey,
    pub(crate) start_ts: f64,
    pub(crate) enter_ts: f64,
    /// When the talk began; for an `Ended` call, when it ended (a transfer, if the call comes back, is then).
    pub(crate) answer_ts: f64,
    pub(crate) plays: f64,
    /// Talking or between queues: dropped when no news arrives before this time.
    pub(crate) idle_deadline: f64,
    pub(crate) caller: crate::callers::Caller,
    pub(crate) journey: Journey,
    /// Shown to users and put in a histogram, never compared: single precision is enough.
    pub(crate) moh_seconds: f32,
    /// Music on hold playing since (from MOH events); NaN when none plays.
    pub(crate) moh_since: f64,
    /// Track length of the class playing.
    pub(crate) moh_track: f32,
    /// The call's source reports MOH events: its exposure comes from them, never from its queue's class.
    pub(crate) moh_events: bool,
    pub(crate) queue: u32,
    /// Generation of the current waiting entry, to recognise stale items in the lost-sweep queue.
    pub(crate) seq: u32,
    pub(crate) transfers: u16,
    pub(crate) state: CallState,
    pub(crate) flags: u8,
}

/// Slot number of a call in the table.
pub(crate) type CallId = u32;

const CHUNK: usize = 4096;

#[derive(Default)]
pub(crate) struct CallTable {
    index: HashTable<CallId>,
    chunks: Vec<Vec<Option<Call>>>,
    free: Vec<CallId>,
    len: usize,
}

impl CallTable {
    pub(crate) fn get(&self, id: CallId) -> Option<&Call> {
        let id = id as usize;
        self.chunks
            .get(id / CHUNK)
            .and_then(|c| c.get(id % CHUNK))
            .and_then(Option::as_ref)
    }

    pub(crate) fn get_mut(&mut self, id: CallId) -> Option<&mut Call> {
        let id = id as usize;
        self.chunks
            .get_mut(id / CHUNK)
            .and_then(|c| c.get_mut(id % CHUNK))
            .and_then(Option::as_mut)
    }

    pub(crate) fn find(&self, key: &CallKey) -> Option<CallId> {
        let chunks = &self.chunks;
        self.index
            .find(key.hash(), |&id| {
                let i = id as usize;
                chunks[i / CHUNK][i % CHUNK]
                    .as_ref()
                    .is_some_and(|c| c.key == *key)
            })
            .copied()
    }

    pub(crate) fn insert(&mut self, call: Call) -> CallId {
        let hash = call.key.hash();
        let id = match self.free.pop() {
            Some(id) => {
                let i = id as usize;
                self.chunks[i / CHUNK][i % CHUNK] = Some(call);
                id
            }
            None => {
                if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                    self.chunks.push(Vec::with_capacity(CHUNK));
                }
                let n = self.chunks.len() - 1;
                let chunk = &mut self.chunks[n];
                chunk.push(Some(call));
                (n * CHUNK + chunk.len() - 1) as CallId
            }
        };
        let chunks = &self.chunks;
        self.index.insert_unique(hash, id, |&other| {
            let i = other as usize;
            chunks[i / CHUNK][i % CHUNK]
                .as_ref()
                .map_or(0, |c| c.key.hash())
        });
        self.len += 1;
        id
    }

    /// Removes call `id`, handing it to `last` first, in place: a record is not copied out to be dropped.
    /// False when there is no such call.
    pub(crate) fn remove_with(&mut self, id: CallId, last: impl FnOnce(&mut Call)) -> bool {
        let i = id as usize;
        let Some(slot) = self
            .chunks
            .get_mut(i / CHUNK)
            .and_then(|c| c.get_mut(i % CHUNK))
        else {
            return false;
        };
        let Some(call) = slot.as_mut() else {
            return false;
        };
        // Before `last`, which may take the key.
        let hash = call.key.hash();
        last(call);
        *slot = None;
        if let Ok(entry) = self.index.find_entry(hash, |&other| other == id) {
            entry.remove();
        }
        self.free.push(id);
        self.len -= 1;
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Call> {
        self.chunks.iter().flatten().flatten()
    }

    /// Slot numbers of the calls `pred` selects.
    pub(crate) fn select(&self, pred: impl Fn(&Call) -> bool) -> Vec<CallId> {
        let mut out = Vec::new();
        for (n, chunk) in self.chunks.iter().enumerate() {
            for (i, slot) in chunk.iter().enumerate() {
                if slot.as_ref().is_some_and(&pred) {
                    out.push((n * CHUNK + i) as CallId);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn call(key: &str) -> Call {
        Call {
            key: CallKey::new(key.as_bytes()),
            start_ts: 0.0,
            enter_ts: 0.0,
            answer_ts: 0.0,
            plays: 0.0,
            idle_deadline: 0.0,
            caller: crate::callers::Caller::NONE,
            journey: Journey::new(),
            moh_seconds: 0.0,
            moh_since: f64::NAN,
            moh_track: 30.0,
            moh_events: false,
            queue: 0,
            seq: 0,
            transfers: 0,
            state: CallState::Waiting,
            flags: 0,
        }
    }

    #[test]
    fn call_ids_alike_hash_apart() {
        // Ids a switch hands out differ in a digit or two: their hashes must not collide, in the low bits
        // that pick a bucket either.
        let ids: std::collections::BTreeSet<String> = (0..200_000)
            .flat_map(|i| {
                [
                    format!("1700000000.{i}"),
                    format!("{}.{}", 1_700_000_000 + i, i + 1),
                    format!("pbx-{i:08}"),
                ]
            })
            .collect();
        assert!(ids.len() > 599_000);
        let mut hashes = std::collections::HashSet::new();
        let mut buckets = std::collections::HashSet::new();
        for id in ids {
            let h = CallKey::new(id.as_bytes()).hash();
            assert!(hashes.insert(h), "{id}");
            buckets.insert(h & 0xf_ffff);
        }
        // 600 k keys into 2^20 buckets: about 44 % of them occupied if spread at random.
        assert!(buckets.len() > 420_000, "{}", buckets.len());
    }

    #[test]
    fn insert_find_remove_and_reuse_slots() {
        let mut t = CallTable::default();
        let ids: Vec<CallId> = (0..10_000)
            .map(|i| t.insert(call(&format!("1700000000.{i}"))))
            .collect();
        assert_eq!(t.len(), 10_000);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(
                t.find(&CallKey::new(format!("1700000000.{i}").as_bytes())),
                Some(*id)
            );
        }
        for id in ids.iter().step_by(2) {
            assert!(t.remove_with(*id, |_| {}));
        }
        assert_eq!(t.len(), 5_000);
        assert_eq!(t.find(&CallKey::new(b"1700000000.0")), None);
        let reused = t.insert(call("a-call-id-longer-than-twenty-three-bytes"));
        assert!(ids.contains(&reused));
        assert_eq!(
            t.find(&CallKey::new(b"a-call-id-longer-than-twenty-three-bytes")),
            Some(reused)
        );
        assert_eq!(t.iter().count(), 5_001);
    }
}
