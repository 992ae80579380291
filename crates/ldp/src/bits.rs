//! Bit-level helpers: packing reports into their `report_bits` on the wire, and counting the
//! set bits of many bit-vector reports per position (SUE/OUE, CMS rows, RAPPOR cohorts).

/// Pack reports of `report_len` words into `report_bits` bits each, least significant bit
/// first, reports back to back, padded with zero bits to a whole byte.
pub fn pack(data: &[u64], report_len: usize, report_bits: usize) -> Vec<u8> {
    let n = data.len().checked_div(report_len).unwrap_or(0);
    let mut out = Vec::with_capacity((n * report_bits).div_ceil(8) + 8);
    let mut acc: u128 = 0;
    let mut fill = 0u32;
    for r in data.chunks_exact(report_len.max(1)) {
        let mut left = report_bits;
        for &w in r {
            if left == 0 {
                break;
            }
            let nb = left.min(64) as u32;
            let v = if nb == 64 { w } else { w & ((1u64 << nb) - 1) };
            acc |= (v as u128) << fill;
            fill += nb;
            left -= nb as usize;
            if fill >= 64 {
                out.extend_from_slice(&(acc as u64).to_le_bytes());
                acc >>= 64;
                fill -= 64;
            }
        }
    }
    let tail = fill.div_ceil(8) as usize;
    out.extend_from_slice(&(acc as u64).to_le_bytes()[..tail]);
    out
}

/// The inverse of [`pack`]: `count` reports of `report_len` words from `bytes`, which must
/// hold exactly `⌈count·report_bits / 8⌉` bytes with zero padding.
pub fn unpack(
    bytes: &[u8],
    count: usize,
    report_len: usize,
    report_bits: usize,
) -> Result<Vec<u64>, String> {
    let need = (count as u128 * report_bits as u128).div_ceil(8);
    if bytes.len() as u128 != need {
        return Err(format!(
            "{} bytes of packed reports, {count} reports of {report_bits} bits take {need}",
            bytes.len()
        ));
    }
    if report_bits > report_len * 64 {
        return Err(format!(
            "{report_bits} bits do not fit in {report_len} words"
        ));
    }
    let mut out = vec![0u64; count * report_len];
    let mut pos = 0usize; // bit position in `bytes`
    let read = |pos: usize, nb: usize| -> u64 {
        // Up to 64 bits starting at bit `pos`: read 9 bytes around it.
        let byte = pos / 8;
        let shift = pos % 8;
        let mut buf = [0u8; 16];
        let end = (byte + 9).min(bytes.len());
        buf[..end - byte].copy_from_slice(&bytes[byte..end]);
        let v = u128::from_le_bytes(buf) >> shift;
        let v = v as u64;
        if nb == 64 {
            v
        } else {
            v & ((1u64 << nb) - 1)
        }
    };
    for r in out.chunks_exact_mut(report_len.max(1)) {
        let mut left = report_bits;
        for w in r.iter_mut() {
            if left == 0 {
                break;
            }
            let nb = left.min(64);
            *w = read(pos, nb);
            pos += nb;
            left -= nb;
        }
    }
    let used = count * report_bits;
    if !used.is_multiple_of(8) && bytes[used / 8] >> (used % 8) != 0 {
        return Err("nonzero padding bits after the last report".into());
    }
    Ok(out)
}

/// Byte `i` of `SPREAD[b]` is bit `i` of `b`.
const SPREAD: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            if b & (1 << i) != 0 {
                t[b] |= 1u64 << (8 * i);
            }
            i += 1;
        }
        b += 1;
    }
    t
};

/// Per-position counts of set bits over many bit vectors, `positions` positions long.
///
/// Counts are kept as eight 8-bit counters per `u64` (SWAR: a table spreads a byte of a
/// report into eight byte lanes, one addition counts eight positions) and flushed into `u64`
/// counts before a byte lane can overflow: about two operations per byte of report.
pub struct BitCounter {
    lanes: Vec<u64>,
    counts: Vec<u64>,
    pending: u32,
}

impl BitCounter {
    /// A counter over `positions` positions (rounded up to a whole word internally).
    pub fn new(positions: usize) -> BitCounter {
        let words = positions.div_ceil(64);
        BitCounter {
            lanes: vec![0; words * 8],
            counts: vec![0; words * 64],
            pending: 0,
        }
    }

