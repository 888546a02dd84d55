//! The recent-joins log: the last few hundred join outcomes, newest first,
//! for the operator console's "why did this bot not record?" page.
//!
//! Why a trait of its own rather than more [`Store`](crate::Store) methods:
//! it is a bounded diagnostic log, not shared state that any rule of
//! docs/design.md depends on, and losing an entry loses nothing but a line
//! on a page. The token worker records each answered request (best effort:
//! a failure to record never delays or changes a reply); the console reads.
//!
//! An entry never holds a token: only the kinds asked and minted.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// How many outcomes the log keeps; older ones are dropped on write.
pub const CAPACITY: usize = 500;

/// One answered join request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinOutcome {
    /// When the reply was sent (Unix ms).
    pub at_ms: i64,
    /// The caller's `request_id`.
    pub request_id: String,
    /// The meeting ID the request resolved to, if it parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<String>,
    /// The owning account (connection), if one was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Token kinds asked for (`local_recording`, `onbehalf`, …).
    #[serde(default)]
    pub kinds_asked: Vec<String>,
    /// Token kinds minted (never the tokens themselves).
    #[serde(default)]
    pub kinds_got: Vec<String>,
    /// The reply's `status` (`ok`, `not_found`, …).
    pub status: String,
    /// The reply's machine-readable `reason`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The reply's human-readable `error`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From receipt to reply published, in milliseconds.
    pub latency_ms: f64,
}

/// Which outcomes [`JoinLog::recent`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinFilter {
    /// Only this status (`ok`, `not_found`, …).
    pub status: Option<String>,
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this meeting ID.
    pub meeting_id: Option<String>,
}

impl JoinFilter {
    /// Whether `o` passes the filter.
    pub fn matches(&self, o: &JoinOutcome) -> bool {
        self.status.as_ref().is_none_or(|s| *s == o.status)
            && self
                .account_id
                .as_ref()
                .is_none_or(|a| o.account_id.as_ref() == Some(a))
            && self
                .meeting_id
                .as_ref()
                .is_none_or(|m| o.meeting_id.as_ref() == Some(m))
    }
}

/// The bounded log of join outcomes; see the module doc.
#[async_trait]
pub trait JoinLog: Send + Sync + 'static {
    /// Append `outcome`, dropping the oldest beyond [`CAPACITY`].
    async fn record(&self, outcome: &JoinOutcome) -> Result<()>;

    /// At most `limit` outcomes passing `filter`, newest first, out of the
    /// last [`CAPACITY`] recorded.
    async fn recent(&self, filter: &JoinFilter, limit: usize) -> Result<Vec<JoinOutcome>>;
}

/// The contract every [`JoinLog`] keeps, run against each backend (the
/// memory one in this crate's unit tests, Redis in the `rectoken-tests`
/// package). `log` must start empty. Panics on a broken contract.
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub async fn contract(log: &dyn JoinLog) {
    assert!(
        log.recent(&JoinFilter::default(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let outcome = |i: usize, status: &str, account: Option<&str>| JoinOutcome {
        at_ms: 1_000 + i64::try_from(i).unwrap(),
        request_id: format!("r-{i}"),
        meeting_id: Some(format!("{}", 85_000_000_000u64 + i as u64)),
        account_id: account.map(str::to_owned),
        kinds_asked: vec!["local_recording".into()],
        kinds_got: if status == "ok" {
            vec!["local_recording".into()]
        } else {
            vec![]
        },
        status: status.into(),
        reason: (status != "ok").then(|| "meeting_not_mapped".into()),
        error: (status != "ok").then(|| "no connected account owns it".into()),
        latency_ms: 1.5,
    };
    for i in 0..CAPACITY + 10 {
        let (status, account) = if i % 3 == 0 {
            ("not_found", None)
        } else {
            ("ok", Some(if i % 2 == 0 { "a" } else { "b" }))
        };
        log.record(&outcome(i, status, account)).await.unwrap();
    }
    let all = log
        .recent(&JoinFilter::default(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(all.len(), CAPACITY, "bounded");
    assert_eq!(
        all[0].request_id,
        format!("r-{}", CAPACITY + 9),
        "newest first"
    );
    assert_eq!(all[CAPACITY - 1].request_id, "r-10", "oldest dropped");
    assert_eq!(
        all[0],
        outcome(
            CAPACITY + 9,
            all[0].status.as_str(),
            all[0].account_id.as_deref()
        ),
        "round trip"
    );
    let three = log.recent(&JoinFilter::default(), 3).await.unwrap();
    assert_eq!(three, all[..3].to_vec(), "limit");
    let not_found = JoinFilter {
        status: Some("not_found".into()),
        ..Default::default()
    };
    let nf = log.recent(&not_found, usize::MAX).await.unwrap();
    assert!(!nf.is_empty() && nf.iter().all(|o| o.status == "not_found"));
    assert_eq!(
        nf.len(),
        all.iter().filter(|o| o.status == "not_found").count()
    );
    let only_a = JoinFilter {
        account_id: Some("a".into()),
        ..Default::default()
    };
    let a = log.recent(&only_a, 5).await.unwrap();
    assert_eq!(a.len(), 5);
    assert!(a.iter().all(|o| o.account_id.as_deref() == Some("a")));
    let meeting = all[7].meeting_id.clone();
    let m = log
        .recent(
            &JoinFilter {
                meeting_id: meeting.clone(),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].meeting_id, meeting);
}
