//! Uptime schedules: nights and weekends off for a staging cluster, as Auto Scaling scheduled
//! actions.
//!
//! The write-up saved 60% of staging's EC2 by scaling workloads down outside working hours. At
//! the node level that is a schedule on the groups: inside an uptime window (`Mon-Fri
//! 07:30-20:00`, in a time zone) a group runs at its declared sizes; outside every window it is at
//! zero; one-off exceptions turn a holiday down or a load-test weekend up. fleetform turns a
//! schedule into the scheduled actions AWS runs (so nothing of ours needs to be awake at 20:00):
//!
//! - per window, a recurring `fleetform-up-N` at its start (the declared sizes) and
//!   `fleetform-down-N` at its end (0/0/0), cron in the schedule's time zone — AWS follows the
//!   zone's daylight-saving changes itself;
//! - AWS cannot skip one occurrence of a recurring action, so exceptions cut the recurring
//!   actions into segments (StartTime/EndTime): the base ones end where the first exception
//!   begins, `fleetform-up-N-after-<exception>` start at their own first run after it (AWS runs
//!   a recurring action at its StartTime, then by its cron); one-off actions
//!   `fleetform-<exception>-begin` and `-end` set the exception's state and put back the
//!   schedule's at its end, where the state changes (or a window's action falls on a segment's
//!   end, which AWS may or may not run). A unit test replays the actions as AWS runs them, with
//!   EndTime inclusive and exclusive, and compares with `state_at`.
//!
//! Everything here is pure and takes "now" as an argument: what is past is left out (AWS refuses
//! a start in the past), and what the group should be now is what `apply` sets when it runs
//! (an apply at night does not wake a staging cluster). Times of the week are computed on the
//! local wall clock of the zone, as AWS reads the cron; exceptions are local date-times turned
//! into instants with the zone's rules (tested across a daylight-saving change).

use std::collections::BTreeMap;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::model::{ExceptionState, ScheduleSpec};

/// Prefix of the scheduled actions fleetform owns: only these are changed or deleted.
pub const ACTION_PREFIX: &str = "fleetform-";

const WEEK: usize = 7 * 1440;
/// Scheduled actions an Auto Scaling group may have (AWS's quota).
pub const MAX_ACTIONS: usize = 125;
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A scheduled action as AWS keeps it (times in UTC, `YYYY-MM-DDThh:mm:ssZ`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledAction {
    /// Cron (minute hour day month weekday) of a recurring action; None: a one-off.
    pub recurrence: Option<String>,
    /// The zone of the cron.
    pub time_zone: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
}

impl ScheduledAction {
    /// One line for the plan: `Mon-Fri 07:30 Europe/Paris -> 2/6/2`.
    pub fn describe(&self) -> String {
        let when = match (&self.recurrence, &self.time_zone) {
            (Some(r), tz) => format!("cron \"{r}\" {}", tz.as_deref().unwrap_or("UTC")),
            (None, _) => format!("once at {}", self.start_time.as_deref().unwrap_or("?")),
        };
        let mut s = format!("{when} -> min/max/desired {}/{}/{}", self.min_size, self.max_size, self.desired_capacity);
        if self.recurrence.is_some() {
            if let Some(t) = &self.start_time {
                s.push_str(&format!(", from {t}"));
            }
            if let Some(t) = &self.end_time {
                s.push_str(&format!(", until {t}"));
            }
        }
        s
    }

    /// Whether the live action `live` is this declared one. AWS may report a recurring action's
    /// StartTime as its next run: a live start at the declared one, or at the first run after
    /// it, is the same; a declared action without a start takes any.
    pub fn matches(&self, live: &ScheduledAction, first_run: Option<&str>) -> bool {
        let start_ok = match (&self.start_time, &self.recurrence) {
            (None, Some(_)) => true,
            (want, Some(_)) => live.start_time == *want || (first_run.is_some() && live.start_time.as_deref() == first_run),
            (want, None) => live.start_time == *want,
        };
        start_ok && self.recurrence == live.recurrence && self.time_zone == live.time_zone && self.end_time == live.end_time && self.min_size == live.min_size && self.max_size == live.max_size && self.desired_capacity == live.desired_capacity
    }
}

/// A window: the week days it starts on, its start and its length, in minutes.
#[derive(Debug, Clone, PartialEq)]
struct Window {
    text: String,
    days: [bool; 7],
    start: usize,
    length: usize,
}

#[derive(Debug, Clone, PartialEq)]
struct Exception {
    name: String,
    up: bool,
    from: Timestamp,
    to: Timestamp,
}

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    zone_name: String,
    zone: TimeZone,
    windows: Vec<Window>,
    exceptions: Vec<Exception>,
    /// Per minute of the local week (Monday 00:00 = 0): inside a window.
    up: Vec<bool>,
}

/// Where a problem of a schedule is, for the diagnostic: the field and the offending text.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleError {
    pub field: &'static str,
    pub text: String,
    pub message: String,
    pub help: String,
}

fn err(field: &'static str, text: &str, message: String, help: &str) -> ScheduleError {
    ScheduleError { field, text: text.to_string(), message, help: help.to_string() }
}

/// What a group is now by its schedule, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleState {
    pub up: bool,
    /// `inside Mon-Fri 07:30-20:00`, `outside the uptime windows`, `exception christmas`.
    pub reason: String,
    /// The next change, local (`Mon 2026-11-30 07:30 Europe/Paris`), when within a fortnight.
    pub until: Option<String>,
}

impl ScheduleState {
    pub fn describe(&self) -> String {
        let state = if self.up { "up" } else { "scaled to zero" };
        match &self.until {
            Some(u) => format!("{state} by its schedule ({}) until {u}", self.reason),
            None => format!("{state} by its schedule ({})", self.reason),
        }
    }
}

