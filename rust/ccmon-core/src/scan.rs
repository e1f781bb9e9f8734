//! Byte searches eight bytes at a time (SWAR), for short lines and strings (AMI and ESL headers, JSON
//! strings and keys): for a few words, memchr's setup costs more than the search.

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

/// The index of the first `x` or `y` in `b` from `from`, eight bytes at a time.
#[inline]
pub fn find_either(b: &[u8], from: usize, x: u8, y: u8) -> Option<usize> {
    let mut i = from;
    while let Some(bytes) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        let w = u64::from_le_bytes(word);
        // Each mask is exact up to its lowest mark, so the lower of the two lowest is exact.
        let marks = bytes_equal(w, x) | bytes_equal(w, y);
        if marks != 0 {
            return Some(i + (marks.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?
        .iter()
        .position(|&c| c == x || c == y)
        .map(|p| i + p)
}
