//! `RawJson`: an object's JSON as the server sent it, kept small. Objects built one at a time
//! (`RawJson::new`) hold their compact text; objects loaded in bulk are packed by a
//! `RawBlockBuilder` into shared blocks, each one zstd frame (level 1) of about 64 KiB of
//! JSON text (a hundred-odd objects), decompressed on demand for the detail pane, JSON output
//! and the audit log. The last block decompressed on each thread is kept, so reading every
//! object of a load in order decompresses each block once.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Uncompressed text per block before it is sealed.
pub const BLOCK_TARGET: usize = 64 * 1024;

/// One compressed frame holding the texts of several objects.
struct Block {
    compressed: Box<[u8]>,
    /// Uncompressed length.
    len: u32,
    /// End offset of each object's text in the uncompressed block.
    ends: Box<[u32]>,
    /// One bit per object: its text may hold something `redact::strip_secrets` would change.
    secret_bits: Box<[u64]>,
    /// Texts handed out by `RawJson::as_str` (which must return a reference), made on
    /// first use only.
    lent: OnceLock<Box<[OnceLock<Box<str>>]>>,
}

impl Block {
    fn decompress(&self) -> Box<str> {
        let bytes = zstd::bulk::decompress(&self.compressed, self.len as usize)
            .expect("a block this process compressed decompresses");
        // Every object's text was a `&str` when it was packed.
        String::from_utf8(bytes)
            .expect("packed JSON is UTF-8")
            .into_boxed_str()
    }

    fn range(&self, index: u32) -> std::ops::Range<usize> {
        let i = index as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        start..self.ends[i] as usize
    }

    fn lent_text(&self, index: u32) -> Option<&str> {
        self.lent.get()?[index as usize].get().map(|t| &**t)
    }

    fn may_hold_secret(&self, index: u32) -> bool {
        let i = index as usize;
        self.secret_bits[i / 64] & (1 << (i % 64)) != 0
    }
}

thread_local! {
    /// The block this thread decompressed last, with its text.
    static LAST: RefCell<Option<(Arc<Block>, Arc<str>)>> = const { RefCell::new(None) };
}

/// The text of a block, from this thread's cache or freshly decompressed.
fn block_text(block: &Arc<Block>) -> Arc<str> {
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((b, text)) = last.as_ref() {
            if Arc::ptr_eq(b, block) {
                return text.clone();
            }
        }
        let text: Arc<str> = Arc::from(block.decompress());
        *last = Some((block.clone(), text.clone()));
        text
    })
}

#[derive(Clone, Default)]
enum Repr {
    #[default]
    Empty,
    /// Boxed once more so that the enum is two words (the packed form is the common one).
    #[allow(clippy::box_collection)]
    Text(Box<String>),
    Packed {
        block: Arc<Block>,
        index: u32,
    },
}

/// An object's JSON as the server sent it, kept as compact text or in a shared compressed
/// block (see the module doc). Parsed on demand, for the detail pane, the audit log and the
/// few cells that read vendor fields of visible rows.
#[derive(Clone, Default)]
pub struct RawJson(Repr);

impl RawJson {
    pub fn new(v: &serde_json::Value) -> RawJson {
        RawJson(Repr::Text(Box::new(
            serde_json::to_string(v).unwrap_or_else(|_| "null".to_string()),
        )))
    }

