//! The in-memory ledger, stored compactly: each call is a fixed-size [`PackedRecord`] (72
//! bytes) in one ring buffer, and its strings (model, provider, deployment, error class) and
//! its `metadata` are interned, stored once and shared by every record that uses them, and
//! freed when the last such record leaves the ring. 100,000 records take about 7 MB instead
//! of the ~45 MB that a heap-allocated record with its own strings costs.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;

use super::clock::Micros;
use super::{CallMetadata, CallStatus, SpendRecord};

/// A handle to an interned value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sym(NonZeroU32);

impl Sym {
    fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

struct Slot<T: ?Sized> {
    value: Option<Arc<T>>,
    /// Records holding this value.
    refs: u32,
}

/// Values stored once and counted: a value lives while some record holds its [`Sym`].
pub struct Interner<T: ?Sized + Hash + Eq> {
    index: HashMap<Arc<T>, Sym>,
    slots: Vec<Slot<T>>,
    free: Vec<Sym>,
}

impl<T: ?Sized + Hash + Eq> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T: ?Sized + Hash + Eq> Interner<T> {
    /// The handle of `value`, counting one more holder; `make` builds the shared copy the
    /// first time. `None` only when 4 billion distinct values are held at once.
    pub fn intern(&mut self, value: &T, make: impl FnOnce() -> Arc<T>) -> Option<Sym>
    where
        Arc<T>: Borrow<T>,
    {
        if let Some(&sym) = self.index.get(value) {
            if let Some(slot) = self.slots.get_mut(sym.index()) {
                slot.refs += 1;
            }
            return Some(sym);
        }
        let shared = make();
        let sym = match self.free.pop() {
            Some(sym) => {
                self.slots[sym.index()] = Slot {
                    value: Some(shared.clone()),
                    refs: 1,
                };
                sym
            }
            None => {
                let n = u32::try_from(self.slots.len() + 1).ok()?;
                self.slots.push(Slot {
                    value: Some(shared.clone()),
                    refs: 1,
                });
                Sym(NonZeroU32::new(n)?)
            }
        };
        self.index.insert(shared, sym);
        Some(sym)
    }

    /// One holder of `sym` is gone; the value is freed with the last.
    pub fn release(&mut self, sym: Sym)
    where
        Arc<T>: Borrow<T>,
    {
        let Some(slot) = self.slots.get_mut(sym.index()) else {
            return;
        };
        slot.refs = slot.refs.saturating_sub(1);
        if slot.refs == 0 {
            if let Some(value) = slot.value.take() {
                self.index.remove(&*value);
                self.free.push(sym);
            }
        }
    }

    /// The values by handle, for reading records after the ledger's lock is released.
    fn snapshot(&self) -> Vec<Option<Arc<T>>> {
        self.slots.iter().map(|s| s.value.clone()).collect()
    }

    /// Values held now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

/// One call in the in-memory ring. Token counts saturate at `u32::MAX` (4 billion tokens,
/// far beyond any call); latency is kept to `f32` (microseconds up to minutes).
#[derive(Debug, Clone, Copy)]
pub struct PackedRecord {
    id: [u64; 2],
    started_at: Micros,
    /// USD; NaN for an unknown price.
    cost: f64,
    latency: f32,
    prompt_tokens: u32,
    completion_tokens: u32,
    model: Option<Sym>,
    provider: Option<Sym>,
    deployment: Option<Sym>,
    error: Option<Sym>,
    downgraded_from: Option<Sym>,
    metadata: Option<Sym>,
    status: CallStatus,
    stream: bool,
    estimated: bool,
}

/// The ring of packed records and the values they share.
#[derive(Default)]
pub struct RecordRing {
    records: VecDeque<PackedRecord>,
    strings: Interner<str>,
    metadata: Interner<CallMetadata>,
}

/// Records copied out of the ring, readable without its lock.
pub struct RingSnapshot {
    records: Vec<PackedRecord>,
    strings: Vec<Option<Arc<str>>>,
    metadata: Vec<Option<Arc<CallMetadata>>>,
}

impl RecordRing {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn intern_str(&mut self, s: &str) -> Option<Sym> {
        self.strings.intern(s, || Arc::from(s))
    }

    fn intern_opt(&mut self, s: Option<&str>) -> Option<Sym> {
        s.and_then(|s| self.intern_str(s))
    }

