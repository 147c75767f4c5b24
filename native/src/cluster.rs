//! Linked accounts: the native twin of `riskstream.graph.index.ClusterIndex`.
//!
//! The same incremental union-find over account-entity links, step for step:
//! loners cost no account (an entity linked to one account holds that link),
//! hubs never merge and undo the merges they made, links age out and the
//! components that lost links are rebuilt, and the same ordered input gives
//! the same clusters, ids and member orders as the Python index (its oracle).
//!
//! Members live in a slot array; sweep buckets list `(slot, generation)`, so a
//! member that left the graph is skipped as the Python index skips a `Member`
//! that is no longer the one its account maps to.  Names are `Arc<str>` shared
//! between the maps and the buckets.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PySet, PyString};

use crate::window::py_floor_div;

type Fx = BuildHasherDefault<rustc_hash::FxHasher>;
type Name = Arc<str>;

/// Event-time buckets in filing order (the order a sweep takes them out in).
struct Buckets<T> {
    width: f64,
    seq: u64,
    order: BTreeMap<u64, (i64, Vec<T>)>,
    by_bucket: HashMap<i64, u64, Fx>,
}

impl<T> Buckets<T> {
    fn new(width: f64) -> Self {
        Buckets { width, seq: 0, order: BTreeMap::new(), by_bucket: HashMap::default() }
    }
    fn bucket(&self, ts: f64) -> i64 {
        py_floor_div(ts, self.width)
    }
    fn file(&mut self, item: T, bucket: i64) {
        if let Some(seq) = self.by_bucket.get(&bucket) {
            self.order.get_mut(seq).unwrap().1.push(item);
        } else {
            self.seq += 1;
            self.by_bucket.insert(bucket, self.seq);
            self.order.insert(self.seq, (bucket, vec![item]));
        }
    }
    fn expired(&mut self, cut: f64) -> Vec<(i64, Vec<T>)> {
        let width = self.width;
        let seqs: Vec<u64> =
            self.order.iter().filter(|(_, (b, _))| ((b + 1) as f64) * width <= cut).map(|(s, _)| *s).collect();
        seqs.into_iter()
            .map(|s| {
                let (b, items) = self.order.remove(&s).unwrap();
                self.by_bucket.remove(&b);
                (b, items)
            })
            .collect()
    }
}

struct Member {
    id: Name,
    parent: u32,
    links: Vec<(Name, f64)>, // shared entity node -> last link time, in link order
    first: f64,
    born: Option<f64>,
    bucket: Option<i64>,
    members: Option<Vec<u32>>,
    founder: Option<(f64, Name)>,
    stamp: u64,
    ids: Option<Py<PyList>>,
    borns: Option<Py<PyList>>,
    kinds: Option<Py<PyDict>>,
    stale: Option<Vec<u32>>,
    serial: u64,
}

enum Ent {
    Solo { account: Name, last: f64, born: Option<f64>, first: f64 },
    Shared(Vec<Name>),
}

struct HubRec {
    order: u64,
    first_seen: f64,
    last_seen: f64,
    accounts: i64,
    links: i64,
    seen: Option<HashMap<Name, f64, Fx>>,
}

fn kind_of(node: &str) -> &str {
    // Python's node[: node.find(":")]: without a colon, all but the last character
    match node.find(':') {
        Some(i) => &node[..i],
        None => match node.char_indices().last() {
            Some((i, _)) => &node[..i],
            None => "",
        },
    }
}