impl Schedule {
    /// Parse a declared schedule. None: no schedule (none declared, or `alwaysOn: true`).
    pub fn parse(spec: &ScheduleSpec) -> Result<Option<Schedule>, ScheduleError> {
        let zone_name = spec.time_zone.clone().unwrap_or_else(|| "UTC".into());
        let zone = TimeZone::get(&zone_name).map_err(|_| {
            err("timeZone", &zone_name, format!("`{}` is not a time zone of the IANA database", zone_name.escape_debug()), "write a zone name such as Europe/Paris, America/New_York or UTC (as AWS's scheduled actions take them)")
        })?;
        if spec.always_on == Some(true) {
            return Ok(None);
        }
        if spec.uptime.is_empty() {
            return Err(err("uptime", "", "a schedule without uptime windows would keep the groups at zero for good".into(), "list when the groups run, e.g. uptime: [\"Mon-Fri 07:30-20:00\"]; or set alwaysOn: true"));
        }
        let mut windows = Vec::new();
        for w in &spec.uptime {
            windows.push(parse_window(w)?);
        }
        let mut up = vec![false; WEEK];
        let mut owner: Vec<Option<usize>> = vec![None; WEEK];
        for (i, w) in windows.iter().enumerate() {
            for d in (0..7).filter(|d| w.days[*d]) {
                for m in 0..w.length {
                    let at = (d * 1440 + w.start + m) % WEEK;
                    if let Some(j) = owner[at] {
                        return Err(err(
                            "uptime",
                            &w.text,
                            format!("uptime windows `{}` and `{}` overlap ({} {})", windows[j].text, w.text, DAYS[at / 1440], hhmm(at % 1440)),
                            "make the windows disjoint, or merge them into one",
                        ));
                    }
                    owner[at] = Some(i);
                    up[at] = true;
                }
            }
        }
        // A window that ends where one starts (another, or itself on the next day) would have
        // AWS run a down and an up action at the same minute.
        let starts = |w: &Window| -> Vec<usize> { (0..7).filter(|d| w.days[*d]).map(|d| d * 1440 + w.start).collect() };
        for a in &windows {
            for end in starts(a).into_iter().map(|s| (s + a.length) % WEEK) {
                if let Some(b) = windows.iter().find(|b| starts(b).contains(&end)) {
                    let what = if b.text == a.text { format!("uptime window `{}` ends where it starts again the next day", a.text) } else { format!("uptime windows `{}` and `{}` touch: one ends where the other starts", a.text, b.text) };
                    return Err(err("uptime", &a.text, what, "merge them into one window (a group up all week needs no schedule: alwaysOn: true)"));
                }
            }
        }
        let mut exceptions = Vec::new();
        for e in &spec.exceptions {
            let name = e.name.as_str();
            if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                return Err(err("exceptions", name, format!("exception name `{}` is not a short lowercase name", name.escape_debug()), "use lowercase letters, digits and `-` (at most 64), e.g. christmas-2026; it names the scheduled actions"));
            }
            if exceptions.iter().any(|x: &Exception| x.name == name) {
                return Err(err("exceptions", name, format!("two exceptions are named `{name}`"), "give each exception its own name"));
            }
            let from = local_instant(&e.from, &zone, &zone_name).map_err(|m| err("exceptions", &e.from, format!("exception `{name}`: from: {m}"), "write a local date and time, e.g. \"2026-12-24 00:00\""))?;
            let to = local_instant(&e.to, &zone, &zone_name).map_err(|m| err("exceptions", &e.to, format!("exception `{name}`: to: {m}"), "write a local date and time, e.g. \"2026-12-28 07:30\""))?;
            if to <= from {
                return Err(err("exceptions", &e.to, format!("exception `{name}` ends ({}) before it begins ({})", e.to, e.from), "make `to` later than `from`"));
            }
            exceptions.push(Exception { name: name.to_string(), up: e.state == ExceptionState::Up, from, to });
        }
        exceptions.sort_by_key(|e| e.from);
        for pair in exceptions.windows(2) {
            if pair[1].from < pair[0].to {
                return Err(err("exceptions", &pair[1].name, format!("exceptions `{}` and `{}` overlap", pair[0].name, pair[1].name), "make them disjoint: one state at a time"));
            }
        }
        let s = Schedule { zone_name, zone, windows, exceptions, up };
        s.check()?;
        Ok(Some(s))
    }

    /// What AWS would refuse or run wrongly: more scheduled actions than a group may have (125),
    /// a window edge the zone's clocks skip (its action would not run that day), an exception
    /// that begins at the minute a window does the opposite (two actions at one instant).
    fn check(&self) -> Result<(), ScheduleError> {
        let n = self.windows.len() * 2 * (self.exceptions.len() + 1) + 2 * self.exceptions.len();
        if n > MAX_ACTIONS {
            return Err(err("exceptions", "", format!("this schedule needs up to {n} scheduled actions per group; Auto Scaling allows {MAX_ACTIONS}"), "use fewer windows or exceptions (an exception that has passed can go)"));
        }
        // Every day of a year, every edge of every window on the days it applies.
        let first = jiff::civil::date(2026, 1, 1);
        for w in &self.windows {
            for (edge, minute, shift) in [("starts", w.start, 0), ("ends", (w.start + w.length) % 1440, (w.start + w.length) / 1440)] {
                for k in 0..366 {
                    let Ok(date) = first.checked_add(jiff::Span::new().days(k)) else { continue };
                    let starts_on = (date.weekday().to_monday_zero_offset() as usize + 7 - shift % 7) % 7;
                    if !w.days[starts_on] {
                        continue;
                    }
                    let dt = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
                    let what = match self.zone.to_ambiguous_timestamp(dt).offset() {
                        jiff::tz::AmbiguousOffset::Gap { .. } => "skip",
                        jiff::tz::AmbiguousOffset::Fold { .. } => "repeat",
                        _ => continue,
                    };
                    return Err(err(
                        "uptime",
                        &w.text,
                        format!("uptime window `{}` {edge} at {}, a time the clocks of {} {what} (on {date}): AWS does not say when, or whether, its action runs that day", w.text, hhmm(minute), self.zone_name),
                        "move that edge out of the daylight-saving change (e.g. 04:00 rather than 02:30)",
                    ));
                }
            }
        }
        let events = self.events();
        for e in &self.exceptions {
            if e.from.as_second() % 60 == 0 && events.contains(&self.week_minute(e.from)) && self.base_up(e.from) != e.up {
                return Err(err(
                    "exceptions",
                    &e.name,
                    format!("exception `{}` begins at {}, the minute an uptime window {} the group: two actions at one instant, in an order AWS does not promise", e.name, self.local(e.from), if e.up { "scales down" } else { "scales up" }),
                    "begin it a minute later (or earlier)",
                ));
            }
        }
        Ok(())
    }

    /// `Mon-Fri 07:30-20:00, Sat 10:00-14:00 (Europe/Paris)`.
    pub fn summary(&self) -> String {
        let w: Vec<&str> = self.windows.iter().map(|w| w.text.as_str()).collect();
        format!("up {} ({})", w.join(", "), self.zone_name)
    }

    /// The minutes of the local week at which a window starts or ends: where its actions run.
    fn events(&self) -> Vec<usize> {
        self.windows.iter().flat_map(|w| (0..7).filter(|d| w.days[*d]).flat_map(move |d| [d * 1440 + w.start, (d * 1440 + w.start + w.length) % WEEK])).collect()
    }

    /// Hours a week outside every window (exceptions apart).
    pub fn weekly_down_hours(&self) -> f64 {
        self.up.iter().filter(|u| !**u).count() as f64 / 60.0
    }

    fn week_minute(&self, t: Timestamp) -> usize {
        let dt = t.to_zoned_datetime(self.zone.clone()).datetime();
        dt.weekday().to_monday_zero_offset() as usize * 1440 + dt.hour() as usize * 60 + dt.minute() as usize
    }

    /// Up by the windows alone (no exception).
    fn base_up(&self, t: Timestamp) -> bool {
        self.up[self.week_minute(t)]
    }

    /// What the group should be at `t`, and why.
    pub fn state_at(&self, t: Timestamp) -> ScheduleState {
        let (up, reason) = match self.exceptions.iter().find(|e| e.from <= t && t < e.to) {
            Some(e) => (e.up, format!("exception {}", e.name)),
            None => {
                let m = self.week_minute(t);
                match self.windows.iter().find(|w| covers(w, m)) {
                    Some(w) => (true, format!("inside {}", w.text)),
                    None => (false, "outside its uptime windows".to_string()),
                }
            }
        };
        let until = self.next_change(t, up).map(|n| self.local(n));
        ScheduleState { up, reason, until }
    }

    fn is_up(&self, t: Timestamp) -> bool {
        match self.exceptions.iter().find(|e| e.from <= t && t < e.to) {
            Some(e) => e.up,
            None => self.base_up(t),
        }
    }

    /// The first instant after `t`, within 14 days, where the state is not `up`: only a
    /// window's start or end, or an exception's, can be one.
    fn next_change(&self, t: Timestamp, up: bool) -> Option<Timestamp> {
        let today = t.to_zoned_datetime(self.zone.clone()).date();
        let minutes: Vec<usize> = self.windows.iter().flat_map(|w| [w.start, (w.start + w.length) % 1440]).collect();
        let mut candidates: Vec<Timestamp> = (0..15)
            .filter_map(|k| today.checked_add(jiff::Span::new().days(k)).ok())
            .flat_map(|d| minutes.iter().map(move |m| d.at((m / 60) as i8, (m % 60) as i8, 0, 0)))
            .filter_map(|dt| dt.to_zoned_datetime(self.zone.clone()).ok().map(|z| z.timestamp()))
            .chain(self.exceptions.iter().flat_map(|e| [e.from, e.to]))
            .filter(|c| *c > t && *c <= t + SignedDuration::from_hours(14 * 24))
            .collect();
        candidates.sort();
        candidates.into_iter().find(|c| self.is_up(*c) != up)
    }

    /// The changes of state after `t` within `days`: (instant, up).
    pub fn changes(&self, t: Timestamp, days: i64) -> Vec<(Timestamp, bool)> {
        let mut out = Vec::new();
        let mut at = t;
        let mut up = self.is_up(t);
        while let Some(n) = self.next_change(at, up) {
            if n > t + SignedDuration::from_hours(24 * days) {
                break;
            }
            up = !up;
            out.push((n, up));
            at = n;
        }
        out
    }

    /// `Mon 2026-11-30 07:30 Europe/Paris`.
    pub fn local(&self, t: Timestamp) -> String {
        let dt = t.to_zoned_datetime(self.zone.clone()).datetime();
        format!("{} {} {} {}", DAYS[dt.weekday().to_monday_zero_offset() as usize], dt.date(), hhmm(dt.hour() as usize * 60 + dt.minute() as usize), self.zone_name)
    }

    /// The scheduled actions that keep a group of `min`/`max` on this schedule, as of `now`.
    pub fn actions(&self, min: i32, max: i32, now: Timestamp) -> BTreeMap<String, ScheduledAction> {
        let mut out = BTreeMap::new();
        let sizes = |up: bool| if up { (min, max, min) } else { (0, 0, 0) };
        let pending: Vec<&Exception> = self.exceptions.iter().filter(|e| e.to > now).collect();
        // The recurring actions' segments: (name suffix, start, end).
        let mut segments: Vec<(String, Option<Timestamp>, Option<Timestamp>)> = Vec::new();
        // A segment ends where the next exception begins. Whether AWS runs a window's action
        // that falls on its EndTime is not documented, so the exception's own begin action runs
        // there too (parse refuses an exception that begins where a window does the opposite).
        match pending.first() {
            None => segments.push((String::new(), None, None)),
            Some(first) if first.from > now => segments.push((String::new(), None, Some(first.from))),
            Some(_) => {}
        }
        for (i, e) in pending.iter().enumerate() {
            let end = pending.get(i + 1).map(|n| n.from);
            if end != Some(e.to) {
                segments.push((format!("-after-{}", e.name), Some(e.to), end));
            }
        }
        for (n, w) in self.windows.iter().enumerate() {
            let start_days: Vec<usize> = (0..7).filter(|d| w.days[*d]).collect();
            let end_at = w.start + w.length;
            let end_days: Vec<usize> = start_days.iter().map(|d| (d + end_at / 1440) % 7).collect();
            for (suffix, from, until) in &segments {
                for (kind, days, minute, up) in [("up", &start_days, w.start, true), ("down", &end_days, end_at % 1440, false)] {
                    let (mi, ma, de) = sizes(up);
                    // AWS runs a recurring action at its StartTime, then by its cron: the start is
                    // the cron's first run in the segment, never the segment's edge.
                    let start = match from {
                        Some(f) => match self.first_run_at(minute, days, *f) {
                            Some(t) => Some(t),
                            None => continue,
                        },
                        None => None,
                    };
                    if let (Some(s), Some(u)) = (start, until) {
                        if s >= *u {
                            continue; // no run inside the segment
                        }
                    }
                    out.insert(
                        format!("{ACTION_PREFIX}{kind}-{}{suffix}", n + 1),
                        ScheduledAction {
                            recurrence: Some(cron(minute, days)),
                            time_zone: Some(self.zone_name.clone()),
                            start_time: start.map(utc),
                            end_time: until.map(utc),
                            min_size: mi,
                            max_size: ma,
                            desired_capacity: de,
                        },
                    );
                }
            }
        }
        let events = self.events();
        for (i, e) in pending.iter().enumerate() {
            // Where the state changes (from the window's, or the previous exception's, state just
            // before), or where a window's own action falls on the segment's end: an up that
            // begins inside a window would otherwise reset the desired capacity the autoscaler
            // has raised (and terminate nodes undrained).
            let before = self.is_up(e.from - SignedDuration::from_secs(1));
            let edge = events.contains(&self.week_minute(e.from));
            if e.from > now && (before != e.up || edge) {
                let (mi, ma, de) = sizes(e.up);
                out.insert(format!("{ACTION_PREFIX}{}-begin", e.name), one_off(e.from, mi, ma, de));
            }
            // At its end the schedule's own state comes back: by a one-off unless the next
            // exception begins there or a window's own action runs at that minute.
            let back = self.base_up(e.to);
            let next_begins = pending.get(i + 1).is_some_and(|n| n.from == e.to);
            let recurring_there = events.contains(&self.week_minute(e.to)) && e.to.as_second() % 60 == 0;
            if back != e.up && !next_begins && !recurring_there {
                let (mi, ma, de) = sizes(back);
                out.insert(format!("{ACTION_PREFIX}{}-end", e.name), one_off(e.to, mi, ma, de));
            }
        }
        out
    }

    /// The first run at or after `from` of a recurring action with `cron` (as this module writes
    /// them): what AWS may report as the action's StartTime.
    pub fn first_run(&self, action: &ScheduledAction) -> Option<String> {
        let from: Timestamp = action.start_time.as_deref()?.parse().ok()?;
        let (minute, days) = parse_cron(action.recurrence.as_deref()?)?;
        let days: Vec<usize> = days.into_iter().map(|d| d as usize).collect();
        self.first_run_at(minute, &days, from).map(utc)
    }

    /// The first instant at or after `from` that is `minute` of the day, on a Monday-zero
    /// weekday of `days`, on the zone's clock.
    fn first_run_at(&self, minute: usize, days: &[usize], from: Timestamp) -> Option<Timestamp> {
        let local = from.to_zoned_datetime(self.zone.clone()).datetime();
        (0..9)
            .filter_map(|k| {
                let date = local.date().checked_add(jiff::Span::new().days(k)).ok()?;
                if !days.contains(&(date.weekday().to_monday_zero_offset() as usize)) {
                    return None;
                }
                let dt = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
                let t = dt.to_zoned_datetime(self.zone.clone()).ok()?.timestamp();
                (t >= from).then_some(t)
            })
            .min()
    }
}

