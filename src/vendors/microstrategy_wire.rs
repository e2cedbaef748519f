//! Decoding MicroStrategy list answers as they arrive: each element of
//! `{"datasources": [...]}` is split out of the body (`jsonstream`), read into the few
//! fields the model needs (typed, borrowing from the element's text, lenient about types
//! exactly like `microstrategy::parse_resource`), and its text packed into a shared
//! compressed block (`RawBlockBuilder`). No tree of the answer is ever built.

use super::jsonstream::ArraySplitter;
use super::ApiError;
use crate::model::{
    parse_time, Kind, RawBlockBuilder, RawJson, Ref, Resource, Str, StrPool, VendorId,
};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

const V: VendorId = VendorId::MicroStrategy;

/// A string, or nothing when the value is of another type (as `Value::as_str` reads it).
#[derive(Default)]
struct LStr<'a>(Option<Cow<'a, str>>);

impl LStr<'_> {
    /// Trimmed and non-empty (`str_at`).
    fn get(&self) -> Option<&str> {
        self.0.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
}

/// An id: a non-blank string (trimmed) or a number (`id_at`).
#[derive(Default)]
struct LId<'a>(Option<Cow<'a, str>>);

impl LId<'_> {
    fn get(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }

    fn as_str(&self) -> Option<&str> {
        self.0.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
}

/// `true` only for the JSON literal `true`.
#[derive(Default)]
struct LTrue(bool);

/// An object read as `T`, or nothing when the value is not an object.
struct LObj<T>(Option<T>);

impl<T> Default for LObj<T> {
    fn default() -> Self {
        LObj(None)
    }
}

/// What a lenient visitor makes of each JSON type.
trait Lenient<'de>: Sized {
    fn none() -> Self;
    fn string(_: Cow<'de, str>) -> Self {
        Self::none()
    }
    fn number(_: serde_json::Number) -> Self {
        Self::none()
    }
    fn boolean(_: bool) -> Self {
        Self::none()
    }
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::none())
    }
}

struct LenientVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Lenient<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<T, E> {
        Ok(T::string(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok(T::string(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
        Ok(T::string(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Ok(T::number(v.into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Ok(T::number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Ok(serde_json::Number::from_f64(v).map_or_else(T::none, T::number))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        Ok(T::boolean(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::none())
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::none())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(T::none())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::map(map)
    }
}

macro_rules! lenient_deserialize {
    ($($t:ty),+) => {$(
        impl<'de: 'a, 'a> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(LenientVisitor(std::marker::PhantomData))
            }
        }
    )+};
}

impl<'de: 'a, 'a> Lenient<'de> for LStr<'a> {
    fn none() -> Self {
        LStr(None)
    }
    fn string(s: Cow<'de, str>) -> Self {
        LStr(Some(s))
    }
}

impl<'de: 'a, 'a> Lenient<'de> for LId<'a> {
    fn none() -> Self {
        LId(None)
    }
    fn string(s: Cow<'de, str>) -> Self {
        LId(Some(s))
    }
    fn number(n: serde_json::Number) -> Self {
        LId(Some(Cow::Owned(n.to_string())))
    }
}

impl<'de> Lenient<'de> for LTrue {
    fn none() -> Self {
        LTrue(false)
    }
    fn boolean(b: bool) -> Self {
        LTrue(b)
    }
}

impl<'de, T: Deserialize<'de>> Lenient<'de> for LObj<T> {
    fn none() -> Self {
        LObj(None)
    }
    fn map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| LObj(Some(t)))
    }
}

lenient_deserialize!(LStr<'a>, LId<'a>);

impl<'de> Deserialize<'de> for LTrue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor(std::marker::PhantomData))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LObj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor(std::marker::PhantomData))
    }
}

/// `{id, name}` (and `isEmbedded` of a datasource's connection).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Named<'a> {
    #[serde(borrow)]
    id: LId<'a>,
    #[serde(borrow)]
    name: LStr<'a>,
    #[serde(rename = "isEmbedded")]
    is_embedded: LTrue,
}

impl Named<'_> {
    /// `ref_at`: a reference when it has an id.
    fn to_ref(&self, kind: Kind, pool: Option<&StrPool>) -> Option<Ref> {
        let id = make_str(pool, &self.id.get()?);
        let name = self
            .name
            .get()
            .map_or_else(|| id.clone(), |n| make_str(pool, n));
        Some(Ref { kind, id, name })
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Database<'a> {
    #[serde(rename = "type", borrow)]
    type_: LStr<'a>,
    #[serde(borrow)]
    connection: LObj<Named<'a>>,
    #[serde(borrow)]
    login: LObj<Named<'a>>,
    #[serde(rename = "primaryDatasource", borrow)]
    primary: LObj<Named<'a>>,
    #[serde(rename = "dataMartDatasource", borrow)]
    data_mart: LObj<Named<'a>>,
}

