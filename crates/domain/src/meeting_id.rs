//! Zoom meeting IDs and PMIs, and the meeting references bots hand us.
//!
//! Bots rarely send a clean number: they send whatever link the calendar
//! invite held (`https://acme.zoom.us/j/85012345678?pwd=…`), an app link
//! (`zoommtg://zoom.us/join?confno=…`) or an ID as people type it
//! (`850 1234 5678`). [`parse_meeting_ref`] turns every form Zoom uses into a
//! [`MeetingRef`] and rejects everything else with an error that says what was
//! wrong and which forms are accepted, because that text goes back to the bot
//! developer in the reply's `error` field.
//!
//! The parser is deliberately strict about *where* a link points: it must be a
//! Zoom host (`zoom.us`, `zoomgov.com` or a subdomain), with no user-info
//! trick (`https://zoom.us@evil.com/…`). A loose parser that pulled the first
//! long number out of any string would mint recording tokens for IDs the bot
//! never meant.
//!
//! Everything here is total: no input panics (property-tested below).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use thiserror::Error;
use url::{Host, Url};

/// Fewest digits a meeting ID may have.
///
/// Zoom support KB0065196 (docs/zoom.md §3): PMIs have 10 digits, instant,
/// scheduled and recurring meetings 11, but meetings scheduled before
/// 2020-04-12 may still carry 9-digit IDs (long-lived recurring meetings do).
/// Anything shorter is a typo or a passcode, never a meeting.
pub const MIN_DIGITS: usize = 9;

/// Most digits a meeting ID may have.
///
/// Zoom issues at most 11 today, but its spec says IDs "can exceed 10 digits"
/// and must be stored as long integers, i.e. the length has grown before. One
/// digit of headroom keeps rectoken working if it grows again, while still
/// catching the common paste mistake of an ID glued to its numeric passcode
/// (`85012345678 123456` is 17 digits).
pub const MAX_DIGITS: usize = 12;

/// Longest meeting reference [`parse_meeting_ref`] looks at, in bytes.
///
/// Real Zoom links, even webinar links with a registrant `tk=` token, stay
/// well under this; the cap bounds the work and the size of echoed errors.
pub const MAX_REF_LEN: usize = 2048;

/// Registrable domains whose hosts (and subdomains) serve Zoom meetings:
/// `zoom.us` for the commercial cloud (`us02web.zoom.us`, vanity
/// `acme.zoom.us`, `app.zoom.us`) and `zoomgov.com` for ZoomGov.
pub const ZOOM_DOMAINS: [&str; 2] = ["zoom.us", "zoomgov.com"];

/// Appended to every [`MeetingUrlError`] so the bot developer learns what
/// would have worked, not only what did not.
const ACCEPTED_FORMS: &str = "accepted: a meeting ID or PMI of 9 to 12 digits (spaces or dashes \
     allowed, e.g. 850 1234 5678), or a Zoom link on zoom.us or zoomgov.com (or a subdomain) such \
     as https://zoom.us/j/85012345678?pwd=…, …/w/ID (webinar), …/s/ID (start), …/wc/join/ID, \
     …/wc/ID/join, …/wc/ID/start, or zoommtg://zoom.us/join?confno=ID (also zoomus://)";

/// Longest piece of user input echoed back inside an error message.
const MAX_ECHO_CHARS: usize = 64;

/// A Zoom meeting ID or personal meeting ID (PMI).
///
/// Zoom treats both as the same kind of number (the join URL and the token
/// endpoint take either), so one type serves both. The value is always within
/// [`MeetingId::MIN`]..=[`MeetingId::MAX`] (9 to 12 digits, no leading zero),
/// which makes [`Display`](fmt::Display) and [`FromStr`] exact inverses.
///
/// Serde: serialized as a decimal *string* (`"85012345678"`), as the public
/// reply does, so JavaScript consumers never round a 12-digit number through
/// a double; deserialized from a string (with the same leniency as
/// [`FromStr`]) or a non-negative JSON integer, because Zoom itself sends
/// both shapes (docs/zoom.md §3, "PMI type varies").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MeetingId(u64);

impl MeetingId {
    /// Smallest valid ID: the smallest number with [`MIN_DIGITS`] digits.
    pub const MIN: MeetingId = MeetingId(100_000_000);
    /// Largest valid ID: the largest number with [`MAX_DIGITS`] digits.
    pub const MAX: MeetingId = MeetingId(999_999_999_999);

    /// Checks that `value` has 9 to 12 digits.
    ///
    /// An integer cannot carry a leading zero, so the only failure modes are
    /// too few or too many digits.
    pub fn new(value: u64) -> Result<Self, MeetingIdError> {
        if value < Self::MIN.0 {
            Err(MeetingIdError::TooShort {
                digits: digit_count(value),
            })
        } else if value > Self::MAX.0 {
            Err(MeetingIdError::TooLong {
                digits: digit_count(value),
            })
        } else {
            Ok(MeetingId(value))
        }
    }

    /// The numeric value, as Zoom's REST paths (`/meetings/{meetingId}/…`) take it.
    pub const fn get(self) -> u64 {
        self.0
    }
}

fn digit_count(mut value: u64) -> usize {
    let mut digits = 1;
    while value >= 10 {
        value /= 10;
        digits += 1;
    }
    digits
}

impl From<MeetingId> for u64 {
    fn from(id: MeetingId) -> u64 {
        id.0
    }
}

impl TryFrom<u64> for MeetingId {
    type Error = MeetingIdError;

    fn try_from(value: u64) -> Result<Self, Self::Error> {
        MeetingId::new(value)
    }
}

