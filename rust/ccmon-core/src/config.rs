//! Engine configuration: the SPEC's tunables. Validation of user-facing files (names of keys, allowed values)
//! happens in the Python layer; here every value is already typed, and unknown queues fall back to defaults.

use rustc_hash::FxHashMap;
use serde::Deserialize;

/// How `service_level` is computed (SPEC §3); one place, [`crate::stats::QueueStats::service_level`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLevelFormula {
    /// `answered_within_sl / (closed − short_abandoned)` (Genesys Cloud's default).
    #[default]
    AnsweredMinusShort,
    /// `answered_within_sl / answered` (Asterisk ServicelevelPerf).
    AnsweredOnly,
    /// `(answered_within_sl + abandoned_within_sl) / (answered + abandoned)` (Asterisk ServicelevelPerf2).
    AbandonsInSlMet,
    /// `(answered_within_sl + abandoned_within_sl) / offered` (Amazon Connect).
    RemovedWithinSl,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub service_level_seconds: f64,
    pub short_abandon_seconds: f64,
    pub service_level_formula: ServiceLevelFormula,
    pub max_wait_seconds: f64,
    /// Rolling windows in seconds ("5m" = 300). "today" and "all" are always kept.
    pub windows_seconds: Vec<f64>,
    /// IANA time zone for the "today" window.
    pub timezone: String,
    pub bounce_transfers: u32,
    pub repeat_window_seconds: f64,
    pub misroute_talk_seconds: f64,
    pub misroute_window_seconds: f64,
    pub moh_alert_plays: f64,
    /// department name -> queues in it
    pub departments: FxHashMap<String, Vec<String>>,
    pub supervisor_queues: Vec<String>,
    pub supervisors: Vec<String>,
    pub moh_track_seconds: FxHashMap<String, f64>,
    pub queue_moh_class: FxHashMap<String, String>,
    /// Longest accepted line in bytes; longer lines are rejected as `line_too_long`.
    pub max_line_bytes: usize,
    /// Most queues tracked; events naming more are rejected as `too_many_queues`.
    pub max_queues: usize,
    /// Value of the `site` label on every exported series; empty for none.
    pub site: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            service_level_seconds: 20.0,
            short_abandon_seconds: 5.0,
            service_level_formula: ServiceLevelFormula::default(),
            max_wait_seconds: 14400.0,
            windows_seconds: vec![300.0, 900.0, 3600.0],
            timezone: "UTC".to_string(),
            bounce_transfers: 3,
            repeat_window_seconds: 86400.0,
            misroute_talk_seconds: 60.0,
            misroute_window_seconds: 900.0,
            moh_alert_plays: 10.0,
            departments: FxHashMap::default(),
            supervisor_queues: Vec::new(),
            supervisors: Vec::new(),
            moh_track_seconds: FxHashMap::default(),
            queue_moh_class: FxHashMap::default(),
            max_line_bytes: 64 * 1024,
            max_queues: 10_000,
            site: String::new(),
        }
    }
}

/// The track length of a hold-music class: 30 s when the class is not listed (SPEC §5).
pub const DEFAULT_TRACK_SECONDS: f64 = 30.0;

impl Config {
    pub fn from_json(text: &str) -> Result<Config, String> {
        let cfg: Config =
            serde_json::from_str(text).map_err(|e| format!("invalid engine config: {e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("service_level_seconds", self.service_level_seconds),
            ("max_wait_seconds", self.max_wait_seconds),
            ("repeat_window_seconds", self.repeat_window_seconds),
            ("misroute_window_seconds", self.misroute_window_seconds),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!(
                    "{name} must be a positive number of seconds, got {v}"
                ));
            }
        }
        for (name, v) in [
            ("short_abandon_seconds", self.short_abandon_seconds),
            ("misroute_talk_seconds", self.misroute_talk_seconds),
            ("moh_alert_plays", self.moh_alert_plays),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be a number >= 0, got {v}"));
            }
        }
        for w in &self.windows_seconds {
            if !(w.is_finite() && *w > 0.0) {
                return Err(format!("windows must be positive durations, got {w} s"));
            }
        }
        for (class, len) in &self.moh_track_seconds {
            if !(len.is_finite() && *len > 0.0) {
                return Err(format!("moh_track_seconds.{class} must be > 0, got {len}"));
            }
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!(
                "timezone: unknown time zone {:?} (use an IANA name such as \"Europe/Madrid\")",
                self.timezone
            ));
        }
        if self.max_queues < 1 {
            return Err("max_queues must be at least 1".to_string());
        }
        if self.max_line_bytes < 64 {
            return Err("max_line_bytes must be at least 64".to_string());
        }
        Ok(())
    }

    pub fn track_seconds(&self, class: &str) -> f64 {
        self.moh_track_seconds
            .get(class)
            .copied()
            .unwrap_or(DEFAULT_TRACK_SECONDS)
    }
}
