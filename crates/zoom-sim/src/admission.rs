//! Would a bot presenting a token get into a meeting? Zoom's entry rules for
//! Meeting SDK apps joining meetings outside their account (docs/zoom.md,
//! "OBF enforcement"): an on-behalf (OBF) token admits the bot only to its
//! meeting and only while its user is in that meeting (the bot is removed
//! when the user leaves); a ZAK admits the bot signed in as its user until
//! it expires; a recording join token grants recording, not entry.
//!
//! Who is in which meeting is simulated state, set by tests through
//! [`Sim::set_in_meeting`] (`PUT`/`DELETE /_sim/meetings/{id}/participants/{user}`).

use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError};
use crate::sim::{Sim, TokenKind, TokenRecord};

/// Why a token does or does not admit a bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The bot gets in.
    Admitted,
    /// This simulator never minted the token.
    UnknownToken,
    /// The token has expired.
    Expired,
    /// The meeting does not exist.
    MeetingNotFound,
    /// An OBF token presented for another meeting than its own.
    WrongMeeting,
    /// An OBF token whose user is not in the meeting
    /// (`MEETING_FAIL_AUTHORIZED_USER_NOT_INMEETING`).
    UserNotInMeeting,
    /// A recording join token: it grants recording, not entry to a meeting
    /// outside the app's account.
    NotAnEntryToken,
}

/// The answer of [`Sim::admission`]: the verdict, and the token's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// Whether the bot gets in.
    pub admitted: bool,
    /// Why (or why not).
    pub verdict: Verdict,
    /// The meeting asked about.
    pub meeting_id: u64,
    /// The token's record, when this simulator minted it.
    pub token: Option<TokenRecord>,
}

/// The pure rule. `in_meeting` says whether the token's user is in
/// `meeting`; `meeting_exists` whether the meeting exists at all.
#[must_use]
pub fn decide(
    record: Option<&TokenRecord>,
    meeting: u64,
    meeting_exists: bool,
    in_meeting: bool,
    now_ms: u64,
) -> Verdict {
    let Some(r) = record else {
        return Verdict::UnknownToken;
    };
    if r.expires_at_ms.is_some_and(|t| now_ms >= t) {
        return Verdict::Expired;
    }
    if !meeting_exists {
        return Verdict::MeetingNotFound;
    }
    match r.kind {
        TokenKind::Zak => Verdict::Admitted,
        TokenKind::Onbehalf if r.meeting_id != Some(meeting) => Verdict::WrongMeeting,
        TokenKind::Onbehalf if !in_meeting => Verdict::UserNotInMeeting,
        TokenKind::Onbehalf => Verdict::Admitted,
        TokenKind::LocalRecording | TokenKind::LocalArchiving | TokenKind::LiveStreaming => {
            Verdict::NotAnEntryToken
        }
    }
}

impl Sim {
    /// Puts user `user_id` into meeting `meeting` (a meeting ID or PMI), or
    /// takes them out. Both must exist.
    pub fn set_in_meeting(&self, meeting: u64, user_id: &str, present: bool) -> Result<()> {
        let mut st = self.state();
        if st.store.resolve(meeting).is_none() {
            return Err(SimError::not_found("meeting", meeting));
        }
        let Some(user) = st.store.user_by_id_or_email(user_id) else {
            return Err(SimError::not_found("user", user_id));
        };
        let key = (meeting, user.id.clone());
        if present {
            st.present.insert(key);
        } else {
            st.present.remove(&key);
        }
        Ok(())
    }

    /// Whether a bot presenting `token` would get into `meeting` (the
    /// token's own meeting when `None`) now.
    #[must_use]
    pub fn admission(&self, token: &str, meeting: Option<u64>) -> Admission {
        let now = self.now_ms();
        let st = self.state();
        let record = st.tokens.get(token);
        let meeting = meeting
            .or_else(|| record.and_then(|r| r.meeting_id))
            .unwrap_or(0);
        let exists = st.store.resolve(meeting).is_some();
        let in_meeting = record.is_some_and(|r| st.present.contains(&(meeting, r.user_id.clone())));
        let verdict = decide(record, meeting, exists, in_meeting, now);
        Admission {
            admitted: verdict == Verdict::Admitted,
            verdict,
            meeting_id: meeting,
            token: record.cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: TokenKind, meeting: Option<u64>, expires: Option<u64>) -> TokenRecord {
        TokenRecord {
            token: "t".into(),
            kind,
            meeting_id: meeting,
            account_id: "a".into(),
            user_id: "u".into(),
            grant_user_id: "u".into(),
            minted_at: String::new(),
            minted_at_ms: 0,
            expires_at_ms: expires,
            bypass_waiting_room: None,
        }
    }

    #[test]
    fn rules() {
        use TokenKind as K;
        use Verdict as V;
        let obf = record(K::Onbehalf, Some(85), None);
        let zak = record(K::Zak, None, Some(1000));
        let rec = record(K::LocalRecording, Some(85), Some(1000));
        let cases = [
            (None, 85, true, true, 0, V::UnknownToken),
            (Some(&obf), 85, true, true, 0, V::Admitted),
            (Some(&obf), 85, true, false, 0, V::UserNotInMeeting),
            (Some(&obf), 86, true, true, 0, V::WrongMeeting),
            (Some(&obf), 85, false, true, 0, V::MeetingNotFound),
            (Some(&zak), 85, true, false, 999, V::Admitted),
            (Some(&zak), 85, true, false, 1000, V::Expired),
            (Some(&zak), 85, false, false, 0, V::MeetingNotFound),
            (Some(&rec), 85, true, true, 0, V::NotAnEntryToken),
            (Some(&rec), 85, true, true, 1000, V::Expired),
        ];
        for (r, meeting, exists, present, now, want) in cases {
            assert_eq!(
                decide(r, meeting, exists, present, now),
                want,
                "{r:?} {meeting}"
            );
        }
    }
}
