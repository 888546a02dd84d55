//! The console's templates ([maud]: every interpolated value is
//! HTML-escaped). Pure: they take what the handlers read and return
//! markup.

use maud::{DOCTYPE, Markup, html};
use rectoken_domain::join::JoinReply;
use rectoken_store::{
    AccountRecord, AccountStatus, JoinFilter, JoinOutcome, MapKey, MapKind, Mapping, SyncState,
};

use super::chart;

/// An account row: its record and what else the store knows.
pub struct AccountView {
    /// The stored record.
    pub rec: AccountRecord,
    /// How many meetings/PMIs map to it (`None`: could not count).
    pub mappings: Option<u64>,
    /// When its access token was last refreshed (none: no credentials).
    pub refreshed_at_ms: Option<i64>,
    /// When the current access token expires.
    pub access_expires_at_ms: Option<i64>,
    /// Its last account events, newest first (`GET
    /// /admin/accounts/{id}/events` has the full history).
    pub events: Vec<rectoken_domain::account_event::AccountEvent>,
}

/// What an account event says, in one line: its `data` as compact JSON,
/// bounded.
fn event_details(event: &rectoken_domain::account_event::AccountEvent) -> String {
    let value: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap_or_default();
    let data = value
        .get("data")
        .map(ToString::to_string)
        .unwrap_or_default();
    if data.chars().count() > 200 {
        let cut: String = data.chars().take(200).collect();
        format!("{cut}…")
    } else {
        data
    }
}

/// What a lookup found.
pub enum Lookup {
    /// The input is not a meeting reference rectoken accepts; why.
    Unparsed(String),
    /// The meeting ID it names, and its owner if mapped.
    Parsed {
        /// The meeting ID or PMI.
        id: String,
        /// A `/w/` link.
        webinar: bool,
        /// The link carries a passcode (never shown).
        has_password: bool,
        /// The map entry and the account record, if mapped.
        owner: Option<Box<(MapKey, Mapping, Option<AccountRecord>)>>,
        /// The newest join outcome recorded for it.
        last_join: Option<Box<JoinOutcome>>,
    },
}

/// The result of a test mint.
pub enum Mint {
    /// The token worker's reply.
    Reply(Box<JoinReply>),
    /// No reply: the HTTP status the join endpoint would give.
    Failed(u16),
}

/// A Unix-ms time as `2026-12-06 02:50:01 UTC`.
pub fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// A duration in ms as `1.2 s`, `3 min 4 s`, `2 h 5 min`.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        _ if ms < 10_000 => format!("{:.1} s", ms.max(0) as f64 / 1000.0),
        0..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn layout(title: &str, csrf: Option<&str>, current: &str, refresh: bool, body: Markup) -> Markup {
    let nav = [
        ("/console", "Accounts"),
        ("/console/lookup", "Lookup"),
        ("/console/joins", "Recent joins"),
        ("/console/queues", "Queues"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh { meta http-equiv="refresh" content="5"; }
                title { (title) " · rectoken console" }
                link rel="stylesheet" href="/console/console.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    span.brand { "rectoken console" }
                    @if let Some(csrf) = csrf {
                        nav aria-label="Console" {
                            @for (href, label) in nav {
                                @if href == current {
                                    a href=(href) aria-current="page" { (label) }
                                } @else {
                                    a href=(href) { (label) }
                                }
                            }
                        }
                        form.signout method="post" action="/console/signout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" { h1 { (title) } (body) }
            }
        }
    }
}

