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

use std::collections::HashMap;

use blake2::digest::consts::{U10, U4};
use blake2::digest::{FixedOutput, Mac};
use blake2::Blake2bMac;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};
use rustc_hash::FxBuildHasher;

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

/// A shingle as one number: a character `c` is `1 << 42 | c`, a pair `a b` is `a << 21 | b`
/// (code points fit 21 bits), so distinct shingles have distinct codes.
fn single(c: char) -> u64 {
    1 << 42 | c as u64
}

fn pair(a: char, b: char) -> u64 {
    (a as u64) << 21 | b as u64
}

/// The UTF-8 text of a shingle code, in `buf`.
fn shingle_text(code: u64, buf: &mut [u8; 8]) -> &[u8] {
    let low = char::from_u32((code & 0x1f_ffff) as u32).unwrap_or('\u{fffd}');
    if code >> 42 == 1 {
        return low.encode_utf8(buf).as_bytes();
    }
    let high = char::from_u32(((code >> 21) & 0x1f_ffff) as u32).unwrap_or('\u{fffd}');
    let n = high.encode_utf8(&mut buf[..4]).len();
    let m = low.encode_utf8(&mut buf[n..]).len();
    &buf[..n + m]
}

/// The block of a Chinese street: (sorted numbers joined by commas, the unit, the sorted
/// codes of its distinct name shingles, see [`single`] and [`pair`]).
pub fn chinese_block(street: &str) -> (String, Option<String>, Vec<u64>) {
    let mut s: Vec<char> = street.chars().collect();
    if street.contains("apt ") {
        s = drop_west_units(&s);
    }
    let (unit, building): (Option<String>, &[char]) = if let Some((start, a, b)) = room_cn(&s) {
        (Some(s[a..b].iter().collect()), &s[..start])
    } else if let Some((_, g1_end, a, b)) = room_cn_bare(&s) {
        // the building is what precedes the match and its first group: s[..g1_end]
        (Some(s[a..b].iter().collect()), &s[..g1_end])
    } else if let Some((_, room)) = compact_unit(&s) {
        (Some(s[room..].iter().collect()), &s[..room])
    } else if let Some((start, num)) = trailing_number(&s) {
        (Some(s[num..].iter().collect()), &s[..start])
    } else {
        (None, &s[..])
    };
    // str.strip()
    let mut building = building;
    while building.last().is_some_and(|&c| is_py_space(c)) {
        building = &building[..building.len() - 1];
    }
    let lead = building.iter().take_while(|&&c| is_py_space(c)).count();
    let building = &building[lead..];
    let mut numbers = cn_numbers(building);
    numbers.sort();
    let mut shingles: Vec<u64> = Vec::with_capacity(2 * building.len());
    let mut prev: Option<char> = None; // the previous character of the current name
    for &c in building.iter() {
        if is_not_name(c) || is_py_space(c) {
            prev = None;
        } else {
            shingles.push(single(c));
            if let Some(p) = prev {
                shingles.push(pair(p, c));
            }
            prev = Some(c);
        }
    }
    shingles.sort_unstable();
    shingles.dedup();
    (numbers.join(","), unit, shingles)
}

/// `MAX_TAGS` in Python: name shingles kept of one address.
const MAX_TAGS: usize = 512;
/// Locality and place names are few: their pseudonyms are cached, up to this many.
const NAME_CACHE_LIMIT: usize = 8192;

/// Whether Python's `[\u3400-\u9fff]` finds a character in `s`.
fn has_ideo(s: &str) -> bool {
    s.chars().any(|c| ('\u{3400}'..='\u{9fff}').contains(&c))
}

/// The last two characters of `s` (Python's `s[-2:]`).
fn last_two(s: &str) -> &str {
    match s.char_indices().rev().nth(1) {
        Some((i, _)) => &s[i..],
        None => s,
    }
}

/// The pseudonym key's hash states of the domains a signature uses.
struct Domains {
    address: Blake2bMac<U10>,
    numbers: Blake2bMac<U10>,
    unit: Blake2bMac<U10>,
    /// province, city, district
    locality: [Blake2bMac<U10>; 3],
}

impl Domains {
    fn new(key: &[u8]) -> PyResult<Self> {
        let d = |kind: &str| crate::pseudonym::domain(kind, key);
        Ok(Domains { address: d("address")?, numbers: d("address.numbers")?, unit: d("address.unit")?,
                     locality: [d("address.province")?, d("address.city")?, d("address.district")?] })
    }
}