/// The fields of one listed object that the model reads.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Wire<'a> {
    #[serde(borrow)]
    id: LId<'a>,
    #[serde(borrow)]
    name: LStr<'a>,
    #[serde(borrow)]
    owner: LObj<Named<'a>>,
    #[serde(rename = "dateCreated", borrow)]
    date_created: LStr<'a>,
    #[serde(rename = "dateModified", borrow)]
    date_modified: LStr<'a>,
    #[serde(borrow)]
    dbms: LObj<Named<'a>>,
    #[serde(borrow)]
    database: LObj<Database<'a>>,
}

/// `s` from `pool` when there is one, else a new text.
fn make_str(pool: Option<&StrPool>, s: &str) -> Str {
    match pool {
        Some(p) => p.get(s),
        None => Str::from(s),
    }
}

/// `parse_resource` of the same object, without `raw`. `None` without an id. Ids and names
/// from `pool` when given.
fn resource(profile: &str, kind: Kind, w: &Wire<'_>, pool: Option<&StrPool>) -> Option<Resource> {
    let id = w.id.get()?;
    let name = make_str(pool, w.name.get().unwrap_or(&id));
    let mut r = Resource::with_strs(V, profile, kind, make_str(pool, &id), name);
    r.owner = w
        .owner
        .0
        .as_ref()
        .and_then(|o| o.name.get())
        .map(crate::model::intern);
    r.created = w.date_created.get().and_then(parse_time);
    r.updated = w.date_modified.get().and_then(parse_time);
    let db = w.database.0.as_ref();
    r.type_ = match kind {
        Kind::Datasources => w
            .dbms
            .0
            .as_ref()
            .and_then(|d| d.name.get())
            .or_else(|| db.and_then(|d| d.type_.get())),
        Kind::Connections => db.and_then(|d| d.type_.get()),
        Kind::Logins | Kind::Datamarts => None,
    }
    .map(crate::model::intern);
    let deps = dependencies(kind, w, &id);
    r.depends_on = Vec::with_capacity(deps.iter().flatten().count());
    r.depends_on.extend(
        deps.iter()
            .flatten()
            .filter_map(|(k, n)| n.to_ref(*k, pool)),
    );
    Some(r)
}

/// What the object `w` (of `kind`, its id `id`) depends on, in order, each with an id.
fn dependencies<'w, 'a>(
    kind: Kind,
    w: &'w Wire<'a>,
    id: &str,
) -> [Option<(Kind, &'w Named<'a>)>; 3] {
    let db = w.database.0.as_ref();
    let has_id = |n: &&Named<'_>| n.id.as_str().is_some();
    match kind {
        Kind::Datasources => {
            let conn = db
                .and_then(|d| d.connection.0.as_ref())
                .filter(|c| !c.is_embedded.0)
                .filter(has_id);
            let link = |l: &'w LObj<Named<'a>>| {
                l.0.as_ref()
                    .filter(|l| l.id.as_str().is_some_and(|l| l != id))
                    .map(|l| (Kind::Datasources, l))
            };
            [
                conn.map(|c| (Kind::Connections, c)),
                db.and_then(|d| link(&d.primary)),
                db.and_then(|d| link(&d.data_mart)),
            ]
        }
        Kind::Connections => [
            db.and_then(|d| d.login.0.as_ref())
                .filter(has_id)
                .map(|l| (Kind::Logins, l)),
            None,
            None,
        ],
        Kind::Logins | Kind::Datamarts => [None, None, None],
    }
}

/// One object's compact JSON text as a `Resource` (raw packed): what a list element decodes
/// to. For tests against `parse_resource`.
#[cfg(test)]
fn parse_text(profile: &str, kind: Kind, text: &str) -> Result<Option<Resource>, String> {
    let mut d = ListDecoder::new(profile, kind, "");
    d.element(text.as_bytes())?;
    let (mut list, _) = d.finish_elements();
    Ok(list.pop())
}

/// Body pieces read ahead of a list's decoder thread: enough to keep it busy, few enough to
/// hold the reading back when it falls behind.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Decodes one kind's list answer chunk by chunk (see the module doc).
pub struct ListDecoder<'p> {
    profile: Box<str>,
    kind: Kind,
    path: &'p str,
    split: ArraySplitter,
    packer: RawBlockBuilder,
    out: Vec<Resource>,
    /// `out[packed..]` wait for their block to be sealed.
    packed: usize,
    skipped: usize,
    /// For `load_each`: objects go here (each given its JSON when its block is sealed).
    slims: Option<Slims>,
    /// Where ids and names come from when set (`sharing`): shared with the load's other
    /// lists.
    pool: Option<StrPool>,
    /// Objects gone into `slims`.
    kept: usize,
}

/// What one list answer decoded to: the objects, or (`ListDecoder::slim`) their slim form,
/// and how many elements had no id.
pub struct Decoded {
    pub resources: Vec<Resource>,
    pub slims: Slims,
    pub skipped: usize,
}

impl<'p> ListDecoder<'p> {
    /// Take ids and names (of objects and of what they depend on) from `pool`.
    pub fn sharing(mut self, pool: StrPool) -> Self {
        self.pool = Some(pool);
        self
    }

