//! Charts as inline SVG, drawn on the server from the figures already on
//! the page: no client framework, readable without JavaScript, and the
//! numbers are in the markup (`<title>`s) for screen readers.

use maud::{Markup, html};
use rectoken_store::JoinOutcome;

/// Minutes the joins chart covers.
pub const MINUTES: usize = 30;

/// The statuses in the chart, in stacking order, with their colours.
pub const STATUSES: [(&str, &str); 6] = [
    ("ok", "#2e7d32"),
    ("not_found", "#9e9e9e"),
    ("account_disconnected", "#ef6c00"),
    ("rate_limited", "#f9a825"),
    ("zoom_error", "#c62828"),
    ("invalid_request", "#6a1b9a"),
];

/// Joins per minute by status over the [`MINUTES`] minutes ending at
/// `now_ms`: `counts[minute][status index]`, oldest minute first.
/// Statuses outside [`STATUSES`] count as the last one's neighbour-free
/// "other" (dropped): the chart shows the contract's statuses only.
pub fn per_minute(joins: &[JoinOutcome], now_ms: i64) -> Vec<[u32; STATUSES.len()]> {
    let mut counts = vec![[0u32; STATUSES.len()]; MINUTES];
    let end_minute = now_ms.div_euclid(60_000);
    for j in joins {
        let age = end_minute - j.at_ms.div_euclid(60_000);
        let Ok(age) = usize::try_from(age) else {
            continue;
        };
        if age >= MINUTES {
            continue;
        }
        if let Some(s) = STATUSES.iter().position(|(name, _)| *name == j.status) {
            counts[MINUTES - 1 - age][s] += 1;
        }
    }
    counts
}

/// Stacked bars of [`per_minute`].
pub fn joins_chart(counts: &[[u32; STATUSES.len()]]) -> Markup {
    let (w, h, bar) = (600u32, 120u32, 20u32);
    let max = counts
        .iter()
        .map(|c| c.iter().sum::<u32>())
        .max()
        .unwrap_or(0)
        .max(1);
    let total: u32 = counts.iter().flat_map(|c| c.iter()).sum();
    // (x, y, height, colour, title) of every non-empty segment.
    let mut bars = Vec::new();
    for (i, minute) in counts.iter().enumerate() {
        let x = u32::try_from(i).unwrap_or(0) * bar;
        let mut y = h;
        for (s, n) in minute.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let height = (n * (h - 4)).div_ceil(max);
            y = y.saturating_sub(height);
            let ago = counts.len() - 1 - i;
            bars.push((
                x + 2,
                y,
                height,
                STATUSES[s].1,
                format!("{ago} min ago: {n} {}", STATUSES[s].0),
            ));
        }
    }
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {w} {}", h + 16)) role="img"
                aria-label=(format!("Joins per minute by status, last {MINUTES} minutes: {total} in all, at most {max} in a minute")) {
                line x1="0" y1=(h) x2=(w) y2=(h) stroke="#888" stroke-width="1" {}
                @for (x, y, height, colour, title) in &bars {
                    rect x=(x) y=(y) width=(bar - 4) height=(height) fill=(colour) { title { (title) } }
                }
                text x="0" y=(h + 14) font-size="11" fill="currentColor" { (MINUTES) " min ago" }
                text x=(w) y=(h + 14) font-size="11" fill="currentColor" text-anchor="end" { "now" }
            }
            figcaption {
                // Classes, not style attributes: the console's CSP allows
                // no inline style (console.css colours them).
                @for (name, _) in STATUSES {
                    span.key { span class=(format!("swatch s-{name}")) {} (name) }
                }
            }
        }
    }
}

/// A progress bar of a sync: `done` of `total` users.
pub fn progress(done: u64, total: u64) -> Markup {
    let pct = (done.min(total).saturating_mul(100))
        .checked_div(total)
        .unwrap_or(0);
    html! {
        svg.progress viewBox="0 0 100 8" preserveAspectRatio="none" role="img"
            aria-label=(format!("{done} of {total} users ({pct}%)")) {
            rect x="0" y="0" width="100" height="8" fill="#ddd" {}
            rect x="0" y="0" width=(pct) height="8" fill="#2e7d32" {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(at_ms: i64, status: &str) -> JoinOutcome {
        JoinOutcome {
            at_ms,
            request_id: "r".into(),
            meeting_id: None,
            account_id: None,
            kinds_asked: vec![],
            kinds_got: vec![],
            status: status.into(),
            reason: None,
            error: None,
            latency_ms: 0.0,
        }
    }

    #[test]
    fn joins_land_in_their_minute_and_status() {
        let now = 100 * 60_000 + 5_000;
        let joins = [
            join(now, "ok"),
            join(now - 1_000, "ok"),
            join(now - 60_000, "not_found"),
            join(now - 40 * 60_000, "ok"),
            join(now + 120_000, "ok"),
            join(now, "mystery"),
        ];
        let c = per_minute(&joins, now);
        assert_eq!(c.len(), MINUTES);
        assert_eq!(c[MINUTES - 1][0], 2, "two ok this minute");
        assert_eq!(c[MINUTES - 2][1], 1, "one not_found a minute ago");
        let total: u32 = c.iter().flat_map(|m| m.iter()).sum();
        assert_eq!(total, 3, "too old, future and unknown statuses left out");
        let svg = joins_chart(&c).into_string();
        assert!(svg.contains("3 in all, at most 2 in a minute"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2);
    }

    #[test]
    fn the_stylesheet_colours_every_swatch_as_the_bars() {
        let css = include_str!("console.css");
        for (name, colour) in STATUSES {
            let rule = format!(".s-{name} {{ background: {colour}; }}");
            assert!(css.contains(&rule), "console.css lacks {rule}");
        }
    }

    #[test]
    fn progress_is_bounded() {
        assert!(progress(5, 10).into_string().contains("width=\"50\""));
        assert!(progress(50, 10).into_string().contains("width=\"100\""));
        assert!(progress(0, 0).into_string().contains("0 of 0 users (0%)"));
    }
}
