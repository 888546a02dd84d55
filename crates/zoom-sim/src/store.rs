//! The in-memory Zoom data and its invariants, kept free of HTTP.
//!
//! Invariants: IDs are unique; a PMI belongs to one user and is never also a
//! meeting number (so `GET /meetings/{n}` is unambiguous); users list in
//! creation order, meetings in meeting-number order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError};
use crate::model::{Account, Meeting, Occurrence, Resolved, User, meeting_type};
use crate::paging::{Page, paginate};
use crate::ratelimit::Plan;

/// Smallest and largest PMI: 10 digits (docs/zoom.md §3).
pub const PMI_RANGE: std::ops::RangeInclusive<u64> = 1_000_000_000..=9_999_999_999;
/// Meeting numbers accepted on creation: 9 (legacy) to 11 digits.
pub const MEETING_ID_RANGE: std::ops::RangeInclusive<u64> = 100_000_000..=99_999_999_999;
/// How long after its end a non-recurring scheduled meeting still counts as
/// `scheduled` ("unexpired") in meeting lists: Zoom expires meeting IDs 30
/// days after the scheduled date.
pub const SCHEDULED_MEETING_EXPIRY_MS: u64 = 30 * 24 * 3600 * 1000;

/// The `type` query of `GET /users/{id}/meetings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// `scheduled` (default): unexpired scheduled and all recurring meetings.
    Scheduled,
    /// `live`: meetings whose scheduled time contains now.
    Live,
    /// `upcoming` / `upcoming_meetings`: meetings not yet ended.
    Upcoming,
    /// `previous_meetings`: meetings already ended.
    Previous,
}

impl ListType {
    /// Parses the query value; `None` for values Zoom does not know.
    #[must_use]
    pub fn parse(raw: Option<&str>) -> Option<Self> {
        match raw {
            None | Some("" | "scheduled") => Some(Self::Scheduled),
            Some("live") => Some(Self::Live),
            Some("upcoming" | "upcoming_meetings") => Some(Self::Upcoming),
            Some("previous_meetings") => Some(Self::Previous),
            Some(_) => None,
        }
    }