    pub fn new(profile: &str, kind: Kind, path: &'p str) -> Self {
        ListDecoder {
            profile: profile.into(),
            kind,
            path,
            split: ArraySplitter::new(kind.id()),
            packer: RawBlockBuilder::new(),
            out: Vec::new(),
            packed: 0,
            skipped: 0,
            slims: None,
            kept: 0,
            pool: None,
        }
    }

    /// A decoder that keeps each object slim (`Slims`) instead of as a `Resource`.
    pub fn slim(profile: &str, kind: Kind, path: &'p str) -> Self {
        ListDecoder {
            slims: Some(Slims::default()),
            ..ListDecoder::new(profile, kind, path)
        }
    }

    fn decode_error(&self, status: u16, why: String) -> ApiError {
        ApiError::Decode {
            vendor: V,
            status,
            message: format!("GET {}: {why}", self.path),
        }
    }

    /// The next piece of a 2xx body.
    pub fn feed(&mut self, status: u16, chunk: &[u8]) -> Result<(), ApiError> {
        let mut split = std::mem::replace(&mut self.split, ArraySplitter::new(""));
        let result = split.feed(chunk, &mut |e| self.element(e));
        self.split = split;
        result.map_err(|why| self.decode_error(status, why))
    }

    fn element(&mut self, bytes: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
        let at = || format!("element {}", self.kept + self.out.len() + self.skipped + 1);
        if !text.starts_with('{') {
            // Not an object: checked, and skipped like an object without an id.
            serde_json::from_str::<IgnoredAny>(text).map_err(|e| format!("{}: {e}", at()))?;
            self.skipped += 1;
            return Ok(());
        }
        let wire: Wire<'_> = serde_json::from_str(text).map_err(|e| format!("{}: {e}", at()))?;
        if let Some(slims) = self.slims.as_mut() {
            // Straight from the wire: no `Resource` built only to be taken apart.
            let Some(id) = wire.id.as_str() else {
                self.skipped += 1;
                return Ok(());
            };
            let name = wire.name.get().unwrap_or(id);
            let deps = dependencies(self.kind, &wire, id);
            let deps = deps
                .iter()
                .flatten()
                .filter_map(|(k, n)| Some((*k, n.id.as_str()?)));
            slims.push_parts(self.kind, id, name, deps, RawJson::default());
            self.kept += 1;
            let sealed = self.packer.push(text);
            self.attach(sealed);
            return Ok(());
        }
        match resource(&self.profile, self.kind, &wire, self.pool.as_ref()) {
            Some(r) => {
                self.out.push(r);
                let sealed = self.packer.push(text);
                self.attach(sealed);
            }
            None => self.skipped += 1,
        }
        Ok(())
    }

    fn attach(&mut self, raws: Vec<RawJson>) {
        if let Some(slims) = self.slims.as_mut() {
            let first = slims.items.len - raws.len();
            for (i, raw) in raws.into_iter().enumerate() {
                slims.items[first + i].raw = raw;
            }
            return;
        }
        let n = raws.len();
        for (r, raw) in self.out[self.packed..].iter_mut().zip(raws) {
            r.raw = raw;
        }
        self.packed += n;
    }

    /// This decoder on a blocking thread of its own, fed the body through the returned
    /// channel (`HttpCore::send_streamed`), so each list is decoded in parallel with the
    /// others and with the reading. The thread ends when the channel is closed (handing the
    /// decoder back for `finish`) or at the first bad piece (its error; the channel closes).
    pub fn spawn(
        mut self,
    ) -> (
        super::http::BodySink,
        tokio::task::JoinHandle<Result<Self, ApiError>>,
    )
    where
        'p: 'static,
    {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(u16, Vec<u8>)>(CHUNKS_IN_FLIGHT);
        let thread = tokio::task::spawn_blocking(move || {
            while let Some((status, chunk)) = rx.blocking_recv() {
                self.feed(status, &chunk)?;
            }
            Ok(self)
        });
        (tx, thread)
    }

    #[cfg(test)]
    fn finish_elements(mut self) -> (Vec<Resource>, usize) {
        let sealed = self.packer.seal();
        self.attach(sealed);
        (self.out, self.skipped)
    }

    /// The body ended: the objects (raw packed), or their slim form, and how many elements
    /// had no id.
    pub fn finish(mut self, status: u16) -> Result<Decoded, ApiError> {
        self.split
            .finish()
            .map_err(|why| self.decode_error(status, why))?;
        let sealed = self.packer.seal();
        self.attach(sealed);
        Ok(Decoded {
            resources: self.out,
            slims: self.slims.unwrap_or_default(),
            skipped: self.skipped,
        })
    }
}

/// One object kept for a single pass (`load_each`): its kind, its JSON (packed), and where
/// its id, name and dependencies are in its `Slims`.
struct Slim {
    kind: Kind,
    raw: RawJson,
    at: u32,
    id_len: u32,
    name_len: u32,
    deps_at: u32,
    deps_len: u32,
}

