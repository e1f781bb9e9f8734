//! Wait-time quantile sketch with a stated error bound.

/// Fixed-layout, mergeable histogram of waits (seconds).
///
/// **Error bound**: a quantile it returns is within `max(1 % of the true value, 0.5 s)` of the exact
/// nearest-rank quantile of the recorded values (SPEC §3). Below 50 s the buckets are 0.5 s wide and report their
/// lower edge, so whole-second and half-second waits come back exactly; from 50 s up they grow by 2 % and report
/// their geometric middle (≤ 0.995 % off). Reported values are clamped to the smallest and largest value seen.
/// Memory is fixed (about 2.5 KiB) whatever is recorded; values above 10⁶ s share the last bucket.
#[derive(Debug, Clone)]
pub struct WaitHistogram {
    counts: Vec<u32>,
    total: u64,
    min: f64,
    max: f64,
}

const LINEAR_WIDTH: f64 = 0.5;
const LINEAR_LIMIT: f64 = 50.0;
const LINEAR_BUCKETS: usize = 100; // LINEAR_LIMIT / LINEAR_WIDTH
const GROWTH: f64 = 1.02;
const LOG_BUCKETS: usize = 502; // 50 * 1.02^502 > 1e6

impl Default for WaitHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitHistogram {
    pub fn new() -> Self {
        WaitHistogram {
            counts: vec![0; LINEAR_BUCKETS + LOG_BUCKETS],
            total: 0,
            min: f64::INFINITY,
            max: 0.0,
        }
    }

    fn bucket(v: f64) -> usize {
        if v < LINEAR_LIMIT {
            // v >= 0 (waits are clamped at 0 by the engine); NaN maps to bucket 0 via the saturating cast.
            ((v / LINEAR_WIDTH) as usize).min(LINEAR_BUCKETS - 1)
        } else {
            let j = ((v / LINEAR_LIMIT).ln() / GROWTH.ln()) as usize;
            LINEAR_BUCKETS + j.min(LOG_BUCKETS - 1)
        }
    }

    fn representative(i: usize) -> f64 {
        if i < LINEAR_BUCKETS {
            i as f64 * LINEAR_WIDTH
        } else {
            LINEAR_LIMIT * GROWTH.powf((i - LINEAR_BUCKETS) as f64 + 0.5)
        }
    }

    pub fn record(&mut self, v: f64) {
        let v = if v.is_finite() && v > 0.0 { v } else { 0.0 };
        let i = Self::bucket(v);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.total += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, other: &WaitHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// Nearest-rank quantile (`q` in 0..=1): the value at rank `ceil(q·n)`; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = nearest_rank(q, self.total);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return Some(Self::representative(i).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

/// 1-based nearest rank of quantile `q` among `n` values: `ceil(q·n)`, at least 1.
pub fn nearest_rank(q: f64, n: u64) -> u64 {
    ((q * n as f64).ceil() as u64).clamp(1, n)
}

/// Exact nearest-rank quantile of `values` (reorders them). Used for rolling windows, whose waits are kept.
pub fn exact_quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let k = nearest_rank(q, values.len() as u64) as usize - 1;
    let (_, v, _) = values.select_nth_unstable_by(k, f64::total_cmp);
    Some(*v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_bound(values: &[f64]) {
        let mut h = WaitHistogram::new();
        for v in values {
            h.record(*v);
        }
        for q in [0.5, 0.9, 0.99, 0.0, 1.0] {
            let mut exact: Vec<f64> = values.to_vec();
            let truth = exact_quantile(&mut exact, q).unwrap_or(0.0);
            let est = h.quantile(q).unwrap_or(0.0);
            let bound = (truth * 0.01).max(0.5);
            assert!(
                (est - truth).abs() <= bound + 1e-9,
                "q={q} truth={truth} est={est}"
            );
        }
    }

    proptest! {
        #[test]
        fn uniform_waits_within_bound(values in prop::collection::vec(0.0f64..900.0, 1..400)) {
            check_bound(&values);
        }
        #[test]
        fn whole_second_waits_within_bound(values in prop::collection::vec(0u32..20000, 1..400)) {
            let v: Vec<f64> = values.into_iter().map(f64::from).collect();
            check_bound(&v);
        }
        #[test]
        fn heavy_tailed_waits_within_bound(values in prop::collection::vec(0.0f64..12.0, 1..400)) {
            let v: Vec<f64> = values.into_iter().map(|x| x.exp() - 1.0).collect();
            check_bound(&v);
        }
    }

    #[test]
    fn merge_equals_recording_everything_once() {
        let (mut a, mut b, mut all) = (
            WaitHistogram::new(),
            WaitHistogram::new(),
            WaitHistogram::new(),
        );
        for i in 0..1000 {
            let v = f64::from(i) * 1.7;
            if i % 3 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        a.merge(&b);
        for q in [0.5, 0.9, 0.99] {
            assert_eq!(a.quantile(q), all.quantile(q));
        }
    }

    #[test]
    fn empty_has_no_quantile() {
        assert_eq!(WaitHistogram::new().quantile(0.5), None);
    }
}
