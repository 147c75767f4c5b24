//! Fuzzy address signatures: the native twin of the Chinese building-part parse
//! and the shingle tags of `riskstream.entities.fuzzy` (`_chinese_block` and
//! `_Tagger.tags`), which stay the fallback and the oracle.
//!
//! Input is the street part of a canonical address key (what `address_key`
//! leaves after the locality; a key holds no newline, so Python's `$` is the end).  Output: the building part's sorted numbers
//! joined by commas (the block), the room / flat or None, and the sorted keyed
//! 32-bit tags of the building part's distinct name shingles (characters and
//! character pairs).  A tag is keyed BLAKE2b with a 4-byte digest over the
//! shingle's UTF-8, read little-endian: the same bytes as Python's
//! `hashlib.blake2b(key=subkey, digest_size=4)`.
//!
//! The parse follows the Python regular expressions step by step:
//! `_WEST_UNIT_IN_CN`, `_ROOM_CN`, `_ROOM_CN_BARE`, `_TRAILING_NUMBER`,
//! `_CN_NUMBER` and `_NOT_NAME` (ASCII `[0-9]` and `[a-z]`, as Python's `re`
//! reads them in those patterns).

use std::collections::{BTreeSet, HashMap};

use blake2::digest::consts::U4;
use blake2::digest::{FixedOutput, Mac};
use blake2::Blake2bMac;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Place words after a number or letter (`_MARKERS` in Python).
const MARKERS: &[char] = &['号', '栋', '元', '层', '楼', '弄', '期', '组', '室'];
const CACHE_LIMIT: usize = 200_000;

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn is_lower(c: char) -> bool {
    c.is_ascii_lowercase()
}

fn is_marker(c: char) -> bool {
    MARKERS.contains(&c)
}

/// What Python's `str.split()` and `str.strip()` take for whitespace.
fn is_py_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | '\u{1c}'..='\u{1f}' | ' ' | '\u{85}' | '\u{a0}'
        | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// `re.sub(r" ?apt [0-9a-z]+", "", s)`.