impl fmt::Display for MeetingId {
    /// Plain digits, no grouping: the form Zoom's URLs and REST paths use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Whether `ch` may separate digit groups in a typed ID: any whitespace
/// (including the no-break space word processors insert) and the hyphen or
/// the dashes that autocorrect turns it into.
fn is_separator(ch: char) -> bool {
    ch.is_whitespace() || matches!(ch, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

impl FromStr for MeetingId {
    type Err = MeetingIdError;

    /// Parses an ID as people type it: ASCII digits, optionally grouped by
    /// spaces or dashes (`85012345678`, `850 1234 5678`, `850-1234-5678`).
    ///
    /// Surrounding whitespace is ignored. Separators must sit between digits
    /// (a leading `-` would read as a negative number). A leading zero is
    /// rejected: Zoom never issues such IDs (its PMI rules forbid them), and
    /// accepting `0850…` would silently turn it into a different, shorter
    /// number that no longer round-trips.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(MeetingIdError::Empty);
        }
        let mut value: u64 = 0;
        let mut digits = 0usize;
        let mut first_digit = None;
        let mut last_was_separator = false;
        for ch in s.chars() {
            if let Some(d) = ch.to_digit(10) {
                if digits < MAX_DIGITS {
                    // At most MAX_DIGITS (12) digits: cannot overflow u64.
                    value = value * 10 + u64::from(d);
                }
                first_digit.get_or_insert(ch);
                digits += 1;
                last_was_separator = false;
            } else if is_separator(ch) {
                if digits == 0 {
                    return Err(MeetingIdError::MisplacedSeparator);
                }
                last_was_separator = true;
            } else {
                return Err(MeetingIdError::InvalidChar { ch });
            }
        }
        if last_was_separator {
            return Err(MeetingIdError::MisplacedSeparator);
        }
        if digits < MIN_DIGITS {
            return Err(MeetingIdError::TooShort { digits });
        }
        if digits > MAX_DIGITS {
            return Err(MeetingIdError::TooLong { digits });
        }
        if first_digit == Some('0') {
            return Err(MeetingIdError::LeadingZero);
        }
        MeetingId::new(value)
    }
}

impl Serialize for MeetingId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MeetingId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl de::Visitor<'_> for Visitor {
            type Value = MeetingId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Zoom meeting ID (a string of 9 to 12 digits, or an integer)")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<MeetingId, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MeetingId, E> {
                MeetingId::new(v).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MeetingId, E> {
                let v = u64::try_from(v).map_err(|_| E::custom(MeetingIdError::Negative))?;
                MeetingId::new(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

/// Why a string or number is not a [`MeetingId`].
///
/// The messages are written for the bot developer who reads them in a reply.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MeetingIdError {
    /// Nothing but whitespace.
    #[error("meeting ID is empty")]
    Empty,
    /// A character that is neither a digit nor a separator.
    #[error(
        "meeting ID contains {ch:?}; only digits are allowed, optionally grouped with spaces or dashes (e.g. 850 1234 5678)"
    )]
    InvalidChar {
        /// The offending character.
        ch: char,
    },
    /// A space or dash before the first or after the last digit.
    #[error("meeting ID must start and end with a digit")]
    MisplacedSeparator,
    /// A negative number.
    #[error("meeting ID must be a positive integer")]
    Negative,
    /// Fewer than [`MIN_DIGITS`] digits.
    #[error(
        "meeting ID has {digits} digit(s); Zoom meeting IDs and PMIs have at least 9 (usually 10 or 11)"
    )]
    TooShort {
        /// How many digits were given.
        digits: usize,
    },
    /// More than [`MAX_DIGITS`] digits.
    #[error(
        "meeting ID has {digits} digits; Zoom meeting IDs and PMIs have at most 12 (usually 10 or 11) — is a passcode glued to it?"
    )]
    TooLong {
        /// How many digits were given.
        digits: usize,
    },
    /// The first digit is `0`.
    #[error("meeting ID starts with 0; Zoom meeting IDs and PMIs never do")]
    LeadingZero,
}

/// What a link says about the kind of session behind an ID.
///
/// Only a hint: Zoom's `/j/` links also open webinars, so [`Meeting`]
/// means "not known to be a webinar". Workers should try the meeting
/// endpoints first and may use [`Webinar`] to go straight to
/// `/webinars/{id}/jointoken/…`.
///
/// [`Meeting`]: MeetingKind::Meeting
/// [`Webinar`]: MeetingKind::Webinar
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingKind {
    /// A meeting, PMI, or anything not marked as a webinar.
    Meeting,
    /// A `/w/ID` link: certainly a webinar.
    Webinar,
}

/// A meeting reference resolved from a bot's input.
///
/// `Debug` redacts the password: the `pwd` in a Zoom link lets anyone join,
/// so it must not reach logs any more than a token may.
#[derive(Clone, PartialEq, Eq)]
pub struct MeetingRef {
    /// The meeting ID or PMI.
    pub id: MeetingId,
    /// The link's `pwd` (Zoom's encoded passcode), percent-decoded; `None`
    /// when absent or empty. Carried along for bots that join with it.
    pub password: Option<String>,
    /// Meeting or webinar, as far as the link tells.
    pub kind: MeetingKind,
}

impl MeetingRef {
    fn meeting(id: MeetingId) -> Self {
        MeetingRef {
            id,
            password: None,
            kind: MeetingKind::Meeting,
        }
    }
}

impl fmt::Debug for MeetingRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeetingRef")
            .field("id", &self.id)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("kind", &self.kind)
            .finish()
    }
}

