//! Scalar values of a scenario file: strings, counts in a range, durations, config tables.
//!
//! Each reader takes the key and its value (absent: `None`) and says what was expected in
//! the error, at the value's position.

use super::error::{Ctx, Result, ScenarioError};
use super::raw::{ConfigTable, Val};
use super::spec::parse_duration_us;
use kafka_model::config::{ConfigError, ConfigValue};
use std::ops::Range;
use toml::Value;

/// One `config` entry: key, value, and where the key stands in the file.
pub type ConfigEntry = (String, ConfigValue, Option<Range<usize>>);

impl Ctx<'_> {
    pub fn str(&self, key: &str, v: Option<&Val>) -> Result<Option<String>> {
        let Some(v) = v else { return Ok(None) };
        match v.get_ref() {
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(self.err(Some(v.span()), Some(key), "expected a string")),
        }
    }

    pub fn int(&self, key: &str, v: Option<&Val>, min: i64, max: i64) -> Result<Option<i64>> {
        let Some(v) = v else { return Ok(None) };
        match v.get_ref() {
            Value::Integer(i) if (min..=max).contains(i) => Ok(Some(*i)),
            Value::Integer(i) => Err(self.err(
                Some(v.span()),
                Some(key),
                format!("{i} is out of range ({min} to {max})"),
            )),
            _ => Err(self.err(Some(v.span()), Some(key), "expected a whole number")),
        }
    }

    pub fn float(&self, key: &str, v: Option<&Val>, min: f64, max: f64) -> Result<Option<f64>> {
        let Some(v) = v else { return Ok(None) };
        let x = match v.get_ref() {
            Value::Float(f) => *f,
            Value::Integer(i) => *i as f64,
            _ => return Err(self.err(Some(v.span()), Some(key), "expected a number")),
        };
        if x.is_finite() && x >= min && x <= max {
            Ok(Some(x))
        } else {
            Err(self.err(
                Some(v.span()),
                Some(key),
                format!("{x} is out of range ({min} to {max})"),
            ))
        }
    }

    pub fn bool(&self, key: &str, v: Option<&Val>) -> Result<Option<bool>> {
        let Some(v) = v else { return Ok(None) };
        match v.get_ref() {
            Value::Boolean(b) => Ok(Some(*b)),
            _ => Err(self.err(Some(v.span()), Some(key), "expected true or false")),
        }
    }

    pub fn duration_ms(&self, key: &str, v: Option<&Val>) -> Result<Option<u64>> {
        Ok(self.duration_us(key, v)?.map(|us| us / 1000))
    }

    pub fn duration_us(&self, key: &str, v: Option<&Val>) -> Result<Option<u64>> {
        let Some(v) = v else { return Ok(None) };
        let span = Some(v.span());
        match v.get_ref() {
            Value::String(s) => parse_duration_us(s).map(Some).ok_or_else(|| {
                self.err(
                    span,
                    Some(key),
                    format!("`{s}` is not a duration; write e.g. \"500ms\", \"10s\" or \"2m\""),
                )
            }),
            Value::Integer(_) => Err(self.err(
                span,
                Some(key),
                "a duration needs a unit: write e.g. \"500ms\" or \"10s\"",
            )),
            _ => Err(self.err(span, Some(key), "expected a duration such as \"10s\"")),
        }
    }

    /// A `config` table's entries, each with the span of its key.
    pub fn config_map(&self, table: Option<&ConfigTable>) -> Result<Vec<ConfigEntry>> {
        let mut entries = Vec::new();
        let Some(table) = table else {
            return Ok(entries);
        };
        for (key, item) in table.get_ref() {
            let span = Some(key.span());
            let value = match item.get_ref() {
                Value::Integer(i) => ConfigValue::Int(*i),
                Value::Boolean(b) => ConfigValue::Bool(*b),
                Value::String(s) => ConfigValue::Str(s.clone()),
                Value::Float(f) => ConfigValue::Float(*f),
                _ => {
                    return Err(self.err(
                        span,
                        Some(key.get_ref()),
                        "a config value is a number, a string or true/false",
                    ))
                }
            };
            entries.push((key.get_ref().clone(), value, span));
        }
        Ok(entries)
    }

    pub fn config_error(
        &self,
        span: Option<Range<usize>>,
        key: &str,
        e: ConfigError,
    ) -> ScenarioError {
        self.err(span, Some(key), e.to_string())
    }
}