    /// Add one bit vector whose word 0 covers positions `64·word_offset ..`.
    #[inline]
    pub fn add(&mut self, word_offset: usize, words: &[u64]) {
        let lanes = &mut self.lanes[word_offset * 8..(word_offset + words.len()) * 8];
        for (l, &w) in lanes.chunks_exact_mut(8).zip(words) {
            if w == 0 {
                continue;
            }
            for (b, lane) in l.iter_mut().enumerate() {
                *lane += SPREAD[((w >> (8 * b)) & 0xff) as usize];
            }
        }
        self.pending += 1;
        if self.pending == 255 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        for (i, lane) in self.lanes.iter_mut().enumerate() {
            if *lane != 0 {
                for (k, byte) in lane.to_le_bytes().iter().enumerate() {
                    self.counts[i * 8 + k] += *byte as u64;
                }
                *lane = 0;
            }
        }
        self.pending = 0;
    }

    /// Add the counts of the first `out.len()` positions into `out`.
    pub fn add_into(mut self, out: &mut [u64]) {
        self.flush();
        for (o, c) in out.iter_mut().zip(&self.counts) {
            *o += c;
        }
    }
}

/// Reports made of an `m`-bit vector followed by a row index (a hash function of CMS, a
/// cohort of RAPPOR): the vector in the low `m` bits, the index in the next `index_bits`.
/// With `m ≥ 64` (a multiple of 64) the vector fills whole words and the index has its own
/// word; with `m < 64` both share word 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowVectors {
    /// Bits of the vector (a power of two).
    pub m: usize,
    /// Rows.
    pub rows: u64,
    /// Bits of the row index.
    pub index_bits: u32,
}

impl RowVectors {
    /// The layout of `m`-bit vectors (a power of two) with `rows` rows; an error says why
    /// they do not fit in one word when `m < 64`.
    pub fn new(m: u64, rows: u64) -> Result<RowVectors, String> {
        if !m.is_power_of_two() {
            return Err(format!("must be a power of two, got {m}"));
        }
        let index_bits = crate::params::bits_for(rows);
        if m < 64 && m as u32 + index_bits > 64 {
            return Err(format!(
                "{rows} rows do not fit beside {m} bits in one word"
            ));
        }
        Ok(RowVectors {
            m: m as usize,
            rows,
            index_bits,
        })
    }

    /// Words of the vector.
    pub fn vector_words(&self) -> usize {
        self.m.div_ceil(64)
    }

    /// Bits of information per report.
    pub fn report_bits(&self) -> u32 {
        self.m as u32 + self.index_bits
    }

    /// Words per report.
    pub fn report_len(&self) -> usize {
        (self.report_bits() as usize).div_ceil(64)
    }

    /// The row index of a report.
    #[inline]
    pub fn index(&self, r: &[u64]) -> u64 {
        if self.m >= 64 {
            r[self.vector_words()]
        } else {
            r[0] >> self.m
        }
    }

    /// Set the row index of a report whose vector is written.
    #[inline]
    pub fn set_index(&self, r: &mut [u64], index: u64) {
        if self.m >= 64 {
            r[self.vector_words()] = index;
        } else {
            r[0] |= index << self.m;
        }
    }

    /// The position of the first report (if any) whose row index is out of range.
    pub fn bad_index(&self, reports: &[u64]) -> Option<(usize, u64)> {
        reports
            .chunks_exact(self.report_len())
            .map(|r| self.index(r))
            .enumerate()
            .find(|&(_, i)| i >= self.rows)
    }

    /// Count validated reports into `counts`: `rows · m` per-row bit counts (row-major), then
    /// the reports per row.
    pub fn count(&self, reports: &[u64], counts: &mut [u64]) {
        let (m, rows) = (self.m, self.rows as usize);
        let (ones, per_row) = counts.split_at_mut(rows * m);
        if m >= 64 {
            let mut c = BitCounter::new(rows * m);
            for r in reports.chunks_exact(self.report_len()) {
                let j = self.index(r) as usize;
                c.add(j * m / 64, &r[..self.vector_words()]);
                per_row[j] += 1;
            }
            c.add_into(ones);
        } else {
            for r in reports.chunks_exact(self.report_len()) {
                let j = self.index(r) as usize;
                let mut v = r[0] & ((1 << m) - 1);
                while v != 0 {
                    ones[j * m + v.trailing_zeros() as usize] += 1;
                    v &= v - 1;
                }
                per_row[j] += 1;
            }
        }
    }
}