/// Why a string is not a meeting reference [`parse_meeting_ref`] accepts.
///
/// Every message ends with the list of accepted forms. Pieces of the input
/// echoed in a message are cut to 64 characters; passwords never are.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MeetingUrlError {
    /// Nothing but whitespace.
    #[error("the meeting reference is empty; {}", ACCEPTED_FORMS)]
    Empty,
    /// Longer than [`MAX_REF_LEN`].
    #[error("the meeting reference is {len} bytes long, more than the {max} allowed; {}", ACCEPTED_FORMS, max = MAX_REF_LEN)]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },
    /// Neither a bare ID nor anything shaped like a URL.
    #[error(
        "{input:?} is neither a meeting ID nor a Zoom link; {}",
        ACCEPTED_FORMS
    )]
    NotIdOrUrl {
        /// The input (shortened).
        input: String,
    },
    /// Looks like a bare ID but is not a valid one.
    #[error("{0}; {accepted}", accepted = ACCEPTED_FORMS)]
    InvalidId(MeetingIdError),
    /// Not parseable as a URL at all.
    #[error("not a valid URL ({0}); {accepted}", accepted = ACCEPTED_FORMS)]
    InvalidUrl(url::ParseError),
    /// A scheme other than `http`, `https`, `zoommtg` or `zoomus`.
    #[error(
        "links with scheme {scheme:?} are not meeting links; {}",
        ACCEPTED_FORMS
    )]
    UnsupportedScheme {
        /// The scheme, lowercased (shortened).
        scheme: String,
    },
    /// A user name or password before the host (`https://zoom.us@evil.com/`):
    /// the classic trick to make a foreign host look like Zoom.
    #[error(
        "the link has a user name before '@', so its real host is not what it seems; {}",
        ACCEPTED_FORMS
    )]
    UserInfo,
    /// The host is not Zoom's.
    #[error(
        "{host:?} is not a Zoom host (expected zoom.us, zoomgov.com or one of their subdomains); {}",
        ACCEPTED_FORMS
    )]
    NotZoomHost {
        /// The host (shortened).
        host: String,
    },
    /// A web link without a host (only possible through odd inputs).
    #[error("the link has no host; {}", ACCEPTED_FORMS)]
    NoHost,
    /// A personal link (`/my/name`): it names a user, not a number, and only
    /// Zoom can resolve it when someone opens it.
    #[error(
        "{name:?} is a Zoom personal link (/my/…), which does not contain the meeting number; ask for the meeting ID or the /j/ link instead; {}",
        ACCEPTED_FORMS
    )]
    PersonalLink {
        /// The vanity name (shortened).
        name: String,
    },
    /// A Zoom link whose shape is known but whose ID part is missing.
    #[error("the link does not contain a meeting ID; {}", ACCEPTED_FORMS)]
    MissingId,
    /// The ID part of a link is not all digits.
    #[error(
        "the meeting ID in the link, {id:?}, is not a number; {}",
        ACCEPTED_FORMS
    )]
    NonNumericId {
        /// The ID part (shortened).
        id: String,
    },
    /// A Zoom link, but not one that names a meeting (a settings page, a
    /// registration page, …).
    #[error(
        "the Zoom link path {path:?} does not name a meeting; {}",
        ACCEPTED_FORMS
    )]
    UnrecognizedPath {
        /// The path (shortened).
        path: String,
    },
}

/// Cuts user input to [`MAX_ECHO_CHARS`] characters for an error message.
fn echo(s: &str) -> String {
    let mut chars = s.chars();
    let mut out: String = chars.by_ref().take(MAX_ECHO_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// Resolves a meeting reference, in any form Zoom uses, to a [`MeetingRef`].
///
/// Accepted (surrounding whitespace and one pair of `<…>` as mail clients add
/// them are ignored; scheme, host and path keywords are case-insensitive):
/// - a bare ID or PMI: `85012345678`, `850 1234 5678`, `850-1234-5678`;
/// - `http(s)://` links on `zoom.us`, `zoomgov.com` or any subdomain
///   (`us02web.zoom.us`, `acme.zoom.us`), also without the scheme
///   (`zoom.us/j/…`), with any port, query, fragment or trailing slash:
///   `/j/ID` (join), `/w/ID` (webinar), `/s/ID` (start), `/wc/join/ID`,
///   `/wc/ID/join`, `/wc/ID/start` (web client);
/// - `zoommtg://` and `zoomus://` app links (`/join` or `/start`, ID in
///   `confno`), with no host or a Zoom host.
///
/// The password comes from the `pwd` query parameter. Nothing else in the
/// link is kept (a `/s/` start link's `zak=` is the host's credential).
///
/// Rejected, each with its own [`MeetingUrlError`]: other hosts (including
/// look-alikes such as `zoom.us.evil.com`, `evilzoom.us` and IP addresses),
/// user-info tricks, other schemes, personal links (`/my/name`), missing or
/// non-numeric IDs, IDs of the wrong length, other Zoom paths.
pub fn parse_meeting_ref(input: &str) -> Result<MeetingRef, MeetingUrlError> {
    let mut s = input.trim();
    if let Some(inner) = s.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
        s = inner.trim();
    }
    if s.is_empty() {
        return Err(MeetingUrlError::Empty);
    }
    if s.len() > MAX_REF_LEN {
        return Err(MeetingUrlError::TooLong { len: s.len() });
    }
    if s.chars().all(|c| c.is_ascii_digit() || is_separator(c)) {
        return s
            .parse()
            .map(MeetingRef::meeting)
            .map_err(MeetingUrlError::InvalidId);
    }
    if !s.contains(['.', '/', ':']) {
        return Err(MeetingUrlError::NotIdOrUrl { input: echo(s) });
    }

    let candidate = if has_scheme(s) {
        Cow::Borrowed(s)
    } else if s.contains(char::is_whitespace) {
        // Prose such as "Meeting ID: 850 1234 5678": a host cannot contain
        // spaces, and the URL parser's complaint would only confuse.
        return Err(MeetingUrlError::NotIdOrUrl { input: echo(s) });
    } else {
        Cow::Owned(format!("https://{s}"))
    };
    let url = Url::parse(&candidate).map_err(MeetingUrlError::InvalidUrl)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(MeetingUrlError::UserInfo);
    }
    match url.scheme() {
        "http" | "https" => parse_web_link(&url),
        "zoommtg" | "zoomus" => parse_app_link(&url),
        other => Err(MeetingUrlError::UnsupportedScheme {
            scheme: echo(other),
        }),
    }
}

