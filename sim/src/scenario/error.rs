//! Scenario errors, and the file positions they carry.
//!
//! Every error names the file, the line and column, and the key it is about, so a typo is
//! found without reading the parser. The serde layer's own errors (an unknown key, a table
//! where a value should be) are turned into the same shape here, with the nearest valid
//! key for an unknown one.

use kafka_model::config::nearest_key;
use std::ops::Range;

/// A scenario error, with the position of the offending key or value.
/// Line 0 means the file as a whole (it could not be read): then no position is shown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {}{message}",
    if *line == 0 { String::new() } else { format!(":{line}:{column}") },
    key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: Option<String>,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, ScenarioError>;

/// A position in the file: a byte range, or `None` for the file as a whole (line 1).
pub type Span = Option<Range<usize>>;

/// The file being parsed: turns byte positions into lines and columns.
pub struct Ctx<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Ctx<'_> {
    pub fn position(&self, span: Span) -> (usize, usize) {
        let Some(span) = span else {
            return (1, 1);
        };
        let at = span.start.min(self.text.len());
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let column = at - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        (line, column)
    }

    pub fn err(&self, span: Span, key: Option<&str>, message: impl Into<String>) -> ScenarioError {
        let (line, column) = self.position(span);
        ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            key: key.map(str::to_string),
            message: message.into(),
        }
    }

    /// The span of the key whose value starts at `value`: `key = value` on one line, the key
    /// bare or quoted. Errors about a key point at the key, as a reader looks for it.
    pub fn key_span(&self, value: &Range<usize>) -> Range<usize> {
        let start = value.start.min(self.text.len());
        let before = self.text[..start].trim_end_matches([' ', '\t']);
        let Some(before) = before.strip_suffix('=') else {
            return value.clone();
        };
        let before = before.trim_end_matches([' ', '\t']);
        let end = before.len();
        let key_start = match before.chars().last() {
            Some(q @ ('"' | '\'')) => before[..end - 1].rfind(q),
            Some(_) => Some(
                before
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
                    .map_or(0, |i| i + 1),
            ),
            None => None,
        };
        match key_start {
            Some(s) if s < end => s..end,
            _ => value.clone(),
        }
    }

    /// Where an error about the key with `value` points: the key, or `table` without one.
    pub fn key_or<T>(&self, value: Option<&toml::Spanned<T>>, table: Span) -> Span {
        value.map(|v| self.key_span(&v.span())).or(table)
    }

    /// The serde layer's error as a scenario error: bad TOML, an unknown key, or a value of
    /// the wrong shape for a table.
    pub fn serde_error(&self, e: serde_path_to_error::Error<toml::de::Error>) -> ScenarioError {
        let path: Vec<String> = e
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } if !key.starts_with("$__") => {
                    Some(key.clone())
                }
                serde_path_to_error::Segment::Seq { .. } => Some("[]".to_string()),
                _ => None,
            })
            .collect();
        let inner = e.inner();
        let message = inner.message();
        let span = inner.span();
        let Some(key) = path.iter().rev().find(|s| *s != "[]") else {
            return self.err(span, None, format!("not valid TOML: {message}"));
        };
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let known = known_fields(rest);
            let what = table_name(&path[..path.len() - 1]);
            let mut msg = format!("unknown key in {what}");
            match nearest_key(key, known.iter().map(String::as_str)) {
                Some(s) => msg.push_str(&format!(" (did you mean `{s}`?)")),
                None => msg.push_str(&format!(" (valid keys: {})", known.join(", "))),
            }
            return self.err(span, Some(key), msg);
        }
        let msg = match key.as_str() {
            "topics" | "producers" | "consumers" | "faults" => format!("expected [[{key}]] tables"),
            _ if message.starts_with("invalid type") => "expected a table".to_string(),
            _ => message.to_string(),
        };
        self.err(span, Some(key), msg)
    }
}

/// The field names in serde's "unknown field `x`, expected `a` or `b`" (or "one of ...").
fn known_fields(rest: &str) -> Vec<String> {
    let Some((_, expected)) = rest.split_once(", expected ") else {
        return Vec::new();
    };
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The table a path leads to, as the file writes it: `[cluster]`, `[[topics]]`, or "the
/// scenario" for the top level.
fn table_name(path: &[String]) -> String {
    match path {
        [] => "the scenario".to_string(),
        [t, i] if i == "[]" => format!("[[{t}]]"),
        _ => format!("[{}]", path.join(".")),
    }
}