fn drop_west_units(s: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    let n = s.len();
    let apt = |at: usize| -> Option<usize> {
        // "apt " at `at`, then [0-9a-z]+: the end of the match
        if at + 4 <= n && s[at] == 'a' && s[at + 1] == 'p' && s[at + 2] == 't' && s[at + 3] == ' ' {
            let mut j = at + 4;
            while j < n && (is_digit(s[j]) || is_lower(s[j])) {
                j += 1;
            }
            if j > at + 4 {
                return Some(j);
            }
        }
        None
    };
    while i < n {
        if s[i] == ' ' {
            if let Some(end) = apt(i + 1) {
                i = end;
                continue;
            }
        }
        if let Some(end) = apt(i) {
            i = end;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// `_ROOM_CN.search`: `([0-9]+[a-z]?)室` -> (start of the match, the room).
fn room_cn(s: &[char]) -> Option<(usize, usize, usize)> {
    let n = s.len();
    let mut i = 0;
    while i < n {
        if is_digit(s[i]) {
            // the leftmost start: the first digit of a run whose end (with an optional letter) meets 室
            let mut j = i;
            while j < n && is_digit(s[j]) {
                j += 1;
            }
            // greedy [0-9]+ then [a-z]? then 室; backtracking over fewer digits cannot meet 室
            if j < n && s[j] == '室' {
                return Some((i, i, j));
            }
            if j + 1 < n && is_lower(s[j]) && s[j + 1] == '室' {
                return Some((i, i, j + 1));
            }
            // a later start inside the same run fails the same way
            i = j;
            continue;
        }
        i += 1;
    }
    None
}

/// Whether `rest` matches `[^0-9]*(?: [0-9]{1,2}[^0-9]*)?$` (to its end).
fn bare_tail(rest: &[char]) -> bool {
    let runs: Vec<usize> = (0..rest.len()).filter(|&k| is_digit(rest[k]) && (k == 0 || !is_digit(rest[k - 1]))).collect();
    match runs.len() {
        0 => true,
        1 => {
            let start = runs[0];
            let mut end = start;
            while end < rest.len() && is_digit(rest[end]) {
                end += 1;
            }
            start > 0 && rest[start - 1] == ' ' && end - start <= 2
        }
        _ => false,
    }
}

/// `_ROOM_CN_BARE.search` -> (start of the match, the first group's end, room start, room end).
///
/// `(?:(?<=[0-9][号栋层楼])|(?<=[0-9]单元))((?:[0-9]+ )?)([0-9]{3,5})号?(?=tail$)`.
fn room_cn_bare(s: &[char]) -> Option<(usize, usize, usize, usize)> {
    let n = s.len();
    for p in 0..=n {
        let behind = (p >= 2 && is_digit(s[p - 2]) && matches!(s[p - 1], '号' | '栋' | '层' | '楼'))
            || (p >= 3 && is_digit(s[p - 3]) && s[p - 2] == '单' && s[p - 1] == '元');
        if !behind {
            continue;
        }
        // group 1: greedy "[0-9]+ " or nothing
        let mut options = Vec::with_capacity(2);
        let mut j = p;
        while j < n && is_digit(s[j]) {
            j += 1;
        }
        if j > p && j < n && s[j] == ' ' {
            options.push(j + 1);
        }
        options.push(p);
        for g1_end in options {
            let mut k = g1_end;
            while k < n && is_digit(s[k]) && k - g1_end < 5 {
                k += 1;
            }
            // [0-9]{3,5}: greedy, then fewer
            let mut g2_end = k;
            while g2_end >= g1_end + 3 {
                // 号? greedy, then without
                if g2_end < n && s[g2_end] == '号' && bare_tail(&s[g2_end + 1..]) {
                    return Some((p, g1_end, g1_end, g2_end));
                }
                if bare_tail(&s[g2_end..]) {
                    return Some((p, g1_end, g1_end, g2_end));
                }
                g2_end -= 1;
            }
        }
    }
    None
}

/// `_TRAILING_NUMBER.search`: `(?<=[^0-9a-z {MARKERS}]) ?([0-9]+[a-z]?)$` -> (match start, number start).
fn trailing_number(s: &[char]) -> Option<(usize, usize)> {
    let n = s.len();
    if n == 0 {
        return None;
    }
    let mut end = n;
    if is_lower(s[end - 1]) {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && is_digit(s[start - 1]) {
        start -= 1;
    }
    if start == end {
        return None;
    }
    let ok_behind = |at: usize| at > 0 && {
        let c = s[at - 1];
        !(is_digit(c) || is_lower(c) || c == ' ' || is_marker(c))
    };
    // the leftmost start: at the space before the number, else at the number
    if start > 0 && s[start - 1] == ' ' && ok_behind(start - 1) {
        return Some((start - 1, start));
    }
    if ok_behind(start) {
        return Some((start, start));
    }
    None
}

/// `_COMPACT_UNIT.search`: `(?<=[^0-9a-z {MARKERS}])((?:[0-9]+ ){1,2})([0-9]{3,5})$`
/// -> (match start, room start).
fn compact_unit(s: &[char]) -> Option<(usize, usize)> {
    let n = s.len();
    // the room: 3 to 5 digits ending the text, after a space
    let mut room = n;
    while room > 0 && is_digit(s[room - 1]) {
        room -= 1;
    }
    if !(3..=5).contains(&(n - room)) || room == 0 || s[room - 1] != ' ' {
        return None;
    }
    // one or two "digits " before it; the leftmost start wins, so two if there are two
    let mut starts = Vec::with_capacity(2);
    let mut at = room; // the start of the text matched so far
    for _ in 0..2 {
        if at == 0 || s[at - 1] != ' ' {
            break;
        }
        let mut d = at - 1;
        while d > 0 && is_digit(s[d - 1]) {
            d -= 1;
        }
        if d == at - 1 {
            break; // no digits before the space
        }
        starts.push(d);
        at = d;
    }
    let ok_behind = |p: usize| p > 0 && {
        let c = s[p - 1];
        !(is_digit(c) || is_lower(c) || c == ' ' || is_marker(c))
    };
    // Python tries starts from the left: the two-number start first, then the one-number start
    starts.into_iter().rev().find(|&p| ok_behind(p)).map(|p| (p, room))
}

/// `_CN_NUMBER.findall`: `[0-9]+|(?<![a-z])[a-z][0-9]*(?=[MARKERS])`.
fn cn_numbers(s: &[char]) -> Vec<String> {
    let n = s.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let c = s[i];
        if is_digit(c) {
            let mut j = i;
            while j < n && is_digit(s[j]) {
                j += 1;
            }
            out.push(s[i..j].iter().collect());
            i = j;
        } else if is_lower(c) && (i == 0 || !is_lower(s[i - 1])) {
            let mut k = i + 1;
            while k < n && is_digit(s[k]) {
                k += 1;
            }
            if k < n && is_marker(s[k]) {
                out.push(s[i..k].iter().collect());
                i = k;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

fn is_not_name(c: char) -> bool {
    is_digit(c) || is_lower(c) || c == ' ' || is_marker(c) || c == '单' || c == '座' || c == '幢'
}

/// The block of a Chinese street: (sorted numbers joined by commas, the unit, distinct name shingles).
pub fn chinese_block(street: &str) -> (String, Option<String>, BTreeSet<String>) {
    let mut s: Vec<char> = street.chars().collect();
    if street.contains("apt ") {
        s = drop_west_units(&s);
    }
    let (unit, mut building): (Option<String>, Vec<char>) = if let Some((start, a, b)) = room_cn(&s) {
        (Some(s[a..b].iter().collect()), s[..start].to_vec())
    } else if let Some((start, g1_end, a, b)) = room_cn_bare(&s) {
        let mut building = s[..start].to_vec();
        building.extend_from_slice(&s[start..g1_end]);
        (Some(s[a..b].iter().collect()), building)
    } else if let Some((start, room)) = compact_unit(&s) {
        let mut building = s[..start].to_vec();
        building.extend_from_slice(&s[start..room]);
        (Some(s[room..].iter().collect()), building)
    } else if let Some((start, num)) = trailing_number(&s) {
        (Some(s[num..].iter().collect()), s[..start].to_vec())
    } else {
        (None, s.clone())
    };
    // str.strip()
    while building.last().is_some_and(|&c| is_py_space(c)) {
        building.pop();
    }
    let lead = building.iter().take_while(|&&c| is_py_space(c)).count();
    building.drain(..lead);
    let mut numbers = cn_numbers(&building);
    numbers.sort();
    let mut shingles = BTreeSet::new();
    let mut name: Vec<char> = Vec::new();
    let mut flush = |name: &mut Vec<char>, shingles: &mut BTreeSet<String>| {
        for &c in name.iter() {
            shingles.insert(c.to_string());
        }
        for w in name.windows(2) {
            shingles.insert(w.iter().collect());
        }
        name.clear();
    };
    for &c in building.iter() {
        if is_not_name(c) || is_py_space(c) {
            flush(&mut name, &mut shingles);
        } else {
            name.push(c);
        }
    }
    flush(&mut name, &mut shingles);
    (numbers.join(","), unit, shingles)
}

/// Keyed 32-bit shingle tags under one subkey, with a bounded cache.
#[pyclass(module = "riskstream_native", name = "AddressTagger")]
pub struct AddressTagger {
    mac: Blake2bMac<U4>,
    cache: HashMap<String, u32>,
    /// the pseudonym key (`mac_key(secret)`) for the block and unit pseudonyms, if given
    key: Option<Vec<u8>>,
}

impl AddressTagger {
    fn tag(&mut self, shingle: &str) -> u32 {
        if let Some(&t) = self.cache.get(shingle) {
            return t;
        }
        let mut mac = self.mac.clone();
        Mac::update(&mut mac, shingle.as_bytes());
        let d = mac.finalize_fixed();
        let t = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        self.cache.insert(shingle.to_owned(), t);
        t
    }
}

#[pymethods]
impl AddressTagger {
    #[new]
    #[pyo3(signature = (subkey, key = None))]
    fn new(subkey: &[u8], key: Option<Vec<u8>>) -> PyResult<Self> {
        if subkey.is_empty() || subkey.len() > 64 {
            return Err(PyValueError::new_err("the tag subkey must be 1 to 64 bytes"));
        }
        if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 64) {
            return Err(PyValueError::new_err("the pseudonym key must be 1 to 64 bytes (see mac_key)"));
        }
        let mac = <Blake2bMac<U4> as Mac>::new_from_slice(subkey)
            .map_err(|e| PyValueError::new_err(format!("tag subkey: {e}")))?;
        Ok(AddressTagger { mac, cache: HashMap::new(), key })
    }

    /// `(numbers pseudonym, unit pseudonym or None, sorted tags)` of a Chinese street:
    /// :meth:`chinese` with the block and unit keyed as `pseudonym("address.numbers", numbers)`
    /// and `pseudonym("address.unit", "numbers|unit")` (needs the pseudonym key).
    fn block(&mut self, street: &str) -> PyResult<(String, Option<String>, Vec<u32>)> {
        let (numbers, unit, tags) = self.chinese(street);
        let key = self.key.as_deref().ok_or_else(|| PyValueError::new_err("this tagger has no pseudonym key"))?;
        let unit = match unit {
            Some(u) => Some(crate::pseudonym::pseudonym("address.unit", &format!("{numbers}|{u}"), key)?),
            None => None,
        };
        Ok((crate::pseudonym::pseudonym("address.numbers", &numbers, key)?, unit, tags))
    }

    /// Sorted tags of distinct shingles.
    fn tags(&mut self, shingles: Vec<String>) -> Vec<u32> {
        let mut out: Vec<u32> = shingles.iter().map(|s| self.tag(s)).collect();
        out.sort_unstable();
        out
    }

    /// `(numbers, unit, sorted tags)` of a Chinese street (see the module doc).
    fn chinese(&mut self, street: &str) -> (String, Option<String>, Vec<u32>) {
        let (numbers, unit, shingles) = chinese_block(street);
        let mut tags: Vec<u32> = shingles.iter().map(|s| self.tag(s)).collect();
        tags.sort_unstable();
        (numbers, unit, tags)
    }
}
