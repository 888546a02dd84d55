//! Which granular scope each Zoom call rectoken makes needs: the one table
//! the README, `docs/zoom.md` and the simulator's default grant agree with
//! (tests check all three against [`SCOPES`]).
//!
//! Zoom checks a scope on every REST call; a token without it gets 400
//! `{"code":4711,"message":"Invalid access token, does not contain
//! scopes:[…]"}` (sometimes 4700) [Zoom API reference; zoom/rivet-javascript;
//! devforum 108207]. The token response's `scope` lists what was granted,
//! so rectoken knows at connect which calls will fail and says so, instead
//! of letting a missing scope look like a Zoom outage later.
//!
//! An admin-managed (account-level) app needs the `:admin` variant to reach
//! every user's data; a user-managed app gets the plain variant for its
//! own user.
//!
//! Pure: no I/O.

/// What a scope enables. [`Feature::Core`] scopes are required: without
/// one, connect, sync, probe or the recording token fails. The others
/// enable optional token kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// Connect, sync, cache-miss probe and the recording join token.
    Core,
    /// The `local_archiving` token kind.
    LocalArchiving,
    /// The `live_streaming` token kind.
    LiveStreaming,
    /// The `onbehalf` (OBF) token kind.
    OnBehalf,
    /// The `zak` token kind.
    Zak,
}

impl Feature {
    /// The name shown to admins.
    pub const fn as_str(self) -> &'static str {
        match self {
            Feature::Core => "core",
            Feature::LocalArchiving => "local_archiving",
            Feature::LiveStreaming => "live_streaming",
            Feature::OnBehalf => "onbehalf",
            Feature::Zak => "zak",
        }
    }
}

/// One Zoom call and the scopes it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeRow {
    /// The call, e.g. `GET /users/me`.
    pub call: &'static str,
    /// What rectoken uses it for.
    pub purpose: &'static str,
    /// Scopes of an admin-managed (account-level) app; any one suffices,
    /// the first is the one to ask for.
    pub account: &'static [&'static str],
    /// Scopes of a user-managed app; any one suffices.
    pub user: &'static [&'static str],
    /// What it enables.
    pub feature: Feature,
}

impl ScopeRow {
    /// The scopes that satisfy this row for an app kind.
    pub fn accepted(&self, user_level: bool) -> &'static [&'static str] {
        if user_level { self.user } else { self.account }
    }
}

/// Every Zoom REST call rectoken makes, with its scopes. Sources:
/// docs/zoom.md §5–§7 and "Scopes per call" (Zoom API reference, rivet).
pub const SCOPES: &[ScopeRow] = &[
    ScopeRow {
        call: "GET /users/me",
        purpose: "connect: the account ID of the grant",
        account: &["user:read:user:admin"],
        user: &["user:read:user"],
        feature: Feature::Core,
    },
    ScopeRow {
        call: "GET /users",
        purpose: "full sync: every user and PMI (account-level apps)",
        account: &["user:read:list_users:admin"],
        // A user-managed app syncs its own user only, through /users/me.
        user: &["user:read:user"],
        feature: Feature::Core,
    },
    ScopeRow {
        call: "GET /users/{userId}",
        purpose: "full sync: each user's personal-link vanity name",
        account: &["user:read:user:admin"],
        user: &["user:read:user"],
        feature: Feature::Core,
    },
    ScopeRow {
        call: "GET /users/{userId}/meetings",
        purpose: "full sync: each user's meetings",
        account: &["meeting:read:list_meetings:admin"],
        user: &["meeting:read:list_meetings"],
        feature: Feature::Core,
    },
    ScopeRow {
        call: "GET /meetings/{meetingId}",
        purpose: "cache-miss probe: who owns a meeting the map lacks",
        account: &["meeting:read:meeting:admin"],
        user: &["meeting:read:meeting"],
        feature: Feature::Core,
    },
    ScopeRow {
        call: "GET /meetings/{meetingId}/jointoken/local_recording",
        purpose: "the recording join token (or the closed-beta 3rd-party recording token)",
        account: &[
            "meeting:read:local_recording_token:admin",
            "meeting_token:read:admin:3rdpartyrecording",
        ],
        user: &["meeting:read:local_recording_token"],
        feature: Feature::Core,
    },
    ScopeRow {
        call: "GET /meetings/{meetingId}/jointoken/local_archiving",
        purpose: "the archiving join token",
        account: &["meeting:read:local_archiving_token:admin"],
        user: &["meeting:read:local_archiving_token"],
        feature: Feature::LocalArchiving,
    },
    ScopeRow {
        call: "GET /meetings/{meetingId}/jointoken/live_streaming",
        purpose: "the live-streaming join token",
        account: &["meeting:read:live_streaming_token:admin"],
        user: &["meeting:read:live_streaming_token"],
        feature: Feature::LiveStreaming,
    },
    ScopeRow {
        call: "GET /users/{userId}/token?type=onbehalf",
        purpose: "OBF token: join meetings outside the app's account",
        account: &["user:read:token:admin"],
        user: &["user:read:token"],
        feature: Feature::OnBehalf,
    },
    ScopeRow {
        call: "GET /users/{userId}/token?type=zak",
        purpose: "ZAK: join as the user",
        account: &["user:read:zak:admin"],
        user: &["user:read:zak"],
        feature: Feature::Zak,
    },
];