/// The sign-in page.
pub fn sign_in(dev: bool, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        "",
        false,
        html! {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.card method="post" action="/console/signin" {
                label for="token" { "Admin token (" code { "RECTOKEN_ADMIN_TOKEN" } ")" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
            @if dev {
                form.card method="post" action="/console/signin" {
                    p { "This is " code { "rectoken dev --sim" } ": its admin token is the public dev one." }
                    input type="hidden" name="dev" value="1";
                    button #dev-signin type="submit" { "Sign in to the demo" }
                }
            }
        },
    )
}

/// A refused action.
pub fn refused(why: &str) -> Markup {
    layout(
        "Refused",
        None,
        "",
        false,
        html! {
            p.error role="alert" { (why) }
            p { a href="/console" { "Back to the console" } }
        },
    )
}

/// The store or broker could not be read.
pub fn unavailable(csrf: &str, why: &str) -> Markup {
    layout(
        "Unavailable",
        Some(csrf),
        "",
        false,
        html! { p.error role="alert" { (why) } },
    )
}

fn status_badge(rec: &AccountRecord) -> Markup {
    match (rec.status, rec.sync.state) {
        (AccountStatus::Disconnected, _) => html! { span.badge.bad { "disconnected" } },
        (AccountStatus::Connected, SyncState::InProgress) => {
            html! { span.badge.busy { "connected · syncing" } }
        }
        (AccountStatus::Connected, SyncState::Failed) => {
            html! { span.badge.warn { "connected · sync failed" } }
        }
        (AccountStatus::Connected, _) => html! { span.badge.good { "connected" } },
    }
}

/// The invite form's state.
pub struct Invite<'a> {
    /// The apps a link may connect through: name and cloud, by name.
    pub apps: Vec<(String, &'static str)>,
    /// The link just issued and its expiry, if any.
    pub issued: Option<(&'a String, &'a String)>,
}

/// `GET /console`: every account, and the invite form.
pub fn accounts(
    csrf: &str,
    rows: &[AccountView],
    invite: &Invite<'_>,
    notice: Option<&str>,
    now_ms: i64,
) -> Markup {
    let syncing = rows
        .iter()
        .any(|r| r.rec.sync.state == SyncState::InProgress);
    let connected = rows
        .iter()
        .filter(|r| r.rec.status == AccountStatus::Connected)
        .count();
    layout(
        "Accounts",
        Some(csrf),
        "/console",
        syncing,
        html! {
            @if let Some(n) = notice { p.notice role="status" { (n) } }
            p.summary {
                (rows.len()) " account" @if rows.len() != 1 { "s" } ", " (connected) " connected"
                @if syncing { " · a sync is running; this page reloads every 5 s" }
            }
            section.card aria-labelledby="invite-h" {
                h2 #invite-h { "Invite a Zoom admin" }
                p { "A one-time link (valid 7 days) that connects their Zoom account to rectoken. Send it to the customer's Zoom admin." }
                form method="post" action="/console/invite" {
                    input type="hidden" name="csrf" value=(csrf);
                    @if invite.apps.len() > 1 {
                        label for="invite-app" { "Zoom app " }
                        select #invite-app name="app" {
                            @for (name, cloud) in &invite.apps {
                                option value=(name) selected[name == crate::apps::DEFAULT_APP] {
                                    (name) " (" (cloud) ")"
                                }
                            }
                        }
                        " "
                    }
                    button #invite type="submit" { "Create a connect link" }
                }
                @if let Some((url, expires)) = invite.issued {
                    p { "Connect link, expires " (expires) ":" }
                    p { a #invite-link href=(url) { (url) } }
                }
            }
            @if rows.is_empty() {
                p { "No account is connected yet. Create a connect link above and open it (or send it)." }
            }
            @for r in rows { (account_card(csrf, r, now_ms)) }
        },
    )
}

fn account_card(csrf: &str, r: &AccountView, now_ms: i64) -> Markup {
    let rec = &r.rec;
    let report = rectoken_zoom::scopes::assess(&rec.scopes, rec.kind == "user");
    let id = &rec.account_id;
    let sync = &rec.sync;
    html! {
        section.card.account id=(format!("account-{id}")) aria-label=(format!("Account {id}")) {
            h2 { (id) " " (status_badge(rec)) }
            dl {
                dt { "App" } dd { @if rec.app.is_empty() { "default (ZOOM_*)" } @else { (rec.app) } }
                dt { "Kind" } dd { (rec.kind) @if let Some(u) = &rec.user_id { " (user " (u) ")" } }
                dt { "Connected at" } dd { (when(rec.connected_at_ms)) }
                dt { "Last token refresh" } dd {
                    @match r.refreshed_at_ms {
                        Some(t) => { (when(t)) " (" (span(now_ms - t)) " ago)" }
                        None => { "no credentials stored" }
                    }
                    @if let Some(e) = r.access_expires_at_ms { "; access token expires " (when(e)) }
                }
                dt { "Meetings and PMIs mapped" } dd.mappings {
                    @match r.mappings { Some(n) => { (n) } None => { "could not count" } }
                }
                dt { "Last full sync" } dd.sync {
                    span.sync-state { (sync.state.as_str()) }
                    @if let Some(s) = sync.started_at_ms { ", started " (when(s)) }
                    @match (sync.started_at_ms, sync.finished_at_ms) {
                        (Some(s), Some(f)) if f >= s => { ", took " (span(f - s)) }
                        (Some(s), None) => { ", running for " (span(now_ms - s)) }
                        _ => {}
                    }
                    br;
                    (sync.users_done) " of " (sync.users_total) " users visited "
                    (chart::progress(sync.users_done, sync.users_total))
                    @if let Some(e) = &sync.last_error { br; span.error { "Sync error: " (e) } }
                }
                dt { "Last error" } dd { @match &rec.last_error { Some(e) => { span.error { (e) } } None => { "none" } } }
                dt { "Recent events" } dd.events {
                    @if r.events.is_empty() { "none recorded" }
                    @for e in &r.events {
                        span.event-time { (e.timestamp) } " " code.event-type { (e.type_name()) } " " (event_details(e)) br;
                    }
                }
                dt { "Granted scopes" } dd {
                    @if rec.scopes.is_empty() { "none recorded" }
                    @for s in &rec.scopes { code { (s) } " " }
                    @if report.is_complete() { br; "Everything rectoken calls is granted." }
                    @for m in &report.missing_required {
                        br; span.error { "Missing " code { (m.scope) } ": " (m.call) " fails (" (m.purpose) ")." }
                    }
                    @for (feature, scope) in report.unavailable_features() {
                        br; span { code { (feature.as_str()) } " tokens need " code { (scope) } "." }
                    }
                }
            }
            div.actions {
                form method="post" action=(format!("/console/accounts/{id}/resync")) {
                    input type="hidden" name="csrf" value=(csrf);
                    button.resync type="submit" { "Resync" }
                }
                form method="post" action=(format!("/console/accounts/{id}/disconnect")) {
                    input type="hidden" name="csrf" value=(csrf);
                    button.danger.disconnect type="submit" { "Disconnect" }
                }
                a href=(format!("/console/joins?account={}", urlencode(id))) { "Joins of this account" }
            }
        }
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /console/lookup`.
pub fn lookup(csrf: &str, input: &str, found: Option<&Lookup>, mint: Option<&Mint>) -> Markup {
    layout(
        "Lookup",
        Some(csrf),
        "/console/lookup",
        false,
        html! {
            form.card method="get" action="/console/lookup" {
                label for="q" { "Zoom meeting URL or ID" }
                input #q type="text" name="q" value=(input) placeholder="https://us02web.zoom.us/j/85012345678?pwd=…" required;
                button type="submit" { "Look up" }
            }
            @match found {
                None => {}
                Some(Lookup::Unparsed(why)) => { p.error role="alert" #lookup-result { "rectoken cannot read this: " (why) } }
                Some(Lookup::Parsed { id, webinar, has_password, owner, last_join }) => {
                    section.card #lookup-result {
                        h2 { "Meeting " (id) }
                        dl {
                            dt { "Read as" } dd { "meeting ID " code { (id) }
                                @if *webinar { " (a webinar link)" }
                                @if *has_password { "; the link carries a passcode (not shown)" } }
                            @match owner.as_deref() {
                                None => {
                                    dt { "Owner" } dd.owner { "not in the map: a join would probe the connected accounts, then answer " code { "not_found" } " (the bot joins without a token)." }
                                }
                                Some((key, m, account)) => {
                                    dt { "Mapped as" } dd { @match key.kind { MapKind::Meeting => "a meeting", MapKind::Pmi => "a personal meeting ID (PMI)" } }
                                    dt { "Account" } dd.owner { a href=(format!("/console#account-{}", m.account_id)) { (m.account_id) }
                                        @match account {
                                            Some(a) => { " (" (a.status.as_str()) ")" }
                                            None => { " (no account record: disconnected)" }
                                        } }
                                    dt { "Host" } dd { (m.owner_id) }
                                    dt { "Source" } dd { (m.source.as_str()) ", written " (when(m.written_at_ms)) }
                                    dt { "A join would get" } dd {
                                        @match account {
                                            Some(a) if a.status == AccountStatus::Connected => {
                                                code { "local_recording" } " (and the other meeting-bound kinds the scopes allow"
                                                @let missing = rectoken_zoom::scopes::assess(&a.scopes, a.kind == "user").unavailable_features();
                                                @if !missing.is_empty() { "; not: " @for (f, _) in &missing { code { (f.as_str()) } " " } }
                                                ")"
                                            }
                                            _ => { code { "account_disconnected" } }
                                        }
                                    }
                                }
                            }
                        }
                        dl class="last-join" {
                            dt { "Last join" } dd #last-join {
                                @match last_join.as_deref() {
                                    None => { "none recorded among the recent joins" }
                                    Some(j) => {
                                        span class=(format!("status {}", j.status)) { (j.status) }
                                        " at " (when(j.at_ms))
                                        @if !j.kinds_got.is_empty() { "; got " (j.kinds_got.join(", ")) }
                                        @if let Some(r) = &j.reason { "; " code { (r) } }
                                        @if let Some(e) = &j.error { ": " (e) }
                                        " · " a href=(format!("/console/joins?meeting={id}")) { "all joins of this meeting" }
                                    }
                                }
                            }
                        }
                        form method="post" action="/console/lookup/mint" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="q" value=(input);
                            button #test-mint type="submit" { "Test mint (sends a real join request)" }
                        }
                    }
                }
            }
            @if let Some(m) = mint {
                section.card #mint-result role="status" {
                    h2 { "Test mint" }
                    @match m {
                        Mint::Failed(code) => { p.error { "No reply (HTTP " (code) "): the queue is down or no token worker answered in time." } }
                        Mint::Reply(reply) => {
                            p { "Status " strong.join-status { (reply.status().as_str()) }
                                @if let Some(e) = reply.error() { ": " (e) } }
                            @if !reply.tokens().is_empty() {
                                p { "Minted (tokens not shown): "
                                    @for (k, t) in reply.tokens() { code { (k.as_str()) } " until " (when(i64::try_from(t.expires_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))) " " } }
                            }
                        }
                    }
                    p { a href="/console/joins" { "See it in recent joins" } }
                }
            }
        },
    )
}

/// `GET /console/joins`.
pub fn joins(
    csrf: &str,
    filter: &JoinFilter,
    counts: Option<&[[u32; chart::STATUSES.len()]]>,
    rows: &[JoinOutcome],
) -> Markup {
    let status = filter.status.as_deref().unwrap_or_default();
    layout(
        "Recent joins",
        Some(csrf),
        "/console/joins",
        false,
        html! {
            @match counts {
                None => { p { "This ingress keeps no join log." } }
                Some(c) => {
                    h2 { "Joins per minute" }
                    (chart::joins_chart(c))
                }
            }
            form.card.filters method="get" action="/console/joins" {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" selected[status.is_empty()] { "any" }
                    @for (s, _) in chart::STATUSES { option value=(s) selected[status == s] { (s) } }
                }
                label for="account" { "Account" }
                input #account name="account" value=(filter.account_id.as_deref().unwrap_or_default());
                label for="meeting" { "Meeting ID" }
                input #meeting name="meeting" inputmode="numeric" value=(filter.meeting_id.as_deref().unwrap_or_default());
                button type="submit" { "Filter" }
            }
            p.summary { (rows.len()) " shown (newest first; at most " (super::JOINS_SHOWN) " of the last " (rectoken_store::join_log::CAPACITY) " kept)" }
            div.scroll {
                table #joins {
                    thead { tr { th { "Time" } th { "Meeting" } th { "Account" } th { "Asked" } th { "Got" } th { "Status" } th { "Latency" } th { "Why" } } }
                    tbody {
                        @for j in rows {
                            tr {
                                td { (when(j.at_ms)) }
                                td.meeting { (j.meeting_id.as_deref().unwrap_or("–")) }
                                td { (j.account_id.as_deref().unwrap_or("–")) }
                                td { (j.kinds_asked.join(", ")) }
                                td { (j.kinds_got.join(", ")) }
                                td { span class=(format!("status {}", j.status)) { (j.status) } }
                                td { (format!("{:.1} ms", j.latency_ms)) }
                                td { @if let Some(r) = &j.reason { code { (r) } " " } (j.error.as_deref().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A row of the queues page.
pub struct QueueRow {
    /// The queue.
    pub name: String,
    /// For a dead-letter queue, its work queue.
    pub dlq_of: Option<String>,
    /// Its counts, or why they could not be read.
    pub stats: Result<rectoken_bus::QueueStats, String>,
}

/// What an inspection or redrive did.
pub struct DlqOutcome<'a> {
    /// The dead-letter queue.
    pub queue: &'a str,
    /// Its work queue.
    pub work: &'a str,
    /// Redrive (else inspect).
    pub redrive: bool,
    /// The walk, or why it failed.
    pub result: Result<super::dlq::Walk, String>,
}

/// `GET /console/queues`, and the result of an action on a DLQ.
pub fn queues(csrf: &str, rows: &[QueueRow], outcome: Option<&DlqOutcome<'_>>) -> Markup {
    layout(
        "Queues",
        Some(csrf),
        "/console/queues",
        false,
        html! {
            @if let Some(o) = outcome { (dlq_outcome(o)) }
            p { "Ready messages and consumers of each work queue and its dead-letter queue, from the broker now. A work queue with no consumers has no worker running; a dead-letter queue holds what failed past the retry budget." }
            div.scroll {
                table #queues {
                    thead { tr { th { "Queue" } th { "Ready messages" } th { "Consumers" } th { "Actions" } } }
                    tbody {
                        @for row in rows {
                            tr {
                                td { code { (row.name) } }
                                @match &row.stats {
                                    Ok(s) => {
                                        td.ready { (s.ready) }
                                        td.consumers { @match s.consumers { Some(c) => { (c) } None => { "not reported (in-process bus)" } } }
                                    }
                                    Err(e) => { td colspan="2" { span.error { "unavailable: " (e) } } }
                                }
                                td.dlq-actions {
                                    @if let (Some(work), Ok(s)) = (&row.dlq_of, &row.stats) {
                                        @if s.ready > 0 {
                                            form method="post" action="/console/queues/inspect" {
                                                input type="hidden" name="csrf" value=(csrf);
                                                input type="hidden" name="queue" value=(row.name);
                                                button.inspect type="submit" { "Show messages" }
                                            }
                                            form method="post" action="/console/queues/redrive" {
                                                input type="hidden" name="csrf" value=(csrf);
                                                input type="hidden" name="queue" value=(row.name);
                                                button.redrive type="submit" { "Redrive to " (work) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn dlq_outcome(o: &DlqOutcome<'_>) -> Markup {
    html! {
        section.card #dlq-result role="status" {
            @match &o.result {
                Err(e) => { p.error { "The broker could not be read: " (e) } }
                Ok(w) => {
                    @if o.redrive {
                        p.notice { "Redrove " (w.moved) " of " (w.visited) " messages from " code { (o.queue) } " to " code { (o.work) } "."
                            @if w.kept > 0 { " " (w.kept) " refused for their proof of origin stay (a redrive would sign them)." } }
                    } @else {
                        p { (w.visited) " messages in " code { (o.queue) } "; the newest " (w.newest.len()) ", newest first. Each was copied back to the queue's tail (nothing removed)." }
                    }
                    @if w.stopped_early { p.error { "Stopped early: another consumer took messages from the queue." } }
                    @if !w.newest.is_empty() {
                        div.scroll {
                            table #dlq-messages {
                                thead { tr { th { "Message ID" } th { "Reason (x-rectoken-reason)" } th { "Routing key" } th { "Body" } } }
                                tbody {
                                    @for d in w.newest.iter().rev() {
                                        tr {
                                            td { (d.message_id.as_deref().unwrap_or("–")) }
                                            td.reason { (d.reason.as_deref().unwrap_or("none (dead-lettered by the broker past the delivery limit)")) }
                                            td { (d.routing_key.as_deref().unwrap_or("–")) }
                                            td { code { (d.body) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