/// Every pattern of `one.len()` independent bits (at most 20) with its probability, where bit
/// `i` is 1 with probability `one[i]`: pattern `x` has bit `i` at `x >> i & 1`.
pub fn product_distribution(one: &[f64]) -> Vec<(u64, f64)> {
    assert!(
        one.len() <= 20,
        "2^{} patterns are too many to list",
        one.len()
    );
    (0..1u64 << one.len())
        .map(|x| {
            let p = one
                .iter()
                .enumerate()
                .map(|(i, &p1)| if x >> i & 1 == 1 { p1 } else { 1.0 - p1 })
                .product();
            (x, p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_is_compact() {
        let data: Vec<u64> = vec![
            0b101,
            (1 << 40) - 1,
            0,
            u64::MAX,
            7,
            u64::MAX >> 1,
            3,
            0x8000_0000_0000_0000,
        ];
        // Two words per report, 70 bits each.
        let masked: Vec<u64> = data.chunks(2).flat_map(|r| [r[0], r[1] & 0x3f]).collect();
        let bytes = pack(&masked, 2, 70);
        assert_eq!(bytes.len(), (4 * 70usize).div_ceil(8));
        assert_eq!(unpack(&bytes, 4, 2, 70).unwrap(), masked);
        // 10-bit reports: 1000 reports in 1250 bytes.
        let small: Vec<u64> = (0..1000).map(|i| (i * 37) % 1024).collect();
        let b = pack(&small, 1, 10);
        assert_eq!(b.len(), 1250);
        assert_eq!(unpack(&b, 1000, 1, 10).unwrap(), small);
        assert!(unpack(&b[..1249], 1000, 1, 10).is_err());
        let mut bad = pack(&[1], 1, 3);
        bad[0] |= 0x80;
        assert!(unpack(&bad, 1, 1, 3).unwrap_err().contains("padding"));
    }

    #[test]
    fn row_vectors_place_and_count() {
        for (m, rows) in [(8u64, 3u64), (128, 3)] {
            let l = RowVectors::new(m, rows).unwrap();
            let mut reports = vec![0u64; 4 * l.report_len()];
            for (i, r) in reports.chunks_exact_mut(l.report_len()).enumerate() {
                r[0] = 1 | 1 << (i % 2 + 1);
                l.set_index(r, i as u64 % rows);
            }
            assert_eq!(l.bad_index(&reports), None);
            let mut counts = vec![0u64; (rows * (m + 1)) as usize];
            l.count(&reports, &mut counts);
            let m = m as usize;
            assert_eq!(counts[0], 2); // row 0: reports 0 and 3
            assert_eq!(counts[1], 1); // report 0's bit 1
            assert_eq!(counts[m + 2], 1); // row 1 = report 1's bit 2
            assert_eq!(&counts[rows as usize * m..], &[2, 1, 1]);
            let last = reports.len() - l.report_len();
            l.set_index(&mut reports[last..], rows);
            assert_eq!(l.bad_index(&reports).map(|b| b.0), Some(3));
        }
        assert!(RowVectors::new(6, 2).is_err());
        assert!(RowVectors::new(32, 1 << 40)
            .unwrap_err()
            .contains("do not fit"));
    }

    #[test]
    fn bit_counter_counts_every_position() {
        let positions = 150;
        let mut c = BitCounter::new(positions);
        let mut want = vec![0u64; positions];
        let mut x = 0x1234_5678_9abc_def1u64;
        for _ in 0..700 {
            let mut v = [0u64; 3];
            for w in v.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *w = x;
            }
            v[2] &= (1 << (positions - 128)) - 1;
            for (p, w) in want.iter_mut().enumerate() {
                *w += (v[p / 64] >> (p % 64)) & 1;
            }
            c.add(0, &v);
        }
        let mut got = vec![0u64; positions];
        c.add_into(&mut got);
        assert_eq!(got, want);
    }
}
