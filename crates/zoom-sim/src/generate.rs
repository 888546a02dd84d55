//! Deterministic data: large generated accounts for benchmarks and the small
//! demo account of `rectoken dev --sim`. Pure: the output depends only on the
//! spec, the base time and which numbers are already taken.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::model::{Account, Meeting, Occurrence, User, meeting_type};
use crate::ratelimit::Plan;
use crate::rng::SplitMix64;

/// Account ID of the demo seed.
pub const DEMO_ACCOUNT_ID: &str = "demo";
/// User ID of the demo account's owner (the user the authorize page consents as).
pub const DEMO_ADMIN_USER_ID: &str = "demo-admin";
/// User IDs of the demo account, owner first.
pub const DEMO_USER_IDS: [&str; 3] = [DEMO_ADMIN_USER_ID, "demo-bob", "demo-carol"];
/// PMIs of the demo users, in [`DEMO_USER_IDS`] order.
pub const DEMO_PMIS: [u64; 3] = [5_550_000_001, 5_550_000_002, 5_550_000_003];
/// Meetings per demo user; the last of each is recurring (4 weekly occurrences).
pub const DEMO_MEETINGS_PER_USER: u64 = 3;

/// Meeting number of demo user `user` (0-based) and meeting `n` (1-based):
/// `85000000{user+1}0{n}`, e.g. 85000000101.
#[must_use]
pub fn demo_meeting_id(user: usize, n: u64) -> u64 {
    85_000_000_000 + (user as u64 + 1) * 100 + n
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateSpec {
    /// Account ID; derived from the seed when absent.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Number of users.
    pub users: usize,
    /// Scheduled meetings per user (every tenth is recurring).
    #[serde(default = "default_meetings_per_user")]
    pub meetings_per_user: usize,
    /// Seed of every choice.
    #[serde(default)]
    pub seed: u64,
    /// Plan of the account.
    #[serde(default)]
    pub plan: Plan,
}

fn default_meetings_per_user() -> usize {
    10
}

/// Largest number of users one generation may create.
pub const MAX_USERS: usize = 1_000_000;
/// Largest number of meetings per generated user.
pub const MAX_MEETINGS_PER_USER: usize = 1_000;
/// Largest number of meetings one generation may create.
pub const MAX_MEETINGS: usize = 10_000_000;

impl GenerateSpec {
    /// Checks the sizes against [`MAX_USERS`], [`MAX_MEETINGS_PER_USER`] and
    /// [`MAX_MEETINGS`], so a request cannot exhaust memory.
    pub fn validate(&self) -> Result<(), String> {
        if self.users > MAX_USERS {
            return Err(format!("users must be at most {MAX_USERS}"));
        }
        if self.meetings_per_user > MAX_MEETINGS_PER_USER {
            return Err(format!(
                "meetings_per_user must be at most {MAX_MEETINGS_PER_USER}"
            ));
        }
        if self.users.saturating_mul(self.meetings_per_user) > MAX_MEETINGS {
            return Err(format!("at most {MAX_MEETINGS} meetings in all"));
        }
        Ok(())
    }
}

/// Generated data, ready to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The account.
    pub account: Account,
    /// Its users, owner first.
    pub users: Vec<User>,
    /// Their meetings.
    pub meetings: Vec<Meeting>,
}

const FIRST: [&str; 12] = [
    "Ada", "Bob", "Carol", "Dan", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Niaj",
];
const LAST: [&str; 8] = [
    "Lovelace", "Smith", "Jones", "Okafor", "Tanaka", "Garcia", "Novak", "Singh",
];
const HOUR_MS: u64 = 3_600_000;
const WEEK_MS: u64 = 7 * 24 * HOUR_MS;

fn pick<'a>(rng: &mut SplitMix64, from: &[&'a str]) -> &'a str {
    let i = usize::try_from(rng.range(0, from.len() as u64 - 1)).unwrap_or(0);
    from.get(i).copied().unwrap_or("X")
}

fn unique(
    rng: &mut SplitMix64,
    lo: u64,
    hi: u64,
    used: &mut HashSet<u64>,
    taken: &dyn Fn(u64) -> bool,
) -> u64 {
    loop {
        let n = rng.range(lo, hi);
        if !taken(n) && used.insert(n) {
            return n;
        }
    }
}

fn uuid(rng: &mut SplitMix64) -> String {
    format!("{}==", rng.id(22))
}

