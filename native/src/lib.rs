//! riskstream's native state core, behind PyO3.
//!
//! `VelocityWindow` is the twin of `riskstream.engine.windows.VelocityWindow`
//! (the pure-Python implementation, which stays the fallback and the oracle):
//! same methods, same aggregates, same types.  `ClusterIndex` is the twin of
//! `riskstream.graph.index.ClusterIndex`: the same clusters, ids and member orders.

mod cluster;
mod fuzzy;
mod keys;
mod matcher;
mod num;
mod pseudonym;
mod window;

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;

use num::{py_sum, Num};
use window::{Agg, Window};

/// An instance of the tuple subclass `class` (a named tuple) holding `items`, made as
/// `tuple.__new__` makes one.
pub(crate) fn new_tuple_of<I>(py: Python<'_>, class: &Py<PyType>, items: I) -> PyResult<PyObject>
where
    I: IntoIterator<Item = PyObject>,
    I::IntoIter: ExactSizeIterator,
{
    let items = items.into_iter();
    unsafe {
        let tp = class.as_ptr() as *mut ffi::PyTypeObject;
        let slot = ffi::PyType_GetSlot(tp, ffi::Py_tp_alloc);
        if slot.is_null() {
            return Err(PyErr::fetch(py));
        }
        let alloc: ffi::allocfunc = std::mem::transmute(slot);
        let obj = alloc(tp, items.len() as ffi::Py_ssize_t);
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        for (i, item) in items.into_iter().enumerate() {
            if ffi::PyTuple_SetItem(obj, i as ffi::Py_ssize_t, item.into_ptr()) != 0 {
                ffi::Py_DECREF(obj);
                return Err(PyErr::fetch(py));
            }
        }
        Ok(PyObject::from_owned_ptr(py, obj))
    }
}

/// Sliding-window aggregates of length `length` seconds, per key (native).
#[pyclass(module = "riskstream_native", name = "VelocityWindow")]
struct PyWindow {
    w: Window,
    aggregate: Py<PyType>,
    key_buf: Vec<u8>,
    val_buf: Vec<u8>,
}

impl PyWindow {
    /// An instance of the `Aggregate` named tuple.
    fn make(&self, py: Python<'_>, items: [PyObject; 4]) -> PyResult<PyObject> {
        new_tuple_of(py, &self.aggregate, items)
    }

    fn aggregate(&self, py: Python<'_>, agg: Agg) -> PyResult<PyObject> {
        match agg {
            Agg::Ready(count, qty, amt, distinct) => {
                self.make(py, [count.into_pyobject(py)?.into_any().unbind(), qty.to_py(py)?, amt.to_py(py)?,
                               distinct.into_pyobject(py)?.into_any().unbind()])
            }
            Agg::Range { slot, lo, hi, distinct } => {
                let qty = py_sum(py, self.w.range_entries(slot, lo, hi).map(|e| e.qty))?;
                let amt = py_sum(py, self.w.range_entries(slot, lo, hi).map(|e| e.amt))?;
                self.make(py, [((hi - lo) as i64).into_pyobject(py)?.into_any().unbind(), qty, amt,
                               distinct.into_pyobject(py)?.into_any().unbind()])
            }
        }
    }
}

#[pymethods]
impl PyWindow {
    #[new]
    #[pyo3(signature = (length, aggregate, *, distinct = false, grace = 300.0))]
    fn new(length: f64, aggregate: Bound<'_, PyType>, distinct: bool, grace: f64) -> PyResult<Self> {
        if !(length > 0.0) {
            return Err(PyValueError::new_err("window length must be positive"));
        }
        Ok(PyWindow { w: Window::new(length, distinct, grace), aggregate: aggregate.unbind(), key_buf: Vec::new(),
                      val_buf: Vec::new() })
    }

    #[getter]
    fn length(&self) -> f64 {
        self.w.length
    }

    #[getter]
    fn grace(&self) -> f64 {
        self.w.grace
    }

    #[getter]
    fn distinct(&self) -> bool {
        self.w.distinct
    }

    #[getter]
    fn watermark(&self) -> f64 {
        self.w.watermark
    }

    /// Keys this window holds at most; past it, the stalest are evicted.
    #[getter]
    fn max_keys(&self) -> usize {
        self.w.max_keys
    }

    #[setter]
    fn set_max_keys(&mut self, value: usize) -> PyResult<()> {
        if value < 1 {
            return Err(PyValueError::new_err("a window must hold at least one key"));
        }
        self.w.max_keys = value;
        Ok(())
    }

    /// Keys evicted so far to keep under `max_keys`.
    #[getter]
    fn evicted(&self) -> u64 {
        self.w.evicted
    }

    fn __len__(&self) -> usize {
        self.w.len()
    }

    /// The keys held (for privacy checks and reports), in no set order.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.w.keys().map(|k| keys::decode(py, k)).collect()
    }

    /// Entries currently held (window plus grace), over all keys.
    fn entries(&self) -> usize {
        self.w.entries()
    }

    /// Record one order for `key` at time `t`; return its window's aggregate.
    #[pyo3(signature = (key, t, qty = None, amount = None, value = None))]
    fn add(&mut self, py: Python<'_>, key: &Bound<'_, PyAny>, t: f64, qty: Option<&Bound<'_, PyAny>>,
           amount: Option<&Bound<'_, PyAny>>, value: Option<&Bound<'_, PyAny>>) -> PyResult<PyObject> {
        let qty = match qty {
            Some(q) => Num::extract(q, "quantity")?,
            None => Num::Int(1),
        };
        let amt = match amount {
            Some(a) => Num::extract(a, "amount")?,
            None => Num::Float(0.0),
        };
        let mut key_buf = std::mem::take(&mut self.key_buf);
        key_buf.clear();
        keys::encode(key, &mut key_buf)?;
        let mut val_buf = std::mem::take(&mut self.val_buf);
        let val = if self.w.distinct {
            val_buf.clear();
            match value {
                Some(v) => keys::encode(v, &mut val_buf)?,
                None => keys::encode(&py.None().into_bound(py), &mut val_buf)?,
            }
            Some(&val_buf[..])
        } else {
            None
        };
        let agg = self.w.add(&key_buf, t, qty, amt, val);
        self.key_buf = key_buf;
        self.val_buf = val_buf;
        self.aggregate(py, agg)
    }

    /// The aggregate over `(t - length, t]` for `key` without adding anything.
    fn peek(&mut self, py: Python<'_>, key: &Bound<'_, PyAny>, t: f64) -> PyResult<PyObject> {
        let mut key_buf = std::mem::take(&mut self.key_buf);
        key_buf.clear();
        keys::encode(key, &mut key_buf)?;
        let agg = self.w.peek(&key_buf, t);
        self.key_buf = key_buf;
        self.aggregate(py, agg)
    }

    /// Drop the keys whose newest entry left the window and the grace; returns how many.
    fn sweep(&mut self) -> usize {
        self.w.sweep()
    }
}

#[pymodule]
fn riskstream_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWindow>()?;
    m.add_class::<cluster::ClusterIndex>()?;
    m.add_class::<fuzzy::AddressTagger>()?;
    m.add_class::<matcher::AddressMatcher>()?;
    m.add_function(wrap_pyfunction!(pseudonym::pseudonym, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
