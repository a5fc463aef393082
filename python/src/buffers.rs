//! Column buffers: Rust vectors in, Python `bytes` of little-endian values out (and back);
//! the package turns them into numpy arrays with `numpy.frombuffer`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Values that cross as fixed-width little-endian bytes.
pub trait Le: Copy {
    /// Width in bytes.
    const WIDTH: usize;
    /// Appends the value.
    fn put(self, out: &mut Vec<u8>);
    /// Reads one value.
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! le {
    ($($t:ty),*) => {$(
        impl Le for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("width"))
            }
        }
    )*};
}
le!(f64, i64, u8);

/// A column as Python `bytes`.
pub fn to_bytes<'py, T: Le>(
    py: Python<'py>,
    values: impl IntoIterator<Item = T>,
) -> Bound<'py, PyBytes> {
    let values = values.into_iter();
    let mut out = Vec::with_capacity(values.size_hint().0 * T::WIDTH);
    for v in values {
        v.put(&mut out);
    }
    PyBytes::new(py, &out)
}

/// A column from bytes (`None` if the length is not a multiple of the width).
pub fn from_bytes<T: Le>(bytes: &[u8]) -> Option<Vec<T>> {
    if !bytes.len().is_multiple_of(T::WIDTH) {
        return None;
    }
    Some(bytes.chunks_exact(T::WIDTH).map(T::get).collect())
}
