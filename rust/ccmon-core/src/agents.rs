//! Agents per queue, live: logged in, available, ringing, on a call, paused (with the reason).
//!
//! SPEC is silent on agents; what ccmon chose is in the README ("Definitions ccmon chose"):
//! - an agent is in a queue from its login (ADDMEMBER, AGENTLOGIN, `agent_login`) or from the first event that
//!   names it there (a static member of an Asterisk queue never logs in), until its logoff;
//! - its state is, in this order of precedence: on a call (answered, until the talk ends), ringing (JSON `ring`,
//!   until the call is answered or ends, or `ring_noanswer`), paused (until unpaused), else available;
//! - a pause or logoff with no queue (PAUSEALL, or JSON without `queue`) applies to every queue of the agent;
//! - occupancy now = agents on a call ÷ (agents logged in − agents paused and not on a call).
//!
//! Memory: at most [`MAX_AGENTS`] agents in all, so a corrupted log cannot grow this without bound.

use hashbrown::hash_map::EntryRef;
use rustc_hash::FxBuildHasher;

use crate::calls::CallKey;

/// Agents tracked at once, over all queues; events about more are ignored.
pub const MAX_AGENTS: usize = 100_000;
/// Bytes of a pause reason kept.
const REASON_BYTES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    Idle,
    Ringing,
    OnCall,
}

#[derive(Debug, Clone)]
struct Agent {
    activity: Activity,
    paused: bool,
    reason: String,
    /// When the shown state last changed.
    since: f64,
    /// The call ringing or talking to this agent.
    call: Option<CallKey>,
}

/// An agent as `agents()` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentView {
    pub queue: u32,
    pub agent: String,
    pub state: &'static str,
    pub reason: String,
    pub since: f64,
}

/// Per queue: how many agents are in each state now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AgentCounts {
    pub logged_in: u64,
    pub available: u64,
    pub ringing: u64,
    pub on_call: u64,
    pub paused: u64,
}

