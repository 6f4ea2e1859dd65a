//! Numbers with meaning: the observed divergence rate and its one-sided 95% upper bound.
//!
//! With `n` compared rows and `k` divergent, the bound is the exact (Clopper–Pearson) one: the
//! rate `p` at which seeing `k` or fewer divergent rows has probability 5%, i.e. the 0.95
//! quantile of Beta(k + 1, n − k). For `k = 0` that is `1 − 0.05^(1/n)`, the rule of three
//! (≈ 3/n). Times the table's row count it bounds the divergent rows in the whole table.
//! A check that counts pages gets the same bound over pages too ([`PageBound`]).

use serde::{Deserialize, Serialize};

/// The confidence of every bound migtui shows.
pub const CONFIDENCE: f64 = 0.95;

/// One check's (or one window's) counts and what they say.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RateBound {
    pub compared: u64,
    pub divergent: u64,
    /// `divergent / compared` (0 when nothing was compared).
    pub observed: f64,
    /// One-sided 95% upper bound on the divergence rate (1 when nothing was compared).
    pub upper: f64,
    /// Bound on divergent rows in the whole table, when its row count is known.
    pub table_rows: Option<u64>,
    pub table_bound: Option<u64>,
    /// The same numbers over heap pages, when the check counts pages (`sample.unit`).
    #[serde(default)]
    pub pages: Option<PageBound>,
}

/// The bound counted over pages: a page with any divergent row is one divergent unit and `n`
/// is the pages compared, so a cluster of bad neighbouring rows weighs once — the row bound
/// would treat it as many independent draws and come out far too low.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PageBound {
    pub compared: u64,
    pub divergent: u64,
    pub observed: f64,
    /// One-sided 95% upper bound on the share of divergent pages.
    pub upper: f64,
    /// The table's page count, when known.
    pub table_pages: Option<u64>,
    /// Bound on the pages of the whole table holding a divergent row.
    pub table_bound: Option<u64>,
}

/// `(observed, upper, bound over total)` for `divergent` of `compared` units.
fn rate(compared: u64, divergent: u64, total: Option<u64>) -> (f64, f64, Option<u64>) {
    let upper = upper_bound(compared, divergent);
    let observed = if compared == 0 {
        0.0
    } else {
        divergent as f64 / compared as f64
    };
    (
        observed,
        upper,
        total.map(|n| (upper * n as f64).ceil() as u64),
    )
}

impl RateBound {
    pub fn new(compared: u64, divergent: u64, table_rows: Option<u64>) -> RateBound {
        let (observed, upper, table_bound) = rate(compared, divergent, table_rows);
        RateBound {
            compared,
            divergent,
            observed,
            upper,
            table_rows,
            table_bound,
            pages: None,
        }
    }

    /// These row numbers with the page-based bound alongside.
    pub fn with_pages(self, pages: PageBound) -> RateBound {
        RateBound {
            pages: Some(pages),
            ..self
        }
    }

    /// The bound that gates: over pages when the check counts pages, else over rows.
    pub fn gating_upper(&self) -> f64 {
        self.pages.map_or(self.upper, |p| p.upper)
    }
}

impl PageBound {
    pub fn new(compared: u64, divergent: u64, table_pages: Option<u64>) -> PageBound {
        let (observed, upper, table_bound) = rate(compared, divergent, table_pages);
        PageBound {
            compared,
            divergent,
            observed,
            upper,
            table_pages,
            table_bound,
        }
    }
}

/// The one-sided 95% upper bound on a rate after `k` events in `n` trials.
pub fn upper_bound(n: u64, k: u64) -> f64 {
    clopper_pearson_upper(n, k, CONFIDENCE)
}

/// The rule of three, exactly: `1 − (1 − confidence)^(1/n)`.
pub fn rule_of_three(n: u64, confidence: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    1.0 - (1.0 - confidence).powf(1.0 / n as f64)
}

/// Exact one-sided Clopper–Pearson upper bound: the `confidence` quantile of Beta(k+1, n−k).
pub fn clopper_pearson_upper(n: u64, k: u64, confidence: f64) -> f64 {
    if n == 0 || k >= n {
        return 1.0;
    }
    if k == 0 {
        return rule_of_three(n, confidence);
    }
    beta_quantile(confidence, (k + 1) as f64, (n - k) as f64)
}

