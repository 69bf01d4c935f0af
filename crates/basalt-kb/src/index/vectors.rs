//! The vector side of the embedded index: every chunk's unit vector and filterable attributes
//! in memory, searched exactly by brute force, saved whole as one file per flush.
//!
//! Brute force is exact and fast enough to tens of thousands of chunks (a 384-d dot product per
//! row, rows spread over cores by rayon). An approximate index (HNSW) would replace
//! [`Rows::nearest`] — built from the same rows at flush and saved beside the matrix file —
//! when knowledge bases outgrow it.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::error::{KbError, Result};
use crate::metadata::Metadata;

const MAGIC: &[u8; 8] = b"BKBVEC01";

/// What a row knows besides its vector.
#[derive(Debug, Clone)]
pub(crate) struct RowInfo {
    /// The key that ties the row to its tantivy document.
    pub key: u64,
    pub chunk_id: String,
    pub document_id: String,
    pub metadata: Metadata,
}

/// Chunks' vectors (row-major, unit length) and attributes. Deleted rows stay as tombstones
/// until [`Rows::compact`], so deleting a document does not move the matrix.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    /// 0 until the first vector fixes it.
    pub dim: usize,
    /// The next key to hand out; keys are never reused.
    pub next_key: u64,
    pub info: Vec<RowInfo>,
    pub live: Vec<bool>,
    pub data: Vec<f32>,
    by_key: HashMap<u64, usize>,
    by_document: HashMap<String, Vec<usize>>,
}

impl Rows {
    pub fn live_count(&self) -> usize {
        self.by_key.len()
    }

    pub fn row_of_key(&self, key: u64) -> Option<usize> {
        self.by_key.get(&key).copied()
    }

    /// Appends a row and returns its key. The vector is scaled to unit length.
    pub fn push(
        &mut self,
        chunk_id: String,
        document_id: String,
        metadata: Metadata,
        vector: &[f32],
    ) -> Result<u64> {
        if self.dim == 0 {
            self.dim = vector.len();
        }
        if vector.len() != self.dim || vector.is_empty() {
            return Err(KbError::Dimensions {
                expected: self.dim,
                got: vector.len(),
            });
        }
        let norm = dot(vector, vector).sqrt();
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        self.data.extend(vector.iter().map(|x| x * scale));
        let key = self.next_key;
        self.next_key += 1;
        self.insert_row(RowInfo {
            key,
            chunk_id,
            document_id,
            metadata,
        });
        Ok(key)
    }

    fn insert_row(&mut self, info: RowInfo) {
        let row = self.info.len();
        self.by_key.insert(info.key, row);
        self.by_document
            .entry(info.document_id.clone())
            .or_default()
            .push(row);
        self.info.push(info);
        self.live.push(true);
    }

    /// Tombstones a document's rows; returns how many.
    pub fn delete_document(&mut self, document_id: &str) -> usize {
        let rows = self.by_document.remove(document_id).unwrap_or_default();
        for &row in &rows {
            self.live[row] = false;
            self.by_key.remove(&self.info[row].key);
        }
        rows.len()
    }

    /// Drops tombstones.
    pub fn compact(&mut self) {
        if self.live.iter().all(|&l| l) {
            return;
        }
        let old = std::mem::take(self);
        let (dim, next_key) = (old.dim, old.next_key);
        self.dim = dim;
        self.next_key = next_key;
        for ((info, live), vector) in old
            .info
            .into_iter()
            .zip(old.live)
            .zip(old.data.chunks_exact(dim.max(1)))
        {
            if live {
                self.data.extend_from_slice(vector);
                self.insert_row(info);
            }
        }
    }

    /// The `k` live rows most similar to `query` (any length; scaled here) that `admit`
    /// accepts, as (row, cosine), best first.
    pub fn nearest(
        &self,
        query: &[f32],
        k: usize,
        admit: impl Fn(&RowInfo) -> bool + Sync,
    ) -> Result<Vec<(usize, f32)>> {
        if self.dim == 0 || k == 0 {
            return Ok(Vec::new());
        }
        if query.len() != self.dim {
            return Err(KbError::Dimensions {
                expected: self.dim,
                got: query.len(),
            });
        }
        let norm = dot(query, query).sqrt();
        if norm == 0.0 {
            return Ok(Vec::new());
        }
        let unit: Vec<f32> = query.iter().map(|x| x / norm).collect();
        let mut scored: Vec<(usize, f32)> = self
            .data
            .par_chunks_exact(self.dim)
            .enumerate()
            .filter(|(row, _)| self.live[*row] && admit(&self.info[*row]))
            .map(|(row, vector)| (row, dot(&unit, vector)))
            .collect();
        let by_score = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if scored.len() > k {
            scored.select_nth_unstable_by(k - 1, by_score);
            scored.truncate(k);
        }
        scored.sort_by(by_score);
        Ok(scored)
    }

    pub fn vector(&self, row: usize) -> &[f32] {
        &self.data[row * self.dim..(row + 1) * self.dim]
    }

