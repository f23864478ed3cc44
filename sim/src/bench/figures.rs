//! What a case reports: each figure beside its goal, as a line of text or a JSON object.

use super::*;

/// How a case (or one run of it) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    #[serde(rename = "ok")]
    Ok,
    #[serde(rename = "failed")]
    Failed,
    #[serde(rename = "timed out")]
    TimedOut,
    /// An earlier run of the same case timed out, so this one never started.
    #[serde(rename = "not run")]
    NotRun,
}

impl Status {
    pub(super) fn words(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::TimedOut => "timed out",
            Status::NotRun => "not run",
        }
    }
}

/// One figure of a case, with its goal if it has one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    /// `None` when the run that would give it did not finish (see `note`).
    pub value: Option<f64>,
    /// `x` for a factor, `""` for a plain number, else a unit such as `records/s` or `MB`.
    pub unit: String,
    /// The goal, as `>= 1,000,000` or `<= 10 s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Figure {
    pub(super) fn new(name: &str, value: Option<f64>, unit: &str) -> Figure {
        Figure {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
            goal: None,
            met: None,
            note: None,
        }
    }

    pub(super) fn at_least(mut self, target: f64) -> Figure {
        self.goal = Some(format!(">= {}", with_unit(target, &self.unit)));
        self.met = self.value.map(|v| v >= target);
        self
    }

    pub(super) fn at_most(mut self, target: f64) -> Figure {
        self.goal = Some(format!("<= {}", with_unit(target, &self.unit)));
        self.met = self.value.map(|v| v <= target);
        self
    }

    pub(super) fn note(mut self, note: impl Into<String>) -> Figure {
        self.note = Some(note.into());
        self
    }

    pub(super) fn text(&self) -> String {
        // A rate names itself by its unit: `134,411 records/s`.
        let mut s = if self.name == self.unit {
            String::new()
        } else {
            format!("{} ", self.name)
        };
        match (self.value, &self.note) {
            (Some(v), _) => s.push_str(&with_unit(v, &self.unit)),
            (None, Some(note)) => s.push_str(note),
            (None, None) => s.push_str("n/a"),
        }
        if let Some(goal) = &self.goal {
            let verdict = match self.met {
                Some(true) => ": met",
                Some(false) => ": MISSED",
                None => "",
            };
            s.push_str(&format!(" (goal {goal}{verdict})"));
        }
        if let (Some(_), Some(note)) = (self.value, &self.note) {
            s.push_str(&format!(" [{note}]"));
        }
        s
    }
}

/// One run of the `partitions` case, kept raw so a parent can merge its children's runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionsRun {
    pub partitions: u32,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub sim_secs: f64,
    pub wall_secs: f64,
    pub acked: u64,
    pub peak_memory_mb: Option<f64>,
}

/// What a case printed: one line of text, or this object as one line of JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseReport {
    pub case: String,
    /// What the case runs, in a few words.
    pub shape: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of the whole case.
    pub wall_secs: f64,
    pub figures: Vec<Figure>,
    /// The `partitions` case's runs, one per size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<PartitionsRun>,
}

impl CaseReport {
    pub(super) fn new(case: Case, shape: String) -> CaseReport {
        CaseReport {
            case: case.name().to_string(),
            shape,
            status: Status::Ok,
            error: None,
            wall_secs: 0.0,
            figures: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub(super) fn failed(mut self, error: impl Into<String>) -> CaseReport {
        self.status = Status::Failed;
        self.error = Some(error.into());
        self
    }

    /// The one line of text.
    pub fn text(&self) -> String {
        let mut s = format!("{} ({}): ", self.case, self.shape);
        let figures: Vec<String> = self.figures.iter().map(Figure::text).collect();
        s.push_str(&figures.join(", "));
        if !self.figures.iter().any(|f| f.name == "wall") {
            if !figures.is_empty() {
                s.push_str("; ");
            }
            s.push_str(&format!("wall {:.1} s", self.wall_secs));
        }
        if self.status != Status::Ok {
            s.push_str(&format!("; {}", self.status.words().to_uppercase()));
            if let Some(e) = &self.error {
                s.push_str(&format!(": {e}"));
            }
        }
        s
    }

    /// The one line of JSON.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a case report serializes")
    }

    pub(super) fn line(&self, json: bool) -> String {
        if json {
            self.json()
        } else {
            self.text()
        }
    }
}

/// `1234567.8` as `1,234,568`; numbers under 1,000 keep two significant decimals at most.
pub fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.abs() < 1_000.0 {
        return if v.fract() == 0.0 || v.abs() >= 100.0 {
            format!("{v:.0}")
        } else if v.abs() >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        };
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

pub(super) fn with_unit(v: f64, unit: &str) -> String {
    match unit {
        "" => thousands(v),
        "x" => format!("{}x", thousands(v)),
        unit => format!("{} {unit}", thousands(v)),
    }
}