/// Objects kept slim: about 40 bytes each plus their ids and name and their share of the
/// compressed JSON, where a `Resource` is about 800. Ids (packed, `IdKey`) and names live in
/// one arena. All of it grows by chunks, never
/// copied and never more than a chunk unused: doubling vectors would hold up to twice the
/// objects' size at the peak (and once more while `shrink_to_fit` copies them).
#[derive(Default)]
pub struct Slims {
    arena: Arena,
    items: Chunked<Slim>,
    /// (kind, arena position, length) of each dependency's id.
    deps: Chunked<(Kind, u32, u32)>,
}

fn offset(n: usize) -> u32 {
    u32::try_from(n).expect("under 4 GiB of ids and names")
}

/// Elements a chunk of `Chunked` holds.
const CHUNK_BITS: u32 = 14;

/// A vector grown by chunks of `1 << CHUNK_BITS` elements (the first one grown by doubling).
struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    fn push(&mut self, t: T) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < 1 << CHUNK_BITS => c.push(t),
            _ => {
                let mut c = Vec::with_capacity(if self.chunks.is_empty() {
                    4
                } else {
                    1 << CHUNK_BITS
                });
                c.push(t);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & ((1 << CHUNK_BITS) - 1)]
    }
}

impl<T> std::ops::IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> CHUNK_BITS][i & ((1 << CHUNK_BITS) - 1)]
    }
}

/// Bytes a chunk of `Arena` holds (more for a single longer entry).
const ARENA_BITS: u32 = 20;

/// Text in chunks; a position is `chunk << ARENA_BITS | offset`, an entry never straddles two.
#[derive(Default)]
struct Arena {
    chunks: Vec<Vec<u8>>,
}

/// In a length: the id is kept packed (`IdKey`).
const HEX: u32 = 1 << 31;

/// An id as the arena keeps it: MicroStrategy's ids (32 upper-case hex digits) as their 16
/// bytes, half the room, any other id as its text. Equal ids have equal keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct IdKey<'a> {
    hex: bool,
    bytes: &'a [u8],
}

fn pack_hex(id: &str) -> Option<[u8; 16]> {
    let b = id.as_bytes();
    if b.len() != 32 {
        return None;
    }
    // Each digit's value, 16 for anything else.
    const NIBBLE: [u8; 256] = {
        let mut t = [16u8; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        while i < 16 {
            t[b'A' as usize + i - 10] = i as u8;
            i += 1;
        }
        t
    };
    let mut out = [0u8; 16];
    let mut bad = 0;
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let (hi, lo) = (NIBBLE[pair[0] as usize], NIBBLE[pair[1] as usize]);
        bad |= hi | lo;
        *o = hi << 4 | (lo & 15);
    }
    (bad & 16 == 0).then_some(out)
}

/// `f` of `id`'s key.
fn with_key<R>(id: &str, f: impl FnOnce(IdKey<'_>) -> R) -> R {
    match pack_hex(id) {
        Some(packed) => f(IdKey {
            hex: true,
            bytes: &packed,
        }),
        None => f(IdKey {
            hex: false,
            bytes: id.as_bytes(),
        }),
    }
}

impl IdKey<'_> {
    /// Its length as kept (with `HEX`).
    fn len(&self) -> u32 {
        let n = offset(self.bytes.len());
        assert!(n < HEX, "under 2 GiB an id");
        n | if self.hex { HEX } else { 0 }
    }

    fn text(&self) -> String {
        if !self.hex {
            return String::from_utf8_lossy(self.bytes).into_owned();
        }
        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = String::with_capacity(32);
        for b in self.bytes {
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 15) as usize] as char);
        }
        out
    }
}

impl Arena {
    /// `parts` one after the other: where they start.
    fn put(&mut self, parts: &[&[u8]]) -> u32 {
        let need: usize = parts.iter().map(|p| p.len()).sum();
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.len() + need < 1 << ARENA_BITS);
        if !fits {
            let first = self.chunks.is_empty();
            self.chunks.push(Vec::with_capacity(if first {
                need
            } else {
                need.max(1 << ARENA_BITS)
            }));
        }
        let k = self.chunks.len() - 1;
        let chunk = &mut self.chunks[k];
        let at = chunk.len();
        for p in parts {
            chunk.extend_from_slice(p);
        }
        let k = u32::try_from(k)
            .ok()
            .filter(|&k| k < 1 << (32 - ARENA_BITS))
            .expect("under 4 GiB of ids and names");
        k << ARENA_BITS | offset(at)
    }

    /// `len` bytes `skip` bytes after `pos`.
    fn get(&self, pos: u32, skip: u32, len: u32) -> &[u8] {
        let at = (pos & ((1 << ARENA_BITS) - 1)) as usize + skip as usize;
        &self.chunks[(pos >> ARENA_BITS) as usize][at..at + len as usize]
    }

    /// The id kept at `pos`, `len` with `HEX`.
    fn key(&self, pos: u32, len: u32) -> IdKey<'_> {
        IdKey {
            hex: len & HEX != 0,
            bytes: self.get(pos, 0, len & !HEX),
        }
    }
}

