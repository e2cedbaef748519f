//! The model's strings: immutable, shared, one pointer wide.
//!
//! At 300,000 objects a `String` per field (24 bytes inline plus its own allocation) was most
//! of the model: every object repeated its profile's name, its owner and its DBMS, and every
//! reference (`depends_on`, `used_by`) copied the id and name of the object it points to.
//! `Str` is a reference-counted string 8 bytes wide: a clone shares the text, so a reference
//! holds the same text as the object it names, and repeated values (profile, owner, type)
//! are stored once through `intern`.

use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};

/// An immutable shared string (`arcstr::ArcStr`): derefs to `str`, compares with `str`,
/// `&str` and `String`, serializes as a JSON string.
pub type Str = arcstr::ArcStr;

/// Slots in each thread's cache of recent strings.
const SLOTS: usize = 512;

thread_local! {
    static RECENT: RefCell<Vec<Option<Str>>> = RefCell::new(vec![None; SLOTS]);
}

fn slot(s: &str) -> usize {
    // FNV-1a: a few cycles per byte, enough to spread names over the slots.
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h as usize % SLOTS
}

/// `s` as a `Str`, shared with the last equal string this thread interned into the same slot.
/// For values that repeat across objects (profile names, owners, DBMS and connection types,
/// spaces): they are stored once, while the cache stays bounded (no string is kept alive by
/// it beyond the 512 most recent slots).
pub fn intern(s: &str) -> Str {
    if s.is_empty() {
        return Str::new();
    }
    RECENT.with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return Str::from(s);
        };
        let at = &mut cache[slot(s)];
        match at {
            Some(hit) if hit.as_str() == s => hit.clone(),
            _ => {
                let new = Str::from(s);
                *at = Some(new.clone());
                new
            }
        }
    })
}

/// The strings of one load, shared by its lists (decoded on threads of their own): a
/// datasource's reference to its connection and the connection itself get the same text,
/// whichever list is decoded first. No copy is made for a reference and later freed, so a
/// load leaves no freed holes between the strings it keeps. Dropped with the load. Split in
/// shards (by hash) so that the decoder threads seldom wait for each other.
#[derive(Clone)]
pub struct StrPool(Arc<[Mutex<HashSet<Str, FastHash>>; SHARDS]>);

const SHARDS: usize = 16;

impl Default for StrPool {
    fn default() -> Self {
        StrPool(Arc::new(std::array::from_fn(|_| Mutex::default())))
    }
}

impl StrPool {
    /// `s` as a `Str`: the pool's text when it has it, else a new one it keeps.
    pub fn get(&self, s: &str) -> Str {
        if s.is_empty() {
            return Str::new();
        }
        // Bits the shard's own table does not use for its buckets or tags.
        let shard = (FastHash.hash_one(s) >> 32) as usize % SHARDS;
        let mut set = self.0[shard].lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(hit) = set.get(s) {
            return hit.clone();
        }
        let new = Str::from(s);
        set.insert(new.clone());
        new
    }
}

/// A fast hash for ids and names (not for input an attacker chooses to collide: a load's
/// strings come from the operator's own server, and a collision only costs time).
#[derive(Clone, Copy, Default)]
pub struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

/// Eight bytes at a time: rotate, xor, multiply (the constant of FxHash).
pub struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_strings_share_their_text() {
        let a = intern("Priya Raman");
        let b = intern(&String::from("Priya Raman"));
        assert_eq!(a, b);
        assert!(Str::ptr_eq(&a, &b), "the second is the first's text");
        let c = intern("Snowflake");
        assert_eq!(c, "Snowflake");
        assert!(!Str::ptr_eq(&a, &c));
        assert_eq!(intern(""), "");
    }

    #[test]
    fn a_pool_gives_every_thread_the_same_text() {
        let pool = StrPool::default();
        let a = pool.get("DEFBD172D7268");
        let b = std::thread::scope(|s| s.spawn(|| pool.get("DEFBD172D7268")).join().unwrap());
        assert!(Str::ptr_eq(&a, &b));
        assert_eq!(pool.get("Warehouse"), "Warehouse");
        assert!(!Str::ptr_eq(&a, &pool.get("Warehouse")));
    }

    #[test]
    fn a_slot_taken_by_another_string_still_answers_the_right_text() {
        // Many distinct strings: every answer is its own text, whichever slot it fell in.
        for i in 0..5_000 {
            let s = format!("owner {i}");
            assert_eq!(intern(&s), s.as_str());
        }
        assert_eq!(std::mem::size_of::<Str>(), 8);
        assert_eq!(std::mem::size_of::<Option<Str>>(), 8);
    }
}

#[cfg(test)]
mod sharing_tests {
    use crate::model::{link_graph, Kind, Ref, Resource, Str, VendorId};

    #[test]
    fn links_share_the_text_of_the_object_they_name() {
        let conn = Resource::new(
            VendorId::MicroStrategy,
            "p",
            Kind::Connections,
            "C1",
            "Warehouse",
        );
        let mut ds = Resource::new(
            VendorId::MicroStrategy,
            "p",
            Kind::Datasources,
            "D1",
            "Sales",
        );
        ds.depends_on.push(Ref {
            kind: Kind::Connections,
            id: "C1".into(),
            name: "Warehouse".into(),
        });
        let mut all = vec![conn, ds];
        link_graph(&mut all, &[], Vec::new(), &[]);
        let d = &all[1].depends_on[0];
        assert!(Str::ptr_eq(&d.id, &all[0].id));
        assert!(Str::ptr_eq(&d.name, &all[0].name));
        let u = &all[0].used_by[0];
        assert!(Str::ptr_eq(&u.id, &all[1].id));
    }
}
