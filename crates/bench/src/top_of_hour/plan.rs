//! The pure part of the top-of-the-hour benchmark: when each request is
//! due, which account each belongs to, and what each outcome counts as.
//! No I/O, so every rule is unit-tested.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// When request `i` of `n` is due, as an offset from the start of the
/// burst: `duration × (i / n)^shape`.
///
/// `shape` 1 spreads the requests evenly over `duration`; above 1 the
/// burst is front-loaded as bots arrive on the hour and stragglers follow:
/// with 2, the density falls as `1/√t`, so 29 % of the requests arrive in
/// the first 5 s of 60 and 13 % in the first second. Every request is due
/// within `duration`.
pub fn due_offsets(n: usize, duration: Duration, shape: f64) -> Vec<Duration> {
    let shape = if shape.is_finite() && shape > 0.0 {
        shape
    } else {
        1.0
    };
    (0..n)
        .map(|i| duration.mul_f64((i as f64 / n as f64).powf(shape)))
        .collect()
}

/// How many of `requests` each of `accounts` accounts gets: account `k`
/// (0-based) in proportion to `1 / (k + 1)^zipf`, rounded by largest
/// remainder so the counts add up to `requests` exactly.
///
/// `zipf` 0 spreads the requests evenly; 1 is the usual skew of customer
/// sizes (with 1,000 accounts the largest has 13 % of the meetings, the
/// smallest a tenth of a percent).
pub fn account_shares(requests: usize, accounts: usize, zipf: f64) -> Vec<usize> {
    if accounts == 0 {
        return Vec::new();
    }
    let zipf = if zipf.is_finite() && zipf >= 0.0 {
        zipf
    } else {
        0.0
    };
    let weights: Vec<f64> = (0..accounts)
        .map(|k| 1.0 / ((k + 1) as f64).powf(zipf))
        .collect();
    let total: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights
        .iter()
        .map(|w| w / total * requests as f64)
        .collect();
    let mut shares: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let assigned: usize = shares.iter().sum();
    let mut by_remainder: Vec<usize> = (0..accounts).collect();
    by_remainder.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &k in by_remainder.iter().take(requests.saturating_sub(assigned)) {
        shares[k] += 1;
    }
    shares
}

/// The account (index) of each request, in sending order: every account
/// appears as often as its share, in an order shuffled by `seed`, so an
/// account's requests are spread over the burst like everyone else's.
pub fn request_accounts(shares: &[usize], seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = shares
        .iter()
        .enumerate()
        .flat_map(|(k, &n)| std::iter::repeat_n(k, n))
        .collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    order
}

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `ok`, received by its deadline.
    OkInTime,
    /// `ok`, but received after its deadline: useless to the bot.
    OkLate,
    /// Any other status (`rate_limited`, `zoom_error`, `not_found`, …).
    Refused,
    /// No reply within the deadline plus the grace the client waits.
    NoAnswer,
}

/// Classify a request due at `due` with `deadline`: `reply` is `None` when
/// nothing came, else whether it was `ok` and when it arrived.
pub fn outcome(reply: Option<(bool, Duration)>, due: Duration, deadline: Duration) -> Outcome {
    match reply {
        None => Outcome::NoAnswer,
        Some((false, _)) => Outcome::Refused,
        Some((true, at)) if at <= due + deadline => Outcome::OkInTime,
        Some((true, _)) => Outcome::OkLate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_within_the_window_and_front_loaded() {
        let d = Duration::from_secs(60);
        let even = due_offsets(10, d, 1.0);
        assert_eq!(even[0], Duration::ZERO);
        assert_eq!(even[5], Duration::from_secs(30));
        let front = due_offsets(10_000, d, 2.0);
        assert!(front.windows(2).all(|w| w[0] <= w[1]), "non-decreasing");
        assert!(front.iter().all(|&t| t < d));
        let first_5s = front
            .iter()
            .filter(|&&t| t < Duration::from_secs(5))
            .count();
        // √(5/60) = 0.2887
        assert!((2_880..=2_890).contains(&first_5s), "{first_5s}");
        // A nonsense shape falls back to an even spread.
        assert_eq!(due_offsets(10, d, f64::NAN), even);
        assert!(due_offsets(0, d, 2.0).is_empty());
    }

    #[test]
    fn shares_add_up_and_follow_the_skew() {
        let even = account_shares(10_000, 1_000, 0.0);
        assert!(even.iter().all(|&n| n == 10));
        let zipf = account_shares(10_000, 1_000, 1.0);
        assert_eq!(zipf.iter().sum::<usize>(), 10_000);
        // 1 / H(1000) = 0.1336
        assert!((1_330..=1_340).contains(&zipf[0]), "{}", zipf[0]);
        assert!(zipf.windows(2).all(|w| w[0] >= w[1]), "largest first");
        assert!(zipf.iter().all(|&n| n >= 1), "every account has a meeting");
        let odd = account_shares(7, 3, 0.0);
        assert_eq!(odd.iter().sum::<usize>(), 7);
        assert_eq!(odd, vec![3, 2, 2]);
        assert!(account_shares(5, 0, 1.0).is_empty());
    }

    #[test]
    fn request_order_keeps_the_shares_and_is_seeded() {
        let shares = vec![3, 1, 2];
        let a = request_accounts(&shares, 7);
        assert_eq!(a.len(), 6);
        for (k, &n) in shares.iter().enumerate() {
            assert_eq!(a.iter().filter(|&&x| x == k).count(), n);
        }
        assert_eq!(a, request_accounts(&shares, 7));
    }

    #[test]
    fn outcomes() {
        let s = Duration::from_secs;
        assert_eq!(outcome(Some((true, s(35))), s(5), s(30)), Outcome::OkInTime);
        assert_eq!(outcome(Some((true, s(36))), s(5), s(30)), Outcome::OkLate);
        assert_eq!(outcome(Some((false, s(6))), s(5), s(30)), Outcome::Refused);
        assert_eq!(outcome(None, s(5), s(30)), Outcome::NoAnswer);
    }
}
