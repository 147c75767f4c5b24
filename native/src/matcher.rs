//! The fuzzy address matcher: the native twin of `riskstream.entities.fuzzy.AddressMatcher`
//! (the pure-Python one stays the fallback and the oracle: the same representatives for
//! the same signatures in the same order, the same evictions).
//!
//! Groups live in a slab; the least-recently-matched order (Python's `OrderedDict`) is a
//! list threaded through the slab; a block's groups are kept oldest first, as in Python.
//! A signature is read from its named tuple `(key, numbers, unit, locality, place, tags)`;
//! tags are compared as sets (sorted and deduplicated), places too.

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use rustc_hash::FxBuildHasher;

use crate::fuzzy::AddressTagger;

const NONE: usize = usize::MAX;

/// A pseudonym as the matcher holds it: 20 lower-case hex digits (what every pseudonym is)
/// as their 80 bits, anything else as its text; two keys are equal when their texts are.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Bits(u128),
    Text(Box<str>),
}

impl Key {
    fn of(s: &str) -> Key {
        if s.len() == 20 {
            let mut v = 0u128;
            let mut hex = true;
            for b in s.bytes() {
                let d = match b {
                    b'0'..=b'9' => b - b'0',
                    b'a'..=b'f' => b - b'a' + 10,
                    _ => {
                        hex = false;
                        break;
                    }
                };
                v = v << 4 | d as u128;
            }
            if hex {
                return Key::Bits(v);
            }
        }
        Key::Text(s.into())
    }
}

type Block = (Key, Option<Key>);

struct Group {
    rep: Py<PyString>,
    block: Block,
    locality: [Option<Key>; 3],
    place: Vec<Key>,
    tags: Vec<u32>,
    members: Vec<Key>,
    last_seen: f64,
    prev: usize,
    next: usize,
}

/// What the matcher reads of a signature.
struct Sig<'py> {
    key: Bound<'py, PyString>,
    numbers: Key,
    unit: Option<Key>,
    locality: [Option<Key>; 3],
    place: Vec<Key>,
    tags: Vec<u32>,
}

fn bad(what: &str) -> PyErr {
    PyValueError::new_err(format!("not an address signature: {what}"))
}

/// A sorted, deduplicated vector: a set.
fn as_set<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort_unstable();
    v.dedup();
    v
}

fn read_sig<'py>(sig: &Bound<'py, PyAny>) -> PyResult<Sig<'py>> {
    let t = sig.downcast::<PyTuple>().map_err(|_| bad("not a tuple"))?;
    if t.len() != 6 {
        return Err(bad("not 6 fields"));
    }
    let key = t.get_item(0)?.downcast_into::<PyString>().map_err(|_| bad("key is not text"))?;
    let numbers = Key::of(&t.get_item(1)?.extract::<String>()?);
    let unit = t.get_item(2)?.extract::<Option<String>>()?.map(|u| Key::of(&u));
    let loc = t.get_item(3)?;
    let loc = loc.downcast::<PyTuple>().map_err(|_| bad("locality is not a tuple"))?;
    if loc.len() != 3 {
        return Err(bad("locality is not 3 levels"));
    }
    let level = |i: usize| -> PyResult<Option<Key>> { Ok(loc.get_item(i)?.extract::<Option<String>>()?.map(|x| Key::of(&x))) };
    let locality = [level(0)?, level(1)?, level(2)?];
    let place: Vec<Key> = as_set(t.get_item(4)?.extract::<Vec<String>>()?.iter().map(|p| Key::of(p)).collect());
    let tags_obj = t.get_item(5)?;
    let tags_tuple = tags_obj.downcast::<PyTuple>().map_err(|_| bad("tags are not a tuple"))?;
    let mut tags = Vec::with_capacity(tags_tuple.len());
    for item in tags_tuple.iter() {
        tags.push(item.extract::<u32>().map_err(|_| bad("a tag is not a 32-bit number"))?);
    }
    Ok(Sig { key, numbers, unit, locality, place, tags: as_set(tags) })
}

/// Share of the smaller set found in the larger (both sorted, deduplicated); two empty sets are equal.
fn similarity(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return if a.is_empty() && b.is_empty() { 1.0 } else { 0.0 };
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f64 / a.len().min(b.len()) as f64
}

fn compatible(group: &Group, sig: &Sig<'_>) -> bool {
    for (a, b) in group.locality.iter().zip(sig.locality.iter()) {
        if let (Some(a), Some(b)) = (a, b) {
            if a != b {
                return false;
            }
        }
    }
    group.place.is_empty() || sig.place.is_empty() || group.place.iter().any(|p| sig.place.binary_search(p).is_ok())
}