impl AgentCounts {
    pub const STATES: [&'static str; 5] =
        ["logged_in", "available", "ringing", "on_call", "paused"];

    pub fn by_state(&self) -> [u64; 5] {
        [
            self.logged_in,
            self.available,
            self.ringing,
            self.on_call,
            self.paused,
        ]
    }

    /// On a call ÷ (logged in − paused and idle); `None` with no agent to work.
    pub fn occupancy(&self) -> Option<f64> {
        let working = self.logged_in - self.paused;
        (working > 0).then(|| self.on_call as f64 / working as f64)
    }
}

impl Agent {
    fn state(&self) -> &'static str {
        match (self.activity, self.paused) {
            (Activity::OnCall, _) => "on_call",
            (Activity::Ringing, _) => "ringing",
            (Activity::Idle, true) => "paused",
            (Activity::Idle, false) => "available",
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct AgentTable {
    /// By queue id, then by agent name.
    queues: Vec<hashbrown::HashMap<Vec<u8>, Agent, FxBuildHasher>>,
    total: usize,
    /// A source has sent ring events: only then can an agent ring for a call that ends meanwhile, and only
    /// then are a queue's agents scanned for it (queue_log never rings: its hot path skips the scan).
    rings_seen: bool,
}

impl AgentTable {
    /// The agent `name` in queue `q`, added (available since `ts`) if new and there is room.
    fn get(&mut self, q: u32, name: &[u8], ts: f64) -> Option<&mut Agent> {
        if name.is_empty() || name == b"NONE" {
            return None;
        }
        let q = q as usize;
        if self.queues.len() <= q {
            self.queues.resize_with(q + 1, Default::default);
        }
        // One hash lookup whether the agent is known or new (every answer and talk end comes here).
        match self.queues.get_mut(q)?.entry_ref(name) {
            EntryRef::Occupied(e) => Some(e.into_mut()),
            EntryRef::Vacant(e) => {
                if self.total >= MAX_AGENTS {
                    return None;
                }
                self.total += 1;
                Some(e.insert(Agent {
                    activity: Activity::Idle,
                    paused: false,
                    reason: String::new(),
                    since: ts,
                    call: None,
                }))
            }
        }
    }

    /// Changes an agent, stamping `since` when its shown state changes.
    fn update(&mut self, q: u32, name: &[u8], ts: f64, change: impl FnOnce(&mut Agent)) {
        if let Some(agent) = self.get(q, name, ts) {
            // Compared as the two fields the shown state comes from: no string compare per event.
            let before = (
                agent.activity,
                agent.paused && agent.activity == Activity::Idle,
            );
            change(agent);
            if (
                agent.activity,
                agent.paused && agent.activity == Activity::Idle,
            ) != before
            {
                agent.since = ts;
            }
        }
    }

    /// The queues (ids) where `name` is an agent.
    fn queues_of(&self, name: &[u8]) -> Vec<u32> {
        (0..self.queues.len() as u32)
            .filter(|&q| self.queues[q as usize].contains_key(name))
            .collect()
    }

    /// `q` is `None` for an event that names no queue: every queue of the agent.
    fn each_queue(&self, q: Option<u32>, name: &[u8]) -> Vec<u32> {
        match q {
            Some(q) => vec![q],
            None => self.queues_of(name),
        }
    }

    /// The agents of queue `q` now.
    pub(crate) fn names(&self, q: u32) -> Vec<Vec<u8>> {
        self.queues
            .get(q as usize)
            .map_or_else(Vec::new, |m| m.keys().cloned().collect())
    }

    pub(crate) fn login(&mut self, q: u32, name: &[u8], ts: f64) {
        self.update(q, name, ts, |_| {});
    }

    pub(crate) fn logoff(&mut self, q: Option<u32>, name: &[u8]) {
        for q in self.each_queue(q, name) {
            if let Some(queue) = self.queues.get_mut(q as usize) {
                if queue.remove(name).is_some() {
                    self.total -= 1;
                }
            }
        }
    }

    pub(crate) fn pause(
        &mut self,
        q: Option<u32>,
        name: &[u8],
        paused: bool,
        reason: &[u8],
        ts: f64,
    ) {
        let reason =
            String::from_utf8_lossy(&reason[..reason.len().min(REASON_BYTES)]).into_owned();
        for q in self.each_queue(q, name) {
            let reason = reason.clone();
            self.update(q, name, ts, |a| {
                a.paused = paused;
                a.reason = if paused { reason } else { String::new() };
            });
        }
    }

    pub(crate) fn ring(&mut self, q: u32, name: &[u8], call: CallKey, ts: f64) {
        self.rings_seen = true;
        self.update(q, name, ts, |a| {
            if a.activity == Activity::Idle {
                a.activity = Activity::Ringing;
                a.call = Some(call);
            }
        });
    }

    /// The ring stopped without an answer (RINGNOANSWER, RINGCANCELED, `ring_noanswer`).
    pub(crate) fn ring_end(&mut self, q: u32, name: &[u8], ts: f64) {
        self.update(q, name, ts, |a| {
            if a.activity == Activity::Ringing {
                a.activity = Activity::Idle;
                a.call = None;
            }
        });
    }

    /// `name` answered `call` in `q`; any other agent still ringing for it stops ringing.
    pub(crate) fn answer(&mut self, q: u32, name: &[u8], call: CallKey, ts: f64) {
        if self.rings_seen {
            self.release(q, &call, ts, Activity::Ringing);
        }
        self.update(q, name, ts, |a| {
            a.activity = Activity::OnCall;
            a.call = Some(call);
        });
    }

    /// `call`'s talk ended (or the call left the queue unanswered): its agents are free again. `name` is the
    /// agent the event names, if any.
    pub(crate) fn call_over(&mut self, q: u32, name: &[u8], call: &CallKey, ts: f64) {
        if !name.is_empty() && name != b"NONE" {
            self.update(q, name, ts, |a| {
                if a.call.as_ref() == Some(call) || a.activity == Activity::OnCall {
                    a.activity = Activity::Idle;
                    a.call = None;
                }
            });
        } else {
            // The event does not say who talked (JSON talk_end without `agent`): the agent on this call.
            self.release(q, call, ts, Activity::OnCall);
        }
        if self.rings_seen {
            self.release(q, call, ts, Activity::Ringing);
        }
    }

    /// Agents of `q` in `activity` for `call` go back to idle.
    fn release(&mut self, q: u32, call: &CallKey, ts: f64, activity: Activity) {
        let Some(queue) = self.queues.get_mut(q as usize) else {
            return;
        };
        for a in queue.values_mut() {
            if a.activity == activity && a.call.as_ref() == Some(call) {
                a.activity = Activity::Idle;
                a.call = None;
                a.since = ts;
            }
        }
    }

    /// `call` left the queue unanswered: agents still ringing for it stop.
    pub(crate) fn unanswered(&mut self, q: u32, call: &CallKey, ts: f64) {
        if self.rings_seen {
            self.release(q, call, ts, Activity::Ringing);
        }
    }

    pub(crate) fn counts(&self, q: u32) -> AgentCounts {
        let mut c = AgentCounts::default();
        for a in self
            .queues
            .get(q as usize)
            .into_iter()
            .flat_map(|m| m.values())
        {
            c.logged_in += 1;
            match a.state() {
                "on_call" => c.on_call += 1,
                "ringing" => c.ringing += 1,
                "paused" => c.paused += 1,
                _ => c.available += 1,
            }
        }
        c
    }

    /// Every agent, in no particular order (the engine sorts them by queue name).
    pub(crate) fn rows(&self) -> Vec<AgentView> {
        self.queues
            .iter()
            .enumerate()
            .flat_map(|(q, m)| {
                m.iter().map(move |(name, a)| AgentView {
                    queue: q as u32,
                    agent: String::from_utf8_lossy(name).into_owned(),
                    state: a.state(),
                    reason: a.reason.clone(),
                    since: a.since,
                })
            })
            .collect()
    }
}
