//! The repeat-caller table: what ccmon remembers about each caller number for a day (SPEC §6).
//!
//! It is the one large, randomly accessed structure of the engine (a busy site sees ~100 k callers a day), so
//! its layout is chosen for the cache: open addressing with linear probing over two flat arrays, the keys (8 per
//! cache line, so a probe sequence rarely leaves one line) and the records beside them at the same index. A
//! caller's slot can be computed before its event is applied, which lets the engine prefetch it a few lines
//! ahead: a miss to memory costs as much as the rest of an entry's work (benches/README.md).

/// A caller number reduced to digits and packed into 64 bits; `NONE` never counts as a repeat caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Caller(u64);

impl Caller {
    pub const NONE: Caller = Caller(0);

    /// SPEC §6: empty, `anonymous`, `unknown`, `restricted` or non-numeric after stripping `+ -()` and spaces
    /// never count. Up to 17 digits are packed exactly with their length (leading zeros matter); longer numbers
    /// are hashed into the space above.
    pub fn from_number(raw: &[u8]) -> Caller {
        Self::plain_digits(raw).unwrap_or_else(|| Self::from_any_number(raw))
    }

    /// A number of 1 to 16 bytes, all digits, as a trunk sends it: read eight digits at a time, packed as
    /// [`Caller::from_number`] packs it. `None` for anything else.
    #[inline]
    fn plain_digits(raw: &[u8]) -> Option<Caller> {
        let len = raw.len();
        if len == 0 || len > 16 {
            return None;
        }
        // Right-aligned after '0's, which add nothing to the value; the length keeps leading zeros apart.
        let mut padded = [b'0'; 16];
        padded.get_mut(16 - len..)?.copy_from_slice(raw);
        let digits = crate::queue_log::sixteen_digits(&padded)?;
        Some(Caller(((len as u64) << 59) | digits))
    }

    fn from_any_number(raw: &[u8]) -> Caller {
        let mut digits: u64 = 0;
        let mut len: u64 = 0;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in raw {
            match b {
                b'0'..=b'9' => {
                    len += 1;
                    if len <= 17 {
                        digits = digits * 10 + u64::from(b - b'0');
                    }
                    hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
                b'+' | b'-' | b'(' | b')' | b' ' => {}
                _ => return Caller::NONE,
            }
        }
        match len {
            0 => Caller::NONE,
            1..=17 => Caller((len << 59) | digits),
            _ => Caller((18 << 59) | (hash >> 5)),
        }
    }

    /// The digits again, for the user who asked to see caller numbers.
    pub fn digits(self) -> Option<String> {
        let len = self.0 >> 59;
        match len {
            1..=17 => Some(format!(
                "{:0width$}",
                self.0 & ((1 << 59) - 1),
                width = len as usize
            )),
            _ => None,
        }
    }
}

/// What the table keeps per caller (24 bytes, plus its 8-byte key).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallerRecord {
    pub(crate) last_start: f64,
    /// The caller's most recent talk end, for misroutes; −∞ when none.
    pub(crate) talk_end: f64,
    pub(crate) talk_queue: u32,
    /// That talk was shorter than `misroute_talk_seconds` (decided in full precision when it ended).
    pub(crate) talk_short: bool,
    pub(crate) misroute_counted: bool,
}

impl CallerRecord {
    /// A caller never seen before.
    pub(crate) const NEW: CallerRecord = CallerRecord {
        last_start: f64::NEG_INFINITY,
        talk_end: f64::NEG_INFINITY,
        talk_queue: 0,
        talk_short: false,
        misroute_counted: false,
    };
}

/// Smallest number of slots; a power of two like every size of the table.
const MIN_SLOTS: usize = 1024;