/// Whether `s` starts with `scheme:` rather than a host. `zoom.us:443/j/…`
/// has a port, not a scheme, so a colon followed by a digit does not count.
fn has_scheme(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid && !rest.starts_with(|c: char| c.is_ascii_digit())
}

/// Whether `host` is one of [`ZOOM_DOMAINS`] or a subdomain of one. Compares
/// whole labels, so `evilzoom.us` and `zoom.us.evil.com` do not match. One
/// trailing dot (a fully qualified name) is allowed.
fn is_zoom_host(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    ZOOM_DOMAINS.iter().any(|domain| {
        host == *domain
            || host
                .strip_suffix(domain)
                .and_then(|sub| sub.strip_suffix('.'))
                .is_some_and(|sub| !sub.is_empty() && sub.split('.').all(|l| !l.is_empty()))
    })
}

/// The non-empty path segments (so trailing and doubled slashes do not matter).
fn segments(url: &Url) -> Vec<&str> {
    url.path().split('/').filter(|s| !s.is_empty()).collect()
}

/// The first non-empty `pwd` query value, percent-decoded.
fn password(url: &Url) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == "pwd")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// Parses the ID part of a link: ASCII digits only (no separators: links
/// never contain them), then the same range checks as a bare ID.
fn id_from_link(raw: &str) -> Result<MeetingId, MeetingUrlError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MeetingUrlError::NonNumericId { id: echo(raw) });
    }
    raw.parse().map_err(MeetingUrlError::InvalidId)
}

fn parse_web_link(url: &Url) -> Result<MeetingRef, MeetingUrlError> {
    match url.host() {
        Some(Host::Domain(host)) if is_zoom_host(host) => {}
        Some(host) => {
            return Err(MeetingUrlError::NotZoomHost {
                host: echo(&host.to_string()),
            });
        }
        None => return Err(MeetingUrlError::NoHost),
    }
    let segs = segments(url);
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let (raw_id, kind) = match (lower.as_slice(), segs.as_slice()) {
        (["j" | "s", _], [_, id]) => (*id, MeetingKind::Meeting),
        (["w", _], [_, id]) => (*id, MeetingKind::Webinar),
        (["wc", "join", _], [_, _, id]) => (*id, MeetingKind::Meeting),
        (["wc", _, "join" | "start"], [_, id, _]) => (*id, MeetingKind::Meeting),
        ([] | ["j" | "s" | "w" | "join" | "start"] | ["wc"] | ["wc", "join"], _) => {
            return Err(MeetingUrlError::MissingId);
        }
        (["my", _], [_, name]) => {
            return Err(MeetingUrlError::PersonalLink { name: echo(name) });
        }
        _ => {
            return Err(MeetingUrlError::UnrecognizedPath {
                path: echo(url.path()),
            });
        }
    };
    Ok(MeetingRef {
        id: id_from_link(raw_id)?,
        password: password(url),
        kind,
    })
}

/// The vanity name of a personal link (`https://zoom.us/my/NAME`, any Zoom
/// host, with or without scheme), full length and as written; `None` for
/// anything else. A personal link names a user, whose PMI it opens
/// (docs/zoom.md "Personal links"): rectoken resolves it through its user
/// directory. Names are case-insensitive at Zoom; callers compare them so.
pub fn personal_link_name(input: &str) -> Option<String> {
    let s = input.trim();
    let s = s
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .map_or(s, str::trim);
    if s.is_empty() || s.len() > MAX_REF_LEN || s.contains(char::is_whitespace) {
        return None;
    }
    let candidate = if has_scheme(s) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("https://{s}"))
    };
    let url = Url::parse(&candidate).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    match url.host() {
        Some(Host::Domain(host)) if is_zoom_host(host) => {}
        _ => return None,
    }
    match segments(&url).as_slice() {
        [my, name] if my.eq_ignore_ascii_case("my") && !name.is_empty() => {
            let name = percent_decode(name)?;
            name.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
                .then_some(name)
        }
        _ => None,
    }
}

fn percent_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("n={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// Whether a meeting link (or personal link) is on ZoomGov
/// (`zoomgov.com` or a subdomain), Zoom's separate cloud for US government
/// accounts with its own apps and API (`api.zoomgov.com`). A bare ID says
/// nothing: `false`.
pub fn is_zoomgov_link(input: &str) -> bool {
    let s = input.trim();
    let candidate = if has_scheme(s) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("https://{s}"))
    };
    let Ok(url) = Url::parse(&candidate) else {
        return false;
    };
    let host = match url.host() {
        Some(Host::Domain(h)) => h.to_ascii_lowercase(),
        _ => return false,
    };
    let host = host.strip_suffix('.').unwrap_or(&host);
    host == "zoomgov.com" || host.ends_with(".zoomgov.com")
}