fn covers(w: &Window, m: usize) -> bool {
    (0..7).filter(|d| w.days[*d]).any(|d| {
        let s = d * 1440 + w.start;
        (m + WEEK - s) % WEEK < w.length
    })
}

fn one_off(at: Timestamp, min: i32, max: i32, desired: i32) -> ScheduledAction {
    ScheduledAction { recurrence: None, time_zone: None, start_time: Some(utc(at)), end_time: None, min_size: min, max_size: max, desired_capacity: desired }
}

/// `2026-12-24T23:00:00Z`, as AWS takes and answers times.
pub fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn hhmm(m: usize) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// `30 7 * * 1-5`: cron's weekdays count from Sunday = 0.
fn cron(minute: usize, days: &[usize]) -> String {
    let mut sunday_zero: Vec<usize> = days.iter().map(|d| (d + 1) % 7).collect();
    sunday_zero.sort();
    sunday_zero.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sunday_zero.len() {
        let mut j = i;
        while j + 1 < sunday_zero.len() && sunday_zero[j + 1] == sunday_zero[j] + 1 {
            j += 1;
        }
        parts.push(if j == i { sunday_zero[i].to_string() } else { format!("{}-{}", sunday_zero[i], sunday_zero[j]) });
        i = j + 1;
    }
    let dow = if sunday_zero.len() == 7 { "*".to_string() } else { parts.join(",") };
    format!("{} {} * * {dow}", minute % 60, minute / 60)
}

