//! Exact sliding windows per key: the native twin of `riskstream.engine.windows.VelocityWindow`.
//!
//! The same algorithm, step for step, so that both return equal aggregates of
//! equal types for every input: per key, entries sorted by time with running
//! totals over the newest entry's window; an in-order entry costs O(1)
//! amortised, a late one is inserted in place and its window summed directly;
//! entries live `grace` seconds past the window; quiet keys are dropped by
//! sweeping coarse event-time buckets.
//!
//! Keys live once, in a slot array; the hash table holds slot numbers, and a
//! sweep bucket lists `(slot, generation)` pairs (a freed slot's generation
//! moves on, so stale listings are skipped, as the Python window skips a key
//! that moved on to a newer bucket).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault};

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use crate::num::Num;

pub type Bytes = Box<[u8]>;
type FxBuild = BuildHasherDefault<FxHasher>;

#[inline]
pub fn hash_of(bytes: &[u8]) -> u64 {
    FxBuild::default().hash_one(bytes)
}

/// Python's `int(a // b)` for floats (CPython's float_floor_div, finite operands).
#[inline]
pub fn py_floor_div(a: f64, b: f64) -> i64 {
    let m = a % b; // C fmod
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    let floordiv = if div != 0.0 {
        let mut f = div.floor();
        if div - f > 0.5 {
            f += 1.0;
        }
        f
    } else {
        0.0f64.copysign(a / b)
    };
    floordiv as i64
}

#[derive(Clone, Copy)]
pub struct Entry {
    pub t: f64,
    pub qty: Num,
    pub amt: Num,
}

/// A key's entries after its second order (the first is a bare `Single`).
pub struct Series {
    pub entries: VecDeque<Entry>,
    pub vals: Option<VecDeque<Bytes>>,
    pub counts: Option<HashMap<Bytes, u32, FxBuild>>,
    pub win: usize, // first entry inside the newest entry's window (index into entries)
    pub qty: f64,
    pub amt: f64,
    pub bucket: i64,
}

pub enum Slot {
    Free,
    Single { key: Bytes, e: Entry, val: Option<Bytes> },
    Many { key: Bytes, s: Box<Series> },
}

impl Slot {
    fn key(&self) -> &[u8] {
        match self {
            Slot::Single { key, .. } | Slot::Many { key, .. } => key,
            Slot::Free => &[],
        }
    }
}

/// What one order sees of its key: `(count, quantity, amount, distinct)`.
pub enum Agg {
    /// computed from running totals or a bare first order: ready values
    Ready(i64, Num, Num, i64),
    /// a late order or a peek: entries `lo..hi` of the key, summed by Python's `sum()`
    Range { slot: u32, lo: usize, hi: usize, distinct: i64 },
}

pub struct Window {
    pub length: f64,
    pub grace: f64,
    pub distinct: bool,
    pub watermark: f64,
    pub width: f64,
    slots: Vec<Slot>,
    gens: Vec<u32>,
    free: Vec<u32>,
    table: HashTable<u32>,
    buckets: BTreeMap<i64, Vec<(u32, u32)>>,
    live: usize,
    pub max_keys: usize, // the cardinality cap: past it, the stalest keys are evicted
    pub evicted: u64,
}