/// Maps address signatures to representative keys; incremental and bounded (native).
#[pyclass(module = "riskstream_native", name = "AddressMatcher")]
pub struct AddressMatcher {
    #[pyo3(get)]
    similarity: f64,
    unit_guard: bool,
    #[pyo3(get)]
    retention: f64,
    #[pyo3(get)]
    max_groups: usize,
    #[pyo3(get)]
    max_members: usize,
    #[pyo3(get)]
    scan_limit: usize,
    slab: Vec<Option<Group>>,
    free: Vec<usize>,
    held: usize,
    /// least recently matched first
    head: usize,
    tail: usize,
    members: HashMap<Key, usize, FxBuildHasher>,
    blocks: HashMap<Block, Vec<usize>, FxBuildHasher>,
    watermark: f64,
}

impl AddressMatcher {
    fn group(&self, i: usize) -> &Group {
        self.slab[i].as_ref().expect("a live group")
    }

    fn group_mut(&mut self, i: usize) -> &mut Group {
        self.slab[i].as_mut().expect("a live group")
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = {
            let g = self.group(i);
            (g.prev, g.next)
        };
        if prev == NONE { self.head = next } else { self.group_mut(prev).next = next }
        if next == NONE { self.tail = prev } else { self.group_mut(next).prev = prev }
    }

    fn push_back(&mut self, i: usize) {
        let tail = self.tail;
        {
            let g = self.group_mut(i);
            g.prev = tail;
            g.next = NONE;
        }
        if tail == NONE { self.head = i } else { self.group_mut(tail).next = i }
        self.tail = i;
    }

    /// Seen at `ts`: its last use moves up, and it becomes the most recently matched.
    fn touch(&mut self, py: Python<'_>, i: usize, ts: f64) -> Py<PyString> {
        let g = self.group_mut(i);
        if ts > g.last_seen {
            g.last_seen = ts;
        }
        let rep = g.rep.clone_ref(py);
        if self.tail != i {
            self.unlink(i);
            self.push_back(i);
        }
        rep
    }

    fn evict(&mut self) {
        let horizon = self.watermark - self.retention;
        while self.head != NONE {
            if self.group(self.head).last_seen >= horizon {
                return;
            }
            self.drop_group(self.head);
        }
    }

    fn drop_group(&mut self, i: usize) {
        self.unlink(i);
        let g = self.slab[i].take().expect("a live group");
        self.free.push(i);
        self.held -= 1;
        for key in &g.members {
            if self.members.get(key) == Some(&i) {
                self.members.remove(key);
            }
        }
        if let Some(list) = self.blocks.get_mut(&g.block) {
            if let Some(at) = list.iter().position(|&x| x == i) {
                list.remove(at);
            }
            if list.is_empty() {
                self.blocks.remove(&g.block);
            }
        }
    }

    fn link(&mut self, sig: Sig<'_>, ts: f64) -> PyResult<usize> {
        let block: Block = (sig.numbers.clone(), if self.unit_guard { sig.unit.clone() } else { None });
        let mut best = NONE;
        let mut best_score = -1.0f64;
        if let Some(list) = self.blocks.get(&block) {
            let from = list.len().saturating_sub(self.scan_limit);
            for &i in list[from..].iter().rev() {
                // newest first; ties go to the oldest
                let g = self.group(i);
                if !compatible(g, &sig) {
                    continue;
                }
                let score = similarity(&g.tags, &sig.tags);
                if score >= self.similarity && score >= best_score {
                    best = i;
                    best_score = score;
                }
            }
        }
        let key = Key::of(sig.key.to_str()?);
        if best == NONE {
            let g = Group {
                rep: sig.key.unbind(),
                block: block.clone(),
                locality: sig.locality,
                place: sig.place,
                tags: sig.tags,
                members: vec![key.clone()],
                last_seen: ts,
                prev: NONE,
                next: NONE,
            };
            let i = match self.free.pop() {
                Some(i) => {
                    self.slab[i] = Some(g);
                    i
                }
                None => {
                    self.slab.push(Some(g));
                    self.slab.len() - 1
                }
            };
            self.held += 1;
            self.push_back(i);
            self.blocks.entry(block).or_default().push(i);
            self.members.insert(key, i);
            if self.held > self.max_groups {
                self.drop_group(self.head);
            }
            return Ok(i);
        }
        let max_members = self.max_members;
        let g = self.group_mut(best);
        for (mine, theirs) in g.locality.iter_mut().zip(sig.locality) {
            // the group learns levels it lacked
            if mine.is_none() && theirs.is_some() {
                *mine = theirs;
            }
        }
        if g.place.is_empty() && !sig.place.is_empty() {
            g.place = sig.place;
        }
        if g.members.len() < max_members {
            g.members.push(key.clone());
            self.members.insert(key, best);
        }
        Ok(best)
    }
}

