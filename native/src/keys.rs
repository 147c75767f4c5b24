//! Python keys and values as bytes: exact, so that two keys are one key here
//! exactly when Python finds them equal (for the types riskstream uses).
//!
//! A `str` is its UTF-8 bytes; anything else starts with 0xFF, a byte UTF-8
//! never holds: `None`, an `int` (or `bool`, equal to its int in Python) as
//! its decimal digits, a tuple as its parts each with a tag and a length.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString, PyTuple};

const OTHER: u8 = 0xFF;

/// Append the encoding of `obj` to `buf`.
pub fn encode(obj: &Bound<'_, PyAny>, buf: &mut Vec<u8>) -> PyResult<()> {
    if let Ok(s) = obj.downcast::<PyString>() {
        match s.to_str() {
            Ok(text) => buf.extend_from_slice(text.as_bytes()),
            Err(_) => {
                // lone surrogates: not UTF-8, so tag them apart from any str that is
                let raw = s.call_method1("encode", ("utf-8", "surrogatepass"))?;
                buf.push(OTHER);
                buf.push(b'u');
                buf.extend_from_slice(raw.extract::<&[u8]>()?);
            }
        }
        return Ok(());
    }
    buf.push(OTHER);
    encode_other(obj, buf)
}

fn encode_other(obj: &Bound<'_, PyAny>, buf: &mut Vec<u8>) -> PyResult<()> {
    if obj.is_none() {
        buf.push(b'n');
    } else if let Ok(b) = obj.downcast::<PyBool>() {
        buf.push(b'i');
        buf.push(if b.is_true() { b'1' } else { b'0' });
    } else if obj.downcast::<PyInt>().is_ok() {
        buf.push(b'i');
        buf.extend_from_slice(obj.str()?.to_str()?.as_bytes());
    } else if let Ok(t) = obj.downcast::<PyTuple>() {
        buf.push(b't');
        buf.extend_from_slice(&(t.len() as u32).to_le_bytes());
        let mut part = Vec::new();
        for item in t.iter() {
            part.clear();
            encode(&item, &mut part)?;
            buf.extend_from_slice(&(part.len() as u32).to_le_bytes());
            buf.extend_from_slice(&part);
        }
    } else {
        return Err(PyTypeError::new_err(format!(
            "window keys and distinct values must be str, int, None or tuples of them, not {}",
            obj.get_type().name()?
        )));
    }
    Ok(())
}

/// The Python value of an encoding made by [`encode`].
pub fn decode<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    use pyo3::IntoPyObjectExt;
    if bytes.first() != Some(&OTHER) {
        return std::str::from_utf8(bytes).expect("str keys are UTF-8").into_bound_py_any(py);
    }
    let body = &bytes[2..];
    match bytes[1] {
        b'n' => Ok(py.None().into_bound(py)),
        b'i' => py.import("builtins")?.getattr("int")?.call1((std::str::from_utf8(body).expect("digits"),)),
        b'u' => pyo3::types::PyBytes::new(py, body).call_method1("decode", ("utf-8", "surrogatepass")),
        b't' => {
            let n = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
            let mut at = 4;
            let mut parts = Vec::with_capacity(n);
            for _ in 0..n {
                let len = u32::from_le_bytes(body[at..at + 4].try_into().unwrap()) as usize;
                at += 4;
                parts.push(decode(py, &body[at..at + len])?);
                at += len;
            }
            Ok(PyTuple::new(py, parts)?.into_any())
        }
        tag => unreachable!("unknown key tag {tag}"),
    }
}