    /// The compact JSON text, borrowed when it is kept as text, decompressed when packed.
    pub fn text(&self) -> Cow<'_, str> {
        match &self.0 {
            Repr::Empty => Cow::Borrowed("null"),
            Repr::Text(t) if t.is_empty() => Cow::Borrowed("null"),
            Repr::Text(t) => Cow::Borrowed(t.as_str()),
            Repr::Packed { block, index } => match block.lent_text(*index) {
                Some(t) => Cow::Borrowed(t),
                None => Cow::Owned(block_text(block)[block.range(*index)].to_string()),
            },
        }
    }

    /// Call `f` with the JSON text without copying it out of a decompressed block.
    pub fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match &self.0 {
            Repr::Packed { block, index } if block.lent_text(*index).is_none() => {
                let all = block_text(block);
                f(&all[block.range(*index)])
            }
            _ => f(&self.text()),
        }
    }

    /// The parsed JSON (`Null` if nothing was kept).
    pub fn value(&self) -> serde_json::Value {
        self.with_text(|t| serde_json::from_str(t).unwrap_or(serde_json::Value::Null))
    }

    /// The string at a JSON pointer ("/database/type").
    pub fn pointer_str(&self, pointer: &str) -> Option<String> {
        self.value()
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    /// The compact JSON text. A packed object keeps a decompressed copy from then on: prefer
    /// `text` or `with_text`, which do not.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Empty => "null",
            Repr::Text(t) if t.is_empty() => "null",
            Repr::Text(t) => t,
            Repr::Packed { block, index } => {
                let lent = block
                    .lent
                    .get_or_init(|| (0..block.ends.len()).map(|_| OnceLock::new()).collect());
                lent[*index as usize].get_or_init(|| {
                    block_text(block)[block.range(*index)]
                        .to_string()
                        .into_boxed_str()
                })
            }
        }
    }

    /// Whether the text is held in a shared compressed block.
    pub fn is_packed(&self) -> bool {
        matches!(self.0, Repr::Packed { .. })
    }

    /// The same JSON with secrets stripped (`redact::strip_secrets`), or `None` when there is
    /// nothing to strip. Packed objects know this from when they were packed, without
    /// decompressing; text is scanned by key (`redact::needs_strip`).
    pub fn redacted(&self) -> Option<RawJson> {
        let suspect = match &self.0 {
            Repr::Empty => false,
            Repr::Text(t) => crate::redact::needs_strip(t),
            Repr::Packed { block, index, .. } => block.may_hold_secret(*index),
        };
        if !suspect {
            return None;
        }
        let v = self.value();
        let stripped = crate::redact::strip_secrets(&v);
        (stripped != v).then(|| RawJson::new(&stripped))
    }

    /// Heap bytes this object holds alone, plus its share of a packed block (for benches).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Empty => 0,
            Repr::Text(t) => t.len(),
            Repr::Packed { block, index } => {
                let share = (block.compressed.len() + block.ends.len() * 4) / block.ends.len();
                share + block.lent_text(*index).map_or(0, str::len)
            }
        }
    }
}

/// Packs the texts of many objects into shared compressed blocks. `push` a text, and every
/// `BLOCK_TARGET` bytes (and at `finish`) the pending objects get their `RawJson`s.
#[derive(Default)]
pub struct RawBlockBuilder {
    buf: String,
    scratch: Vec<u8>,
    ends: Vec<u32>,
    secret_bits: Vec<u64>,
    /// The compression context, made at the first block and reused for the next ones.
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

/// zstd's fastest standard level: on list JSON about 8.6:1 (LZ4 gave 5:1) at a few hundred
/// MB/s.
const ZSTD_LEVEL: i32 = 1;

impl RawBlockBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// `buf` compressed into `scratch`: its length. `None` only if zstd cannot make a context
    /// (out of memory).
    fn compress(&mut self) -> Option<usize> {
        if self.zstd.is_none() {
            self.zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
        }
        let bound = zstd::zstd_safe::compress_bound(self.buf.len());
        if self.scratch.len() < bound {
            self.scratch.resize(bound, 0);
        }
        self.zstd
            .as_mut()?
            .compress_to_buffer(self.buf.as_bytes(), &mut self.scratch[..])
            .ok()
    }

    /// Add one object's compact JSON text. Returns the sealed block's objects when this one
    /// filled it (in push order), else an empty list.
    pub fn push(&mut self, json: &str) -> Vec<RawJson> {
        let i = self.ends.len();
        if i.is_multiple_of(64) {
            self.secret_bits.push(0);
        }
        if crate::redact::needs_strip(json) {
            self.secret_bits[i / 64] |= 1 << (i % 64);
        }
        self.buf.push_str(json);
        self.ends
            .push(u32::try_from(self.buf.len()).unwrap_or(u32::MAX));
        if self.buf.len() >= BLOCK_TARGET {
            self.seal()
        } else {
            Vec::new()
        }
    }

    /// Objects pushed and not yet sealed.
    pub fn pending(&self) -> usize {
        self.ends.len()
    }