#[pymethods]
impl AddressMatcher {
    #[new]
    #[pyo3(signature = (similarity = 0.7, guard = "unit", retention = 7.0 * 86_400.0, max_groups = 200_000,
                        max_members = 32, scan_limit = 32))]
    fn new(similarity: f64, guard: &str, retention: f64, max_groups: i64, max_members: i64, scan_limit: i64)
           -> PyResult<Self> {
        if !(0.0..=1.0).contains(&similarity) {
            return Err(PyValueError::new_err(format!("similarity must be within 0.0..1.0, got {similarity:?}")));
        }
        if guard != "unit" && guard != "none" {
            return Err(PyValueError::new_err(format!("guard must be one of unit, none, got '{guard}'")));
        }
        if retention <= 0.0 || max_groups < 1 || max_members < 1 || scan_limit < 1 {
            return Err(PyValueError::new_err("retention, max_groups, max_members and scan_limit must be positive"));
        }
        Ok(AddressMatcher {
            similarity, unit_guard: guard == "unit", retention, max_groups: max_groups as usize,
            max_members: max_members as usize, scan_limit: scan_limit as usize, slab: Vec::new(), free: Vec::new(),
            held: 0, head: NONE, tail: NONE, members: HashMap::default(), blocks: HashMap::default(),
            watermark: f64::NEG_INFINITY,
        })
    }

    #[getter]
    fn guard(&self) -> &'static str {
        if self.unit_guard { "unit" } else { "none" }
    }

    /// The representative key for `signature` seen at event time `ts` (seconds).
    #[pyo3(name = "match")]
    fn match_(&mut self, py: Python<'_>, signature: &Bound<'_, PyAny>, ts: f64) -> PyResult<Py<PyString>> {
        let t = signature.downcast::<PyTuple>().map_err(|_| bad("not a tuple"))?;
        let key = t.get_item(0)?.downcast_into::<PyString>().map_err(|_| bad("key is not text"))?;
        if let Some(rep) = self.match_key(py, key.to_str()?, ts) {
            return Ok(rep);
        }
        self.match_new(py, signature, ts)
    }

    /// `match` for a signature whose key `match_key` just found not held at `ts`.
    fn match_new(&mut self, py: Python<'_>, signature: &Bound<'_, PyAny>, ts: f64) -> PyResult<Py<PyString>> {
        let sig = read_sig(signature)?;
        let i = self.link(sig, ts)?;
        Ok(self.touch(py, i, ts))
    }

    /// `match_new` for a Chinese address whose pseudonym `key` `match_key` just found not
    /// held at `ts`, signed by `tagger` in the same call (as `tagger.signature(text_key,
    /// province, city, district, key)` would sign it) without making the signature; None
    /// (nothing changed) when the tagger does not sign it natively, see
    /// `AddressTagger.signature`.
    #[allow(clippy::too_many_arguments)]
    fn match_address(&mut self, py: Python<'_>, tagger: &Bound<'_, AddressTagger>, text_key: &str, province: &str,
                     city: &str, district: &str, key: Bound<'_, PyString>, ts: f64)
                     -> PyResult<Option<Py<PyString>>> {
        let Some(signed) = tagger.borrow_mut().chinese_signature(text_key, province, city, district)? else {
            return Ok(None);
        };
        let mut tags = signed.tags;
        tags.dedup(); // sorted already: a set
        let sig = Sig { key, numbers: Key::Bits(signed.numbers), unit: signed.unit.map(Key::Bits),
                        locality: signed.locality.map(|x| x.map(Key::Bits)), place: Vec::new(), tags };
        let i = self.link(sig, ts)?;
        Ok(Some(self.touch(py, i, ts)))
    }

    /// The representative of a held key at `ts`, or None (and nothing changed but the clock).
    fn match_key(&mut self, py: Python<'_>, key: &str, ts: f64) -> Option<Py<PyString>> {
        if ts > self.watermark {
            self.watermark = ts;
            self.evict();
        }
        let i = *self.members.get(&Key::of(key))?;
        Some(self.touch(py, i, ts))
    }

    /// Addresses (exact keys) held.
    fn size(&self) -> usize {
        self.members.len()
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        key.extract::<&str>().is_ok_and(|k| self.members.contains_key(&Key::of(k)))
    }

    /// Groups (representatives) held.
    fn groups(&self) -> usize {
        self.held
    }

    fn __repr__(&self) -> String {
        format!("AddressMatcher(similarity={:?}, guard='{}', retention={:?}, groups={}, addresses={})",
                self.similarity, self.guard(), self.retention, self.held, self.members.len())
    }
}