fn parse_app_link(url: &Url) -> Result<MeetingRef, MeetingUrlError> {
    if let Some(host) = url.host_str().filter(|h| !h.is_empty())
        && !is_zoom_host(host)
    {
        return Err(MeetingUrlError::NotZoomHost { host: echo(host) });
    }
    let segs = segments(url);
    let known = match segs.as_slice() {
        [] => true,
        [action] => action.eq_ignore_ascii_case("join") || action.eq_ignore_ascii_case("start"),
        _ => false,
    };
    if !known {
        return Err(MeetingUrlError::UnrecognizedPath {
            path: echo(url.path()),
        });
    }
    // Read `confno` raw (not percent-decoded): a real app link carries plain
    // digits, and reading it raw guarantees the ID is literally in the input.
    let confno = url
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("confno="))
        .ok_or(MeetingUrlError::MissingId)?;
    Ok(MeetingRef {
        id: id_from_link(confno)?,
        password: password(url),
        kind: MeetingKind::Meeting,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u64) -> MeetingId {
        MeetingId::new(n).unwrap()
    }

    // ---- MeetingId ----

    #[test]
    fn personal_link_names() {
        for (input, want) in [
            ("https://zoom.us/my/jillsmith", Some("jillsmith")),
            ("zoom.us/my/JillSmith", Some("JillSmith")),
            (
                "https://acme.zoom.us/my/acme.sales?pwd=x",
                Some("acme.sales"),
            ),
            ("<https://us02web.zoom.us/my/jill_s-1/>", Some("jill_s-1")),
            ("https://zoomgov.com/my/agency", Some("agency")),
            ("HTTPS://ZOOM.US/MY/Bob", Some("Bob")),
            ("https://zoom.us/j/85012345678", None),
            ("https://evil.com/my/jill", None),
            ("https://zoom.us@evil.com/my/jill", None),
            ("https://zoom.us/my/", None),
            ("https://zoom.us/my/a/b", None),
            ("https://zoom.us/my/a%20b", None),
            ("https://zoom.us/my/a%2Fb", None),
            ("ftp://zoom.us/my/jill", None),
            ("85012345678", None),
            ("", None),
            ("my/jill", None),
        ] {
            assert_eq!(personal_link_name(input).as_deref(), want, "{input}");
        }
        // The parser still refuses it as a meeting reference.
        assert!(matches!(
            parse_meeting_ref("https://zoom.us/my/jill"),
            Err(MeetingUrlError::PersonalLink { .. })
        ));
    }

    #[test]
    fn zoomgov_links() {
        for (input, gov) in [
            ("https://zoomgov.com/j/1612345678", true),
            ("https://agency.zoomgov.com/j/1612345678?pwd=x", true),
            ("agency.ZOOMGOV.com/my/x", true),
            ("https://zoom.us/j/85012345678", false),
            ("https://zoomgov.com.evil.com/j/1", false),
            ("https://evilzoomgov.com/j/1", false),
            ("85012345678", false),
            ("", false),
        ] {
            assert_eq!(is_zoomgov_link(input), gov, "{input}");
        }
    }

    #[test]
    fn id_bounds() {
        assert_eq!(
            MeetingId::new(99_999_999),
            Err(MeetingIdError::TooShort { digits: 8 })
        );
        assert_eq!(
            MeetingId::new(0),
            Err(MeetingIdError::TooShort { digits: 1 })
        );
        assert_eq!(MeetingId::new(100_000_000), Ok(MeetingId::MIN));
        assert_eq!(MeetingId::new(999_999_999_999), Ok(MeetingId::MAX));
        assert_eq!(
            MeetingId::new(1_000_000_000_000),
            Err(MeetingIdError::TooLong { digits: 13 })
        );
        assert_eq!(
            MeetingId::new(u64::MAX),
            Err(MeetingIdError::TooLong { digits: 20 })
        );
        assert_eq!(
            MeetingId::try_from(85_012_345_678).map(u64::from),
            Ok(85_012_345_678)
        );
        assert_eq!(id(85_012_345_678).get(), 85_012_345_678);
    }

    #[test]
    fn id_from_str_accepts_typed_forms() {
        for (input, want) in [
            ("85012345678", 85_012_345_678),
            ("850 1234 5678", 85_012_345_678),
            ("850-1234-5678", 85_012_345_678),
            ("  850 - 1234 - 5678 \n", 85_012_345_678),
            ("850\u{a0}1234\u{a0}5678", 85_012_345_678),
            ("850\u{2013}1234\u{2013}5678", 85_012_345_678),
            ("5551112222", 5_551_112_222),
            ("123456789", 123_456_789),
            ("999999999999", 999_999_999_999),
        ] {
            assert_eq!(input.parse::<MeetingId>(), Ok(id(want)), "{input:?}");
        }
    }

    #[test]
    fn id_from_str_rejects() {
        use MeetingIdError::*;
        for (input, want) in [
            ("", Empty),
            ("   ", Empty),
            ("12345678", TooShort { digits: 8 }),
            ("1", TooShort { digits: 1 }),
            ("1234567890123", TooLong { digits: 13 }),
            ("85012345678 123456", TooLong { digits: 17 }),
            ("99999999999999999999999999999", TooLong { digits: 29 }),
            ("0850123456", LeadingZero),
            ("-85012345678", MisplacedSeparator),
            ("85012345678-", MisplacedSeparator),
            ("- -", MisplacedSeparator),
            ("+85012345678", InvalidChar { ch: '+' }),
            ("850.1234.5678", InvalidChar { ch: '.' }),
            ("8501234567a", InvalidChar { ch: 'a' }),
            ("８５０１２３４５６７８", InvalidChar { ch: '８' }),
            ("850_1234_5678", InvalidChar { ch: '_' }),
        ] {
            assert_eq!(input.parse::<MeetingId>(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn id_display_and_serde() {
        let m = id(85_012_345_678);
        assert_eq!(m.to_string(), "85012345678");
        assert_eq!(serde_json::to_string(&m).unwrap(), r#""85012345678""#);
        assert_eq!(
            serde_json::from_str::<MeetingId>(r#""85012345678""#).unwrap(),
            m
        );
        assert_eq!(serde_json::from_str::<MeetingId>("85012345678").unwrap(), m);
        assert_eq!(
            serde_json::from_str::<MeetingId>(r#""850 1234 5678""#).unwrap(),
            m
        );
        for bad in [
            "-85012345678",
            "850123456.0",
            "12",
            "true",
            "null",
            r#""abc""#,
            "[]",
            "1e30",
        ] {
            assert!(serde_json::from_str::<MeetingId>(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<MeetingId>("-85012345678").unwrap_err();
        assert!(err.to_string().contains("positive"), "{err}");
    }

    // ---- parse_meeting_ref ----

    #[test]
    fn accepted_forms() {
        use MeetingKind::{Meeting, Webinar};
        let cases: &[(&str, u64, Option<&str>, MeetingKind)] = &[
            ("85012345678", 85012345678, None, Meeting),
            ("850 1234 5678", 85012345678, None, Meeting),
            ("850-1234-5678", 85012345678, None, Meeting),
            ("  85012345678\t", 85012345678, None, Meeting),
            (
                "<https://zoom.us/j/85012345678>",
                85012345678,
                None,
                Meeting,
            ),
            ("https://zoom.us/j/85012345678", 85012345678, None, Meeting),
            ("http://zoom.us/j/85012345678", 85012345678, None, Meeting),
            ("https://zoom.us/j/5551112222", 5551112222, None, Meeting),
            ("https://zoom.us/j/123456789", 123456789, None, Meeting),
            (
                "https://us02web.zoom.us/j/85012345678?pwd=abc",
                85012345678,
                Some("abc"),
                Meeting,
            ),
            (
                "https://acme.zoom.us/j/85012345678?pwd=aBc.1",
                85012345678,
                Some("aBc.1"),
                Meeting,
            ),
            (
                "https://zoomgov.com/j/1612345678",
                1612345678,
                None,
                Meeting,
            ),
            (
                "https://acme.zoomgov.com/j/1612345678?pwd=x",
                1612345678,
                Some("x"),
                Meeting,
            ),
            (
                "https://zoom.us/w/85012345678?tk=t0k&pwd=p",
                85012345678,
                Some("p"),
                Webinar,
            ),
            (
                "https://zoom.us/s/85012345678?zak=secret",
                85012345678,
                None,
                Meeting,
            ),
            (
                "https://zoom.us/wc/join/85012345678?pwd=p",
                85012345678,
                Some("p"),
                Meeting,
            ),
            (
                "https://app.zoom.us/wc/85012345678/join?fromPWA=1&pwd=p",
                85012345678,
                Some("p"),
                Meeting,
            ),
            (
                "https://zoom.us/wc/85012345678/start",
                85012345678,
                None,
                Meeting,
            ),
            ("zoom.us/j/85012345678", 85012345678, None, Meeting),
            (
                "us02web.zoom.us/j/85012345678?pwd=abc",
                85012345678,
                Some("abc"),
                Meeting,
            ),
            ("zoom.us:443/j/85012345678", 85012345678, None, Meeting),
            ("https://zoom.us/j/85012345678/", 85012345678, None, Meeting),
            (
                "https://zoom.us//j//85012345678//",
                85012345678,
                None,
                Meeting,
            ),
            (
                "https://zoom.us/j/85012345678#success",
                85012345678,
                None,
                Meeting,
            ),
            (
                "https://zoom.us/j/85012345678?pwd=abc#success",
                85012345678,
                Some("abc"),
                Meeting,
            ),
            (
                "HTTPS://US02WEB.ZOOM.US/J/85012345678?pwd=AbC",
                85012345678,
                Some("AbC"),
                Meeting,
            ),
            ("https://zoom.us./j/85012345678", 85012345678, None, Meeting),
            (
                "https://zoom.us:8443/j/85012345678",
                85012345678,
                None,
                Meeting,
            ),
            (
                "https://zoom.us/j/85012345678?uname=Bot&pwd=abc&from=addon",
                85012345678,
                Some("abc"),
                Meeting,
            ),
            (
                "https://zoom.us/j/85012345678?pwd=",
                85012345678,
                None,
                Meeting,
            ),
            (
                "https://zoom.us/j/85012345678?pwd=a%2Bb",
                85012345678,
                Some("a+b"),
                Meeting,
            ),
            ("https:/zoom.us/j/85012345678", 85012345678, None, Meeting),
            (
                "zoommtg://zoom.us/join?confno=85012345678&pwd=abc",
                85012345678,
                Some("abc"),
                Meeting,
            ),
            (
                "zoommtg://zoom.us/join?action=join&confno=85012345678",
                85012345678,
                None,
                Meeting,
            ),
            (
                "zoommtg://us02web.zoom.us/start?confno=85012345678&zc=0",
                85012345678,
                None,
                Meeting,
            ),
            (
                "zoomus://zoom.us/join?confno=85012345678&pwd=abc",
                85012345678,
                Some("abc"),
                Meeting,
            ),
            (
                "ZOOMMTG://ZOOM.US/JOIN?confno=85012345678",
                85012345678,
                None,
                Meeting,
            ),
            (
                "zoommtg:join?confno=85012345678",
                85012345678,
                None,
                Meeting,
            ),
        ];
        for (input, want_id, want_pwd, want_kind) in cases {
            let got = parse_meeting_ref(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(got.id, id(*want_id), "{input:?}");
            assert_eq!(got.password.as_deref(), *want_pwd, "{input:?}");
            assert_eq!(got.kind, *want_kind, "{input:?}");
        }
    }

    #[test]
    fn rejected_forms() {
        use MeetingUrlError as E;
        let s = |x: &str| x.to_owned();
        let cases: Vec<(&str, E)> = vec![
            ("", E::Empty),
            ("  \n", E::Empty),
            ("<>", E::Empty),
            (
                "12345",
                E::InvalidId(MeetingIdError::TooShort { digits: 5 }),
            ),
            ("0850123456", E::InvalidId(MeetingIdError::LeadingZero)),
            (
                "1234567890123",
                E::InvalidId(MeetingIdError::TooLong { digits: 13 }),
            ),
            ("-", E::InvalidId(MeetingIdError::MisplacedSeparator)),
            ("abc", E::NotIdOrUrl { input: s("abc") }),
            (
                "Meeting ID: 850 1234 5678",
                E::NotIdOrUrl {
                    input: s("Meeting ID: 850 1234 5678"),
                },
            ),
            (
                "85012345678abc",
                E::NotIdOrUrl {
                    input: s("85012345678abc"),
                },
            ),
            (
                "meeting 850 1234 5678",
                E::NotIdOrUrl {
                    input: s("meeting 850 1234 5678"),
                },
            ),
            (
                "https://zoom.us.evil.com/j/85012345678",
                E::NotZoomHost {
                    host: s("zoom.us.evil.com"),
                },
            ),
            (
                "https://evilzoom.us/j/85012345678",
                E::NotZoomHost {
                    host: s("evilzoom.us"),
                },
            ),
            (
                "https://evil.com/j/85012345678",
                E::NotZoomHost {
                    host: s("evil.com"),
                },
            ),
            (
                "https://zoom.com/j/85012345678",
                E::NotZoomHost {
                    host: s("zoom.com"),
                },
            ),
            (
                "https://zoomgov.com.evil.com/j/85012345678",
                E::NotZoomHost {
                    host: s("zoomgov.com.evil.com"),
                },
            ),
            (
                "https://xn--zom-gdd.us/j/85012345678",
                E::NotZoomHost {
                    host: s("xn--zom-gdd.us"),
                },
            ),
            (
                "https://10.0.0.1/j/85012345678",
                E::NotZoomHost {
                    host: s("10.0.0.1"),
                },
            ),
            (
                "https://[::1]/j/85012345678",
                E::NotZoomHost { host: s("[::1]") },
            ),
            (
                "https://zoom.us%2eevil.com/j/85012345678",
                E::NotZoomHost {
                    host: s("zoom.us.evil.com"),
                },
            ),
            (
                "https://evil.com\\@zoom.us/j/85012345678",
                E::NotZoomHost {
                    host: s("evil.com"),
                },
            ),
            (
                "evil.com/j/85012345678",
                E::NotZoomHost {
                    host: s("evil.com"),
                },
            ),
            ("https://zoom.us@evil.com/j/85012345678", E::UserInfo),
            ("https://user:pw@zoom.us/j/85012345678", E::UserInfo),
            ("zoom.us@evil.com/j/85012345678", E::UserInfo),
            (
                "ftp://zoom.us/j/85012345678",
                E::UnsupportedScheme { scheme: s("ftp") },
            ),
            (
                "javascript:alert(85012345678)",
                E::UnsupportedScheme {
                    scheme: s("javascript"),
                },
            ),
            (
                "file:///j/85012345678",
                E::UnsupportedScheme { scheme: s("file") },
            ),
            (
                "https://zoom.us/my/acme.sales",
                E::PersonalLink {
                    name: s("acme.sales"),
                },
            ),
            (
                "https://acme.zoom.us/my/jill?pwd=x",
                E::PersonalLink { name: s("jill") },
            ),
            ("https://zoom.us/j/", E::MissingId),
            ("https://zoom.us/w", E::MissingId),
            ("https://zoom.us", E::MissingId),
            ("https://zoom.us/wc/join/", E::MissingId),
            ("zoommtg://zoom.us/join?pwd=abc", E::MissingId),
            ("https://zoom.us/j/abc", E::NonNumericId { id: s("abc") }),
            (
                "https://zoom.us/j/850-1234-5678",
                E::NonNumericId {
                    id: s("850-1234-5678"),
                },
            ),
            (
                "https://zoom.us/j/850%2012345678",
                E::NonNumericId {
                    id: s("850%2012345678"),
                },
            ),
            (
                "https://zoom.us/j/-85012345678",
                E::NonNumericId {
                    id: s("-85012345678"),
                },
            ),
            (
                "zoommtg://zoom.us/join?confno=abc",
                E::NonNumericId { id: s("abc") },
            ),
            (
                "zoommtg://zoom.us/join?confno=%385012345678",
                E::NonNumericId {
                    id: s("%385012345678"),
                },
            ),
            (
                "https://zoom.us/j/12345",
                E::InvalidId(MeetingIdError::TooShort { digits: 5 }),
            ),
            (
                "https://zoom.us/j/0850123456",
                E::InvalidId(MeetingIdError::LeadingZero),
            ),
            (
                "https://zoom.us/j/1234567890123",
                E::InvalidId(MeetingIdError::TooLong { digits: 13 }),
            ),
            (
                "https://zoom.us/j/85012345678/extra",
                E::UnrecognizedPath {
                    path: s("/j/85012345678/extra"),
                },
            ),
            (
                "https://zoom.us/meeting/85012345678",
                E::UnrecognizedPath {
                    path: s("/meeting/85012345678"),
                },
            ),
            (
                "https://zoom.us/webinar/register/WN_abc",
                E::UnrecognizedPath {
                    path: s("/webinar/register/WN_abc"),
                },
            ),
            (
                "https://zoom.us/profile",
                E::UnrecognizedPath {
                    path: s("/profile"),
                },
            ),
            (
                "zoommtg://zoom.us/settings?confno=85012345678",
                E::UnrecognizedPath {
                    path: s("/settings"),
                },
            ),
            (
                "zoommtg://evil.com/join?confno=85012345678",
                E::NotZoomHost {
                    host: s("evil.com"),
                },
            ),
            ("https://", E::InvalidUrl(url::ParseError::EmptyHost)),
            (
                "https://zoom.us:99999/j/85012345678",
                E::InvalidUrl(url::ParseError::InvalidPort),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_meeting_ref(input), Err(want), "{input:?}");
        }
        assert_eq!(
            parse_meeting_ref(&"9".repeat(MAX_REF_LEN + 1)),
            Err(E::TooLong {
                len: MAX_REF_LEN + 1
            })
        );
    }

    #[test]
    fn errors_explain_and_echo_briefly() {
        let err = parse_meeting_ref("https://evil.com/j/85012345678")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"evil.com\" is not a Zoom host"), "{err}");
        assert!(err.contains("accepted: a meeting ID"), "{err}");
        assert!(err.contains("zoommtg://"), "{err}");
        let long = format!("https://{}.com/j/85012345678", "a".repeat(500));
        let err = parse_meeting_ref(&long).unwrap_err();
        let MeetingUrlError::NotZoomHost { host } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(host.chars().count(), MAX_ECHO_CHARS + 1);
        assert!(host.ends_with('…'));
        // The password never appears in an error or in Debug output.
        let err = parse_meeting_ref("https://zoom.us/j/12?pwd=SECRETPWD").unwrap_err();
        assert!(!err.to_string().contains("SECRETPWD"));
        let ok = parse_meeting_ref("https://zoom.us/j/85012345678?pwd=SECRETPWD").unwrap();
        assert!(!format!("{ok:?}").contains("SECRETPWD"));
        assert!(format!("{ok:?}").contains("<redacted>"));
    }

    #[test]
    fn host_matching_is_label_exact() {
        for host in [
            "zoom.us",
            "ZOOM.US",
            "a.zoom.us",
            "a.b.zoom.us",
            "zoomgov.com",
            "x.zoomgov.com",
            "zoom.us.",
        ] {
            assert!(is_zoom_host(host), "{host}");
        }
        for host in [
            "",
            ".",
            "us",
            "zoom.u",
            "evilzoom.us",
            ".zoom.us",
            "a..zoom.us",
            "zoom.us.evil.com",
            "zoomgov.co",
            "zoom.us..",
        ] {
            assert!(!is_zoom_host(host), "{host}");
        }
    }

    fn digits_of(s: &str) -> String {
        s.chars().filter(char::is_ascii_digit).collect()
    }

    /// Link-shaped inputs, valid and not, so the properties below exercise
    /// the accepting paths too (arbitrary strings almost never get there).
    fn linkish() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                Just(""),
                Just("https://"),
                Just("http://"),
                Just("HTTPS://"),
                Just("zoommtg://"),
                Just("zoomus://"),
                Just("ftp://"),
                Just("https://u@")
            ],
            prop_oneof![
                Just(""),
                Just("us02web."),
                Just("acme."),
                Just("evil"),
                Just("a.b.")
            ],
            prop_oneof![
                Just("zoom.us"),
                Just("zoomgov.com"),
                Just("evil.com"),
                Just("zoom.us.evil.com"),
                Just("zoom.us:443")
            ],
            prop_oneof![
                Just("/j/"),
                Just("/w/"),
                Just("/s/"),
                Just("/wc/join/"),
                Just("/my/"),
                Just("/join?confno="),
                Just("/"),
                Just("/x/")
            ],
            "[0-9]{0,14}",
            prop_oneof![
                Just(""),
                Just("/"),
                Just("/join"),
                Just("/start"),
                Just("?pwd=abc"),
                Just("#success"),
                Just("?a=1&pwd=x#y")
            ],
        )
            .prop_map(|(a, b, c, d, e, f)| format!("{a}{b}{c}{d}{e}{f}"))
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = parse_meeting_ref(&s);
            let _ = s.parse::<MeetingId>();
        }

        #[test]
        fn printable_strings_never_panic(s in "\\PC{0,80}") {
            let _ = parse_meeting_ref(&s);
            let _ = s.parse::<MeetingId>();
        }

        #[test]
        fn format_then_parse_round_trips(n in MeetingId::MIN.get()..=MeetingId::MAX.get()) {
            let m = id(n);
            prop_assert_eq!(m.to_string().parse::<MeetingId>(), Ok(m));
            prop_assert_eq!(parse_meeting_ref(&m.to_string()).map(|r| r.id), Ok(m));
            prop_assert_eq!(parse_meeting_ref(&format!("https://zoom.us/j/{m}")).map(|r| r.id), Ok(m));
            let json = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(serde_json::from_str::<MeetingId>(&json).unwrap(), m);
            prop_assert_eq!(serde_json::from_str::<MeetingId>(&n.to_string()).unwrap(), m);
        }

        #[test]
        fn grouped_ids_parse(n in MeetingId::MIN.get()..=MeetingId::MAX.get(), sep in prop_oneof![Just(" "), Just("-"), Just(" - ")]) {
            let digits = n.to_string();
            let (a, rest) = digits.split_at(3);
            let (b, c) = rest.split_at(3);
            let typed = format!("{a}{sep}{b}{sep}{c}");
            prop_assert_eq!(typed.parse::<MeetingId>(), Ok(id(n)));
        }

        #[test]
        fn accepted_id_is_in_the_input(s in prop_oneof![linkish(), any::<String>()]) {
            if let Ok(r) = parse_meeting_ref(&s) {
                prop_assert!(digits_of(&s).contains(&r.id.to_string()), "{s:?} -> {}", r.id);
            }
        }
    }
}