fn founder_lt(a: &(f64, Name), b: &(f64, Name)) -> bool {
    a.0 < b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// Clusters of accounts linked through shared entities, kept incrementally (native).
#[pyclass(module = "riskstream_native", name = "ClusterIndex")]
pub struct ClusterIndex {
    #[pyo3(get)]
    hub_accounts: i64,
    hub_limits: HashMap<String, i64>,
    #[pyo3(get)]
    retention: f64,
    #[pyo3(get)]
    sweep_every: f64,
    #[pyo3(get)]
    watermark: f64,
    #[pyo3(get)]
    rebuilds: u64,
    #[pyo3(get)]
    refresh: f64,
    #[pyo3(get)]
    passed: u64,
    slots: Vec<Option<Member>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    accounts: HashMap<Name, u32, Fx>,
    entities: hashbrown::HashMap<Name, Ent, Fx>,
    hubs: HashMap<Name, HubRec, Fx>,
    hub_seq: u64,
    linked: Buckets<(u32, u32)>,
    solo: Buckets<Vec<Name>>,
    next_sweep: f64,
    ids: HashMap<Name, Py<PyString>, Fx>,
    stamps: u64,
    serials: u64,
    cluster_id_of: PyObject,
    hub_class: PyObject,
}

impl ClusterIndex {
    fn m(&self, i: u32) -> &Member {
        self.slots[i as usize].as_ref().expect("a live member")
    }
    fn mm(&mut self, i: u32) -> &mut Member {
        self.slots[i as usize].as_mut().expect("a live member")
    }

    fn new_member(&mut self, account: Name, ts: f64, born: Option<f64>) -> u32 {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.gens.push(0);
                (self.slots.len() - 1) as u32
            }
        };
        self.slots[idx as usize] = Some(Member {
            id: account.clone(),
            parent: idx,
            links: Vec::new(),
            first: ts,
            born,
            bucket: None,
            members: Some(vec![idx]),
            founder: Some((ts, account.clone())),
            stamp: 0,
            ids: None,
            borns: None,
            kinds: None,
            stale: None,
            serial: 0,
        });
        self.accounts.insert(account, idx);
        idx
    }

    fn drop_member(&mut self, idx: u32) {
        let me = self.slots[idx as usize].take().expect("a live member");
        self.accounts.remove(&me.id);
        self.gens[idx as usize] = self.gens[idx as usize].wrapping_add(1);
        self.free.push(idx);
    }

    fn find_root(&mut self, mut me: u32) -> u32 {
        let mut up = self.m(me).parent;
        while up != me {
            let grand = self.m(up).parent;
            self.mm(me).parent = grand;
            me = grand;
            up = self.m(grand).parent;
        }
        me
    }

    fn file(&mut self, idx: u32, ts: f64) {
        let bucket = self.linked.bucket(ts);
        if self.m(idx).bucket != Some(bucket) {
            self.mm(idx).bucket = Some(bucket);
            let gen = self.gens[idx as usize];
            self.linked.file((idx, gen), bucket);
        }
    }

    fn restamp(&mut self, idx: u32) {
        self.stamps += 1;
        let stamp = self.stamps;
        self.mm(idx).stamp = stamp;
        let root = self.find_root(idx);
        if let Some(stale) = self.mm(root).stale.as_mut() {
            stale.push(idx);
        }
    }

    fn changed(&mut self, root: u32) {
        let r = self.mm(root);
        r.ids = None;
        r.borns = None;
    }

    fn hub_limit_of(&self, node: &str) -> i64 {
        if self.hub_limits.is_empty() {
            return self.hub_accounts;
        }
        *self.hub_limits.get(kind_of(node)).unwrap_or(&self.hub_accounts)
    }

    fn union(&mut self, a: u32, b: u32) -> Option<u32> {
        let (mut ra, mut rb) = (self.find_root(a), self.find_root(b));
        if ra == rb {
            return None;
        }
        {
            let (la, lb) = (self.m(ra).members.as_ref().unwrap().len(), self.m(rb).members.as_ref().unwrap().len());
            let fa = self.m(ra).founder.as_ref().unwrap();
            let fb = self.m(rb).founder.as_ref().unwrap();
            if la < lb || (la == lb && founder_lt(fb, fa)) {
                std::mem::swap(&mut ra, &mut rb);
            }
        }
        let (mb, fb) = {
            let r = self.mm(rb);
            r.parent = ra;
            r.kinds = None;
            r.stale = None;
            r.ids = None;
            r.borns = None;
            (r.members.take().unwrap(), r.founder.take().unwrap())
        };
        let r = self.mm(ra);
        r.members.as_mut().unwrap().extend_from_slice(&mb);
        if let Some(stale) = r.stale.as_mut() {
            stale.extend_from_slice(&mb);
        }
        if founder_lt(&fb, r.founder.as_ref().unwrap()) {
            r.founder = Some(fb);
        }
        self.changed(ra);
        Some(ra)
    }

    fn id_of(&mut self, py: Python<'_>, root: u32) -> PyResult<Py<PyString>> {
        let founder = self.m(root).founder.as_ref().unwrap().1.clone();
        if let Some(cid) = self.ids.get(&founder) {
            return Ok(cid.clone_ref(py));
        }
        if self.ids.len() >= 100_000 {
            self.ids.clear();
        }
        let cid: Py<PyString> = self.cluster_id_of.call1(py, (&*founder,))?.extract(py)?;
        self.ids.insert(founder, cid.clone_ref(py));
        Ok(cid)
    }

    fn make_hub(&mut self, node: &Name, ts: f64) {
        let Some(Ent::Shared(sharers)) = self.entities.remove(node) else { unreachable!("a hub was shared") };
        let mut seen: Vec<(Name, f64)> = Vec::with_capacity(sharers.len());
        let mut roots = Vec::with_capacity(sharers.len());
        for account in &sharers {
            let idx = self.accounts[account];
            let me = self.mm(idx);
            let t = match me.links.iter().position(|(n, _)| n == node) {
                Some(p) => me.links.remove(p).1,
                None => ts,
            };
            seen.push((account.clone(), t));
            self.restamp(idx);
            roots.push(self.find_root(idx));
        }
        let first_seen = seen.iter().map(|s| s.1).fold(ts, f64::min);
        self.hub_seq += 1;
        let n = sharers.len() as i64;
        let rec = HubRec {
            order: self.hub_seq,
            first_seen,
            last_seen: ts,
            accounts: n,
            links: n,
            seen: if self.refresh != 0.0 { Some(seen.into_iter().collect()) } else { None },
        };
        self.hubs.insert(node.clone(), rec);
        self.rebuild(roots);
    }

    fn rebuild(&mut self, roots: Vec<u32>) {
        let mut members: Vec<u32> = Vec::new();
        let mut done: Vec<u32> = Vec::new();
        for root in roots {
            if done.contains(&root) {
                continue;
            }
            done.push(root);
            if let Some(ms) = self.m(root).members.as_ref() {
                members.extend_from_slice(ms);
            }
        }
        let mut live = Vec::with_capacity(members.len());
        for idx in members {
            if self.m(idx).links.is_empty() {
                self.drop_member(idx);
                continue;
            }
            let me = self.mm(idx);
            me.parent = idx;
            me.members = Some(vec![idx]);
            me.founder = Some((me.first, me.id.clone()));
            me.kinds = None;
            me.stale = None;
            me.serial = 0;
            self.changed(idx);
            live.push(idx);
        }
        for idx in live {
            let nodes: Vec<Name> = self.m(idx).links.iter().map(|(n, _)| n.clone()).collect();
            for node in nodes {
                let first = match &self.entities[&node] {
                    Ent::Shared(s) => s[0].clone(),
                    Ent::Solo { .. } => unreachable!("member links are to shared entities"),
                };
                if first != self.m(idx).id {
                    let other = self.accounts[&first];
                    self.union(idx, other);
                }
            }
        }
        self.rebuilds += 1;
    }

    fn do_sweep(&mut self) -> u64 {
        let cut = self.watermark - self.retention;
        let mut dropped = 0u64;
        let mut affected = Vec::new();
        for (_, linked) in self.linked.expired(cut) {
            for (idx, gen) in linked {
                if self.gens[idx as usize] != gen || self.slots[idx as usize].is_none() {
                    continue; // left the graph already
                }
                let stale: Vec<Name> =
                    self.m(idx).links.iter().filter(|(_, seen)| *seen <= cut).map(|(n, _)| n.clone()).collect();
                if stale.is_empty() {
                    continue;
                }
                self.restamp(idx);
                let my_id = self.m(idx).id.clone();
                for node in &stale {
                    let me = self.mm(idx);
                    let p = me.links.iter().position(|(n, _)| n == node).unwrap();
                    me.links.remove(p);
                    let Some(Ent::Shared(sharers)) = self.entities.get_mut(node) else { unreachable!() };
                    if let Some(p) = sharers.iter().position(|a| *a == my_id) {
                        sharers.remove(p);
                    }
                    if sharers.len() == 1 {
                        let last = sharers[0].clone();
                        let other = self.accounts[&last];
                        let o = self.mm(other);
                        let p = o.links.iter().position(|(n, _)| n == node).unwrap();
                        let seen = o.links.remove(p).1;
                        let (born, first) = (o.born, o.first);
                        self.restamp(other);
                        if seen <= cut {
                            self.entities.remove(node);
                            dropped += 1;
                        } else {
                            self.entities.insert(node.clone(), Ent::Solo { account: last, last: seen, born, first });
                            let b = self.solo.bucket(seen);
                            self.solo.file(vec![node.clone()], b);
                        }
                    } else if sharers.is_empty() {
                        self.entities.remove(node);
                    }
                }
                dropped += stale.len() as u64;
                affected.push(self.find_root(idx));
            }
        }
        if !affected.is_empty() {
            self.rebuild(affected);
        }
        for (_, filed) in self.solo.expired(cut) {
            for nodes in filed {
                for node in nodes {
                    if let Some(Ent::Solo { last, .. }) = self.entities.get(&node) {
                        if *last <= cut {
                            self.entities.remove(&node);
                            dropped += 1;
                        }
                    }
                }
            }
        }
        self.hubs.retain(|_, h| h.last_seen > cut);
        if self.refresh != 0.0 {
            for hub in self.hubs.values_mut() {
                if let Some(seen) = hub.seen.as_mut() {
                    seen.retain(|_, t| *t > cut);
                }
            }
        }
        self.next_sweep = self.watermark + self.sweep_every;
        dropped
    }

    fn shared_kinds_of<'py>(&self, py: Python<'py>, idx: u32) -> PyResult<Bound<'py, PySet>> {
        let kinds: Vec<&str> = self.m(idx).links.iter().map(|(n, _)| kind_of(n)).collect();
        PySet::new(py, kinds)
    }

    fn sorted_kinds<'py>(&self, py: Python<'py>, idx: u32) -> PyResult<Bound<'py, PyList>> {
        let mut kinds: Vec<&str> = self.m(idx).links.iter().map(|(n, _)| kind_of(n)).collect();
        kinds.sort_unstable();
        kinds.dedup();
        PyList::new(py, kinds)
    }

    fn root_of(&mut self, account: &str) -> Option<u32> {
        let idx = *self.accounts.get(account)?;
        Some(self.find_root(idx))
    }

    fn member_ids(&self, root: u32, start: usize) -> Vec<Name> {
        self.m(root).members.as_ref().unwrap().iter().skip(start).map(|&i| self.m(i).id.clone()).collect()
    }
}