/// The minute of the day and the Monday-zero weekdays of a cron this module wrote.
fn parse_cron(c: &str) -> Option<(usize, Vec<i8>)> {
    let f: Vec<&str> = c.split_whitespace().collect();
    if f.len() != 5 {
        return None;
    }
    let minute = f[1].parse::<usize>().ok()? * 60 + f[0].parse::<usize>().ok()?;
    let mut days = Vec::new();
    if f[4] == "*" {
        days.extend(0..7);
    } else {
        for part in f[4].split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            for d in a.parse::<i8>().ok()?..=b.parse::<i8>().ok()? {
                days.push((d + 6) % 7);
            }
        }
    }
    Some((minute, days))
}

/// `Mon-Fri 07:30-20:00`, `Sat,Sun 10:00-14:00`, `Fri 22:00-06:00` (ends the next day),
/// `Mon-Sun 00:00-24:00`.
fn parse_window(text: &str) -> Result<Window, ScheduleError> {
    const HELP: &str = "write days and hours in the schedule's time zone, e.g. \"Mon-Fri 07:30-20:00\", \"Sat,Sun 10:00-14:00\" or \"Fri 22:00-06:00\" (ends the next day)";
    let bad = |m: String| err("uptime", text, m, HELP);
    let (days, hours) = text.trim().split_once(' ').ok_or_else(|| bad(format!("uptime window `{}` needs days and hours", text.escape_debug())))?;
    let day = |s: &str| DAYS.iter().position(|d| d.eq_ignore_ascii_case(s.trim()));
    let mut set = [false; 7];
    for part in days.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (Some(a), Some(b)) = (day(a), day(b)) else {
            let wrong = if day(a).is_none() { a } else { b };
            return Err(bad(format!("uptime window `{}`: `{}` is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", text.escape_debug(), wrong.trim().escape_debug())));
        };
        let mut d = a;
        loop {
            set[d] = true;
            if d == b {
                break;
            }
            d = (d + 1) % 7;
        }
    }
    let (s, e) = hours.trim().split_once('-').ok_or_else(|| bad(format!("uptime window `{}`: hours are `start-end`", text.escape_debug())))?;
    let clock = |t: &str, end: bool| -> Option<usize> {
        let (h, m) = t.trim().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (usize, usize) = (h.parse().ok()?, m.parse().ok()?);
        match (h, m) {
            (24, 0) if end => Some(1440),
            (h, m) if h < 24 && m < 60 => Some(h * 60 + m),
            _ => None,
        }
    };
    let (Some(start), Some(end)) = (clock(s, false), clock(e, true)) else {
        return Err(bad(format!("uptime window `{}`: `{}` is not two times of day (HH:MM-HH:MM)", text.escape_debug(), hours.trim().escape_debug())));
    };
    let length = if end > start { end - start } else { 1440 - start + end };
    if start == end % 1440 && end != 1440 {
        return Err(bad(format!("uptime window `{}` starts and ends at the same time", text.escape_debug())));
    }
    Ok(Window { text: text.trim().to_string(), days: set, start, length })
}

