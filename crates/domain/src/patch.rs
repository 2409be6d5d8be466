//! Helpers for JSON merge-patch style updates, where `null` clears a field and an absent
//! field leaves it alone.

use serde::{Deserialize, Deserializer};

/// Deserializes a present field (even `null`) as `Some(..)`, so that together with
/// `#[serde(default)]` an absent field is `None` and `null` is `Some(None)`.
///
/// # Errors
/// Propagates the inner deserializer's error.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}
