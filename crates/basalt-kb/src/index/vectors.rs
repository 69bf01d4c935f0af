//! The vector side of the embedded index: every chunk's unit vector and filterable attributes
//! in memory, searched exactly by brute force, saved whole as one file per flush.
//!
//! Search is brute force in two passes once an index is big: every row is scored with an 8-bit
//! copy of its vector (a quarter of the memory to stream, which is what brute force waits on),
//! and the best few hundred candidates are scored again exactly in f32. Rows spread over cores
//! by rayon. Small indexes are scored exactly in one pass. An approximate index (HNSW) would
//! replace [`Rows::nearest`] — built from the same rows at flush and saved beside the matrix
//! file — when knowledge bases outgrow this.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::error::{KbError, Result};
use crate::metadata::Metadata;

const MAGIC: &[u8; 8] = b"BKBVEC01";
/// Below this many rows one exact pass is as fast as two.
const TWO_PASS_FROM_ROWS: usize = 20_000;
/// Candidates the 8-bit pass keeps per result wanted (and at least [`MIN_CANDIDATES`]); the
/// exact pass re-ranks them. Quantization moves a cosine by about 0.005, far less than the gap
/// between a top-10 row and the 100th.
const CANDIDATES_PER_RESULT: usize = 10;
const MIN_CANDIDATES: usize = 256;
/// Rows one task of the 8-bit pass scores (1.5 MB of codes at 384 dimensions).
const ROWS_PER_BLOCK: usize = 4096;

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
    /// `data` in 8 bits: each row scaled so its largest component is ±127.
    codes: Vec<i8>,
    /// Per row: the factor that turns a code back into the unit vector's component.
    code_scales: Vec<f32>,
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
        let unit: Vec<f32> = vector.iter().map(|x| x * scale).collect();
        self.push_vector(&unit);
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

    /// Appends a unit vector and its 8-bit code.
    fn push_vector(&mut self, unit: &[f32]) {
        self.data.extend_from_slice(unit);
        let scale = quantize_into(unit, &mut self.codes);
        self.code_scales.push(scale);
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
                self.push_vector(vector);
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
        let by_score = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let candidates = (k * CANDIDATES_PER_RESULT).max(MIN_CANDIDATES);
        let mut scored: Vec<(usize, f32)> = if self.info.len() < TWO_PASS_FROM_ROWS {
            self.data
                .par_chunks_exact(self.dim)
                .enumerate()
                .filter(|(row, _)| self.live[*row] && admit(&self.info[*row]))
                .map(|(row, vector)| (row, dot(&unit, vector)))
                .collect()
        } else {
            let mut query_codes = Vec::with_capacity(self.dim);
            let query_scale = quantize_into(&unit, &mut query_codes);
            // Blocks of rows, each keeping only its best candidates: no per-query vector of
            // every row to allocate and sort.
            let mut rough: Vec<(usize, f32)> = self
                .codes
                .par_chunks(self.dim * ROWS_PER_BLOCK)
                .enumerate()
                .flat_map_iter(|(block, codes)| {
                    let first = block * ROWS_PER_BLOCK;
                    let mut best = Vec::with_capacity(ROWS_PER_BLOCK);
                    for (offset, codes) in codes.chunks_exact(self.dim).enumerate() {
                        let row = first + offset;
                        if self.live[row] && admit(&self.info[row]) {
                            let approximate = dot_i8(&query_codes, codes) as f32;
                            best.push((row, approximate * query_scale * self.code_scales[row]));
                        }
                    }
                    if best.len() > candidates {
                        best.select_nth_unstable_by(candidates - 1, by_score);
                        best.truncate(candidates);
                    }
                    best
                })
                .collect();
            if rough.len() > candidates {
                rough.select_nth_unstable_by(candidates - 1, by_score);
                rough.truncate(candidates);
            }
            rough
                .into_iter()
                .map(|(row, _)| (row, dot(&unit, self.vector(row))))
                .collect()
        };
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
            let raw = input.take(rows.dim * 4)?;
            let vector: Vec<f32> = raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            rows.push_vector(&vector);
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

/// Appends `unit`'s 8-bit code to `codes`; returns the scale that turns codes back into values.
fn quantize_into(unit: &[f32], codes: &mut Vec<i8>) -> f32 {
    let largest = unit.iter().fold(0f32, |m, x| m.max(x.abs()));
    if largest == 0.0 {
        codes.extend(std::iter::repeat_n(0, unit.len()));
        return 0.0;
    }
    let to_code = 127.0 / largest;
    codes.extend(unit.iter().map(|x| (x * to_code).round() as i8));
    largest / 127.0
}

/// Integer dot product of two codes, in sixteen lanes so the compiler widens and multiplies
/// them with SIMD (pmaddwd).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut lanes = [0i32; 16];
    let (a16, b16) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = a16
        .remainder()
        .iter()
        .zip(b16.remainder())
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    for (x, y) in a16.zip(b16) {
        for i in 0..16 {
            lanes[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    lanes.iter().sum::<i32>() + tail
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

    /// Clustered vectors (like embeddings: many near neighbours), found by both passes.
    #[test]
    fn the_two_pass_search_finds_what_the_exact_one_does() {
        let dim = 64;
        // A small deterministic generator (xorshift) keeps the test free of dependencies.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let centres: Vec<Vec<f32>> = (0..50)
            .map(|_| (0..dim).map(|_| next()).collect())
            .collect();
        let mut rows = Rows::default();
        for n in 0..TWO_PASS_FROM_ROWS + 5_000 {
            let centre = &centres[n % centres.len()];
            let vector: Vec<f32> = centre.iter().map(|c| c + 0.3 * next()).collect();
            rows.push(
                format!("c{n}"),
                format!("d{}", n % 977),
                Metadata::new(),
                &vector,
            )
            .unwrap();
        }
        let mut found = 0;
        for centre in centres.iter().take(20) {
            let query: Vec<f32> = centre.iter().map(|c| c + 0.3 * next()).collect();
            let fast = rows.nearest(&query, 10, |_| true).unwrap();
            let norm = dot(&query, &query).sqrt();
            let mut exact: Vec<(usize, f32)> = (0..rows.info.len())
                .map(|row| (row, dot(&query, rows.vector(row)) / norm))
                .collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1));
            let truth: Vec<usize> = exact[..10].iter().map(|(row, _)| *row).collect();
            found += fast.iter().filter(|(row, _)| truth.contains(row)).count();
            // Scores are exact cosines, not the 8-bit estimates.
            for (row, score) in &fast {
                assert!((score - dot(&query, rows.vector(*row)) / norm).abs() < 1e-5);
            }
        }
        assert_eq!(found, 200, "recall of the two-pass search");
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