/// The scopes to ask an admin for: the first scope of every row of
/// `feature`, deduplicated, in table order. For [`Feature::Core`] this is
/// the README's list and the simulator's default grant.
pub fn scopes_for(feature: Feature, user_level: bool) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for row in SCOPES.iter().filter(|r| r.feature == feature) {
        if let Some(first) = row.accepted(user_level).first()
            && !out.contains(first)
        {
            out.push(first);
        }
    }
    out
}

/// The scope to ask for so that `call` (as [`ScopeRow::call`] names it)
/// works for an app of this kind.
pub fn scope_for(call: &str, user_level: bool) -> Option<&'static str> {
    SCOPES
        .iter()
        .find(|r| r.call == call)
        .and_then(|r| r.accepted(user_level).first().copied())
}

/// The required scopes (what the README asks admins for).
pub fn required(user_level: bool) -> Vec<&'static str> {
    scopes_for(Feature::Core, user_level)
}

/// What a grant lacks: the calls that will fail, each with the scope that
/// would enable it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeReport {
    /// Core calls that will fail: (call, purpose, scope to add).
    pub missing_required: Vec<Missing>,
    /// Optional features that are unavailable, with the scope to add.
    pub unavailable: Vec<Missing>,
}

/// One call a grant cannot make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// The call.
    pub call: &'static str,
    /// What it is for.
    pub purpose: &'static str,
    /// What it enables.
    pub feature: Feature,
    /// The scope that would enable it.
    pub scope: &'static str,
}

impl ScopeReport {
    /// Whether every core call will work.
    pub fn is_complete(&self) -> bool {
        self.missing_required.is_empty()
    }

    /// The scopes to add for the core calls, deduplicated.
    pub fn missing_scopes(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for m in &self.missing_required {
            if !out.contains(&m.scope) {
                out.push(m.scope);
            }
        }
        out
    }

    /// The optional features unavailable, deduplicated, with their scope.
    pub fn unavailable_features(&self) -> Vec<(Feature, &'static str)> {
        let mut out: Vec<(Feature, &'static str)> = Vec::new();
        for m in &self.unavailable {
            if !out.iter().any(|(f, _)| *f == m.feature) {
                out.push((m.feature, m.scope));
            }
        }
        out
    }

    /// One line for logs and the admin view, e.g. `missing
    /// meeting:read:meeting:admin (GET /meetings/{meetingId}: cache-miss
    /// probe …); unavailable: zak (user:read:zak:admin)`; empty when the
    /// grant is complete and every feature available.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.missing_required.is_empty() {
            let items: Vec<String> = self
                .missing_required
                .iter()
                .map(|m| format!("{} ({}: {})", m.scope, m.call, m.purpose))
                .collect();
            parts.push(format!("missing {}", items.join(", ")));
        }
        let features = self.unavailable_features();
        if !features.is_empty() {
            let items: Vec<String> = features
                .iter()
                .map(|(f, s)| format!("{} ({s})", f.as_str()))
                .collect();
            parts.push(format!("unavailable: {}", items.join(", ")));
        }
        parts.join("; ")
    }
}

/// Compare a grant's scopes with [`SCOPES`].
pub fn assess<S: AsRef<str>>(granted: &[S], user_level: bool) -> ScopeReport {
    let has = |s: &str| granted.iter().any(|g| g.as_ref() == s);
    let mut report = ScopeReport::default();
    for row in SCOPES {
        let accepted = row.accepted(user_level);
        if accepted.iter().any(|s| has(s)) {
            continue;
        }
        let Some(first) = accepted.first() else {
            continue;
        };
        let m = Missing {
            call: row.call,
            purpose: row.purpose,
            feature: row.feature,
            scope: first,
        };
        if row.feature == Feature::Core {
            report.missing_required.push(m);
        } else {
            report.unavailable.push(m);
        }
    }
    report
}

