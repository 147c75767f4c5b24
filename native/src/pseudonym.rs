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

/// The pseudonym of `value` in the domain `kind` under `key`: 20 lower-case hex characters.
#[pyfunction]
pub fn pseudonym(kind: &str, value: &str, key: &[u8]) -> PyResult<String> {
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
    Mac::update(&mut mac, value.as_bytes());
    let digest = mac.finalize_fixed();
    let mut out = String::with_capacity(20);
    for b in digest.iter() {
        out.push(char::from_digit((b >> 4) as u32, 16).unwrap());
        out.push(char::from_digit((b & 15) as u32, 16).unwrap());
    }
    Ok(out)
}