impl Slims {
    #[cfg(test)]
    fn push(&mut self, r: Resource) {
        let deps = r.depends_on.iter().map(|d| (d.kind, d.id.as_str()));
        self.push_parts(r.kind, &r.id, &r.name, deps, r.raw);
    }

    fn push_parts<'d>(
        &mut self,
        kind: Kind,
        id: &str,
        name: &str,
        deps: impl Iterator<Item = (Kind, &'d str)>,
        raw: RawJson,
    ) {
        let (at, id_len) = with_key(id, |key| {
            (self.arena.put(&[key.bytes, name.as_bytes()]), key.len())
        });
        let deps_at = offset(self.deps.len);
        for (k, d) in deps {
            let (id_at, len) = with_key(d, |key| (self.arena.put(&[key.bytes]), key.len()));
            self.deps.push((k, id_at, len));
        }
        self.items.push(Slim {
            kind,
            raw,
            at,
            id_len,
            name_len: offset(name.len()),
            deps_at,
            deps_len: offset(self.deps.len) - deps_at,
        });
    }

    fn id(&self, i: usize) -> String {
        let s = &self.items[i];
        self.arena.key(s.at, s.id_len).text()
    }

    fn name(&self, i: usize) -> &str {
        let s = &self.items[i];
        // Kept from a `&str`, whole.
        std::str::from_utf8(self.arena.get(s.at, s.id_len & !HEX, s.name_len)).unwrap_or("")
    }

    fn key(&self, i: usize) -> (Kind, IdKey<'_>) {
        let s = &self.items[i];
        (s.kind, self.arena.key(s.at, s.id_len))
    }
}

/// The lists of one load, kept slim: one `Slims` a list, never copied into one (at 300,000
/// objects the copy would be about 30 MB at the peak). Objects are addressed across the
/// parts by a global index, in the order of the parts.
#[derive(Default)]
pub struct SlimParts {
    parts: Vec<Slims>,
    /// The global index of each part's first object.
    starts: Vec<u32>,
    len: usize,
}

/// An index of the objects by (kind, id): open addressing, 4 bytes a slot, at most 2/3 full.
/// Among equal keys the last object wins, as in `link_graph`.
struct KeyIndex {
    slots: Vec<u32>,
    hasher: std::collections::hash_map::RandomState,
}

const EMPTY: u32 = u32::MAX;

impl KeyIndex {
    fn new(parts: &SlimParts) -> Self {
        let size = (parts.len + parts.len / 2 + 1).next_power_of_two();
        let mut index = KeyIndex {
            slots: vec![EMPTY; size],
            hasher: Default::default(),
        };
        for g in 0..parts.len {
            let key = parts.key(g);
            let mut at = index.home(key);
            loop {
                let slot = index.slots[at];
                if slot == EMPTY || parts.key(slot as usize) == key {
                    index.slots[at] = offset(g);
                    break;
                }
                at = (at + 1) & (index.slots.len() - 1);
            }
        }
        index
    }

