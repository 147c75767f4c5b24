//! Quantities and amounts as Python gave them: an int stays an int, a float a float,
//! so the aggregates a window returns have the types the pure-Python window returns.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList};
use pyo3::sync::GILOnceCell;
use pyo3::IntoPyObjectExt;

#[derive(Clone, Copy, Debug)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub fn extract(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Num> {
        if let Ok(f) = obj.downcast::<PyFloat>() {
            return Ok(Num::Float(f.value()));
        }
        if obj.downcast::<PyInt>().is_ok() && obj.downcast::<PyBool>().is_err() {
            return Ok(Num::Int(obj.extract::<i64>()?));
        }
        Err(PyTypeError::new_err(format!("{what} must be an int or a float, not {}", obj.get_type().name()?)))
    }

    /// The value as a float, as Python's `float + int` converts it.
    #[inline]
    pub fn f(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(x) => x,
        }
    }

    pub fn to_py(self, py: Python<'_>) -> PyResult<PyObject> {
        match self {
            Num::Int(i) => i.into_py_any(py),
            Num::Float(x) => x.into_py_any(py),
        }
    }
}

/// Python's `sum()` of these numbers, by Python itself (an int, or a float in
/// its own summation order, whatever the CPython version does).
pub fn py_sum<'py>(py: Python<'py>, nums: impl Iterator<Item = Num>) -> PyResult<PyObject> {
    let list = PyList::empty(py);
    for n in nums {
        list.append(n.to_py(py)?)?;
    }
    static SUM: GILOnceCell<PyObject> = GILOnceCell::new();
    let sum = SUM.get_or_try_init(py, || -> PyResult<PyObject> { Ok(py.import("builtins")?.getattr("sum")?.unbind()) })?;
    Ok(sum.call1(py, (list,))?)
}