/// `x` with `I_x(a, b) = q`, by bisection (I is increasing in x).
fn beta_quantile(q: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if regularized_beta(mid, a, b) < q {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-15 {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The regularized incomplete beta function `I_x(a, b)` (continued fraction, Lentz).
pub fn regularized_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(x, a, b) / a
    } else {
        1.0 - front * beta_cf(1.0 - x, b, a) / b
    }
}

fn beta_cf(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    // One Lentz step: fold the partial numerator `aa` into d and c, returning their product.
    let step = |aa: f64, d: &mut f64, c: &mut f64| -> f64 {
        *d = 1.0 + aa * *d;
        if d.abs() < TINY {
            *d = TINY;
        }
        *c = 1.0 + aa / *c;
        if c.abs() < TINY {
            *c = TINY;
        }
        *d = 1.0 / *d;
        *d * *c
    };
    for m in 1..10_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        h *= step(m * (b - m) * x / ((qam + m2) * (a + m2)), &mut d, &mut c);
        let del = step(
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
            &mut d,
            &mut c,
        );
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error below 1e-13).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// P(X ≤ k) for X ~ Binomial(n, p), summed directly in logs.
    fn binom_cdf(n: u64, k: u64, p: f64) -> f64 {
        (0..=k)
            .map(|i| {
                let (n, i) = (n as f64, i as f64);
                (ln_gamma(n + 1.0) - ln_gamma(i + 1.0) - ln_gamma(n - i + 1.0)
                    + i * p.ln()
                    + (n - i) * (1.0 - p).ln())
                .exp()
            })
            .sum()
    }

    #[test]
    fn rule_of_three_at_three_thousand_is_a_tenth_of_a_percent() {
        let b = upper_bound(3000, 0);
        assert!((b - 0.000998079).abs() < 0.000000001, "{b}");
        assert!((upper_bound(30_000, 0) - 0.0001).abs() < 0.000001);
        assert!((b * 3000.0 - 3.0).abs() < 0.01);
    }

    #[test]
    fn clopper_pearson_matches_known_values() {
        // One-sided 95% exact upper limits (checked by bisecting the exact binomial tail with
        // integer binomial coefficients): 1/100 → 0.04656, 5/100 → 0.10225,
        // 10/1000 → 0.0169; Poisson factors 4.74/n, 6.30/n, 7.75/n for k = 1..3 at large n.
        assert!((upper_bound(100, 1) - 0.04656).abs() < 0.00002);
        assert!((upper_bound(100, 5) - 0.10225).abs() < 0.00002);
        assert!((upper_bound(1000, 10) - 0.0169).abs() < 0.0002);
        for (k, factor) in [(1, 4.74), (2, 6.30), (3, 7.75)] {
            let b = upper_bound(1_000_000, k) * 1_000_000.0;
            assert!((b - factor).abs() < 0.01, "k={k}: {b}");
        }
    }

    #[test]
    fn the_bound_is_where_the_binomial_tail_is_five_percent() {
        for (n, k) in [(50, 3), (3000, 7), (10_000, 100)] {
            let p = upper_bound(n, k);
            assert!((binom_cdf(n, k, p) - 0.05).abs() < 1e-6, "n={n} k={k}");
        }
    }

    #[test]
    fn edges_and_table_bound() {
        assert_eq!(upper_bound(0, 0), 1.0);
        assert_eq!(upper_bound(10, 10), 1.0);
        let r = RateBound::new(3000, 0, Some(1_000_000));
        assert_eq!(r.observed, 0.0);
        // 1 − 0.05^(1/3000) = 0.000998079…, times a million rows, rounded up.
        assert_eq!(r.table_bound, Some(999));
        let r = RateBound::new(200, 2, None);
        assert!((r.observed - 0.01).abs() < 1e-12);
        assert!(r.upper > r.observed && r.table_bound.is_none());
    }

    #[test]
    fn page_bound_counts_pages_and_scales_by_the_page_count() {
        // 0 divergent of 50 pages: 1 − 0.05^(1/50) = 0.058155…; over 1,000 pages, 59 pages.
        let p = PageBound::new(50, 0, Some(1000));
        assert!((p.upper - 0.058155).abs() < 1e-6, "{}", p.upper);
        assert_eq!(p.table_bound, Some(59));
        // 1 of 100 pages: the exact bound 0.04656 (as for rows), over 2,000 pages.
        let p = PageBound::new(100, 1, Some(2000));
        assert!((p.observed - 0.01).abs() < 1e-12);
        assert!((p.upper - 0.04656).abs() < 0.00002);
        assert_eq!(p.table_bound, Some((p.upper * 2000.0).ceil() as u64));
        // The same sample as 5,000 clean rows gates at a bound almost a hundred times lower;
        // with pages, the page bound is the one that gates.
        let rows = RateBound::new(5000, 0, Some(100_000));
        assert!(rows.upper < 0.0006);
        let both = rows.with_pages(PageBound::new(50, 0, Some(1000)));
        assert_eq!(
            both.gating_upper(),
            both.pages.map(|p| p.upper).unwrap_or(0.0)
        );
        assert!(both.gating_upper() > 90.0 * rows.upper);
        assert_eq!(rows.gating_upper(), rows.upper);
    }
}