    /// Append a record, dropping the oldest first while the ring holds `max` or more.
    pub fn push(&mut self, r: &SpendRecord, max: usize) {
        if max == 0 {
            return;
        }
        while self.records.len() >= max {
            self.pop_oldest();
        }
        if self.records.len() == self.records.capacity() {
            // Grow by a quarter (not double) up to `max`: at most 25 % spare slots.
            let grow = (self.records.len() / 4)
                .max(1024)
                .min(max - self.records.len());
            self.records.reserve_exact(grow);
        }
        let metadata = match &r.metadata {
            Some(m) => self.metadata.intern(m, || m.clone()),
            None => None,
        };
        let packed = PackedRecord {
            id: [(r.id >> 64) as u64, r.id as u64],
            started_at: r.started_at,
            cost: r.cost.unwrap_or(f64::NAN),
            latency: r.latency as f32,
            prompt_tokens: u32::try_from(r.prompt_tokens).unwrap_or(u32::MAX),
            completion_tokens: u32::try_from(r.completion_tokens).unwrap_or(u32::MAX),
            model: self.intern_str(&r.model),
            provider: self.intern_str(&r.provider),
            deployment: self.intern_opt(r.deployment.as_deref()),
            error: self.intern_opt(r.error.as_deref()),
            downgraded_from: self.intern_opt(r.downgraded_from.as_deref()),
            metadata,
            status: r.status,
            stream: r.stream,
            estimated: r.estimated,
        };
        self.records.push_back(packed);
    }

    fn pop_oldest(&mut self) {
        let Some(r) = self.records.pop_front() else {
            return;
        };
        for sym in [
            r.model,
            r.provider,
            r.deployment,
            r.error,
            r.downgraded_from,
        ]
        .into_iter()
        .flatten()
        {
            self.strings.release(sym);
        }
        if let Some(m) = r.metadata {
            self.metadata.release(m);
        }
    }

    /// Keep at most `max` records (the newest), giving back spare memory.
    pub fn truncate_to(&mut self, max: usize) {
        while self.records.len() > max {
            self.pop_oldest();
        }
        self.records.shrink_to_fit();
    }

    pub fn clear(&mut self) {
        *self = RecordRing::default();
    }

    /// The records started in `[since, until)` and the values they use.
    pub fn snapshot(&self, since: Option<Micros>, until: Option<Micros>) -> RingSnapshot {
        let in_range = |t: Micros| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u);
        RingSnapshot {
            records: self
                .records
                .iter()
                .filter(|r| in_range(r.started_at))
                .copied()
                .collect(),
            strings: self.strings.snapshot(),
            metadata: self.metadata.snapshot(),
        }
    }

    /// Bytes this ring holds: its slots (spare ones included) and the interned values.
    pub fn footprint(&self) -> usize {
        let slots = self.records.capacity() * std::mem::size_of::<PackedRecord>();
        let strings: usize = self
            .strings
            .index
            .keys()
            .map(|s| s.len() + 2 * std::mem::size_of::<usize>() + INDEX_ENTRY)
            .sum();
        let metadata = self.metadata.len() * (std::mem::size_of::<CallMetadata>() + INDEX_ENTRY);
        slots + strings + metadata
    }
}

/// Rough bytes of one interner entry beyond its value: the map entry, the slot, the Arc.
const INDEX_ENTRY: usize = 64;

impl RingSnapshot {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn text(&self, sym: Option<Sym>) -> Option<String> {
        let sym = sym?;
        self.strings.get(sym.index())?.as_deref().map(str::to_owned)
    }