/// A local date-time of `zone` (`2026-12-24 00:00` or `2026-12-24T00:00`) as an instant. A time
/// skipped by a daylight-saving change is an error; a repeated one is its first occurrence.
fn local_instant(text: &str, zone: &TimeZone, zone_name: &str) -> Result<Timestamp, String> {
    let dt: DateTime = text.trim().replacen(' ', "T", 1).parse().map_err(|_| format!("`{}` is not a date and time (YYYY-MM-DD HH:MM)", text.escape_debug()))?;
    if dt.second() != 0 || dt.subsec_nanosecond() != 0 {
        return Err(format!("`{}` has seconds: scheduled actions run on the minute (YYYY-MM-DD HH:MM)", text.escape_debug()));
    }
    let amb = zone.to_ambiguous_timestamp(dt);
    if matches!(amb.offset(), jiff::tz::AmbiguousOffset::Gap { .. }) {
        return Err(format!("{text} does not exist in {zone_name} (the clocks skip it)"));
    }
    amb.earlier().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::ScheduleException;

    fn spec(tz: &str, uptime: &[&str], exceptions: &[(&str, &str, &str, bool)]) -> ScheduleSpec {
        ScheduleSpec {
            time_zone: Some(tz.into()),
            uptime: uptime.iter().map(|s| s.to_string()).collect(),
            exceptions: exceptions
                .iter()
                .map(|(n, f, t, up)| ScheduleException { name: n.to_string(), from: f.to_string(), to: t.to_string(), state: if *up { ExceptionState::Up } else { ExceptionState::Down } })
                .collect(),
            always_on: None,
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn office_hours_in_paris_across_the_october_change() {
        let s = Schedule::parse(&spec("Europe/Paris", &["Mon-Fri 07:30-20:00"], &[])).unwrap().unwrap();
        // Friday 2026-10-23, summer time (UTC+2): 07:30 local is 05:30Z.
        assert!(!s.state_at(at("2026-10-23T05:29:00Z")).up);
        assert!(s.state_at(at("2026-10-23T05:30:00Z")).up);
        assert!(s.state_at(at("2026-10-23T17:59:00Z")).up);
        assert!(!s.state_at(at("2026-10-23T18:00:00Z")).up);
        // The clocks go back on Sunday 2026-10-25; Monday 07:30 local is then 06:30Z.
        assert!(!s.state_at(at("2026-10-26T06:29:00Z")).up);
        assert!(s.state_at(at("2026-10-26T06:30:00Z")).up);
        assert!(!s.state_at(at("2026-10-26T19:00:00Z")).up);
        // Saturday stays down, and says until when, on the local clock.
        let sat = s.state_at(at("2026-10-24T12:00:00Z"));
        assert_eq!(sat.until.as_deref(), Some("Mon 2026-10-26 07:30 Europe/Paris"));
        assert_eq!(sat.reason, "outside its uptime windows");
        assert_eq!(s.weekly_down_hours(), 168.0 - 5.0 * 12.5);
    }

    #[test]
    fn windows_become_recurring_actions_in_the_zone() {
        let s = Schedule::parse(&spec("Europe/Paris", &["Mon-Fri 07:30-20:00", "Sat 22:00-01:00"], &[])).unwrap().unwrap();
        let a = s.actions(2, 6, at("2026-11-28T12:00:00Z"));
        let names: Vec<&str> = a.keys().map(String::as_str).collect();
        assert_eq!(names, ["fleetform-down-1", "fleetform-down-2", "fleetform-up-1", "fleetform-up-2"]);
        assert_eq!(a["fleetform-up-1"].recurrence.as_deref(), Some("30 7 * * 1-5"));
        assert_eq!(a["fleetform-down-1"].recurrence.as_deref(), Some("0 20 * * 1-5"));
        // Across midnight: down on the next day (Sunday = 0).
        assert_eq!(a["fleetform-up-2"].recurrence.as_deref(), Some("0 22 * * 6"));
        assert_eq!(a["fleetform-down-2"].recurrence.as_deref(), Some("0 1 * * 0"));
        assert_eq!((a["fleetform-up-1"].min_size, a["fleetform-up-1"].max_size, a["fleetform-up-1"].desired_capacity), (2, 6, 2));
        assert_eq!((a["fleetform-down-1"].min_size, a["fleetform-down-1"].max_size), (0, 0));
        assert!(a.values().all(|x| x.time_zone.as_deref() == Some("Europe/Paris") && x.start_time.is_none()));
        assert_eq!(cron(0, &[0, 1, 2, 3, 4, 5, 6]), "0 0 * * *");
        assert_eq!(cron(0, &[5, 6]), "0 0 * * 0,6");
    }

    #[test]
    fn an_exception_cuts_the_recurring_actions_and_has_its_own() {
        // Christmas down from Thursday 24 December 00:00 to Monday 28 December 07:30 (local,
        // winter time UTC+1): the Monday up action of the window does the end.
        let s = Schedule::parse(&spec("Europe/Paris", &["Mon-Fri 07:30-20:00"], &[("christmas", "2026-12-24 00:00", "2026-12-28 07:30", false)])).unwrap().unwrap();
        let a = s.actions(2, 6, at("2026-11-28T12:00:00Z"));
        // The base actions end where it begins; the ones after it start at their own first
        // run (AWS runs a recurring action at its StartTime): Monday 07:30 up, Monday 20:00 down.
        assert_eq!(a["fleetform-up-1"].end_time.as_deref(), Some("2026-12-23T23:00:00Z"));
        assert_eq!(a["fleetform-up-1-after-christmas"].start_time.as_deref(), Some("2026-12-28T06:30:00Z"));
        assert_eq!(a["fleetform-down-1-after-christmas"].start_time.as_deref(), Some("2026-12-28T19:00:00Z"));
        assert_eq!(a["fleetform-up-1-after-christmas"].end_time, None);
        // At midnight the group is down already: no action begins it (the Thursday 07:30 up is
        // past the base actions' end); the window's own up action ends it at 07:30.
        assert!(!a.contains_key("fleetform-christmas-begin"));
        assert!(!a.contains_key("fleetform-christmas-end"), "the window's own up action runs at 07:30");
        // A holiday that begins inside a window does need one.
        let s2 = Schedule::parse(&spec("Europe/Paris", &["Mon-Fri 07:30-20:00"], &[("christmas", "2026-12-24 12:00", "2026-12-28 07:30", false)])).unwrap().unwrap();
        let a2 = s2.actions(2, 6, at("2026-11-28T12:00:00Z"));
        assert_eq!(a2["fleetform-christmas-begin"].start_time.as_deref(), Some("2026-12-24T11:00:00Z"));
        assert_eq!(a2["fleetform-christmas-begin"].max_size, 0);
        assert!(!s.state_at(at("2026-12-24T10:00:00Z")).up);
        assert_eq!(s.state_at(at("2026-12-24T10:00:00Z")).reason, "exception christmas");
        // A load-test Saturday up: the end puts the group back to zero by a one-off.
        let s = Schedule::parse(&spec("Europe/Paris", &["Mon-Fri 07:30-20:00"], &[("load-test", "2026-12-05 08:00", "2026-12-05 18:00", true)])).unwrap().unwrap();
        let a = s.actions(2, 6, at("2026-11-28T12:00:00Z"));
        assert_eq!(a["fleetform-load-test-begin"].desired_capacity, 2);
        assert_eq!(a["fleetform-load-test-end"].start_time.as_deref(), Some("2026-12-05T17:00:00Z"));
        assert_eq!(a["fleetform-load-test-end"].max_size, 0);
        // Once it has begun, the begin action is past; once over, the exception is gone.
        let during = s.actions(2, 6, at("2026-12-05T10:00:00Z"));
        assert!(!during.contains_key("fleetform-load-test-begin") && during.contains_key("fleetform-load-test-end"));
        assert!(!during.contains_key("fleetform-up-1"), "the base segment ended where the exception began");
        let after = s.actions(2, 6, at("2026-12-06T10:00:00Z"));
        assert_eq!(after.keys().map(String::as_str).collect::<Vec<_>>(), ["fleetform-down-1", "fleetform-up-1"]);
    }

    #[test]
    fn a_recurring_start_reported_as_its_next_run_is_the_same_action() {
        let s = Schedule::parse(&spec("Europe/Paris", &["Mon-Fri 07:30-20:00"], &[("christmas", "2026-12-24 00:00", "2026-12-27 12:00", false)])).unwrap().unwrap();
        let a = s.actions(2, 6, at("2026-11-28T12:00:00Z"));
        let want = &a["fleetform-up-1-after-christmas"];
        // The declared start is the first run already (Sunday noon -> Monday 07:30).
        assert_eq!(want.start_time.as_deref(), Some("2026-12-28T06:30:00Z"));
        let first = s.first_run(want);
        assert_eq!(first.as_deref(), Some("2026-12-28T06:30:00Z"));
        let live = ScheduledAction { start_time: first.clone(), ..want.clone() };
        assert!(want.matches(&live, first.as_deref()));
        assert!(want.matches(want, first.as_deref()));
        let other = ScheduledAction { start_time: Some("2026-12-29T06:30:00Z".into()), ..want.clone() };
        assert!(!want.matches(&other, first.as_deref()));
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        let e = |tz: &str, w: &[&str], x: &[(&str, &str, &str, bool)]| Schedule::parse(&spec(tz, w, x)).unwrap_err();
        assert!(e("Europe/Pariss", &["Mon-Fri 07:30-20:00"], &[]).message.contains("not a time zone"));
        assert!(e("UTC", &["Mon-Fry 07:30-20:00"], &[]).message.contains("`Fry` is not a day"));
        assert!(e("UTC", &["Mon-Fri 7:30-20:00"], &[]).message.contains("not two times of day"));
        assert!(e("UTC", &["Mon-Fri 07:30-20:00", "Fri 19:00-21:00"], &[]).message.contains("overlap"));
        assert!(e("UTC", &["Mon 08:00-12:00", "Mon 12:00-18:00"], &[]).message.contains("touch"));
        assert!(e("UTC", &[], &[]).message.contains("without uptime windows"));
        assert!(e("UTC", &["Mon 08:00-12:00"], &[("x", "2026-12-05 18:00", "2026-12-05 08:00", true)]).message.contains("ends"));
        assert!(e("UTC", &["Mon 08:00-12:00"], &[("x", "2026-12-05 08:00", "2026-12-06 08:00", true), ("y", "2026-12-06 07:00", "2026-12-07 08:00", true)]).message.contains("overlap"));
        // 02:30 on the last Sunday of March does not exist in Paris.
        assert!(e("Europe/Paris", &["Mon 08:00-12:00"], &[("x", "2027-03-28 02:30", "2027-03-29 08:00", true)]).message.contains("clocks skip"));
        assert_eq!(Schedule::parse(&ScheduleSpec { always_on: Some(true), ..spec("UTC", &[], &[]) }).unwrap(), None);
    }

    /// What AWS does with the actions, minute by minute: a one-off runs at its StartTime; a
    /// recurring action runs at its StartTime (when it has one), then at each run of its cron on
    /// the zone's clock until its EndTime. Replayed from the state apply sets, the group must be
    /// where `state_at` says at every instant — across daylight-saving changes and exceptions —
    /// and no two actions may run at one instant with different sizes.
    fn replay(s: &Schedule, now: Timestamp, days: i64) {
        // AWS does not say whether a recurring action runs at its EndTime: both ways.
        replay_with(s, now, days, true);
        replay_with(s, now, days, false);
    }

    fn replay_with(s: &Schedule, now: Timestamp, days: i64, end_inclusive: bool) {
        let actions = s.actions(2, 6, now);
        let horizon = now + SignedDuration::from_hours(24 * days);
        let mut runs: Vec<(Timestamp, bool, String)> = Vec::new();
        for (name, a) in &actions {
            let up = a.max_size > 0;
            let start = a.start_time.as_deref().map(|t| t.parse::<Timestamp>().unwrap());
            let end = a.end_time.as_deref().map(|t| t.parse::<Timestamp>().unwrap());
            match &a.recurrence {
                None => runs.push((start.unwrap(), up, name.clone())),
                Some(c) => {
                    let (minute, dows) = parse_cron(c).unwrap();
                    if let Some(st) = start {
                        runs.push((st, up, format!("{name} (StartTime)")));
                    }
                    let first = now.to_zoned_datetime(s.zone.clone()).date();
                    for k in 0..=days {
                        let d = first.checked_add(jiff::Span::new().days(k)).unwrap();
                        if !dows.contains(&d.weekday().to_monday_zero_offset()) {
                            continue;
                        }
                        let Ok(z) = d.at((minute / 60) as i8, (minute % 60) as i8, 0, 0).to_zoned_datetime(s.zone.clone()) else { continue };
                        let t = z.timestamp();
                        if t > now && start.is_none_or(|st| t > st) && end.is_none_or(|e| if end_inclusive { t <= e } else { t < e }) {
                            runs.push((t, up, name.clone()));
                        }
                    }
                }
            }
        }
        runs.sort();
        for pair in runs.windows(2) {
            assert!(!(pair[0].0 == pair[1].0 && pair[0].1 != pair[1].1), "{} and {} run at {} with opposite sizes", pair[0].2, pair[1].2, pair[0].0);
        }
        // Every five minutes, at every run and a second before it.
        let mut checks: Vec<Timestamp> = (0..days * 24 * 12).map(|k| now + SignedDuration::from_mins(5 * k)).collect();
        checks.extend(runs.iter().flat_map(|(t, _, _)| [*t, *t - SignedDuration::from_secs(1)]));
        checks.retain(|t| *t >= now && *t < horizon);
        checks.sort();
        let mut state = s.state_at(now).up;
        let mut i = 0;
        for t in checks {
            while i < runs.len() && runs[i].0 <= t {
                state = runs[i].1;
                i += 1;
            }
            assert_eq!(state, s.state_at(t).up, "at {} ({}), EndTime {}: AWS's actions leave the group {}, the schedule says {}", t, s.local(t), if end_inclusive { "inclusive" } else { "exclusive" }, if state { "up" } else { "down" }, s.state_at(t).reason);
        }
    }

    #[test]
    fn aws_running_the_actions_keeps_the_group_where_the_schedule_says() {
        let paris = |x: &[(&str, &str, &str, bool)]| Schedule::parse(&spec("Europe/Paris", &["Mon-Fri 07:30-20:00", "Sat 22:00-01:00"], x)).unwrap().unwrap();
        // Exceptions of every shape: a holiday that ends where a window starts, a load test
        // inside the night, an up that begins inside a window, one that ends where a window ends.
        let x = [
            ("load-test", "2026-12-12 08:00", "2026-12-12 18:00", true),
            ("late-friday", "2026-12-18 19:00", "2026-12-18 23:00", true),
            ("christmas", "2026-12-24 00:00", "2026-12-28 07:30", false),
            ("new-year", "2026-12-31 12:00", "2027-01-01 20:00", false),
        ];
        for now in ["2026-11-28T12:00:00Z", "2026-12-12T10:00:00Z", "2026-12-24T10:00:00Z"] {
            replay(&paris(&x), now.parse().unwrap(), 42);
        }
        // Back to back, of opposite states; one that begins where a window does the same; one
        // a minute before a window edge of the opposite state.
        let y = [
            ("down-thu", "2026-12-03 12:00", "2026-12-04 12:00", false),
            ("up-fri", "2026-12-04 12:00", "2026-12-04 22:00", true),
            ("down-at-eight", "2026-12-08 20:00", "2026-12-09 10:00", false),
            ("holiday", "2026-12-10 07:29", "2026-12-11 12:00", false),
            ("late", "2026-12-15 19:59", "2026-12-15 22:00", true),
        ];
        replay(&paris(&y), "2026-11-28T12:00:00Z".parse().unwrap(), 28);
        // Across the March change (Paris moves to UTC+2 on 2027-03-28) and the October one.
        replay(&paris(&[]), "2027-03-20T12:00:00Z".parse().unwrap(), 21);
        replay(&paris(&[("spring", "2027-03-27 10:00", "2027-03-29 09:00", true)]), "2027-03-20T12:00:00Z".parse().unwrap(), 21);
        replay(&paris(&[]), "2026-10-20T12:00:00Z".parse().unwrap(), 14);
    }

    #[test]
    fn what_aws_would_run_wrongly_is_refused() {
        let e = |w: &[&str], x: &[(&str, &str, &str, bool)]| Schedule::parse(&spec("Europe/Paris", w, x)).unwrap_err();
        // An up beginning at the minute the window ends: two actions at one instant.
        assert!(e(&["Mon-Fri 07:30-20:00"], &[("x", "2026-12-18 20:00", "2026-12-18 23:00", true)]).message.contains("begins at Fri 2026-12-18 20:00 Europe/Paris, the minute an uptime window scales down"));
        // 02:30 is skipped on the last Sunday of March.
        assert!(e(&["Sun 02:30-06:00"], &[]).message.contains("a time the clocks of Europe/Paris skip"));
        // 01:30 comes twice in New York on the first Sunday of November.
        assert!(Schedule::parse(&spec("America/New_York", &["Sun 01:30-06:00"], &[])).unwrap_err().message.contains("a time the clocks of America/New_York repeat"));
        assert!(e(&["Mon 08:00-12:00"], &[("x", "2026-12-05 08:00:30", "2026-12-05 09:00", true)]).message.contains("has seconds"));
        // More actions than a group may have.
        let many: Vec<(String, String, String, bool)> = (1..=30).map(|d| (format!("d{d}"), format!("2027-01-{d:02} 01:00"), format!("2027-01-{d:02} 02:00"), true)).collect();
        let many: Vec<(&str, &str, &str, bool)> = many.iter().map(|(a, b, c, u)| (a.as_str(), b.as_str(), c.as_str(), *u)).collect();
        assert!(e(&["Mon-Fri 07:30-20:00", "Sat 10:00-14:00"], &many).message.contains("Auto Scaling allows 125"));
    }

    #[test]
    fn a_window_across_the_week_end_wraps() {
        let s = Schedule::parse(&spec("UTC", &["Sun 22:00-02:00"], &[])).unwrap().unwrap();
        assert!(s.state_at(at("2026-11-29T23:00:00Z")).up); // Sunday 23:00
        assert!(s.state_at(at("2026-11-30T01:59:00Z")).up); // Monday 01:59
        assert!(!s.state_at(at("2026-11-30T02:00:00Z")).up);
        assert!(Schedule::parse(&spec("UTC", &["Mon-Sun 00:00-24:00"], &[])).unwrap_err().message.contains("starts again the next day"));
        let long = Schedule::parse(&spec("UTC", &["Mon 06:00-24:00"], &[])).unwrap().unwrap();
        assert_eq!(long.weekly_down_hours(), 150.0);
    }
}