/// Caller → record. Slots hold `Caller::NONE` (key 0) when empty: that caller is never stored. Entries are only
/// ever removed all at once by [`CallerTable::retain`], which rebuilds the arrays, so probing needs no
/// tombstones.
pub(crate) struct CallerTable {
    keys: Vec<u64>,
    records: Vec<CallerRecord>,
    /// `64 - log2(slots)`: the slot of a key is the top bits of its Fibonacci hash.
    shift: u32,
    len: usize,
}

impl Default for CallerTable {
    fn default() -> Self {
        Self::with_slots(MIN_SLOTS)
    }
}

impl CallerTable {
    fn with_slots(slots: usize) -> Self {
        CallerTable {
            keys: vec![0; slots],
            records: vec![CallerRecord::NEW; slots],
            shift: 64 - slots.trailing_zeros(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Where `caller`'s probe sequence starts. The packed digits of numbers from one area share their high
    /// bits; the multiply by 2⁶⁴/φ spreads them over the whole table.
    fn home(&self, caller: Caller) -> usize {
        (caller.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The slot holding `caller`, or the empty slot where it would go. The load stays at most 3/4, so there is
    /// always an empty slot and the walk ends.
    fn probe(&self, caller: Caller) -> (usize, bool) {
        let mask = self.keys.len() - 1;
        let mut i = self.home(caller);
        loop {
            match self.keys.get(i) {
                Some(&k) if k == caller.0 => return (i, true),
                Some(0) | None => return (i, false),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// Asks the CPU to start loading `caller`'s slot now, so that the lookup a few events later finds it in
    /// cache. Only a hint: it changes nothing, and on other architectures it does nothing.
    pub(crate) fn prefetch(&self, caller: Caller) {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
        {
            let i = self.home(caller);
            if let (Some(k), Some(r)) = (self.keys.get(i), self.records.get(i)) {
                safe_arch::prefetch_t0(k);
                safe_arch::prefetch_t0(r);
            }
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
        let _ = caller;
    }

    pub(crate) fn get_mut(&mut self, caller: Caller) -> Option<&mut CallerRecord> {
        if caller == Caller::NONE {
            return None;
        }
        match self.probe(caller) {
            (i, true) => self.records.get_mut(i),
            _ => None,
        }
    }

    /// The record of `caller` (not `NONE`), a new one if it had none.
    pub(crate) fn get_or_insert(&mut self, caller: Caller) -> Option<&mut CallerRecord> {
        if caller == Caller::NONE {
            return None;
        }
        if (self.len + 1) * 4 > self.keys.len() * 3 {
            self.grow();
        }
        let (i, found) = self.probe(caller);
        if !found {
            *self.keys.get_mut(i)? = caller.0;
            *self.records.get_mut(i)? = CallerRecord::NEW;
            self.len += 1;
        }
        self.records.get_mut(i)
    }

    /// Keeps the callers `keep` says to keep; the table shrinks to fit them.
    pub(crate) fn retain(&mut self, keep: impl Fn(Caller, &CallerRecord) -> bool) {
        let kept = self
            .keys
            .iter()
            .zip(&self.records)
            .filter(|(k, r)| **k != 0 && keep(Caller(**k), r))
            .count();
        if kept == self.len {
            // Nothing to drop (a table still filling its first window).
            return;
        }
        let survivors: Vec<(u64, CallerRecord)> = self
            .keys
            .iter()
            .zip(&self.records)
            .filter(|(k, r)| **k != 0 && keep(Caller(**k), r))
            .map(|(k, r)| (*k, *r))
            .collect();
        // Sized for the engine's next sweep (due when the table has doubled) so it does not grow on the way;
        // at the same size the arrays are cleared in place: a fresh allocation of megabytes costs page faults.
        let slots = Self::slots_for(survivors.len() * 2);
        if slots == self.keys.len() {
            self.keys.fill(0);
            self.len = 0;
        } else {
            *self = Self::with_slots(slots);
        }
        for (k, r) in survivors {
            self.put_new(k, r);
        }
    }

    /// The smallest size that holds `n` callers within the load limit.
    fn slots_for(n: usize) -> usize {
        (n * 4 / 3 + 1).next_power_of_two().max(MIN_SLOTS)
    }

    fn grow(&mut self) {
        let old = std::mem::replace(self, Self::with_slots(self.keys.len() * 2));
        for (k, r) in old.keys.into_iter().zip(old.records) {
            if k != 0 {
                self.put_new(k, r);
            }
        }
    }

    /// Stores a caller known to be absent, in a table with room for it.
    fn put_new(&mut self, key: u64, record: CallerRecord) {
        let (i, _) = self.probe(Caller(key));
        if let (Some(k), Some(r)) = (self.keys.get_mut(i), self.records.get_mut(i)) {
            *k = key;
            *r = record;
            self.len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    proptest::proptest! {
        /// The table behaves as a map from caller to record, through growth and sweeps.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((0u8..4, 0u64..3000), 0..5000)) {
            let mut table = CallerTable::default();
            let mut model: HashMap<u64, f64> = HashMap::new();
            for (step, (op, n)) in ops.into_iter().enumerate() {
                let caller = Caller::from_number(format!("6{n:08}").as_bytes());
                match op {
                    0 | 1 => {
                        table.get_or_insert(caller).unwrap().last_start = step as f64;
                        model.insert(caller.0, step as f64);
                    }
                    2 => {
                        let got = table.get_mut(caller).map(|r| r.last_start);
                        proptest::prop_assert_eq!(got, model.get(&caller.0).copied());
                    }
                    _ => {
                        let cut = (step / 2) as f64;
                        table.retain(|_, r| r.last_start >= cut);
                        model.retain(|_, t| *t >= cut);
                    }
                }
                proptest::prop_assert_eq!(table.len(), model.len());
            }
            for (k, t) in &model {
                proptest::prop_assert_eq!(table.get_mut(Caller(*k)).map(|r| r.last_start), Some(*t));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_digits_pack_as_any_number_does(
            raw in proptest::prop_oneof![
                proptest::strategy::Strategy::prop_map("[0-9]{0,20}", String::into_bytes),
                proptest::collection::vec(proptest::sample::select(b"0123456789+- a/:".to_vec()), 0..20),
            ],
        ) {
            if let Some(fast) = Caller::plain_digits(&raw) {
                proptest::prop_assert_eq!(fast, Caller::from_any_number(&raw));
            }
            proptest::prop_assert_eq!(Caller::from_number(&raw), Caller::from_any_number(&raw));
        }
    }

    #[test]
    fn plain_numbers_take_the_fast_path() {
        for raw in ["0600147811", "1", "0000000000000000", "9999999999999999"] {
            let fast = Caller::plain_digits(raw.as_bytes());
            assert_eq!(fast, Some(Caller::from_any_number(raw.as_bytes())), "{raw}");
            assert_eq!(fast.and_then(Caller::digits).as_deref(), Some(raw));
        }
        for raw in ["", "+44 20", "12345678901234567", "anonymous", "06001478a1"] {
            assert_eq!(Caller::plain_digits(raw.as_bytes()), None, "{raw}");
        }
    }

    #[test]
    fn the_none_caller_is_never_stored() {
        let mut table = CallerTable::default();
        assert!(table.get_or_insert(Caller::NONE).is_none());
        assert!(table.get_mut(Caller::NONE).is_none());
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn grows_past_its_first_size_and_keeps_every_caller() {
        let mut table = CallerTable::default();
        for n in 0..100_000u64 {
            table
                .get_or_insert(Caller::from_number(n.to_string().as_bytes()))
                .unwrap()
                .talk_queue = n as u32;
        }
        assert_eq!(table.len(), 100_000);
        assert!(table.keys.len() >= 100_000 * 4 / 3);
        for n in (0..100_000u64).step_by(7) {
            let rec = table.get_mut(Caller::from_number(n.to_string().as_bytes()));
            assert_eq!(rec.map(|r| r.talk_queue), Some(n as u32));
        }
    }
}