/// Generates one account. `base_ms` anchors creation and start times (meetings
/// start within 60 days after it); `taken` says which meeting numbers or PMIs
/// exist already. Same inputs, same output.
#[must_use]
pub fn generate(spec: &GenerateSpec, base_ms: u64, taken: &dyn Fn(u64) -> bool) -> Generated {
    let mut rng = SplitMix64::new(spec.seed);
    let account_id = spec
        .account_id
        .clone()
        .unwrap_or_else(|| format!("gen{}", rng.id(12)));
    let domain = format!("{}.example.com", account_id.to_lowercase());
    let base_hour = base_ms - base_ms % HOUR_MS;
    let account = Account {
        id: account_id.clone(),
        plan: spec.plan,
        account_number: rng.range(10_000_000, 99_999_999),
        created_ms: base_hour.saturating_sub(365 * 24 * HOUR_MS),
    };
    let mut used = HashSet::with_capacity(spec.users * (spec.meetings_per_user + 1));
    let mut users = Vec::with_capacity(spec.users);
    let mut meetings = Vec::with_capacity(spec.users * spec.meetings_per_user);
    for i in 0..spec.users {
        let first = pick(&mut rng, &FIRST);
        let last = pick(&mut rng, &LAST);
        let user = User {
            id: rng.id(22),
            account_id: account_id.clone(),
            email: format!("user{i}@{domain}"),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            user_type: 2,
            role_id: match i {
                0 => "0",
                1 => "1",
                _ => "2",
            }
            .to_owned(),
            pmi: unique(&mut rng, 2_000_000_000, 9_999_999_999, &mut used, taken),
            use_pmi: rng.range(0, 3) == 0,
            status: "active".to_owned(),
            timezone: "UTC".to_owned(),
            created_ms: account.created_ms + i as u64 * 1000,
            seq: 0,
            vanity_name: None,
            settings: crate::model::UserSettings::default(),
        };
        for j in 0..spec.meetings_per_user {
            let recurring = j % 10 == 9;
            let start = base_hour + rng.range(1, 60 * 24) * HOUR_MS;
            let duration = [30, 45, 60][usize::try_from(rng.range(0, 2)).unwrap_or(0)];
            let occurrences = if recurring {
                (0..4)
                    .map(|k| {
                        let s = start + k * WEEK_MS;
                        Occurrence {
                            occurrence_id: s.to_string(),
                            start_ms: s,
                            duration,
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            meetings.push(Meeting {
                id: unique(&mut rng, 81_000_000_000, 99_999_999_999, &mut used, taken),
                uuid: uuid(&mut rng),
                host_id: user.id.clone(),
                account_id: account_id.clone(),
                topic: format!("{first}'s meeting {j}"),
                meeting_type: if recurring {
                    meeting_type::RECURRING_FIXED_TIME
                } else {
                    meeting_type::SCHEDULED
                },
                start_ms: Some(start),
                duration,
                timezone: "UTC".to_owned(),
                created_ms: base_hour.saturating_sub(HOUR_MS),
                agenda: String::new(),
                password: rng.id(6),
                use_pmi: false,
                occurrences,
            });
        }
        users.push(user);
    }
    Generated {
        account,
        users,
        meetings,
    }
}

/// The demo account: [`DEMO_ACCOUNT_ID`] with the users [`DEMO_USER_IDS`]
/// (PMIs [`DEMO_PMIS`]), each hosting [`DEMO_MEETINGS_PER_USER`] meetings
/// numbered by [`demo_meeting_id`], starting on the days after `base_ms`.
#[must_use]
pub fn demo(base_ms: u64, plan: Plan) -> Generated {
    let base_hour = base_ms - base_ms % HOUR_MS;
    let names = [("Ada", "Admin"), ("Bob", "Builder"), ("Carol", "Chen")];
    let account = Account {
        id: DEMO_ACCOUNT_ID.to_owned(),
        plan,
        account_number: 10_000_001,
        created_ms: base_hour.saturating_sub(30 * 24 * HOUR_MS),
    };
    let mut users = Vec::new();
    let mut meetings = Vec::new();
    for (i, ((first, last), (user_id, pmi))) in names
        .iter()
        .zip(DEMO_USER_IDS.iter().zip(DEMO_PMIS))
        .enumerate()
    {
        users.push(User {
            id: (*user_id).to_owned(),
            account_id: DEMO_ACCOUNT_ID.to_owned(),
            email: format!("{}@demo.example.com", first.to_lowercase()),
            first_name: (*first).to_owned(),
            last_name: (*last).to_owned(),
            user_type: 2,
            role_id: if i == 0 { "0" } else { "2" }.to_owned(),
            pmi,
            use_pmi: false,
            status: "active".to_owned(),
            timezone: "UTC".to_owned(),
            created_ms: account.created_ms + i as u64 * 1000,
            seq: 0,
            vanity_name: None,
            settings: crate::model::UserSettings::default(),
        });
        for n in 1..=DEMO_MEETINGS_PER_USER {
            let id = demo_meeting_id(i, n);
            let start = base_hour + n * 24 * HOUR_MS;
            let recurring = n == DEMO_MEETINGS_PER_USER;
            meetings.push(Meeting {
                id,
                uuid: format!("demo{id}AAAAAAAAAAA=="),
                host_id: (*user_id).to_owned(),
                account_id: DEMO_ACCOUNT_ID.to_owned(),
                topic: if recurring {
                    format!("{first}'s weekly sync")
                } else {
                    format!("{first}'s meeting {n}")
                },
                meeting_type: if recurring {
                    meeting_type::RECURRING_FIXED_TIME
                } else {
                    meeting_type::SCHEDULED
                },
                start_ms: Some(start),
                duration: 30,
                timezone: "UTC".to_owned(),
                created_ms: base_hour.saturating_sub(HOUR_MS),
                agenda: String::new(),
                password: "demo".to_owned(),
                use_pmi: false,
                occurrences: if recurring {
                    (0..4)
                        .map(|k| Occurrence {
                            occurrence_id: (start + k * WEEK_MS).to_string(),
                            start_ms: start + k * WEEK_MS,
                            duration: 30,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            });
        }
    }
    Generated {
        account,
        users,
        meetings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn spec(seed: u64) -> GenerateSpec {
        GenerateSpec {
            account_id: None,
            users: 200,
            meetings_per_user: 10,
            seed,
            plan: Plan::Pro,
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let none = |_: u64| false;
        let a = generate(&spec(7), 1_772_377_200_000, &none);
        let b = generate(&spec(7), 1_772_377_200_000, &none);
        assert_eq!(a, b);
        let c = generate(&spec(8), 1_772_377_200_000, &none);
        assert_ne!(a.account.id, c.account.id);
        assert_ne!(a.users[0].pmi, c.users[0].pmi);
        assert_eq!(a.users.len(), 200);
        assert_eq!(a.meetings.len(), 2000);
    }

    #[test]
    fn numbers_are_unique_and_well_formed() {
        let g = generate(&spec(1), 1_772_377_200_000, &|_| false);
        let mut seen = HashSet::new();
        for u in &g.users {
            assert!((1_000_000_000..=9_999_999_999).contains(&u.pmi));
            assert!(seen.insert(u.pmi));
        }
        for m in &g.meetings {
            assert!((10_000_000_000..=99_999_999_999).contains(&m.id));
            assert!(seen.insert(m.id));
        }
        assert_eq!(g.meetings.iter().filter(|m| m.is_recurring()).count(), 200);
    }

    #[test]
    fn avoids_taken_numbers() {
        let first = generate(&spec(1), 0, &|_| false);
        let taken: HashSet<u64> = first.meetings.iter().map(|m| m.id).collect();
        let again = generate(&spec(1), 0, &|n| taken.contains(&n));
        assert!(again.meetings.iter().all(|m| !taken.contains(&m.id)));
    }

    #[test]
    fn ten_thousand_users_build_fast() {
        let started = Instant::now();
        let g = generate(
            &GenerateSpec {
                users: 10_000,
                ..spec(3)
            },
            1_772_377_200_000,
            &|_| false,
        );
        assert_eq!(g.meetings.len(), 100_000);
        // Generous bound: debug builds on a busy 2-core machine.
        assert!(
            started.elapsed().as_secs_f64() < 5.0,
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn demo_has_fixed_ids() {
        let d = demo(1_772_377_200_000, Plan::Business);
        assert_eq!(d.account.id, DEMO_ACCOUNT_ID);
        assert_eq!(d.users.len(), 3);
        assert_eq!(d.users[0].id, DEMO_ADMIN_USER_ID);
        assert_eq!(d.users[1].pmi, DEMO_PMIS[1]);
        assert_eq!(d.meetings.len(), 9);
        assert_eq!(d.meetings[0].id, 85_000_000_101);
        assert_eq!(d.meetings[3].host_id, "demo-bob");
    }
}