impl Window {
    pub fn new(length: f64, distinct: bool, grace: f64) -> Window {
        Window {
            length,
            grace,
            distinct,
            watermark: f64::NEG_INFINITY,
            width: f64::max(1.0, (length + grace) / 4.0),
            slots: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            table: HashTable::new(),
            buckets: BTreeMap::new(),
            live: 0,
            max_keys: 1_000_000,
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn entries(&self) -> usize {
        self.slots
            .iter()
            .map(|s| match s {
                Slot::Free => 0,
                Slot::Single { .. } => 1,
                Slot::Many { s, .. } => s.entries.len(),
            })
            .sum()
    }

    /// The keys held, encoded, in no set order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.slots.iter().filter(|s| !matches!(s, Slot::Free)).map(|s| s.key())
    }

    fn find(&self, key: &[u8], hash: u64) -> Option<u32> {
        let slots = &self.slots;
        self.table.find(hash, |&i| slots[i as usize].key() == key).copied()
    }

    fn file(&mut self, slot: u32, bucket: i64) {
        let gen = self.gens[slot as usize];
        self.buckets.entry(bucket).or_default().push((slot, gen));
    }

    pub fn range_entries(&self, slot: u32, lo: usize, hi: usize) -> impl Iterator<Item = &Entry> {
        match &self.slots[slot as usize] {
            Slot::Many { s, .. } => s.entries.range(lo..hi),
            _ => unreachable!("ranges are taken of series only"),
        }
    }

    /// Record one order for `key` at `t`; the aggregate of its window.
    pub fn add(&mut self, key: &[u8], t: f64, qty: Num, amt: Num, value: Option<&[u8]>) -> Agg {
        if t > self.watermark {
            self.watermark = t;
        }
        let hash = hash_of(key);
        let found = self.find(key, hash);
        let val = if self.distinct { value.map(Bytes::from) } else { None };
        let slot = match found {
            None => {
                let e = Entry { t, qty, amt };
                let single = Slot::Single { key: key.into(), e, val };
                let slot = match self.free.pop() {
                    Some(i) => {
                        self.slots[i as usize] = single;
                        i
                    }
                    None => {
                        self.slots.push(single);
                        self.gens.push(0);
                        (self.slots.len() - 1) as u32
                    }
                };
                let slots = &self.slots;
                self.table.insert_unique(hash, slot, |&i| hash_of(slots[i as usize].key()));
                self.live += 1;
                self.file(slot, py_floor_div(t, self.width));
                if self.live > self.max_keys {
                    self.evict_stalest(slot);
                }
                return Agg::Ready(1, qty, amt, if self.distinct { 1 } else { 0 });
            }
            Some(slot) => slot,
        };
        if let Slot::Single { .. } = self.slots[slot as usize] {
            self.promote(slot);
        }
        let (length, grace, width) = (self.length, self.grace, self.width);
        let Slot::Many { s, .. } = &mut self.slots[slot as usize] else { unreachable!() };
        let in_order = match s.entries.back() {
            None => true,
            Some(last) => t >= last.t,
        };
        if in_order {
            let bucket = py_floor_div(t, width);
            let refile = bucket != s.bucket;
            if refile {
                s.bucket = bucket;
            }
            let agg = append(s, length, grace, Entry { t, qty, amt }, val);
            if refile {
                self.file(slot, bucket);
            }
            agg
        } else {
            insert_late(s, slot, length, Entry { t, qty, amt }, val)
        }
    }

    fn promote(&mut self, slot: u32) {
        let old = std::mem::replace(&mut self.slots[slot as usize], Slot::Free);
        let Slot::Single { key, e, val } = old else { unreachable!() };
        let mut s = Box::new(Series {
            entries: VecDeque::with_capacity(2),
            vals: if self.distinct { Some(VecDeque::with_capacity(2)) } else { None },
            counts: if self.distinct { Some(HashMap::default()) } else { None },
            win: 0,
            qty: 0.0,
            amt: 0.0,
            bucket: py_floor_div(e.t, self.width), // filed there already
        });
        append(&mut s, self.length, self.grace, e, val);
        self.slots[slot as usize] = Slot::Many { key, s };
    }

    /// The aggregate over `(t - length, t]` for `key`, adding nothing.
    pub fn peek(&self, key: &[u8], t: f64) -> Agg {
        let Some(slot) = self.find(key, hash_of(key)) else {
            return Agg::Ready(0, Num::Float(0.0), Num::Float(0.0), 0);
        };
        match &self.slots[slot as usize] {
            Slot::Single { e, .. } => {
                if t - self.length < e.t && e.t <= t {
                    Agg::Ready(1, e.qty, e.amt, if self.distinct { 1 } else { 0 })
                } else {
                    Agg::Ready(0, Num::Float(0.0), Num::Float(0.0), 0)
                }
            }
            Slot::Many { s, .. } => {
                let start = t - self.length;
                let lo = bisect_right(&s.entries, start, 0, s.entries.len());
                let hi = bisect_right(&s.entries, t, lo, s.entries.len());
                Agg::Range { slot, lo, hi, distinct: distinct_in(s, lo, hi) }
            }
            Slot::Free => unreachable!(),
        }
    }

    /// Drop the keys whose newest entry left the window and the grace; how many.
    pub fn sweep(&mut self) -> usize {
        let cut = self.watermark - self.length - self.grace;
        let width = self.width;
        let mut dropped = 0;
        loop {
            let Some((&bucket, _)) = self.buckets.first_key_value() else { break };
            if !(((bucket + 1) as f64) * width <= cut) {
                break;
            }
            let listed = self.buckets.remove(&bucket).unwrap_or_default();
            for (slot, gen) in listed {
                if self.gens[slot as usize] != gen {
                    continue; // freed since
                }
                let newest = match &self.slots[slot as usize] {
                    Slot::Free => continue,
                    Slot::Single { e, .. } => py_floor_div(e.t, width),
                    Slot::Many { s, .. } => s.bucket,
                };
                if newest == bucket {
                    self.remove(slot);
                    dropped += 1;
                }
            }
        }
        dropped
    }

    /// Drop the stalest keys (never `keep`, the one just added) until a tenth of the cap is
    /// free: oldest sweep bucket first, first filed first, as the Python window does.
    fn evict_stalest(&mut self, keep: u32) {
        let target = usize::max(1, self.max_keys - usize::max(1, self.max_keys / 10));
        let width = self.width;
        let order: Vec<i64> = self.buckets.keys().copied().collect();
        for bucket in order {
            if self.live <= target {
                break;
            }
            let listed = self.buckets.remove(&bucket).unwrap_or_default();
            let mut kept: Vec<(u32, u32)> = Vec::new();
            let mut n = 0;
            while n < listed.len() && self.live > target {
                let (slot, gen) = listed[n];
                n += 1;
                if slot == keep {
                    kept.push((slot, gen));
                    continue;
                }
                if self.gens[slot as usize] != gen {
                    continue;
                }
                let newest = match &self.slots[slot as usize] {
                    Slot::Free => continue,
                    Slot::Single { e, .. } => py_floor_div(e.t, width),
                    Slot::Many { s, .. } => s.bucket,
                };
                if newest == bucket {
                    self.remove(slot);
                    self.evicted += 1;
                }
            }
            kept.extend_from_slice(&listed[n..]);
            if !kept.is_empty() {
                self.buckets.insert(bucket, kept);
            }
        }
    }

    fn remove(&mut self, slot: u32) {
        let hash = hash_of(self.slots[slot as usize].key());
        if let Ok(entry) = self.table.find_entry(hash, |&i| i == slot) {
            entry.remove();
        }
        self.slots[slot as usize] = Slot::Free;
        self.gens[slot as usize] = self.gens[slot as usize].wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
    }
}

fn leave_window(s: &mut Series, index: usize) {
    let e = s.entries[index];
    s.qty -= e.qty.f();
    s.amt -= e.amt.f();
    if let (Some(counts), Some(vals)) = (s.counts.as_mut(), s.vals.as_ref()) {
        let value = &vals[index];
        let left = counts.get_mut(value).map(|c| {
            *c -= 1;
            *c
        });
        if left == Some(0) {
            counts.remove(value);
        }
    }
}

fn enter_window(s: &mut Series, e: &Entry, val: Option<&Bytes>) {
    s.qty += e.qty.f();
    s.amt += e.amt.f();
    if let (Some(counts), Some(v)) = (s.counts.as_mut(), val) {
        *counts.entry(v.clone()).or_insert(0) += 1;
    }
}

fn distinct_value(distinct: bool, val: Option<Bytes>) -> Option<Bytes> {
    // a distinct window counts None too, as the Python window does
    if distinct {
        Some(val.unwrap_or_else(|| Box::from(&[0xFFu8, b'n'][..])))
    } else {
        None
    }
}

fn append(s: &mut Series, length: f64, grace: f64, e: Entry, val: Option<Bytes>) -> Agg {
    let val = distinct_value(s.vals.is_some(), val);
    enter_window(s, &e, val.as_ref());
    s.entries.push_back(e);
    if let (Some(vals), Some(v)) = (s.vals.as_mut(), val) {
        vals.push_back(v);
    }
    let start = e.t - length;
    let mut win = s.win;
    while s.entries[win].t <= start {
        leave_window(s, win);
        win += 1;
    }
    s.win = win;
    let cut = start - grace;
    if s.entries[0].t <= cut {
        evict(s, cut);
    }
    let distinct = s.counts.as_ref().map_or(0, |c| c.len() as i64);
    Agg::Ready((s.entries.len() - s.win) as i64, Num::Float(s.qty), Num::Float(s.amt), distinct)
}

fn evict(s: &mut Series, cut: f64) {
    while let Some(front) = s.entries.front() {
        if front.t > cut {
            break;
        }
        if s.win == 0 {
            leave_window(s, 0);
        } else {
            s.win -= 1;
        }
        s.entries.pop_front();
        if let Some(vals) = s.vals.as_mut() {
            vals.pop_front();
        }
    }
}

fn insert_late(s: &mut Series, slot: u32, length: f64, e: Entry, val: Option<Bytes>) -> Agg {
    let val = distinct_value(s.vals.is_some(), val);
    let t = e.t;
    let pos = bisect_right(&s.entries, t, 0, s.entries.len());
    s.entries.insert(pos, e);
    if let (Some(vals), Some(v)) = (s.vals.as_mut(), val.as_ref()) {
        vals.insert(pos, v.clone());
    }
    if pos < s.win {
        s.win += 1; // landed before the newest entry's window
    } else {
        enter_window(s, &e, val.as_ref());
    }
    let start = t - length;
    let lo = bisect_right(&s.entries, start, 0, pos);
    let hi = pos + 1;
    Agg::Range { slot, lo, hi, distinct: distinct_in(s, lo, hi) }
}

fn distinct_in(s: &Series, lo: usize, hi: usize) -> i64 {
    match &s.vals {
        None => 0,
        Some(vals) => vals.range(lo..hi).map(|v| &v[..]).collect::<HashSet<&[u8]>>().len() as i64,
    }
}

/// Python's `bisect_right` over the entries' times in `lo..hi`.
fn bisect_right(entries: &VecDeque<Entry>, x: f64, mut lo: usize, mut hi: usize) -> usize {
    while lo < hi {
        let mid = (lo + hi) / 2;
        if x < entries[mid].t {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}
