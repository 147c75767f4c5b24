//! Keyed pseudonyms: the native twin of `riskstream.entities.pseudonyms.pseudonym`.
//!
//! Keyed BLAKE2b, 10-byte digest, personalisation `riskstream.pn.v1`, over the
//! kind (4-byte big-endian length, then its UTF-8) and then the value.  A key
//! longer than BLAKE2b's 64 bytes is hashed to 64 bytes by the caller first
//! (`riskstream.entities.pseudonyms.mac_key`).  The same bytes as Python's
//! `hashlib.blake2b`.

use blake2::digest::consts::U10;
use blake2::digest::{FixedOutput, Mac};
use blake2::Blake2bMac;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

const PERSON: &[u8] = b"riskstream.pn.v1";

/// The hash state of the domain `kind` under `key`, before any value: clone it per value
/// (what `_pseudonym_hasher` is in Python).
pub fn domain(kind: &str, key: &[u8]) -> PyResult<Blake2bMac<U10>> {
    if key.is_empty() {
        return Err(PyValueError::new_err("pseudonym key must not be empty"));
    }
    if key.len() > 64 {
        return Err(PyValueError::new_err("pseudonym keys longer than 64 bytes are hashed to 64 first (see mac_key)"));
    }
    let mut mac = Blake2bMac::<U10>::new_with_salt_and_personal(key, &[], PERSON)
        .map_err(|e| PyValueError::new_err(format!("pseudonym key: {e}")))?;
    Mac::update(&mut mac, &(kind.len() as u32).to_be_bytes());
    Mac::update(&mut mac, kind.as_bytes());
    Ok(mac)
}

/// The pseudonym of `value` in a domain (see [`domain`]) as its 80 bits (the digest read big-endian).
pub fn bits(domain: &Blake2bMac<U10>, value: &str) -> u128 {
    let mut mac = domain.clone();
    Mac::update(&mut mac, value.as_bytes());
    mac.finalize_fixed().iter().fold(0u128, |acc, &b| acc << 8 | b as u128)
}

/// The text of a pseudonym's 80 bits: 20 lower-case hex characters.
pub fn hex(bits: u128) -> String {
    format!("{bits:020x}")
}

/// The pseudonym of `value` in a domain (see [`domain`]): 20 lower-case hex characters.
pub fn of(domain: &Blake2bMac<U10>, value: &str) -> String {
    hex(bits(domain, value))
}

/// The pseudonym of `value` in the domain `kind` under `key`: 20 lower-case hex characters.
#[pyfunction]
pub fn pseudonym(kind: &str, value: &str, key: &[u8]) -> PyResult<String> {
    Ok(of(&domain(kind, key)?, value))
}
