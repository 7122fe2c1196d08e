//! Bookkeeping around each call: the call log, its counters, and injected faults.

use serde_json::Value;

use super::World;
use crate::model::*;
use crate::params::Params;

impl World {
    pub(crate) fn log_call(&mut self, mut rec: CallRecord) {
        rec.seq = self.next_seq;
        self.next_seq += 1;
        self.counters.calls += 1;
        *self.counters.calls_per_method.entry(rec.method.clone()).or_default() += 1;
        if rec.status == 429 {
            self.counters.too_many_requests += 1;
        }
        if let Some(bot) = rec.bot_id {
            let c = self.counters.per_bot.entry(bot).or_default();
            c.calls += 1;
            *c.calls_per_method.entry(rec.method.clone()).or_default() += 1;
            if rec.status == 429 {
                c.too_many_requests += 1;
            }
        }
        if self.call_log_capacity > 0 {
            if self.calls.len() >= self.call_log_capacity {
                self.calls.pop_front();
            }
            self.calls.push_back(rec);
        }
    }

    /// Finds and consumes the first fault matching a call.
    pub(crate) fn take_fault(&mut self, bot_id: i64, method: &str, params: &Params) -> Option<Fault> {
        let idx = self.faults.iter().position(|f| {
            f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.bot_id.is_none_or(|b| b == bot_id)
                && f.when.iter().all(|(k, v)| {
                    let want = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    params.str(k).as_deref() == Some(want.as_str())
                })
        })?;
        let fault = self.faults[idx].clone();
        if let Some(t) = &mut self.faults[idx].times {
            *t = t.saturating_sub(1);
            if *t == 0 {
                self.faults.remove(idx);
            }
        }
        Some(fault)
    }
}
