//! `kafka-sim report`: one run (or two, for a what-if) as a single self-contained HTML page.
//!
//! The narrated timeline tells a story line by line; what it cannot show is the shape of
//! the run: how far each replica's LEO ran ahead of its HW, how long a follower was out of
//! the ISR, which records an unclean election threw away. The page draws that, one panel
//! per partition, and puts a time cursor on it that steps through the narrated lines and
//! shows, at each, the `kafka-topics.sh --describe` table as it stood then.
//!
//! Why it is built this way:
//! - **One file, nothing fetched.** The page is opened from disk, mailed, attached to an
//!   issue. Its CSS, script and data are inline and it names no URL, so it looks the same
//!   offline and years later.
//! - **Data as JSON, drawn by a small script.** The Rust side extracts what to draw into
//!   serde structs ([`data`]); the script draws the SVG from them. JSON is a fraction of
//!   the size of the SVG it becomes, and the Rust side never writes markup from a
//!   scenario's strings. The template, CSS and script are files of their own beside this
//!   one (`include_str!`), so each reads as what it is.
//! - **Scenario strings are data, never markup.** A scenario's name, comment, topic and
//!   consumer names are the user's text. They reach the page only in the JSON (with `<`,
//!   `>` and `&` written `\u003c`, `\u003e`, `\u0026`, so no string can close the script
//!   element) and through `textContent` in the script; the one copy in the markup, the
//!   `<title>` for a page read without its script, is HTML-escaped.
//! - **The describe table is sampled from the exact record.** One pass over the events
//!   ([`extract`]) both draws the lanes and samples the table at every moment the cursor can
//!   stop at, by `moment`'s rules, so the table never depends on how the drawing was
//!   merged. Lanes with many points are merged per time bucket ([`thin`]); faults,
//!   elections, truncations and losses never are.
//! - **Deterministic.** The same run gives the same bytes: every collection is a `Vec` in
//!   record or scenario order, every time an integer of milliseconds, no clock, no
//!   randomness. A page can be diffed, and a snapshot of one would hold.
//! - **Lost records come from the checker.** The acknowledged records marked lost are the
//!   ones `acked-record-lost` finds, dated by `check::loss` (all of them, not only the few
//!   the outcome lists), so the page and the outcome always agree on the count.
//!
//! Internal topics (`__consumer_offsets`) get no panel and no row, as the text report's
//! table leaves them out; a note says how many partitions that hides. A group's panel shows
//! its members (from the members' own `PartitionsAssigned` and `PartitionsRevoked`), its
//! generations and each member's commits.
//!
//! [`render_run`] is one run; [`render_pair`] is a what-if: two runs, one above the other,
//! on one time axis, with one cursor.

pub mod data;
pub mod extract;
pub mod faults;
#[cfg(test)]
mod tests;
pub mod thin;

use data::{Change, Page};

const TEMPLATE: &str = include_str!("page.html");
const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("script.js");

/// The whole page of one run.
pub fn render_run(sim: &crate::Simulation) -> String {
    let timeline = extract::timeline(sim);
    let times = sample_times(&[extract::cursor_times_ms(sim, &timeline)], None);
    let shown = extract::shown_partitions(&[sim]);
    let run = extract::run_data(sim, "run", timeline, &times, &shown);
    let outcome = sim.outcome();
    page_html(&Page {
        title: format!("{} (seed {})", outcome.scenario, outcome.seed),
        changes: Vec::new(),
        first_divergence_ms: None,
        end_ms: sim.result().sim_time_ms,
        runs: vec![run],
    })
}

/// One page with both runs of a what-if, `base` above `changed`, on the same time axis;
/// titled with `changes` (`KEY=VALUE`), with a marker at the first divergence. The cursor
/// moves both.
pub fn render_pair(
    base: &crate::Simulation,
    changed: &crate::Simulation,
    changes: &[(String, String)],
    first_divergence_ms: Option<u64>,
) -> String {
    let base_timeline = extract::timeline(base);
    let changed_timeline = extract::timeline(changed);
    let times = sample_times(
        &[
            extract::cursor_times_ms(base, &base_timeline),
            extract::cursor_times_ms(changed, &changed_timeline),
        ],
        first_divergence_ms,
    );
    let drawn = extract::shown_partitions(&[base, changed]);
    let shown: Vec<String> = changes.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let outcome = base.outcome();
    page_html(&Page {
        title: format!(
            "what if {} in {} (seed {})",
            shown.join(", "),
            outcome.scenario,
            outcome.seed
        ),
        changes: changes
            .iter()
            .map(|(key, value)| Change {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        first_divergence_ms,
        end_ms: base.result().sim_time_ms.max(changed.result().sim_time_ms),
        runs: vec![
            extract::run_data(base, "base", base_timeline, &times, &drawn),
            extract::run_data(changed, "changed", changed_timeline, &times, &drawn),
        ],
    })
}

/// Every moment a cursor can stop at, over all runs of the page, ascending and distinct;
/// 0 always, so a table exists before the first line.
fn sample_times(per_run: &[Vec<u64>], extra: Option<u64>) -> Vec<u64> {
    let mut times: Vec<u64> = per_run
        .iter()
        .flatten()
        .copied()
        .chain(extra)
        .chain([0])
        .collect();
    times.sort_unstable();
    times.dedup();
    times
}

/// The page: the template with the title, the style, the script and the data put in.
fn page_html(page: &Page) -> String {
    let data = serde_json::to_string(page).expect("the page data serializes");
    fill(
        TEMPLATE,
        &[
            ("TITLE", &html_escape(&page.title)),
            ("STYLE", STYLE),
            ("SCRIPT", SCRIPT),
            ("DATA", &json_for_script(&data)),
        ],
    )
}

/// Puts each `{{KEY}}` of `template` in one pass over the template, so nothing put in is
/// ever read again as a placeholder.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let key = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        match values.iter().find(|(k, _)| *k == key) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// JSON made safe inside `<script type="application/json">`: `<`, `>` and `&` (which JSON
/// has only inside strings) as `\u003c`, `\u003e` and `\u0026`, so no string can end the
/// element or open a comment; U+2028 and U+2029 escaped too, for any reader that takes the
/// text as JavaScript.
pub fn json_for_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Text made safe in HTML content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