    /// The records as [`SpendRecord`]s, oldest first.
    pub fn records(&self) -> impl Iterator<Item = SpendRecord> + '_ {
        self.records.iter().map(|r| SpendRecord {
            id: (u128::from(r.id[0]) << 64) | u128::from(r.id[1]),
            started_at: r.started_at,
            model: self.text(r.model).unwrap_or_default(),
            provider: self.text(r.provider).unwrap_or_default(),
            deployment: self.text(r.deployment),
            prompt_tokens: u64::from(r.prompt_tokens),
            completion_tokens: u64::from(r.completion_tokens),
            cost: (!r.cost.is_nan()).then_some(r.cost),
            latency: f64::from(r.latency),
            status: r.status,
            error: self.text(r.error),
            stream: r.stream,
            estimated: r.estimated,
            metadata: r
                .metadata
                .and_then(|m| self.metadata.get(m.index()).cloned().flatten()),
            downgraded_from: self.text(r.downgraded_from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64, meta: Option<CallMetadata>) -> SpendRecord {
        SpendRecord {
            id: SpendRecord::new_id(),
            started_at: i as Micros,
            model: "gpt-4o-mini".to_owned(),
            provider: "openai".to_owned(),
            deployment: i.is_multiple_of(2).then(|| "gpt4o-eu".to_owned()),
            prompt_tokens: 1200 + i,
            completion_tokens: 300,
            cost: (!i.is_multiple_of(3)).then_some(0.000123 * i as f64),
            latency: 0.8125,
            status: if i.is_multiple_of(5) {
                CallStatus::Failure
            } else {
                CallStatus::Success
            },
            error: i.is_multiple_of(5).then(|| "RateLimitError".to_owned()),
            stream: i % 2 == 1,
            estimated: i == 3,
            metadata: meta.map(Arc::new),
            downgraded_from: (i == 7).then(|| "gpt-4o".to_owned()),
        }
    }

    fn meta(user: &str) -> CallMetadata {
        CallMetadata {
            user: Some(user.to_owned()),
            project: Some("search".to_owned()),
            tags: vec!["summarize".to_owned()],
            ..Default::default()
        }
    }

    #[test]
    fn a_packed_record_is_at_most_100_bytes() {
        assert!(std::mem::size_of::<PackedRecord>() <= 100);
        assert_eq!(std::mem::size_of::<PackedRecord>(), 72);
    }

    #[test]
    fn records_come_back_as_they_went_in() {
        let mut ring = RecordRing::default();
        let originals: Vec<_> = (0..20)
            .map(|i| {
                record(
                    i,
                    (!i.is_multiple_of(4)).then(|| meta(&format!("u{}", i % 3))),
                )
            })
            .collect();
        for r in &originals {
            ring.push(r, 100);
        }
        let back: Vec<_> = ring.snapshot(None, None).records().collect();
        assert_eq!(back.len(), originals.len());
        for (a, b) in originals.iter().zip(&back) {
            assert_eq!(a.latency as f32, b.latency as f32);
            let b = SpendRecord {
                latency: a.latency,
                ..b.clone()
            };
            assert_eq!(a, &b);
        }
        // Equal metadata is stored once.
        assert_eq!(ring.metadata.len(), 3);
        let ranged = ring.snapshot(Some(5), Some(8));
        assert_eq!(
            ranged.records().map(|r| r.started_at).collect::<Vec<_>>(),
            vec![5, 6, 7]
        );
    }

    #[test]
    fn values_are_freed_with_the_last_record_that_uses_them() {
        let mut ring = RecordRing::default();
        for i in 0..10 {
            let mut r = record(i, Some(meta(&format!("user-{i}"))));
            r.model = format!("model-{i}");
            ring.push(&r, 3);
        }
        assert_eq!(ring.len(), 3);
        // Three models, three users, and the strings the kept records share.
        assert_eq!(ring.metadata.len(), 3);
        let models: Vec<_> = ring
            .snapshot(None, None)
            .records()
            .map(|r| r.model)
            .collect();
        assert_eq!(models, vec!["model-7", "model-8", "model-9"]);
        assert!(ring.strings.len() <= 3 + 4, "{}", ring.strings.len());
        // Freed slots are reused rather than growing the tables.
        assert!(ring.strings.slots.len() <= 3 + 4 + 2);
        ring.truncate_to(0);
        assert!(ring.is_empty() && ring.strings.is_empty() && ring.metadata.is_empty());
    }

    #[test]
    fn a_full_ring_costs_under_100_bytes_a_record() {
        let mut ring = RecordRing::default();
        let max = 100_000;
        let users: Vec<_> = (0..50).map(|u| meta(&format!("user-{u}"))).collect();
        for i in 0..max as u64 {
            ring.push(&record(i, Some(users[i as usize % 50].clone())), max);
        }
        assert_eq!(ring.len(), max);
        let per_record = ring.footprint() / max;
        assert!(per_record <= 100, "{per_record} bytes per record");
    }
}
