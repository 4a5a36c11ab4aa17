//! The numbers collected: every run's value by metric and row key, and notes on what failed.

use std::collections::BTreeMap;

pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Collected numbers by (section, row key, server).
#[derive(Default)]
pub struct Results {
    pub values: BTreeMap<(String, String), Vec<f64>>,
    pub notes: Vec<String>,
}

impl Results {
    pub fn add(&mut self, metric: &str, key: &str, v: f64) {
        self.values
            .entry((metric.to_owned(), key.to_owned()))
            .or_default()
            .push(v);
    }

    pub fn get(&self, metric: &str, key: &str) -> Option<f64> {
        let mut v = self
            .values
            .get(&(metric.to_owned(), key.to_owned()))?
            .clone();
        (!v.is_empty()).then(|| median(&mut v))
    }

    /// The smallest, the median and the largest of the runs.
    pub fn spread(&self, metric: &str, key: &str) -> Option<(f64, f64, f64)> {
        let mut v = self
            .values
            .get(&(metric.to_owned(), key.to_owned()))?
            .clone();
        if v.is_empty() {
            return None;
        }
        let m = median(&mut v);
        Some((v[0], m, v[v.len() - 1]))
    }

    pub fn note(&mut self, n: String) {
        eprintln!("  note: {n}");
        self.notes.push(n);
    }
}