    /// Writes the live rows to `path` atomically: a temporary file, fsync, rename, fsync of
    /// the directory.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("tmp");
        let file = std::fs::File::create(&tmp)?;
        let mut out = BufWriter::new(file);
        out.write_all(MAGIC)?;
        out.write_all(&(self.dim as u64).to_le_bytes())?;
        out.write_all(&self.next_key.to_le_bytes())?;
        out.write_all(&(self.live_count() as u64).to_le_bytes())?;
        for (row, info) in self.info.iter().enumerate() {
            if !self.live[row] {
                continue;
            }
            out.write_all(&info.key.to_le_bytes())?;
            write_bytes(&mut out, info.chunk_id.as_bytes())?;
            write_bytes(&mut out, info.document_id.as_bytes())?;
            let metadata =
                serde_json::to_vec(&info.metadata).map_err(|e| KbError::Storage(e.to_string()))?;
            write_bytes(&mut out, &metadata)?;
            for x in self.vector(row) {
                out.write_all(&x.to_le_bytes())?;
            }
        }
        let file = out
            .into_inner()
            .map_err(|e| KbError::Storage(e.to_string()))?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)?;
        let mut input = Reader {
            bytes: &bytes,
            at: 0,
            path,
        };
        if input.take(MAGIC.len())? != MAGIC {
            return Err(input.corrupt("not a basalt vector file"));
        }
        let mut rows = Rows {
            dim: usize::try_from(input.u64()?).map_err(|_| input.corrupt("dimension"))?,
            next_key: input.u64()?,
            ..Rows::default()
        };
        let count = input.u64()?;
        for _ in 0..count {
            let key = input.u64()?;
            let chunk_id = input.string()?;
            let document_id = input.string()?;
            let metadata = serde_json::from_slice(input.bytes()?)
                .map_err(|e| input.corrupt(&format!("metadata: {e}")))?;
            for _ in 0..rows.dim {
                let raw = input.take(4)?;
                rows.data
                    .push(f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]));
            }
            rows.insert_row(RowInfo {
                key,
                chunk_id,
                document_id,
                metadata,
            });
        }
        Ok(rows)
    }
}

fn write_bytes(out: &mut impl Write, bytes: &[u8]) -> Result<()> {
    out.write_all(&(bytes.len() as u64).to_le_bytes())?;
    out.write_all(bytes)?;
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, what: &str) -> KbError {
        KbError::Storage(format!(
            "{}: {what} (at byte {})",
            self.path.display(),
            self.at
        ))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.corrupt("truncated"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u64(&mut self) -> Result<u64> {
        let raw = self.take(8)?;
        let mut buf = [0u8; 8];
        buf.copy_from_slice(raw);
        Ok(u64::from_le_bytes(buf))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = usize::try_from(self.u64()?).map_err(|_| self.corrupt("length"))?;
        self.take(n)
    }

    fn string(&mut self) -> Result<String> {
        let raw = self.bytes()?;
        String::from_utf8(raw.to_vec()).map_err(|_| self.corrupt("not UTF-8"))
    }
}

/// Dot product with eight independent sums, so the compiler can keep them in SIMD lanes.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rows() -> Rows {
        let mut rows = Rows::default();
        for (i, v) in [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 0.0]]
            .iter()
            .enumerate()
        {
            let metadata: Metadata = serde_json::from_value(serde_json::json!({"i": i})).unwrap();
            rows.push(format!("c{i}"), format!("d{}", i % 2), metadata, v)
                .unwrap();
        }
        rows
    }

    #[test]
    fn nearest_is_exact_cosine() {
        let rows = rows();
        let hits = rows.nearest(&[2.0, 0.1, 0.0], 2, |_| true).unwrap();
        assert_eq!(hits[0].0, 0);
        assert_eq!(hits[1].0, 2);
        assert!((hits[1].1 - (2.1 / (2.0f32.sqrt() * 4.01f32.sqrt()))).abs() < 1e-5);
        let filtered = rows
            .nearest(&[2.0, 0.1, 0.0], 5, |info| info.chunk_id != "c0")
            .unwrap();
        assert_eq!(filtered.len(), 2);
        assert!(rows.nearest(&[1.0, 0.0], 1, |_| true).is_err());
    }

    #[test]
    fn delete_compact_save_load() {
        let mut rows = rows();
        assert_eq!(rows.delete_document("d0"), 2);
        assert_eq!(rows.live_count(), 1);
        assert_eq!(
            rows.nearest(&[1.0, 0.0, 0.0], 3, |_| true).unwrap().len(),
            1
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.bin");
        rows.save(&path).unwrap();
        rows.compact();
        let back = Rows::load(&path).unwrap();
        assert_eq!(back.live_count(), 1);
        assert_eq!(back.info[0].chunk_id, "c1");
        assert_eq!(back.next_key, 3);
        assert_eq!(back.vector(0), rows.vector(0));
        assert_eq!(back.row_of_key(1), Some(0));
        std::fs::write(&path, b"BKBVEC01\x03").unwrap();
        assert!(Rows::load(&path).is_err());
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 3.0 - i as f32).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }
}