    /// Seal what is pending into one block and return its objects (in push order).
    pub fn seal(&mut self) -> Vec<RawJson> {
        if self.ends.is_empty() {
            return Vec::new();
        }
        // Into a scratch buffer kept for the next block, then copied at its exact size: a
        // worst-case buffer shrunk in place would leave a ~50 KiB hole per block that only
        // smaller allocations can reuse (about 100 MB of holes for 300,000 objects).
        let Some(n) = self.compress() else {
            // No context: the texts stay as they are (uncompressed, never lost).
            let texts: Vec<RawJson> = (0..self.ends.len())
                .map(|i| {
                    let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
                    RawJson(Repr::Text(Box::new(
                        self.buf[start..self.ends[i] as usize].to_string(),
                    )))
                })
                .collect();
            self.ends.clear();
            self.secret_bits.clear();
            self.buf.clear();
            return texts;
        };
        let compressed: Box<[u8]> = self.scratch[..n].into();
        let block = Arc::new(Block {
            compressed,
            len: u32::try_from(self.buf.len()).unwrap_or(u32::MAX),
            ends: std::mem::take(&mut self.ends).into_boxed_slice(),
            secret_bits: std::mem::take(&mut self.secret_bits).into_boxed_slice(),
            lent: OnceLock::new(),
        });
        self.buf.clear();
        (0..block.ends.len() as u32)
            .map(|index| {
                RawJson(Repr::Packed {
                    block: block.clone(),
                    index,
                })
            })
            .collect()
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.with_text(|a| other.with_text(|b| a == b))
    }
}

impl Eq for RawJson {}

impl From<serde_json::Value> for RawJson {
    fn from(v: serde_json::Value) -> RawJson {
        RawJson::new(&v)
    }
}

impl From<&serde_json::Value> for RawJson {
    fn from(v: &serde_json::Value) -> RawJson {
        RawJson::new(v)
    }
}

impl PartialEq<serde_json::Value> for RawJson {
    fn eq(&self, other: &serde_json::Value) -> bool {
        self.value() == *other
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|t| f.write_str(t))
    }
}

impl Serialize for RawJson {
    /// Transcoded from the text, event by event, without building a tree.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_text(|t| transcode::to(t, s))
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RawJson, D::Error> {
        serde_json::Value::deserialize(d).map(|v| RawJson::new(&v))
    }
}

