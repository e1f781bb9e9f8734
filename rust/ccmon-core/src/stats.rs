//! Per-queue figures: the facts the engine records, how they add up (SPEC §3, §3b), and the derived ratios.
//! Every definition of a queue field lives in this file and nowhere else.

use crate::config::{Config, ServiceLevelFormula};
use crate::histogram::WaitHistogram;

/// Outcome of an entry (SPEC §2). `Lost` is not part of `closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answered,
    Abandoned,
    TimedOut,
    ExitedKey,
    ExitedEmpty,
    Lost,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Answered,
        Outcome::Abandoned,
        Outcome::TimedOut,
        Outcome::ExitedKey,
        Outcome::ExitedEmpty,
        Outcome::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Abandoned => "abandoned",
            Outcome::TimedOut => "timed_out",
            Outcome::ExitedKey => "exited_key",
            Outcome::ExitedEmpty => "exited_empty",
            Outcome::Lost => "lost",
        }
    }
}

/// One thing that happened to a queue at an event time; `value` is a wait, a talk time, seconds or plays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fact {
    Entry,
    Outcome(Outcome),
    TalkEnd,
    Transfer,
    LoopEntry,
    PingPongEntry,
    BouncedCall,
    RepeatCall,
    Escalation,
    EscalationFake,
    EscalationUnanswered,
    Misroute,
    MohSeconds,
    MohPlays,
}

impl Fact {
    /// Facts that only count (their value is how many); consecutive equal ones can share a record.
    pub fn is_count(self) -> bool {
        !matches!(
            self,
            Fact::Outcome(_) | Fact::TalkEnd | Fact::MohSeconds | Fact::MohPlays
        )
    }
}

/// A fact with its time, kept for rolling windows.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    pub ts: f64,
    pub value: f64,
    pub fact: Fact,
}

/// Additive counts of one queue over some span of event time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub timed_out: u64,
    pub exited_key: u64,
    pub exited_empty: u64,
    pub lost: u64,
    pub answered_within_sl: u64,
    pub abandoned_within_sl: u64,
    pub answered_wait_sum: f64,
    /// Largest wait of any closed entry (lost entries are not closed).
    pub wait_max: Option<f64>,
    pub talk_sum: f64,
    pub talk_count: u64,
    pub transfers_out: u64,
    pub loop_entries: u64,
    pub pingpong_entries: u64,
    pub bounced_calls: u64,
    pub repeat_calls: u64,
    pub escalations: u64,
    pub escalations_fake: u64,
    pub escalations_unanswered: u64,
    pub misroutes: u64,
    pub moh_seconds_total: f64,
    pub moh_plays_max: f64,
}

impl Counters {
    /// Adds a fact (count facts: `value` of them). The thresholds of SPEC §2 are applied here: `short_abandoned` is
    /// `wait < short_abandon_seconds`, within service level is `wait <= service_level_seconds`.
    #[inline(always)]
    pub fn add(&mut self, fact: Fact, value: f64, cfg: &Config) {
        let n = value as u64;
        match fact {
            Fact::Entry => self.offered += n,
            Fact::Outcome(o) => {
                let wait = value;
                if o != Outcome::Lost {
                    self.wait_max = Some(self.wait_max.map_or(wait, |m| m.max(wait)));
                }
                let within_sl = wait <= cfg.service_level_seconds;
                match o {
                    Outcome::Answered => {
                        self.answered += 1;
                        self.answered_wait_sum += wait;
                        self.answered_within_sl += u64::from(within_sl);
                    }
                    Outcome::Abandoned => {
                        self.abandoned += 1;
                        self.abandoned_within_sl += u64::from(within_sl);
                        self.short_abandoned += u64::from(wait < cfg.short_abandon_seconds);
                    }
                    Outcome::TimedOut => self.timed_out += 1,
                    Outcome::ExitedKey => self.exited_key += 1,
                    Outcome::ExitedEmpty => self.exited_empty += 1,
                    Outcome::Lost => self.lost += 1,
                }
            }
            Fact::TalkEnd => {
                self.talk_sum += value;
                self.talk_count += 1;
            }
            Fact::Transfer => self.transfers_out += n,
            Fact::LoopEntry => self.loop_entries += n,
            Fact::PingPongEntry => self.pingpong_entries += n,
            Fact::BouncedCall => self.bounced_calls += n,
            Fact::RepeatCall => self.repeat_calls += n,
            Fact::Escalation => self.escalations += n,
            Fact::EscalationFake => self.escalations_fake += n,
            Fact::EscalationUnanswered => self.escalations_unanswered += n,
            Fact::Misroute => self.misroutes += n,
            Fact::MohSeconds => self.moh_seconds_total += value,
            Fact::MohPlays => self.moh_plays_max = self.moh_plays_max.max(value),
        }
    }