/// Keyed 32-bit shingle tags under one subkey, with a bounded cache; with the pseudonym key,
/// whole signatures of Chinese addresses.
#[pyclass(module = "riskstream_native", name = "AddressTagger")]
pub struct AddressTagger {
    mac: Blake2bMac<U4>,
    cache: HashMap<u64, u32, FxBuildHasher>,
    /// the hash states of the pseudonym key (`mac_key(secret)`), if given: block, unit, locality
    domains: Option<Domains>,
    /// name -> pseudonym bits, per level (province, city, district): the locality names' pseudonyms
    names: [HashMap<String, u128, FxBuildHasher>; 3],
    /// the class a signature is made as (`AddressSignature`, a named tuple), if given
    signature_class: Option<Py<PyType>>,
}

impl AddressTagger {
    fn mac_of(&self, text: &[u8]) -> u32 {
        let mut mac = self.mac.clone();
        Mac::update(&mut mac, text);
        let d = mac.finalize_fixed();
        u32::from_le_bytes([d[0], d[1], d[2], d[3]])
    }

    fn tag(&mut self, code: u64) -> u32 {
        if let Some(&t) = self.cache.get(&code) {
            return t;
        }
        let mut buf = [0u8; 8];
        let t = self.mac_of(shingle_text(code, &mut buf));
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        self.cache.insert(code, t);
        t
    }

    fn sorted_tags(&mut self, codes: &[u64]) -> Vec<u32> {
        let mut tags: Vec<u32> = codes.iter().map(|&c| self.tag(c)).collect();
        tags.sort_unstable();
        tags
    }

    fn domains(&self) -> PyResult<&Domains> {
        self.domains.as_ref().ok_or_else(|| PyValueError::new_err("this tagger has no pseudonym key"))
    }

    /// The numbers' and the unit's pseudonyms (the unit scoped to its block), as bits.
    fn block_bits(&self, numbers: &str, unit: Option<String>) -> PyResult<(u128, Option<u128>)> {
        let d = self.domains()?;
        let unit = unit.map(|u| crate::pseudonym::bits(&d.unit, &format!("{numbers}|{u}")));
        Ok((crate::pseudonym::bits(&d.numbers, numbers), unit))
    }

    /// The numbers' and the unit's pseudonyms (the unit scoped to its block).
    fn block_pseudonyms(&self, numbers: &str, unit: Option<String>) -> PyResult<(String, Option<String>)> {
        let (numbers, unit) = self.block_bits(numbers, unit)?;
        Ok((crate::pseudonym::hex(numbers), unit.map(crate::pseudonym::hex)))
    }

    fn name(&mut self, level: usize, name: &str) -> PyResult<Option<u128>> {
        if name.is_empty() {
            return Ok(None);
        }
        if let Some(&p) = self.names[level].get(name) {
            return Ok(Some(p));
        }
        let p = crate::pseudonym::bits(&self.domains()?.locality[level], name);
        if self.names[level].len() >= NAME_CACHE_LIMIT {
            self.names[level].clear();
        }
        self.names[level].insert(name.to_owned(), p);
        Ok(Some(p))
    }

}

