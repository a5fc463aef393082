//! Model file bytes: a [`ModelFile`](super::ModelFile) in, the bytes of a model file out, and
//! back.
//!
//! Formats 2 and 3 frame the bincode payload so that a damaged file is refused before a single
//! byte of it is decoded:
//!
//! | bytes | what |
//! |---|---|
//! | 0..8 | magic `ZCMODEL\0` |
//! | 8..12 | format, `u32` little-endian (3; 2 before feature specs had trends) |
//! | 12..20 | payload length, `u64` little-endian |
//! | 20..24 | CRC-32 (IEEE) of the payload, `u32` little-endian |
//! | 24.. | the payload: the bincode of the [`ModelFile`] |
//!
//! Format 3 (written by this version) differs from format 2 only in the payload: its feature
//! spec says whether it has the trend features. Formats 2 and 1 (unframed bincode, written
//! before framing) still load, as specs without trends. Either way the payload is decoded
//! with a memory limit that grows with the file's length, so a crafted length prefix cannot
//! ask for a big allocation.

/// The first bytes of every framed model file.
pub const FRAME_MAGIC: &[u8; 8] = b"ZCMODEL\0";
/// The format this version writes.
pub const FORMAT: u32 = 3;
/// The first framed format (specs without trends; still read).
pub const FIRST_FRAMED_FORMAT: u32 = 2;
/// The unframed format written before framing (still read).
pub const LEGACY_FORMAT: u32 = 1;
const HEADER_BYTES: usize = 24;
/// The most bytes any model file's contents may claim when decoded.
const MAX_MODEL_BYTES: usize = 1 << 30;

/// Frames an encoded [`ModelFile`](super::ModelFile): header, checksum, payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
    bytes.extend_from_slice(FRAME_MAGIC);
    bytes.extend_from_slice(&FORMAT.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// What a file's bytes hold once the frame (if any) is checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A framed payload whose length and checksum match its header, and its format.
    Framed(&'a [u8], u32),
    /// Bytes without a frame: a format 1 file (or not a model at all).
    Legacy(&'a [u8]),
}

impl<'a> Payload<'a> {
    /// The bytes to decode.
    pub fn bytes(&self) -> &'a [u8] {
        match self {
            Payload::Framed(b, _) | Payload::Legacy(b) => b,
        }
    }

    /// The format the decoded model must declare.
    pub fn format(&self) -> u32 {
        match self {
            Payload::Framed(_, format) => *format,
            Payload::Legacy(_) => LEGACY_FORMAT,
        }
    }
}

/// Checks the frame of `bytes`: its format, length and checksum. Says what is wrong.
///
/// ```
/// use zonecast::model::encoding::{frame, unframe, Payload};
/// let bytes = frame(b"payload");
/// assert_eq!(unframe(&bytes), Ok(Payload::Framed(b"payload".as_slice(), 3)));
/// let mut damaged = bytes.clone();
/// *damaged.last_mut().unwrap() ^= 1;
/// assert!(unframe(&damaged).unwrap_err().contains("checksum"));
/// ```
pub fn unframe(bytes: &[u8]) -> Result<Payload<'_>, String> {
    if !bytes.starts_with(FRAME_MAGIC) {
        return Ok(Payload::Legacy(bytes));
    }
    if bytes.len() < HEADER_BYTES {
        return Err(format!(
            "truncated: {} bytes, shorter than the {HEADER_BYTES}-byte header",
            bytes.len()
        ));
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let format = word(8);
    if !(FIRST_FRAMED_FORMAT..=FORMAT).contains(&format) {
        return Err(if format > FORMAT {
            format!(
                "format {format} is newer than this zonecast reads ({FORMAT}); upgrade zonecast"
            )
        } else {
            format!("unknown framed format {format}")
        });
    }
    let length = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let payload = &bytes[HEADER_BYTES..];
    if length != payload.len() as u64 {
        return Err(format!(
            "truncated or padded: the header says {length} payload bytes, the file has {}",
            payload.len()
        ));
    }
    let (expected, actual) = (word(20), crc32fast::hash(payload));
    if expected != actual {
        return Err(format!(
            "checksum mismatch (header {expected:08x}, contents {actual:08x}): the file is damaged"
        ));
    }
    Ok(Payload::Framed(payload, format))
}

/// Decodes `bytes` with a limit on what the contents may claim that grows with the file:
/// decoded memory is at most 64 times the file length (plus 64 KiB), in tiers up to
/// [`MAX_MODEL_BYTES`], so a crafted length prefix in a small file cannot ask for a big
/// allocation. Returns the model and the bytes used.
pub fn decode_bounded<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    use bincode::config::standard;
    use bincode::serde::decode_from_slice;
    let claim = bytes.len().saturating_mul(64).saturating_add(64 << 10);
    match claim {
        c if c <= 1 << 20 => decode_from_slice(bytes, standard().with_limit::<{ 1 << 20 }>()),
        c if c <= 16 << 20 => decode_from_slice(bytes, standard().with_limit::<{ 16 << 20 }>()),
        c if c <= 256 << 20 => decode_from_slice(bytes, standard().with_limit::<{ 256 << 20 }>()),
        _ => decode_from_slice(bytes, standard().with_limit::<MAX_MODEL_BYTES>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_damaged_header_is_refused_with_its_reason() {
        let bytes = frame(b"0123456789");
        assert!(unframe(&bytes[..10]).unwrap_err().contains("truncated"));
        assert!(unframe(&bytes[..bytes.len() - 1])
            .unwrap_err()
            .contains("the header says 10"));
        let mut newer = bytes.clone();
        newer[8] = 9;
        assert!(unframe(&newer).unwrap_err().contains("upgrade zonecast"));
        let mut long = bytes.clone();
        long[12] = 0xff;
        assert!(unframe(&long).unwrap_err().contains("truncated or padded"));
        let mut flipped = bytes.clone();
        flipped[20] ^= 0x80;
        assert!(unframe(&flipped).unwrap_err().contains("checksum"));
        assert_eq!(unframe(b"plain"), Ok(Payload::Legacy(b"plain".as_slice())));
    }
}