#[pymethods]
impl ClusterIndex {
    #[new]
    #[pyo3(signature = (cluster_id_of, hub_class, *, hub_accounts = 50, hubs = None, retention = 7.0 * 86400.0,
                        sweep_every = None))]
    fn new(cluster_id_of: PyObject, hub_class: PyObject, hub_accounts: i64, hubs: Option<HashMap<String, i64>>,
           retention: f64, sweep_every: Option<f64>) -> PyResult<Self> {
        if hub_accounts < 2 {
            return Err(PyValueError::new_err("hub_accounts must be at least 2"));
        }
        let width = f64::max(1.0, retention / 8.0);
        Ok(ClusterIndex {
            hub_accounts,
            hub_limits: hubs.unwrap_or_default(),
            retention,
            sweep_every: sweep_every.unwrap_or_else(|| f64::max(60.0, retention / 8.0)),
            watermark: f64::NEG_INFINITY,
            rebuilds: 0,
            refresh: 0.0,
            passed: 0,
            slots: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            accounts: HashMap::default(),
            entities: hashbrown::HashMap::default(),
            hubs: HashMap::default(),
            hub_seq: 0,
            linked: Buckets::new(width),
            solo: Buckets::new(width),
            next_sweep: f64::NEG_INFINITY,
            ids: HashMap::default(),
            stamps: 0,
            serials: 0,
            cluster_id_of,
            hub_class,
        })
    }

    #[getter]
    fn hub_limits(&self) -> HashMap<String, i64> {
        self.hub_limits.clone()
    }

    /// The hubs, as `riskstream.graph.members.Hub` records (made anew at each call).
    #[getter]
    fn hubs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut hubs: Vec<(&Name, &HubRec)> = self.hubs.iter().collect();
        hubs.sort_by_key(|(_, h)| h.order);
        let out = PyDict::new(py);
        for (node, h) in hubs {
            let seen = match &h.seen {
                Some(seen) => {
                    let d = PyDict::new(py);
                    for (a, t) in seen {
                        d.set_item(&**a, *t)?;
                    }
                    d.into_any().unbind()
                }
                None => py.None(),
            };
            let hub = self.hub_class.call1(py, (&**node, h.first_seen, h.last_seen, h.accounts, h.links, seen))?;
            out.set_item(&**node, hub)?;
        }
        Ok(out)
    }

    fn spot_links(&mut self, refresh: f64) -> PyResult<()> {
        if !self.accounts.is_empty() || !self.entities.is_empty() || !self.hubs.is_empty() {
            return Err(PyRuntimeError::new_err("spot_links() must be called before any link"));
        }
        if !(refresh > 0.0) {
            return Err(PyValueError::new_err("refresh must be positive"));
        }
        self.refresh = refresh;
        Ok(())
    }

    /// Link `account` to entity `nodes` at event time `ts`; the changes this made.
    #[pyo3(signature = (account, nodes, ts, born = None))]
    fn link<'py>(&mut self, py: Python<'py>, account: &str, nodes: &Bound<'py, PyAny>, ts: f64,
                 born: Option<f64>) -> PyResult<Bound<'py, PyList>> {
        let changes = PyList::empty(py);
        if ts > self.watermark {
            self.watermark = ts;
            if ts >= self.next_sweep {
                self.do_sweep();
            }
        }
        let bound: Vec<Bound<'py, PyString>> = match nodes.downcast::<PyList>() {
            Ok(list) => list.iter().map(|n| n.downcast_into::<PyString>().map_err(PyErr::from)).collect::<PyResult<_>>()?,
            Err(_) => nodes.try_iter()?.map(|n| Ok(n?.downcast_into::<PyString>()?)).collect::<PyResult<_>>()?,
        };
        let nodes: Vec<&str> = bound.iter().map(|n| n.to_str()).collect::<PyResult<_>>()?;
        let mut me: Option<u32> = self.accounts.get(account).copied();
        let (mut shared, mut restamp, mut solo) = (false, false, false);
        let refresh = self.refresh;
        let mut passed = 0u64;
        let mut account_name: Option<Name> = me.map(|i| self.m(i).id.clone());
        for &node in &nodes {
            if let Some(hub) = self.hubs.get_mut(node) {
                if refresh != 0.0 {
                    let seen = hub.seen.as_mut().expect("a spotting index's hubs keep their accounts");
                    if let Some(&t) = seen.get(account) {
                        if ts - t < refresh {
                            continue;
                        }
                    }
                    let name = account_name.get_or_insert_with(|| Arc::from(account)).clone();
                    seen.insert(name, ts);
                }
                passed += 1;
                hub.links += 1;
                if ts > hub.last_seen {
                    hub.last_seen = ts;
                }
                continue;
            }
            let owner: Name;
            let node_name: Name;
            match self.entities.get_key_value_mut(node) {
                None => {
                    let name = account_name.get_or_insert_with(|| Arc::from(account)).clone();
                    self.entities.insert(Arc::from(node), Ent::Solo { account: name, last: ts, born, first: ts });
                    solo = true;
                    passed += 1;
                    continue;
                }
                Some((key, Ent::Solo { account: o, last, born: b, first })) => {
                    if &**o == account {
                        if ts > *last && ts - *last >= refresh {
                            *last = ts;
                            if born.is_some() {
                                *b = born;
                            }
                            solo = true;
                            passed += 1;
                        }
                        continue;
                    }
                    // shared from now on: the owner takes its place in the union-find
                    let (o, got_last, got_born, got_first, key) = (o.clone(), *last, *b, *first, key.clone());
                    let other = match self.accounts.get(&o) {
                        Some(&i) => i,
                        None => self.new_member(o.clone(), got_first, got_born),
                    };
                    {
                        let om = self.mm(other);
                        match om.links.iter_mut().find(|(n, _)| *n == key) {
                            Some(l) => l.1 = got_last,
                            None => om.links.push((key.clone(), got_last)),
                        }
                    }
                    self.file(other, got_last);
                    self.restamp(other);
                    let name = account_name.get_or_insert_with(|| Arc::from(account)).clone();
                    self.entities.insert(key.clone(), Ent::Shared(vec![o.clone(), name]));
                    owner = o;
                    node_name = key;
                }
                Some((key, Ent::Shared(sharers))) => {
                    if sharers.iter().any(|a| &**a == account) {
                        // a known shared link, refreshed
                        let idx = me.expect("a sharer is a member");
                        let key = key.clone();
                        let links = &mut self.mm(idx).links;
                        let l = links.iter_mut().find(|(n, _)| *n == key).expect("a member holds its shared links");
                        if ts > l.1 && ts - l.1 >= refresh {
                            l.1 = ts;
                            shared = true;
                            passed += 1;
                        }
                        continue;
                    }
                    owner = sharers[0].clone();
                    let name = account_name.get_or_insert_with(|| Arc::from(account)).clone();
                    sharers.push(name);
                    node_name = key.clone();
                }
            }
            shared = true;
            restamp = true;
            passed += 1;
            let idx = match me {
                Some(i) => i,
                None => {
                    let name = account_name.get_or_insert_with(|| Arc::from(account)).clone();
                    let i = self.new_member(name, ts, born);
                    me = Some(i);
                    i
                }
            };
            {
                let links = &mut self.mm(idx).links;
                match links.iter_mut().find(|(n, _)| *n == node_name) {
                    Some(l) => l.1 = ts,
                    None => links.push((node_name.clone(), ts)),
                }
            }
            let count = match &self.entities[&node_name] {
                Ent::Shared(s) => s.len() as i64,
                Ent::Solo { .. } => unreachable!(),
            };
            if count > self.hub_limit_of(&node_name) {
                changes.append(("hub", &*node_name, count))?;
                self.make_hub(&node_name, ts);
                me = self.accounts.get(account).copied();
                continue;
            }
            let other = self.accounts[&owner];
            if let Some(root) = self.union(idx, other) {
                let cid = self.id_of(py, root)?;
                let size = self.m(root).members.as_ref().unwrap().len();
                changes.append(("merge", cid, size))?;
            }
        }
        if let Some(idx) = me {
            if shared {
                self.file(idx, ts);
            }
            if restamp {
                self.restamp(idx);
            }
        }
        if solo {
            let names: Vec<Name> = nodes
                .iter()
                .map(|&n| match self.entities.get_key_value(n) {
                    Some((k, _)) => k.clone(),
                    None => match self.hubs.get_key_value(n) {
                        Some((k, _)) => k.clone(),
                        None => Arc::from(n),
                    },
                })
                .collect();
            let b = self.solo.bucket(ts);
            self.solo.file(names, b);
        }
        self.passed += passed;
        Ok(changes)
    }

    /// Accounts an entity of this node's kind may link before it is a hub.
    fn hub_limit(&self, node: &str) -> i64 {
        self.hub_limit_of(node)
    }

    /// Move event time to `ts`; ages links out when a sweep is due.
    fn advance(&mut self, ts: f64) {
        if ts > self.watermark {
            self.watermark = ts;
            if ts >= self.next_sweep {
                self.do_sweep();
            }
        }
    }

    /// Drop links and hubs older than the retention; rebuild what they held together.
    fn sweep(&mut self) -> u64 {
        self.do_sweep()
    }

    fn cluster_of(&mut self, py: Python<'_>, account: &str) -> PyResult<Option<(Py<PyString>, usize)>> {
        let Some(root) = self.root_of(account) else { return Ok(None) };
        let size = self.m(root).members.as_ref().unwrap().len();
        if size == 1 {
            return Ok(None);
        }
        Ok(Some((self.id_of(py, root)?, size)))
    }

    fn members<'py>(&mut self, py: Python<'py>, account: &str) -> PyResult<Bound<'py, PyList>> {
        let Some(root) = self.root_of(account) else { return PyList::new(py, [account]) };
        if let Some(ids) = &self.m(root).ids {
            return Ok(ids.bind(py).clone());
        }
        let ids: Vec<&str> = self.m(root).members.as_ref().unwrap().iter().map(|&i| &*self.m(i).id).collect();
        let list = PyList::new(py, ids)?;
        self.mm(root).ids = Some(list.clone().unbind());
        Ok(list)
    }

    fn lineage(&mut self, account: &str) -> (u64, usize) {
        let Some(root) = self.root_of(account) else { return (0, 1) };
        if self.m(root).serial == 0 {
            self.serials += 1;
            let s = self.serials;
            self.mm(root).serial = s;
        }
        (self.m(root).serial, self.m(root).members.as_ref().unwrap().len())
    }

    fn serial(&mut self, account: &str) -> u64 {
        match self.root_of(account) {
            Some(root) => self.m(root).serial,
            None => 0,
        }
    }

    fn members_from(&mut self, account: &str, start: usize) -> Vec<String> {
        match self.root_of(account) {
            Some(root) => self.member_ids(root, start).iter().map(|s| s.to_string()).collect(),
            None => [account.to_string()].into_iter().skip(start).collect(),
        }
    }

    fn links_of<'py>(&self, py: Python<'py>, account: &str) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        if let Some(&idx) = self.accounts.get(account) {
            for (n, t) in &self.m(idx).links {
                out.set_item(&**n, *t)?;
            }
        }
        Ok(out)
    }

    fn stamp(&self, account: &str) -> u64 {
        self.accounts.get(account).map_or(0, |&i| self.m(i).stamp)
    }

    fn shared_kinds<'py>(&self, py: Python<'py>, account: &str) -> PyResult<Bound<'py, PySet>> {
        match self.accounts.get(account) {
            Some(&idx) => self.shared_kinds_of(py, idx),
            None => PySet::empty(py),
        }
    }

    fn kinds_by_member<'py>(&mut self, py: Python<'py>, account: &str) -> PyResult<Bound<'py, PyDict>> {
        let Some(root) = self.root_of(account) else {
            let d = PyDict::new(py);
            d.set_item(account, PyList::empty(py))?;
            return Ok(d);
        };
        let r = self.m(root);
        if r.kinds.is_none() || r.stale.is_none() {
            let d = PyDict::new(py);
            for &i in r.members.as_ref().unwrap() {
                d.set_item(&*self.m(i).id, self.sorted_kinds(py, i)?)?;
            }
            let r = self.mm(root);
            r.stale = Some(Vec::new());
            r.kinds = Some(d.clone().unbind());
            return Ok(d);
        }
        if !r.stale.as_ref().unwrap().is_empty() {
            let stale = self.mm(root).stale.replace(Vec::new()).unwrap();
            let d = self.m(root).kinds.as_ref().unwrap().bind(py).copy()?;
            for i in stale {
                d.set_item(&*self.m(i).id, self.sorted_kinds(py, i)?)?;
            }
            self.mm(root).kinds = Some(d.clone().unbind());
            return Ok(d);
        }
        Ok(self.m(root).kinds.as_ref().unwrap().bind(py).clone())
    }

    fn accounts_of(&self, node: &str) -> Vec<String> {
        match self.entities.get(node) {
            None => Vec::new(),
            Some(Ent::Solo { account, .. }) => vec![account.to_string()],
            Some(Ent::Shared(s)) => s.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn sharing(&self, node: &str) -> usize {
        match self.entities.get(node) {
            None => 0,
            Some(Ent::Solo { .. }) => 1,
            Some(Ent::Shared(s)) => s.len(),
        }
    }

    fn born(&self, account: &str) -> Option<f64> {
        self.accounts.get(account).and_then(|&i| self.m(i).born)
    }

    fn members_born<'py>(&mut self, py: Python<'py>, account: &str) -> PyResult<Bound<'py, PyList>> {
        let Some(root) = self.root_of(account) else { return Ok(PyList::empty(py)) };
        if let Some(b) = &self.m(root).borns {
            return Ok(b.bind(py).clone());
        }
        let mut borns: Vec<f64> =
            self.m(root).members.as_ref().unwrap().iter().filter_map(|&i| self.m(i).born).collect();
        borns.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let list = PyList::new(py, borns)?;
        self.mm(root).borns = Some(list.clone().unbind());
        Ok(list)
    }

    fn first_seen(&self, account: &str) -> Option<f64> {
        self.accounts.get(account).map(|&i| self.m(i).first)
    }

    #[pyo3(signature = (min_size = 2))]
    fn clusters(&mut self, py: Python<'_>, min_size: usize) -> PyResult<Vec<(Py<PyString>, Vec<String>)>> {
        let roots: Vec<u32> = self
            .accounts
            .values()
            .copied()
            .filter(|&i| self.m(i).members.as_ref().is_some_and(|m| m.len() >= min_size))
            .collect();
        let mut out = Vec::with_capacity(roots.len());
        for root in roots {
            let ids: Vec<String> = self.member_ids(root, 0).iter().map(|s| s.to_string()).collect();
            out.push((self.id_of(py, root)?, ids));
        }
        let mut keyed: Vec<(usize, String, (Py<PyString>, Vec<String>))> =
            out.into_iter().map(|c| (c.1.len(), c.0.bind(py).to_string(), c)).collect();
        keyed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        Ok(keyed.into_iter().map(|k| k.2).collect())
    }

    fn find_cluster(&mut self, py: Python<'_>, cluster_id: &str) -> PyResult<Option<Vec<String>>> {
        let roots: Vec<u32> = self
            .accounts
            .values()
            .copied()
            .filter(|&i| self.m(i).members.as_ref().is_some_and(|m| m.len() > 1))
            .collect();
        for root in roots {
            if self.id_of(py, root)?.bind(py).to_str()? == cluster_id {
                return Ok(Some(self.member_ids(root, 0).iter().map(|s| s.to_string()).collect()));
            }
        }
        Ok(None)
    }

    /// Accounts, entities, links and hubs held, for memory reports.
    fn size<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let links: usize = self.accounts.values().map(|&i| self.m(i).links.len()).sum::<usize>()
            + self.entities.values().filter(|e| matches!(e, Ent::Solo { .. })).count();
        let clusters = self.accounts.values().filter(|&&i| self.m(i).members.as_ref().is_some_and(|m| m.len() > 1)).count();
        d.set_item("accounts", self.accounts.len())?;
        d.set_item("entities", self.entities.len())?;
        d.set_item("links", links)?;
        d.set_item("hubs", self.hubs.len())?;
        d.set_item("clusters", clusters)?;
        d.set_item("rebuilds", self.rebuilds)?;
        Ok(d)
    }
}