/// The scopes a Zoom 4711 message names (`…does not contain
/// scopes:[a, b].`), for a clearer error; empty when it names none.
pub fn scopes_in_message(message: &str) -> Vec<String> {
    let Some(start) = message.find('[') else {
        return Vec::new();
    };
    let rest = &message[start + 1..];
    let Some(end) = rest.find(']') else {
        return Vec::new();
    };
    rest[..end]
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_account_scopes_are_the_readme_list() {
        assert_eq!(
            required(false),
            [
                "user:read:user:admin",
                "user:read:list_users:admin",
                "meeting:read:list_meetings:admin",
                "meeting:read:meeting:admin",
                "meeting:read:local_recording_token:admin",
            ]
        );
        assert_eq!(
            required(true),
            [
                "user:read:user",
                "meeting:read:list_meetings",
                "meeting:read:meeting",
                "meeting:read:local_recording_token",
            ]
        );
    }

    #[test]
    fn every_row_has_both_variants_and_admin_ones_end_in_admin() {
        for row in SCOPES {
            assert!(!row.account.is_empty() && !row.user.is_empty(), "{row:?}");
            assert!(row.account.iter().all(|s| s.contains("admin")), "{row:?}");
            assert!(row.user.iter().all(|s| !s.contains("admin")), "{row:?}");
        }
    }

    #[test]
    fn a_complete_grant_misses_nothing_required() {
        let granted = required(false);
        let r = assess(&granted, false);
        assert!(r.is_complete(), "{r:?}");
        assert_eq!(
            r.unavailable_features(),
            [
                (
                    Feature::LocalArchiving,
                    "meeting:read:local_archiving_token:admin"
                ),
                (
                    Feature::LiveStreaming,
                    "meeting:read:live_streaming_token:admin"
                ),
                (Feature::OnBehalf, "user:read:token:admin"),
                (Feature::Zak, "user:read:zak:admin"),
            ]
        );
    }

    #[test]
    fn the_old_three_scope_list_misses_users_me_and_the_probe() {
        let old = [
            "meeting:read:local_recording_token:admin",
            "meeting:read:list_meetings:admin",
            "user:read:list_users:admin",
        ];
        let r = assess(&old, false);
        assert_eq!(
            r.missing_scopes(),
            ["user:read:user:admin", "meeting:read:meeting:admin"]
        );
        assert!(!r.is_complete());
        let calls: Vec<_> = r.missing_required.iter().map(|m| m.call).collect();
        assert_eq!(
            calls,
            [
                "GET /users/me",
                "GET /users/{userId}",
                "GET /meetings/{meetingId}"
            ]
        );
        assert!(
            r.summary()
                .starts_with("missing user:read:user:admin (GET /users/me")
        );
        assert!(r.summary().contains("unavailable: local_archiving"));
    }

    #[test]
    fn the_third_party_scope_stands_in_for_local_recording() {
        let mut g = required(false);
        g.retain(|s| *s != "meeting:read:local_recording_token:admin");
        assert!(!assess(&g, false).is_complete());
        g.push("meeting_token:read:admin:3rdpartyrecording");
        assert!(assess(&g, false).is_complete());
    }

    #[test]
    fn user_level_variants_are_not_enough_for_an_account_app() {
        let user = required(true);
        let r = assess(&user, false);
        assert_eq!(
            r.missing_required.len(),
            SCOPES.iter().filter(|r| r.feature == Feature::Core).count()
        );
        assert!(assess(&user, true).is_complete());
        assert_eq!(ScopeReport::default().summary(), "");
    }

    #[test]
    fn the_scope_of_a_call() {
        assert_eq!(
            scope_for("GET /users/me", false),
            Some("user:read:user:admin")
        );
        assert_eq!(scope_for("GET /users/me", true), Some("user:read:user"));
        assert_eq!(scope_for("GET /nothing", false), None);
    }

    #[test]
    fn scopes_are_read_from_a_4711_message() {
        assert_eq!(
            scopes_in_message("Invalid access token, does not contain scopes:[a:b:admin, c:d]."),
            ["a:b:admin", "c:d"]
        );
        assert!(scopes_in_message("Invalid access token.").is_empty());
        assert!(scopes_in_message("scopes:[").is_empty());
    }
}