    fn home(&self, key: (Kind, IdKey<'_>)) -> usize {
        use std::hash::BuildHasher;
        self.hasher.hash_one(key) as usize & (self.slots.len() - 1)
    }

    fn find(&self, parts: &SlimParts, key: (Kind, IdKey<'_>)) -> Option<u32> {
        let mut at = self.home(key);
        loop {
            let slot = self.slots[at];
            if slot == EMPTY {
                return None;
            }
            if parts.key(slot as usize) == key {
                return Some(slot);
            }
            at = (at + 1) & (self.slots.len() - 1);
        }
    }
}

impl SlimParts {
    /// One more list, after the others.
    pub fn push(&mut self, part: Slims) {
        self.starts.push(offset(self.len));
        self.len += part.items.len;
        self.parts.push(part);
    }

    /// The part holding the object at global index `g`, and its index there.
    fn locate(&self, g: usize) -> (&Slims, usize) {
        // The last part starting at or before `g` (empty parts start where the next does).
        let p = self.starts.partition_point(|&s| s as usize <= g) - 1;
        (&self.parts[p], g - self.starts[p] as usize)
    }

    fn key(&self, g: usize) -> (Kind, IdKey<'_>) {
        let (part, i) = self.locate(g);
        part.key(i)
    }

    fn as_ref(&self, g: usize) -> Ref {
        let (part, i) = self.locate(g);
        Ref {
            kind: part.items[i].kind,
            id: part.id(i).into(),
            name: part.name(i).into(),
        }
    }

    /// Link them as `model::link_graph` would (same edges, same order) and hand each, rebuilt
    /// as a `Resource` from its JSON and redacted, to `visit`, dropping it after. `false`
    /// from `visit` stops.
    pub fn link_each(
        mut self,
        profile: &str,
        orphan_kinds: &[Kind],
        others: Vec<crate::model::OtherEdge>,
        unknown_kinds: &[Kind],
        visit: &mut (dyn FnMut(Resource) -> bool + Send),
    ) {
        // (used, user) and (used, other user), as link_graph finds them.
        let (mut edges, mut other_edges) = {
            let index = KeyIndex::new(&self);
            // At most one edge a dependency: sized once, not doubled.
            let mut edges: Vec<(u32, u32)> =
                Vec::with_capacity(self.parts.iter().map(|p| p.deps.len).sum());
            let mut g = 0u32;
            for part in &self.parts {
                for s in part.items.iter() {
                    for d in s.deps_at..s.deps_at + s.deps_len {
                        let (kind, at, len) = part.deps[d as usize];
                        let id = part.arena.key(at, len);
                        if let Some(j) = index.find(&self, (kind, id)) {
                            edges.push((j, g));
                        }
                    }
                    g += 1;
                }
            }
            let other_edges: Vec<(u32, crate::model::OtherUser)> = others
                .into_iter()
                .filter_map(|e| {
                    let j = with_key(&e.target.1, |id| index.find(&self, (e.target.0, id)))?;
                    Some((j, e.user))
                })
                .collect();
            (edges, other_edges)
        };
        // Stable: each object's users stay in the order link_graph pushes them.
        edges.sort_by_key(|&(j, _)| j);
        other_edges.sort_by_key(|(j, _)| *j);
        for part in &mut self.parts {
            part.deps = Chunked::default();
        }
        let mut e = 0;
        let mut other_edges = other_edges.into_iter().peekable();
        for g in 0..self.len {
            let (p, i) = {
                let p = self.starts.partition_point(|&s| s as usize <= g) - 1;
                (p, g - self.starts[p] as usize)
            };
            let raw = std::mem::take(&mut self.parts[p].items[i].raw);
            let part = &self.parts[p];
            let kind = part.items[i].kind;
            let mut r = raw
                .with_text(|t| decode_one(profile, kind, t))
                .unwrap_or_else(|| Resource::new(V, profile, kind, &part.id(i), part.name(i)));
            r.raw = raw;
            let start = e;
            while e < edges.len() && edges[e].0 as usize == g {
                e += 1;
            }
            r.used_by = edges[start..e]
                .iter()
                .map(|&(_, u)| self.as_ref(u as usize))
                .collect();
            while other_edges.peek().is_some_and(|(j, _)| *j as usize == g) {
                if let Some((_, user)) = other_edges.next() {
                    r.used_by_other.push(user);
                }
            }
            crate::model::finish_links(&mut r, orphan_kinds, unknown_kinds);
            if let Some(stripped) = r.raw.redacted() {
                r.raw = stripped;
            }
            if !visit(r) {
                return;
            }
        }
    }
}

/// One object's JSON text as a `Resource` without `raw` (what a list element decodes to).
fn decode_one(profile: &str, kind: Kind, text: &str) -> Option<Resource> {
    let wire: Wire<'_> = serde_json::from_str(text).ok()?;
    resource(profile, kind, &wire, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::microstrategy::parse_resource;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            Just(json!("")),
            Just(json!("  ")),
            Just(json!(" D1 ")),
            Just(json!("A1B2")),
            Just(json!("Sales \"EU\" \\ é")),
            Just(json!(42)),
            Just(json!(-7)),
            Just(json!(2.5)),
            Just(json!(true)),
            Just(json!(false)),
            Just(json!("2021-08-04T15:44:35.000+0000")),
            Just(json!("2021-08-04T15:44:35Z")),
            Just(json!(["x"])),
            Just(json!({"name": "inner"})),
        ]
    }

    fn named() -> impl Strategy<Value = Value> {
        prop_oneof![
            scalar(),
            (scalar(), scalar(), scalar(), any::<bool>()).prop_map(|(id, name, emb, has)| {
                let mut m = serde_json::Map::new();
                m.insert("id".into(), id);
                m.insert("name".into(), name);
                if has {
                    m.insert("isEmbedded".into(), emb);
                }
                m.insert("extra".into(), json!({"deep": [1, {"id": "no"}]}));
                Value::Object(m)
            }),
        ]
    }

    fn object() -> impl Strategy<Value = Value> {
        (
            (scalar(), scalar(), named(), scalar(), scalar(), named()),
            (scalar(), named(), named(), named(), named()),
            any::<u8>(),
        )
            .prop_map(
                |(
                    (id, name, owner, created, modified, dbms),
                    (ty, conn, login, primary, mart),
                    mask,
                )| {
                    let mut db = serde_json::Map::new();
                    for (bit, (k, v)) in [
                        ("type", ty),
                        ("connection", conn),
                        ("login", login),
                        ("primaryDatasource", primary),
                        ("dataMartDatasource", mart),
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        if mask & (1 << bit) != 0 {
                            db.insert(k.into(), v);
                        }
                    }
                    let database = if mask & 0x80 != 0 {
                        json!("flat")
                    } else {
                        Value::Object(db)
                    };
                    json!({
                        "id": id, "name": name, "owner": owner, "dateCreated": created,
                        "dateModified": modified, "dbms": dbms, "database": database,
                        "description": "password=hunter2", "acg": [1, 2]
                    })
                },
            )
    }

    fn same(a: &Resource, b: &Resource) -> bool {
        let mut a = a.clone();
        a.raw = b.raw.clone();
        a == *b
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]
        /// The typed decoder reads every object exactly as `parse_resource` reads its tree.
        #[test]
        fn typed_decoding_matches_parse_resource(v in object(), k in 0usize..3) {
            let kind = [Kind::Datasources, Kind::Connections, Kind::Logins][k];
            let text = v.to_string();
            let ours = parse_text("p", kind, &text).expect("valid JSON");
            let theirs = parse_resource("p", kind, &v);
            match (&ours, &theirs) {
                (Some(a), Some(b)) => {
                    prop_assert!(same(a, b), "{:?}\n{:?}", a, b);
                    prop_assert!(a.raw.is_packed());
                    prop_assert_eq!(&a.raw, &v);
                }
                (None, None) => {}
                _ => prop_assert!(false, "{:?} against {:?}", ours, theirs),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Kept slim straight from the wire, a list links exactly as its `Resource`s do.
        #[test]
        fn slim_decoding_matches_decoding_to_resources(
            items in proptest::collection::vec(object(), 0..12),
            k in 0usize..3,
        ) {
            let kind = [Kind::Datasources, Kind::Connections, Kind::Logins][k];
            let text = body(kind, &items);
            let mut slim = ListDecoder::slim("p", kind, "");
            slim.feed(200, text.as_bytes()).unwrap();
            let slim = slim.finish(200).unwrap();
            let full = decode(kind, text.as_bytes(), text.len()).unwrap();
            prop_assert_eq!(slim.skipped, full.1);
            let mut theirs = Slims::default();
            for r in full.0 {
                theirs.push(r);
            }
            let (mut a, mut b) = (SlimParts::default(), SlimParts::default());
            a.push(slim.slims);
            b.push(theirs);
            prop_assert_eq!(each(a), each(b));
        }
    }

    /// The answer of one list, as the server frames it.
    fn body(kind: Kind, items: &[Value]) -> String {
        json!({ kind.id(): items, "total": items.len() }).to_string()
    }

    fn decode(kind: Kind, body: &[u8], size: usize) -> Result<(Vec<Resource>, usize), ApiError> {
        let mut d = ListDecoder::new("p", kind, "/datasources");
        for piece in body.chunks(size) {
            d.feed(200, piece)?;
        }
        d.finish(200).map(|d| (d.resources, d.skipped))
    }

    #[test]
    fn lists_decoded_with_one_pool_share_the_text_of_what_they_reference() {
        let pool = StrPool::default();
        let decode_shared = |kind: Kind, items: &[Value]| {
            let mut d = ListDecoder::new("p", kind, "/x").sharing(pool.clone());
            d.feed(200, body(kind, items).as_bytes()).unwrap();
            d.finish(200).unwrap().resources
        };
        // The datasources list first: its reference makes the text the connection reuses.
        let ds = decode_shared(
            Kind::Datasources,
            &[json!({"id": "D1", "name": "Sales",
                     "database": {"connection": {"id": "C1", "name": "Warehouse"}}})],
        );
        let conns = decode_shared(
            Kind::Connections,
            &[json!({"id": "C1", "name": "Warehouse"})],
        );
        let r = &ds[0].depends_on[0];
        assert_eq!((r.id.as_str(), r.name.as_str()), ("C1", "Warehouse"));
        assert!(Str::ptr_eq(&r.id, &conns[0].id));
        assert!(Str::ptr_eq(&r.name, &conns[0].name));
        // Without a pool each list makes its own text (the same value).
        let (alone, _) = decode(
            Kind::Connections,
            body(
                Kind::Connections,
                &[json!({"id": "C1", "name": "Warehouse"})],
            )
            .as_bytes(),
            7,
        )
        .unwrap();
        assert_eq!(alone[0].id, conns[0].id);
        assert!(!Str::ptr_eq(&alone[0].id, &conns[0].id));
    }

    #[test]
    fn a_list_decodes_across_chunks_into_packed_objects() {
        let items: Vec<Value> = (0..700)
            .map(|i| {
                json!({"id": format!("D{i}"), "name": format!("ds \"{i}\""),
                "database": {"connection": {"id": "C1", "name": "pg"}}})
            })
            .chain([json!({"name": "no id"}), json!(5)])
            .collect();
        let text = body(Kind::Datasources, &items);
        for size in [1, 7, 4096, text.len()] {
            let (list, skipped) = decode(Kind::Datasources, text.as_bytes(), size).unwrap();
            assert_eq!(skipped, 2);
            assert_eq!(list.len(), 700);
            for (r, v) in list.iter().zip(&items) {
                assert!(r.raw.is_packed());
                assert_eq!(r.raw, *v);
                assert_eq!(r.depends_on[0].id, "C1");
            }
        }
    }

    /// Objects of the three kinds using one another, some keys twice (the last wins), enough
    /// of them to fill several chunks of items and of the arena, one name past a whole chunk.
    fn linked_lists() -> Vec<Vec<Resource>> {
        let n = 20_000;
        let obj = |kind: Kind, v: Value| parse_text("p", kind, &v.to_string()).unwrap().unwrap();
        let ds = (0..n)
            .map(|i| {
                let name = if i == 7 {
                    "x".repeat(1 << 21)
                } else {
                    format!("datasource {i}")
                };
                obj(
                    Kind::Datasources,
                    json!({"id": format!("{:032X}", i % (n - 5)), "name": name,
                    "database": {"connection": {"id": format!("C{}", i % 300)},
                    "primaryDatasource": {"id": format!("{:032X}", (i * 7) % n)}}}),
                )
            })
            .collect();
        let conns = (0..300)
            .map(|i| {
                obj(
                    Kind::Connections,
                    json!({"id": format!("C{i}"), "name": format!("conn {i}"),
                    "database": {"login": {"id": format!("L{}", i % 40)}}}),
                )
            })
            .collect();
        let logins = (0..40)
            .map(|i| {
                obj(
                    Kind::Logins,
                    json!({"id": format!("L{i}"), "password": "x"}),
                )
            })
            .collect();
        vec![ds, Vec::new(), conns, logins]
    }

    fn each(parts: SlimParts) -> Vec<Resource> {
        let mut out = Vec::new();
        parts.link_each("p", &[Kind::Logins], Vec::new(), &[], &mut |r| {
            out.push(r);
            true
        });
        out
    }

    /// The lists linked as parts hand over exactly what `link_graph` makes of them as one.
    #[test]
    fn lists_linked_as_parts_match_link_graph() {
        let lists = linked_lists();
        let mut whole: Vec<Resource> = lists.iter().flatten().cloned().collect();
        crate::model::link_graph(&mut whole, &[Kind::Logins], Vec::new(), &[]);
        for r in &mut whole {
            if let Some(stripped) = r.raw.redacted() {
                r.raw = stripped;
            }
        }
        assert!(whole.iter().filter(|r| !r.used_by.is_empty()).count() > 10_000);
        let mut parts = SlimParts::default();
        for list in lists {
            let mut slims = Slims::default();
            for r in list {
                slims.push(r);
            }
            parts.push(slims);
        }
        let ours = each(parts);
        assert_eq!(ours.len(), whole.len());
        for (a, b) in ours.iter().zip(&whole) {
            assert_eq!(a, b);
        }
    }

    /// Ids keep their exact text: only upper-case 32-digit hex is packed, and keys of
    /// different ids differ.
    #[test]
    fn ids_are_packed_only_when_they_read_back_the_same() {
        let ids = [
            "D4C329FC4E7CE4B0C60046399B36C615",
            "d4c329fc4e7ce4b0c60046399b36c615",
            "D4C329FC4E7CE4B0C60046399B36C61",
            "D4C329FC4E7CE4B0C60046399B36C61G",
            "C1",
            "",
            "é",
        ];
        for (i, id) in ids.iter().enumerate() {
            let packed = with_key(id, |k| (k.hex, k.text()));
            assert_eq!(packed, (i == 0, id.to_string()));
            for other in &ids[i + 1..] {
                assert!(with_key(id, |a| with_key(other, |b| a != b)));
            }
        }
    }

    /// A bad body met on the decoder's thread is its error, and closes the channel.
    #[tokio::test]
    async fn a_decoder_thread_reports_its_error_and_stops_taking_chunks() {
        let d = ListDecoder::new("p", Kind::Datasources, "/datasources");
        let (sink, decoding) = d.spawn();
        sink.send((200, br#"{"datasources":[{"id":"D1"},{"id":}"#.to_vec()))
            .await
            .unwrap();
        let err = decoding.await.unwrap().err().unwrap();
        assert!(
            err.to_string().contains("GET /datasources: element 2"),
            "{err}"
        );
        assert!(sink.send((200, b"]}".to_vec())).await.is_err());
    }

    #[test]
    fn bad_list_bodies_are_decode_errors_naming_the_request() {
        for (body, want) in [
            ("<html><body>Proxy login</body></html>", "HTML page"),
            (r#"{"datasources":[{"id":"D1"},{"id":"D2""#, "truncated"),
            (r#"{"datasources":[{"id":"D1"},{"id":}]}"#, "element 2"),
            (
                r#"[{"id":"D1"}]"#,
                "expected an object with a 'datasources' array",
            ),
        ] {
            let err = decode(Kind::Datasources, body.as_bytes(), 5).unwrap_err();
            let mut slim = ListDecoder::slim("p", Kind::Datasources, "/datasources");
            let slim_err = body
                .as_bytes()
                .chunks(5)
                .try_for_each(|piece| slim.feed(200, piece))
                .and_then(|()| slim.finish(200).map(drop))
                .unwrap_err();
            assert_eq!(slim_err.to_string(), err.to_string());
            assert!(
                matches!(err, ApiError::Decode { status: 200, .. }),
                "{err:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains(want) && text.contains("GET /datasources"),
                "{text}"
            );
        }
    }
}
