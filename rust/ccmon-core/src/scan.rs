//! Byte searches for short lines and strings (AMI and ESL headers, JSON strings and keys), eight bytes at a
//! time (SWAR) or sixteen with one SSE2 compare: for a few words, memchr's setup costs more than the search.

/// A word of eight ones bytes, and of eight high bits.
pub const ONES: u64 = 0x0101_0101_0101_0101;
pub const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` equal to `c`, exact up to the lowest one (a borrow can mark a byte above
/// a true one, never below it): its `trailing_zeros() / 8` is the first such byte.
#[inline]
pub fn bytes_equal(w: u64, c: u8) -> u64 {
    let x = w ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & HIGH
}

/// The index of the first `byte` in `b` from `from`, eight bytes at a time: the lines of a switch protocol
/// are a few words long.
#[inline]
pub fn find_byte(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    let mut i = from;
    while let Some(bytes) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        let marks = bytes_equal(u64::from_le_bytes(word), byte);
        if marks != 0 {
            return Some(i + (marks.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?.iter().position(|&c| c == byte).map(|p| i + p)
}

/// Bit i: byte i of `chunk` is `x` or `y` (pass the same byte twice for one).
#[inline(always)]
fn marks16(chunk: &[u8; 16], x: u8, y: u8) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use safe_arch::{
            bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
            set_splat_i8_m128i,
        };
        let v = load_unaligned_m128i(chunk);
        let hits = bitor_m128i(
            cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(x as i8)),
            cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(y as i8)),
        );
        // movemask gives 16 bits in an i32; the cast keeps exactly those bits.
        u32::from(move_mask_i8_m128i(hits) as u16)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        chunk
            .iter()
            .enumerate()
            .fold(0, |m, (i, &c)| m | (u32::from(c == x || c == y) << i))
    }
}

/// Bit i: byte i of `block` (16 to 64 bytes) is `x`. One SSE2 compare per 16 bytes on x86-64: an AMI header
/// line's colon and end in 32 bytes, a frame's line ends in 64.
#[inline(always)]
pub fn marks<const N: usize>(block: &[u8; N], x: u8) -> u64 {
    const { assert!(N <= 64) };
    let (chunks, _) = block.as_chunks::<16>();
    chunks.iter().enumerate().fold(0, |m, (i, chunk)| {
        m | u64::from(marks16(chunk, x, x)) << (16 * i)
    })
}

/// Up to 32 bytes a text is expected to start with (a switch protocol's `Name: `, a JSON line's `,"key":`),
/// checked against 32 bytes of the text in one masked SSE2 compare on x86-64.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prefix {
    bytes: [[u8; 16]; 2],
    mask: [[u8; 16]; 2],
    len: usize,
}

/// `MASKS[n]`: the first `n` of 32 bytes (a load costs less than a shift of a 128-bit mask).
pub(crate) const MASKS: [[[u8; 16]; 2]; 33] = {
    let mut masks = [[[0u8; 16]; 2]; 33];
    let mut n = 1;
    while n <= 32 {
        masks[n] = masks[n - 1];
        masks[n][(n - 1) / 16][(n - 1) % 16] = 0xff;
        n += 1;
    }
    masks
};

impl Prefix {
    /// The prefix `bytes`; `None` when it is empty or longer than 32 bytes.
    pub const fn new(bytes: &[u8]) -> Option<Prefix> {
        if bytes.is_empty() || bytes.len() > 32 {
            return None;
        }
        let mut words = [[0u8; 16]; 2];
        let mut i = 0;
        while i < bytes.len() {
            words[i / 16][i % 16] = bytes[i];
            i += 1;
        }
        Some(Prefix {
            bytes: words,
            mask: MASKS[bytes.len()],
            len: bytes.len(),
        })
    }

    /// Its bytes, 1 to 32 (0 for the default, which every text starts with).
    #[inline(always)]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether `window`, 32 bytes of a text, starts with it.
    #[inline(always)]
    pub fn starts(&self, window: &[u8; 32]) -> bool {
        let (halves, _) = window.as_chunks::<16>();
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            use safe_arch::{
                bitand_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
            };
            let same = |i: usize| {
                cmp_eq_mask_i8_m128i(
                    bitand_m128i(
                        load_unaligned_m128i(&halves[i]),
                        load_unaligned_m128i(&self.mask[i]),
                    ),
                    load_unaligned_m128i(&self.bytes[i]),
                )
            };
            move_mask_i8_m128i(bitand_m128i(same(0), same(1))) == 0xffff
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            (0..32).all(|i| {
                halves[i / 16][i % 16] & self.mask[i / 16][i % 16] == self.bytes[i / 16][i % 16]
            })
        }
    }
}

/// The index of the first `x` or `y` in `b` from `from`, sixteen bytes a compare (SSE2 on x86-64): a header
/// name or value of a switch protocol is found in one or two steps.
#[inline(always)]
pub fn find_either(b: &[u8], from: usize, x: u8, y: u8) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 16).and_then(|c| c.first_chunk::<16>()) {
        let m = marks16(chunk, x, y);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    b.get(i..)?
        .iter()
        .position(|&c| c == x || c == y)
        .map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_1_to_32_bytes() {
        assert!(Prefix::new(b"").is_none());
        assert!(Prefix::new(&[b'a'; 33]).is_none());
        let window = [b'a'; 32];
        assert!(Prefix::new(&[b'a'; 32]).is_some_and(|p| p.starts(&window) && p.len() == 32));
        assert!(Prefix::new(b"ab").is_some_and(|p| !p.starts(&window)));
    }

    proptest::proptest! {
        #[test]
        fn searches_find_what_a_plain_search_finds(
            b in proptest::collection::vec(proptest::sample::select(vec![b'a', b':', b'\n', b'\r', 0xff]), 0..160),
            from in 0usize..90,
        ) {
            let plain = |hit: &dyn Fn(u8) -> bool| {
                b.get(from..).and_then(|rest| rest.iter().position(|&c| hit(c))).map(|p| from + p)
            };
            proptest::prop_assert_eq!(find_byte(&b, from, b':'), plain(&|c| c == b':'));
            proptest::prop_assert_eq!(find_either(&b, from, b':', b'\n'), plain(&|c| c == b':' || c == b'\n'));
            proptest::prop_assert_eq!(find_either(&b, from, b'\n', b'\n'), plain(&|c| c == b'\n'));
            if let Some(block) = b.get(from..).and_then(|rest| rest.first_chunk::<64>()) {
                let bits = block.iter().enumerate().fold(0u64, |m, (i, &x)| m | (u64::from(x == b'\n') << i));
                proptest::prop_assert_eq!(marks(block, b'\n'), bits);
            }
            if let Some(window) = b.get(from..).and_then(|rest| rest.first_chunk::<32>()) {
                let bits = |c: u8| window.iter().enumerate().fold(0u64, |m, (i, &x)| m | (u64::from(x == c) << i));
                proptest::prop_assert_eq!((marks(window, b':'), marks(window, b'\n')), (bits(b':'), bits(b'\n')));
                // A prefix of the window itself, or of the window with one byte changed.
                let len = 1 + from % 32;
                for change in [None, Some(from % 32)] {
                    let mut bytes = window[..len].to_vec();
                    if let Some(byte) = change.and_then(|i| bytes.get_mut(i)) {
                        *byte ^= 1;
                    }
                    let Some(prefix) = Prefix::new(&bytes) else {
                        return Err(proptest::test_runner::TestCaseError::fail("a prefix of 1 to 32 bytes"));
                    };
                    let same = change.is_none_or(|i| i >= len);
                    proptest::prop_assert_eq!(prefix.starts(window), same);
                }
            }
        }
    }
}