    /// Whether `m` belongs in this list at `now_ms`. Instant meetings never
    /// appear (PMI and instant meetings come from the user, docs/zoom.md §6).
    #[must_use]
    pub fn includes(self, m: &Meeting, now_ms: u64) -> bool {
        if m.meeting_type == meeting_type::INSTANT {
            return false;
        }
        let end = m.end_ms();
        match self {
            Self::Scheduled => {
                m.is_recurring() || end.is_none_or(|e| e + SCHEDULED_MEETING_EXPIRY_MS > now_ms)
            }
            Self::Live => {
                let minutes = |d: u32| u64::from(d) * 60_000;
                let live = |s: u64, d: u32| s <= now_ms && now_ms < s + minutes(d);
                if m.occurrences.is_empty() {
                    m.start_ms.is_some_and(|s| live(s, m.duration))
                } else {
                    m.occurrences.iter().any(|o| live(o.start_ms, o.duration))
                }
            }
            Self::Upcoming => end.is_none_or(|e| e > now_ms),
            Self::Previous => end.is_some_and(|e| e <= now_ms),
        }
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserPatch {
    /// New PMI (10 digits, unused).
    pub pmi: Option<u64>,
    /// New `use_pmi`.
    pub use_pmi: Option<bool>,
    /// New email.
    pub email: Option<String>,
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New time zone.
    pub timezone: Option<String>,
    /// New user type.
    #[serde(rename = "type")]
    pub user_type: Option<u8>,
    /// New vanity name of the personal link (`""` removes it). Zoom
    /// reports it in `user.updated` as `vanity_name`.
    pub vanity_name: Option<String>,
    /// New settings the join-token endpoints check (through
    /// `Sim::set_user_settings`: no `user.updated` event).
    #[serde(skip)]
    pub settings: Option<crate::model::UserSettings>,
    /// Who made the change, for the `user.updated` operator fields (default:
    /// the user).
    pub operator_id: Option<String>,
}

#[derive(Debug, Clone)]
struct AccountEntry {
    account: Account,
    /// seq → user ID, in creation order.
    users: BTreeMap<u64, String>,
}

#[derive(Debug, Clone)]
struct UserEntry {
    user: User,
    meetings: BTreeSet<u64>,
}

/// All simulated Zoom data.
#[derive(Debug, Clone, Default)]
pub struct Store {
    accounts: HashMap<String, AccountEntry>,
    account_order: Vec<String>,
    users: HashMap<String, UserEntry>,
    emails: HashMap<String, String>,
    meetings: HashMap<u64, Meeting>,
    pmis: HashMap<u64, String>,
    next_seq: u64,
}

impl Store {
    /// Adds an account.
    pub fn add_account(&mut self, account: Account) -> Result<()> {
        if account.id.is_empty() {
            return Err(SimError::InvalidInput("account id is empty".into()));
        }
        if self.accounts.contains_key(&account.id) {
            return Err(SimError::Conflict(format!("account {} exists", account.id)));
        }
        self.account_order.push(account.id.clone());
        self.accounts.insert(
            account.id.clone(),
            AccountEntry {
                account,
                users: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// Whether a number is in use as a meeting number or a PMI.
    #[must_use]
    pub fn number_taken(&self, n: u64) -> bool {
        self.meetings.contains_key(&n) || self.pmis.contains_key(&n)
    }

    /// Adds a user to its account; assigns `seq`. Returns the stored user.
    pub fn add_user(&mut self, mut user: User) -> Result<&User> {
        if user.id.is_empty() || user.id == "me" {
            return Err(SimError::InvalidInput(format!(
                "invalid user id {:?}",
                user.id
            )));
        }
        if !PMI_RANGE.contains(&user.pmi) {
            return Err(SimError::InvalidInput(format!(
                "PMI {} is not 10 digits",
                user.pmi
            )));
        }
        if self.users.contains_key(&user.id) {
            return Err(SimError::Conflict(format!("user {} exists", user.id)));
        }
        let email = user.email.to_lowercase();
        if self.emails.contains_key(&email) {
            return Err(SimError::Conflict(format!("email {email} in use")));
        }
        if self.number_taken(user.pmi) {
            return Err(SimError::Conflict(format!("number {} in use", user.pmi)));
        }
        let entry = self
            .accounts
            .get_mut(&user.account_id)
            .ok_or_else(|| SimError::not_found("account", &user.account_id))?;
        self.next_seq += 1;
        user.seq = self.next_seq;
        entry.users.insert(user.seq, user.id.clone());
        self.emails.insert(email, user.id.clone());
        self.pmis.insert(user.pmi, user.id.clone());
        let id = user.id.clone();
        let entry = self.users.entry(id).or_insert(UserEntry {
            user,
            meetings: BTreeSet::new(),
        });
        Ok(&entry.user)
    }

    /// Adds a meeting to its host; `account_id` is taken from the host.
    pub fn add_meeting(&mut self, mut meeting: Meeting) -> Result<&Meeting> {
        if !MEETING_ID_RANGE.contains(&meeting.id) {
            return Err(SimError::InvalidInput(format!(
                "meeting number {} is not 9 to 11 digits",
                meeting.id
            )));
        }
        if self.number_taken(meeting.id) {
            return Err(SimError::Conflict(format!("number {} in use", meeting.id)));
        }
        let host = self
            .users
            .get_mut(&meeting.host_id)
            .ok_or_else(|| SimError::not_found("user", &meeting.host_id))?;
        meeting.account_id.clone_from(&host.user.account_id);
        host.meetings.insert(meeting.id);
        let id = meeting.id;
        Ok(self.meetings.entry(id).or_insert(meeting))
    }

    /// An account by ID.
    #[must_use]
    pub fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.get(id).map(|e| &e.account)
    }

    /// Number of users of an account.
    #[must_use]
    pub fn user_count(&self, account_id: &str) -> usize {
        self.accounts.get(account_id).map_or(0, |e| e.users.len())
    }

    /// Changes the plan of an account.
    pub fn set_plan(&mut self, id: &str, plan: Plan) -> Result<()> {
        let entry = self
            .accounts
            .get_mut(id)
            .ok_or_else(|| SimError::not_found("account", id))?;
        entry.account.plan = plan;
        Ok(())
    }

    /// The first user (by creation) of an account: its owner.
    #[must_use]
    pub fn owner(&self, account_id: &str) -> Option<&User> {
        let entry = self.accounts.get(account_id)?;
        let (_, id) = entry.users.first_key_value()?;
        self.user(id)
    }

    /// The owner of the first account that has a user.
    #[must_use]
    pub fn first_owner(&self) -> Option<&User> {
        self.account_order.iter().find_map(|a| self.owner(a))
    }

    /// A user by ID.
    #[must_use]
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id).map(|e| &e.user)
    }

    /// A user by ID or, failing that, by email (Zoom's `userId` accepts both).
    #[must_use]
    pub fn user_by_id_or_email(&self, key: &str) -> Option<&User> {
        self.user(key).or_else(|| {
            self.emails
                .get(&key.to_lowercase())
                .and_then(|id| self.user(id))
        })
    }

    /// A stored meeting by number.
    #[must_use]
    pub fn meeting(&self, id: u64) -> Option<&Meeting> {
        self.meetings.get(&id)
    }

    /// Resolves a meeting number: a stored meeting, else a user's PMI.
    #[must_use]
    pub fn resolve(&self, number: u64) -> Option<Resolved<'_>> {
        if let Some(m) = self.meetings.get(&number) {
            return Some(Resolved::Meeting(m));
        }
        let user = self.pmis.get(&number)?;
        self.user(user).map(Resolved::Pmi)
    }

    /// Applies a patch; returns the user before and after.
    pub fn update_user(&mut self, id: &str, patch: &UserPatch) -> Result<(User, User)> {
        let before = self
            .user(id)
            .cloned()
            .ok_or_else(|| SimError::not_found("user", id))?;
        if let Some(pmi) = patch.pmi
            && pmi != before.pmi
        {
            if !PMI_RANGE.contains(&pmi) {
                return Err(SimError::InvalidInput(format!(
                    "PMI {pmi} is not 10 digits"
                )));
            }
            if self.number_taken(pmi) {
                return Err(SimError::Conflict(format!("number {pmi} in use")));
            }
        }
        let new_email = patch.email.as_ref().map(|e| e.to_lowercase());
        if let Some(e) = &new_email
            && *e != before.email.to_lowercase()
            && self.emails.contains_key(e)
        {
            return Err(SimError::Conflict(format!("email {e} in use")));
        }
        let mut after = before.clone();
        if let Some(pmi) = patch.pmi {
            after.pmi = pmi;
        }
        if let Some(v) = patch.use_pmi {
            after.use_pmi = v;
        }
        if let Some(v) = &patch.email {
            after.email.clone_from(v);
        }
        if let Some(v) = &patch.first_name {
            after.first_name.clone_from(v);
        }
        if let Some(v) = &patch.last_name {
            after.last_name.clone_from(v);
        }
        if let Some(v) = &patch.timezone {
            after.timezone.clone_from(v);
        }
        if let Some(v) = patch.user_type {
            after.user_type = v;
        }
        if let Some(v) = &patch.vanity_name {
            after.vanity_name = Some(v.clone()).filter(|v| !v.is_empty());
        }
        if let Some(v) = patch.settings {
            after.settings = v;
        }
        if after.pmi != before.pmi {
            self.pmis.remove(&before.pmi);
            self.pmis.insert(after.pmi, after.id.clone());
        }
        if after.email != before.email {
            self.emails.remove(&before.email.to_lowercase());
            self.emails
                .insert(after.email.to_lowercase(), after.id.clone());
        }
        if let Some(entry) = self.users.get_mut(id) {
            entry.user = after.clone();
        }
        Ok((before, after))
    }

    /// Sets a user's status (`active`, `inactive`, `pending`); returns the
    /// user as it is now.
    pub fn set_user_status(&mut self, id: &str, status: &str) -> Result<User> {
        if !matches!(status, "active" | "inactive" | "pending") {
            return Err(SimError::InvalidInput(format!("unknown status {status:?}")));
        }
        let entry = self
            .users
            .get_mut(id)
            .ok_or_else(|| SimError::not_found("user", id))?;
        entry.user.status = status.to_owned();
        Ok(entry.user.clone())
    }

    /// Removes a user (deleted, or disassociated from the account) with the
    /// meetings they host, as Zoom does when the meetings are not
    /// transferred. Returns the user and their meetings as they were.
    pub fn remove_user(&mut self, id: &str) -> Result<(User, Vec<Meeting>)> {
        let entry = self
            .users
            .remove(id)
            .ok_or_else(|| SimError::not_found("user", id))?;
        let user = entry.user;
        if let Some(account) = self.accounts.get_mut(&user.account_id) {
            account.users.remove(&user.seq);
        }
        self.emails.remove(&user.email.to_lowercase());
        self.pmis.remove(&user.pmi);
        let meetings = entry
            .meetings
            .iter()
            .filter_map(|m| self.meetings.remove(m))
            .collect();
        Ok((user, meetings))
    }

    /// Deletes a meeting, or only the named occurrences of a recurring one.
    /// Returns the meeting as it was and the occurrences removed (empty when
    /// the whole meeting went). Removing every occurrence removes the meeting.
    pub fn delete_meeting(
        &mut self,
        id: u64,
        occurrence_ids: Option<&[String]>,
    ) -> Result<(Meeting, Vec<Occurrence>)> {
        let meeting = self
            .meetings
            .get_mut(&id)
            .ok_or_else(|| SimError::not_found("meeting", id))?;
        let before = meeting.clone();
        if let Some(ids) = occurrence_ids.filter(|ids| !ids.is_empty()) {
            let (removed, kept): (Vec<_>, Vec<_>) = meeting
                .occurrences
                .drain(..)
                .partition(|o| ids.contains(&o.occurrence_id));
            if removed.len() != ids.len() {
                meeting.occurrences = before.occurrences.clone();
                return Err(SimError::not_found("occurrence", ids.join(",")));
            }
            meeting.occurrences = kept;
            if !meeting.occurrences.is_empty() {
                return Ok((before, removed));
            }
        }
        self.meetings.remove(&id);
        if let Some(host) = self.users.get_mut(&before.host_id) {
            host.meetings.remove(&id);
        }
        Ok((before, Vec::new()))
    }

    /// One page of an account's users with the given `status`, in creation order.
    #[must_use]
    pub fn list_users(
        &self,
        account_id: &str,
        status: &str,
        after: Option<u64>,
        size: usize,
    ) -> Page<&User> {
        let users = self
            .accounts
            .get(account_id)
            .into_iter()
            .flat_map(|e| e.users.iter())
            .filter_map(|(seq, id)| self.user(id).map(|u| (*seq, u)))
            .filter(|(_, u)| u.status == status);
        paginate(users, after, size)
    }

    /// One page of a user's meetings of `kind`, in meeting-number order.
    #[must_use]
    pub fn list_meetings(
        &self,
        user_id: &str,
        kind: ListType,
        now_ms: u64,
        after: Option<u64>,
        size: usize,
    ) -> Page<&Meeting> {
        let meetings = self
            .users
            .get(user_id)
            .into_iter()
            .flat_map(|e| e.meetings.iter())
            .filter_map(|id| self.meetings.get(id).map(|m| (*id, m)))
            .filter(|(_, m)| kind.includes(m, now_ms));
        paginate(meetings, after, size)
    }

    /// Numbers of accounts, users and meetings.
    #[must_use]
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.accounts.len(), self.users.len(), self.meetings.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> Account {
        Account {
            id: id.into(),
            plan: Plan::Pro,
            account_number: 1,
            created_ms: 0,
        }
    }

    fn user(id: &str, account: &str, pmi: u64) -> User {
        User {
            id: id.into(),
            account_id: account.into(),
            email: format!("{id}@example.com"),
            first_name: id.into(),
            last_name: "X".into(),
            user_type: 2,
            role_id: "2".into(),
            pmi,
            use_pmi: false,
            status: "active".into(),
            timezone: "UTC".into(),
            created_ms: 0,
            seq: 0,
            vanity_name: None,
            settings: crate::model::UserSettings::default(),
        }
    }

    fn meeting(id: u64, host: &str, start_ms: u64) -> Meeting {
        Meeting {
            id,
            uuid: format!("uuid{id}"),
            host_id: host.into(),
            account_id: String::new(),
            topic: "t".into(),
            meeting_type: meeting_type::SCHEDULED,
            start_ms: Some(start_ms),
            duration: 30,
            timezone: "UTC".into(),
            created_ms: 0,
            agenda: String::new(),
            password: String::new(),
            use_pmi: false,
            occurrences: Vec::new(),
        }
    }

    fn store() -> Store {
        let mut s = Store::default();
        s.add_account(account("A")).unwrap();
        s.add_user(user("u1", "A", 5_551_110_001)).unwrap();
        s.add_user(user("u2", "A", 5_551_110_002)).unwrap();
        s
    }

    #[test]
    fn pmi_and_meeting_numbers_never_clash() {
        let mut s = store();
        assert!(matches!(
            s.add_meeting(meeting(5_551_110_001, "u1", 0)),
            Err(SimError::Conflict(_))
        ));
        s.add_meeting(meeting(85_000_000_001, "u1", 0)).unwrap();
        assert!(matches!(
            s.add_user(user("u3", "A", 5_551_110_002)),
            Err(SimError::Conflict(_))
        ));
        assert!(matches!(
            s.resolve(5_551_110_002),
            Some(Resolved::Pmi(u)) if u.id == "u2"
        ));
        assert!(matches!(
            s.resolve(85_000_000_001),
            Some(Resolved::Meeting(m)) if m.account_id == "A"
        ));
        assert!(s.resolve(85_000_000_002).is_none());
    }

    #[test]
    fn pmi_change_moves_index() {
        let mut s = store();
        let patch = UserPatch {
            pmi: Some(5_559_999_999),
            ..UserPatch::default()
        };
        let (before, after) = s.update_user("u1", &patch).unwrap();
        assert_eq!(before.pmi, 5_551_110_001);
        assert_eq!(after.pmi, 5_559_999_999);
        assert!(s.resolve(5_551_110_001).is_none());
        assert!(s.resolve(5_559_999_999).is_some());
        let clash = UserPatch {
            pmi: Some(5_551_110_002),
            ..UserPatch::default()
        };
        assert!(matches!(
            s.update_user("u1", &clash),
            Err(SimError::Conflict(_))
        ));
        let short = UserPatch {
            pmi: Some(123),
            ..UserPatch::default()
        };
        assert!(matches!(
            s.update_user("u1", &short),
            Err(SimError::InvalidInput(_))
        ));
    }

    #[test]
    fn list_types_filter_by_time() {
        let now = 100 * 24 * 3600 * 1000;
        let mut s = store();
        s.add_meeting(meeting(85_000_000_001, "u1", now + 3_600_000))
            .unwrap(); // future
        s.add_meeting(meeting(85_000_000_002, "u1", now - 600_000))
            .unwrap(); // live
        s.add_meeting(meeting(85_000_000_003, "u1", now - 24 * 3_600_000))
            .unwrap(); // yesterday
        s.add_meeting(meeting(85_000_000_004, "u1", now - 40 * 24 * 3_600_000))
            .unwrap(); // expired
        let ids = |k| {
            s.list_meetings("u1", k, now, None, 300)
                .items
                .iter()
                .map(|m| m.id % 10)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(ListType::Scheduled), vec![1, 2, 3]);
        assert_eq!(ids(ListType::Live), vec![2]);
        assert_eq!(ids(ListType::Upcoming), vec![1, 2]);
        assert_eq!(ids(ListType::Previous), vec![3, 4]);
        assert_eq!(ListType::parse(Some("bogus")), None);
    }

    #[test]
    fn delete_occurrences_then_whole() {
        let mut s = store();
        let mut m = meeting(85_000_000_001, "u1", 0);
        m.meeting_type = meeting_type::RECURRING_FIXED_TIME;
        m.occurrences = (0..3)
            .map(|i| Occurrence {
                occurrence_id: format!("{i}"),
                start_ms: i,
                duration: 30,
            })
            .collect();
        s.add_meeting(m).unwrap();
        let (_, removed) = s
            .delete_meeting(85_000_000_001, Some(&["1".to_owned()]))
            .unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(s.meeting(85_000_000_001).unwrap().occurrences.len(), 2);
        assert!(
            s.delete_meeting(85_000_000_001, Some(&["9".to_owned()]))
                .is_err()
        );
        assert_eq!(s.meeting(85_000_000_001).unwrap().occurrences.len(), 2);
        let (_, removed) = s.delete_meeting(85_000_000_001, None).unwrap();
        assert!(removed.is_empty());
        assert!(s.meeting(85_000_000_001).is_none());
        assert_eq!(
            s.list_meetings("u1", ListType::Scheduled, 0, None, 30)
                .total,
            0
        );
    }

    #[test]
    fn users_list_in_creation_order_with_status() {
        let mut s = store();
        let mut u = user("u3", "A", 5_551_110_003);
        u.status = "inactive".into();
        s.add_user(u).unwrap();
        let p = s.list_users("A", "active", None, 1);
        assert_eq!(p.total, 2);
        assert_eq!(p.items[0].id, "u1");
        let p2 = s.list_users("A", "active", p.next_after, 1);
        assert_eq!(p2.items[0].id, "u2");
        assert_eq!(p2.next_after, None);
        assert_eq!(s.list_users("A", "inactive", None, 30).total, 1);
    }
}