/// JSON text to any serializer, event by event: what `serde_json::Value` would serialize
/// for the same text, without the tree (keys stay in text order).
mod transcode {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess};
    use serde::ser::{self, SerializeMap, SerializeSeq, Serializer};
    use std::cell::RefCell;
    use std::fmt;

    pub fn to<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let out = Transcoder::new(&mut de).serialize_into(s)?;
        de.end().map_err(ser::Error::custom)?;
        Ok(out)
    }

    struct Transcoder<D>(RefCell<Option<D>>);

    impl<'de, D: Deserializer<'de>> Transcoder<D> {
        fn new(d: D) -> Self {
            Transcoder(RefCell::new(Some(d)))
        }

        fn serialize_into<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let d = self
                .0
                .borrow_mut()
                .take()
                .ok_or_else(|| ser::Error::custom("value already transcoded"))?;
            d.deserialize_any(Visitor(s)).map_err(ser::Error::custom)
        }
    }

    impl<'de, D: Deserializer<'de>> ser::Serialize for Transcoder<D> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.serialize_into(s)
        }
    }

    struct Visitor<S>(S);

    fn s2d<E: fmt::Display, F: de::Error>(e: E) -> F {
        F::custom(e)
    }

    impl<'de, S: Serializer> de::Visitor<'de> for Visitor<S> {
        type Value = S::Ok;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<S::Ok, E> {
            self.0.serialize_bool(v).map_err(s2d)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<S::Ok, E> {
            self.0.serialize_i64(v).map_err(s2d)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<S::Ok, E> {
            self.0.serialize_u64(v).map_err(s2d)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<S::Ok, E> {
            self.0.serialize_f64(v).map_err(s2d)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<S::Ok, E> {
            self.0.serialize_str(v).map_err(s2d)
        }
        fn visit_unit<E: de::Error>(self) -> Result<S::Ok, E> {
            self.0.serialize_unit().map_err(s2d)
        }
        fn visit_none<E: de::Error>(self) -> Result<S::Ok, E> {
            self.0.serialize_unit().map_err(s2d)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<S::Ok, A::Error> {
            let mut out = self.0.serialize_seq(seq.size_hint()).map_err(s2d)?;
            while seq.next_element_seed(Element(&mut out))?.is_some() {}
            out.end().map_err(s2d)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<S::Ok, A::Error> {
            let mut out = self.0.serialize_map(map.size_hint()).map_err(s2d)?;
            while map.next_key_seed(Key(&mut out))?.is_some() {
                map.next_value_seed(Value(&mut out))?;
            }
            out.end().map_err(s2d)
        }
    }

    struct Element<'a, T>(&'a mut T);

    impl<'de, T: SerializeSeq> DeserializeSeed<'de> for Element<'_, T> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            self.0.serialize_element(&Transcoder::new(d)).map_err(s2d)
        }
    }

    struct Key<'a, T>(&'a mut T);

    impl<'de, T: SerializeMap> DeserializeSeed<'de> for Key<'_, T> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            self.0.serialize_key(&Transcoder::new(d)).map_err(s2d)
        }
    }

    struct Value<'a, T>(&'a mut T);

    impl<'de, T: SerializeMap> DeserializeSeed<'de> for Value<'_, T> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            self.0.serialize_value(&Transcoder::new(d)).map_err(s2d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(i: usize) -> serde_json::Value {
        json!({
            "id": format!("{i:032X}"),
            "name": format!("Datasource \"{i}\" \u{e9}\n"),
            "owner": {"id": "54F3D26011D2896560009A8E67019608", "name": "Administrator"},
            "numbers": [1, -2, 3.5, 1e300, null, true, false],
            "database": {"type": "postgre_sql", "connection": {"id": "C1", "name": "pg", "isEmbedded": false}},
        })
    }

    #[test]
    fn packed_objects_round_trip_through_their_blocks() {
        let mut b = RawBlockBuilder::new();
        let mut raws = Vec::new();
        let texts: Vec<String> = (0..500).map(|i| sample(i).to_string()).collect();
        for t in &texts {
            raws.extend(b.push(t));
        }
        raws.extend(b.seal());
        assert_eq!(raws.len(), texts.len());
        assert!(raws.iter().all(RawJson::is_packed));
        // Read out of order too: the thread's cache must follow the blocks.
        for i in [499, 0, 250, 1, 498] {
            assert_eq!(raws[i].text(), texts[i]);
            assert_eq!(raws[i].value(), sample(i));
            assert_eq!(raws[i], sample(i));
            assert_eq!(raws[i], RawJson::new(&sample(i)));
            assert_eq!(raws[i].as_str(), texts[i]);
            assert_eq!(format!("{:?}", raws[i]), texts[i]);
        }
        let total: usize = raws.iter().map(RawJson::heap_bytes).sum();
        let text: usize = texts.iter().map(String::len).sum();
        assert!(total < text, "{total} packed against {text} as text");
        assert_eq!(RawJson::default().text(), "null");
        assert!(std::mem::size_of::<RawJson>() <= 16);
        assert_eq!(RawJson::default().value(), serde_json::Value::Null);
    }

    #[test]
    fn serializing_transcodes_exactly_like_the_value() {
        let mut b = RawBlockBuilder::new();
        let v = sample(7);
        let mut raws = b.push(&v.to_string());
        raws.extend(b.seal());
        for raw in [&raws[0], &RawJson::new(&v)] {
            assert_eq!(serde_json::to_string(raw).unwrap(), v.to_string());
            assert_eq!(
                serde_json::to_string_pretty(raw).unwrap(),
                serde_json::to_string_pretty(&v).unwrap()
            );
        }
        assert_eq!(serde_json::to_string(&RawJson::default()).unwrap(), "null");
    }

    #[test]
    fn packed_objects_remember_which_may_hold_secrets() {
        let plain = json!({"id": "1", "name": "pg"});
        let secret = json!({"id": "2", "connection": {"password": "hunter2"}});
        let mut b = RawBlockBuilder::new();
        let mut raws = b.push(&plain.to_string());
        raws.extend(b.push(&secret.to_string()));
        raws.extend(b.seal());
        assert_eq!(raws[0].redacted(), None);
        let stripped = raws[1].redacted().expect("a password to strip");
        assert!(!stripped.text().contains("hunter2"));
        assert_eq!(stripped.value(), crate::redact::strip_secrets(&secret));
    }
}