    /// Adds another span's counts (another queue, for site-wide totals): sums, and maxima for the max fields.
    pub fn merge(&mut self, o: &Counters) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.abandoned += o.abandoned;
        self.short_abandoned += o.short_abandoned;
        self.timed_out += o.timed_out;
        self.exited_key += o.exited_key;
        self.exited_empty += o.exited_empty;
        self.lost += o.lost;
        self.answered_within_sl += o.answered_within_sl;
        self.abandoned_within_sl += o.abandoned_within_sl;
        self.answered_wait_sum += o.answered_wait_sum;
        self.wait_max = match (self.wait_max, o.wait_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.talk_sum += o.talk_sum;
        self.talk_count += o.talk_count;
        self.transfers_out += o.transfers_out;
        self.loop_entries += o.loop_entries;
        self.pingpong_entries += o.pingpong_entries;
        self.bounced_calls += o.bounced_calls;
        self.repeat_calls += o.repeat_calls;
        self.escalations += o.escalations;
        self.escalations_fake += o.escalations_fake;
        self.escalations_unanswered += o.escalations_unanswered;
        self.misroutes += o.misroutes;
        self.moh_seconds_total += o.moh_seconds_total;
        self.moh_plays_max = self.moh_plays_max.max(o.moh_plays_max);
    }

    /// `answered + abandoned + timed_out + exited_key + exited_empty`.
    pub fn closed(&self) -> u64 {
        self.answered + self.abandoned + self.timed_out + self.exited_key + self.exited_empty
    }

    pub fn service_level(&self, formula: ServiceLevelFormula) -> Option<f64> {
        let (num, den) = match formula {
            ServiceLevelFormula::AnsweredMinusShort => (
                self.answered_within_sl,
                self.closed().saturating_sub(self.short_abandoned),
            ),
            ServiceLevelFormula::AnsweredOnly => (self.answered_within_sl, self.answered),
            ServiceLevelFormula::AbandonsInSlMet => (
                self.answered_within_sl + self.abandoned_within_sl,
                self.answered + self.abandoned,
            ),
            ServiceLevelFormula::RemovedWithinSl => (
                self.answered_within_sl + self.abandoned_within_sl,
                self.offered,
            ),
        };
        ratio(num, den)
    }

    /// `(abandoned − short_abandoned) / (closed − short_abandoned)`.
    pub fn abandon_rate(&self) -> Option<f64> {
        ratio(
            self.abandoned - self.short_abandoned,
            self.closed().saturating_sub(self.short_abandoned),
        )
    }

    pub fn asa_seconds(&self) -> Option<f64> {
        mean(self.answered_wait_sum, self.answered)
    }

    pub fn talk_seconds_mean(&self) -> Option<f64> {
        mean(self.talk_sum, self.talk_count)
    }
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn mean(sum: f64, n: u64) -> Option<f64> {
    (n > 0).then(|| sum / n as f64)
}

/// Counters plus the answered-wait sketch: what the "all" and "today" windows accumulate.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    pub counters: Counters,
    pub answered_waits: WaitHistogram,
}

impl Accumulator {
    pub fn merge(&mut self, other: &Accumulator) {
        self.counters.merge(&other.counters);
        self.answered_waits.merge(&other.answered_waits);
    }

    #[inline(always)]
    pub fn add(&mut self, fact: Fact, value: f64, cfg: &Config) {
        self.counters.add(fact, value, cfg);
        if fact == Fact::Outcome(Outcome::Answered) {
            self.answered_waits.record(value);
        }
    }
}

/// One row of `queues(window)`: every field of SPEC §3 and §3b.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStats {
    pub queue: String,
    pub counters: Counters,
    pub service_level: Option<f64>,
    pub abandon_rate: Option<f64>,
    pub asa_seconds: Option<f64>,
    pub wait_p50_seconds: Option<f64>,
    pub wait_p90_seconds: Option<f64>,
    pub wait_p99_seconds: Option<f64>,
    pub waiting_now: u64,
    pub longest_wait_now_seconds: f64,
    pub talk_seconds_mean: Option<f64>,
}

impl QueueStats {
    /// Builds a row from counts and the three answered-wait quantiles.
    pub fn new(
        queue: String,
        counters: Counters,
        quantiles: [Option<f64>; 3],
        cfg: &Config,
    ) -> QueueStats {
        QueueStats {
            queue,
            service_level: counters.service_level(cfg.service_level_formula),
            abandon_rate: counters.abandon_rate(),
            asa_seconds: counters.asa_seconds(),
            talk_seconds_mean: counters.talk_seconds_mean(),
            wait_p50_seconds: quantiles[0],
            wait_p90_seconds: quantiles[1],
            wait_p99_seconds: quantiles[2],
            waiting_now: 0,
            longest_wait_now_seconds: 0.0,
            counters,
        }
    }
}

pub const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];
