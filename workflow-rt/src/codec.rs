//! Small helpers shared by the runtime, the test driver and the generated code, each written
//! once: exact decoding, the two hashes, and the text of a panic.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Decodes `bytes` as a `T` that must take all of them: a payload with bytes left over is
/// another type's (a `String` whose bytes happen to start like a `u64`), not a `T`.
pub(crate) fn decode_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| e.to_string())?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(format!(
            "{} of {} bytes are left over after the value",
            rest.len(),
            bytes.len()
        ))
    }
}

/// Encodes `value` (postcard), turning the error into text.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(value).map_err(|e| e.to_string())
}

/// The SplitMix64 output function: a well-mixed `u64` from any `u64` (the generator's state is
/// one counter stepped by [`SPLITMIX_GAMMA`]). Used for the workflows' deterministic random
/// numbers, retry jitter and the test driver's shuffled tie-breaks.
pub(crate) const fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The step of SplitMix64's counter.
pub(crate) const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// FNV-1a's offset basis.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Folds `bytes` into the FNV-1a hash `h` (start from [`FNV_OFFSET`]).
pub(crate) const fn fnv1a_extend(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u64).wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_must_take_every_byte() {
        let bytes = postcard::to_stdvec(&"hello".to_string()).unwrap();
        assert_eq!(decode_exact::<String>(&bytes).unwrap(), "hello");
        // A u8 reads the length byte and leaves the rest.
        let e = decode_exact::<u8>(&bytes).unwrap_err();
        assert!(e.contains("5 of 6 bytes are left over"), "{e}");
        assert!(decode_exact::<u64>(&[]).is_err());
    }

    #[test]
    fn the_hashes_are_the_published_ones() {
        // FNV-1a 64 of "a" (http://www.isthe.com/chongo/tech/comp/fnv/).
        assert_eq!(fnv1a_extend(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        // SplitMix64 seeded with 0: first output 0xe220a8397b1dcdaf (Vigna's reference code).
        assert_eq!(splitmix64(SPLITMIX_GAMMA), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn panic_messages() {
        let p = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(&*p), "boom 1");
        let p = std::panic::catch_unwind(|| std::panic::panic_any(5u8)).unwrap_err();
        assert_eq!(panic_message(&*p), "a panic with a non-string payload");
    }
}