#[pymethods]
impl AddressTagger {
    #[new]
    #[pyo3(signature = (subkey, key = None, signature = None))]
    fn new(subkey: &[u8], key: Option<Vec<u8>>, signature: Option<Bound<'_, PyType>>) -> PyResult<Self> {
        if subkey.is_empty() || subkey.len() > 64 {
            return Err(PyValueError::new_err("the tag subkey must be 1 to 64 bytes"));
        }
        if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 64) {
            return Err(PyValueError::new_err("the pseudonym key must be 1 to 64 bytes (see mac_key)"));
        }
        let mac = <Blake2bMac<U4> as Mac>::new_from_slice(subkey)
            .map_err(|e| PyValueError::new_err(format!("tag subkey: {e}")))?;
        let domains = match &key {
            Some(k) => Some(Domains::new(k)?),
            None => None,
        };
        Ok(AddressTagger { mac, cache: HashMap::default(), domains, names: Default::default(),
                           signature_class: signature.map(|c| c.unbind()) })
    }

    /// `(numbers pseudonym, unit pseudonym or None, sorted tags)` of a Chinese street:
    /// :meth:`chinese` with the block and unit keyed as `pseudonym("address.numbers", numbers)`
    /// and `pseudonym("address.unit", "numbers|unit")` (needs the pseudonym key).
    fn block(&mut self, street: &str) -> PyResult<(String, Option<String>, Vec<u32>)> {
        let (numbers, unit, codes) = chinese_block(street);
        let tags = self.sorted_tags(&codes);
        let (numbers, unit) = self.block_pseudonyms(&numbers, unit)?;
        Ok((numbers, unit, tags))
    }

    /// Sorted tags of distinct shingles.
    fn tags(&mut self, shingles: Vec<String>) -> Vec<u32> {
        let mut out: Vec<u32> = shingles.iter().map(|s| self.mac_of(s.as_bytes())).collect();
        out.sort_unstable();
        out
    }

    /// `(numbers, unit, sorted tags)` of a Chinese street (see the module doc).
    fn chinese(&mut self, street: &str) -> (String, Option<String>, Vec<u32>) {
        let (numbers, unit, codes) = chinese_block(street);
        (numbers, unit, self.sorted_tags(&codes))
    }

    /// The whole signature of a Chinese address in one call, made as the signature class
    /// given to the constructor (needs it and the pseudonym key): from its canonical `key`,
    /// the locality its head was read as, and its pseudonym if known (else keyed here as
    /// `pseudonym("address", key)`).  None when the address is not one this parses: its
    /// key does not start with the locality (a rewritten head), or its street is not
    /// Chinese; Python signs those.
    #[pyo3(signature = (key, province, city, district, key_pseudonym = None))]
    fn signature(&mut self, py: Python<'_>, key: &str, province: &str, city: &str, district: &str,
                 key_pseudonym: Option<PyObject>) -> PyResult<Option<PyObject>> {
        let class = self.signature_class.as_ref()
            .ok_or_else(|| PyValueError::new_err("this tagger has no signature class"))?.clone_ref(py);
        let Some(sig) = self.chinese_signature(key, province, city, district)? else {
            return Ok(None);
        };
        let key_pseudonym = match key_pseudonym {
            Some(p) if !p.is_none(py) => p,
            _ => crate::pseudonym::of(&self.domains()?.address, key).into_pyobject(py)?.into_any().unbind(),
        };
        let [province, city, district] = sig.locality.map(|x| x.map(crate::pseudonym::hex));
        let items = [
            key_pseudonym,
            crate::pseudonym::hex(sig.numbers).into_pyobject(py)?.into_any().unbind(),
            sig.unit.map(crate::pseudonym::hex).into_pyobject(py)?.into_any().unbind(),
            (province, city, district).into_pyobject(py)?.into_any().unbind(),
            PyTuple::empty(py).into_any().unbind(),
            PyTuple::new(py, sig.tags)?.into_any().unbind(),
        ];
        crate::new_tuple_of(py, &class, items).map(Some)
    }
}

/// A Chinese address's signature but its key: the block, unit and locality pseudonyms (as
/// their bits, see `pseudonym::bits`) and the sorted tags (no place: that is Western).
pub struct ChineseSignature {
    pub numbers: u128,
    pub unit: Option<u128>,
    pub locality: [Option<u128>; 3],
    pub tags: Vec<u32>,
}

impl AddressTagger {
    /// The signature of a Chinese address from its canonical key and the locality its head
    /// was read as; None when the key does not start with the locality or its street is
    /// not Chinese (see `signature`).
    pub fn chinese_signature(&mut self, key: &str, province: &str, city: &str, district: &str)
                             -> PyResult<Option<ChineseSignature>> {
        let Some(street) = key.strip_prefix(province).and_then(|s| s.strip_prefix(city))
            .and_then(|s| s.strip_prefix(district)) else {
            return Ok(None);
        };
        if !has_ideo(street) {
            return Ok(None);
        }
        let (numbers, unit, codes) = chinese_block(street);
        let mut tags = self.sorted_tags(&codes);
        tags.truncate(MAX_TAGS);
        let (numbers, unit) = self.block_bits(&numbers, unit)?;
        let locality = [self.name(0, province)?, self.name(1, city)?, self.name(2, last_two(district))?];
        Ok(Some(ChineseSignature { numbers, unit, locality, tags }))
    }
}
