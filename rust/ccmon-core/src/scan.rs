//! Byte searches for the short lines of the switch protocols (AMI and ESL headers), eight bytes at a time:
//! for a line a few words long, memchr's setup costs more than the search.

/// The index of the first `byte` in `b` from `from`, eight bytes at a time: the lines of a switch protocol
/// are a few words long.
#[inline]
pub fn find_byte(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(bytes) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        let x = u64::from_le_bytes(word) ^ (ONES * u64::from(byte));
        // The high bit of each byte equal to `byte`; a borrow can mark a byte above a true one, never below.
        let marks = x.wrapping_sub(ONES) & !x & HIGH;
        if marks != 0 {
            return Some(i + (marks.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?.iter().position(|&c| c == byte).map(|p| i + p)
}
