//! One serde payload type per job, each with its stable kind.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::NewJob;

/// A job's payload: what is stored in `jobs.payload`, and the queue defaults of its kind.
///
/// `KIND` is stable forever: rows on disk name it. Renaming a field of a payload breaks the rows
/// already queued, so add fields with `#[serde(default)]` instead.
pub trait Job: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// `jobs.kind`.
    const KIND: &'static str;
    /// `jobs.max_attempts`: counted attempts before the job is dead-lettered.
    const MAX_ATTEMPTS: i32 = 25;

    /// The row to insert: this payload under `KIND`, runnable now, `MAX_ATTEMPTS`, no keys.
    /// Callers add the tenant, ordering and uniqueness keys their job needs.
    ///
    /// # Panics
    /// Never: payloads are plain structs of ids and enums, which always serialise.
    #[must_use]
    fn new_job(&self) -> NewJob {
        let payload = serde_json::to_value(self).expect("job payloads always serialise");
        let mut job = NewJob::new(Self::KIND, payload);
        job.max_attempts = Self::MAX_ATTEMPTS;
        job
    }
}

/// `message.send`: send one outbound message to the Graph Send API (`router-worker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessage {
    pub message_id: Uuid,
}

impl Job for SendMessage {
    const KIND: &'static str = "message.send";
    /// With full-jitter backoff capped at 10 min, 15 attempts span roughly an hour and a half.
    const MAX_ATTEMPTS: i32 = 15;
}

impl SendMessage {
    /// The send job of a message: tenant and account on the row, and the conversation's ordering
    /// key so messages to one customer go out in order.
    #[must_use]
    pub fn for_message(self, merchant_id: Uuid, account_id: Uuid, recipient_id: &str) -> NewJob {
        let mut job = self.new_job();
        job.merchant_id = Some(merchant_id);
        job.account_id = Some(account_id);
        job.ordering_key = Some(Self::ordering_key(account_id, recipient_id));
        job
    }

    /// `send:{account}:{recipient}`: one conversation.
    #[must_use]
    pub fn ordering_key(account_id: Uuid, recipient_id: &str) -> String {
        format!("send:{account_id}:{recipient_id}")
    }
}

/// `webhook.deliver`: one attempt at delivering a CRM webhook (`router-worker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub delivery_id: Uuid,
}

impl Job for DeliverWebhook {
    const KIND: &'static str = "webhook.deliver";
    /// Deliveries end by their retry horizon (`WEBHOOK_RETRY_HORIZON_SECS`, then the DLQ), never
    /// by a count.
    const MAX_ATTEMPTS: i32 = 1_000_000;
}

/// `maintenance`: one periodic task (`router-scheduler`), enqueued once per time slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    pub task: MaintenanceTask,
    /// The period-aligned start of the slot (unix seconds) the scheduler enqueued it for; absent
    /// when enqueued by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<i64>,
}

impl Job for Maintenance {
    const KIND: &'static str = "maintenance";
    const MAX_ATTEMPTS: i32 = 5;
}

impl Maintenance {
    /// The job of `task` for `slot`, unique per slot (`cron:{task}:{slot}`), so scheduler replicas
    /// ticking together create it once.
    #[must_use]
    pub fn for_slot(task: MaintenanceTask, slot: i64) -> NewJob {
        let mut job = Self { task, slot: Some(slot) }.new_job();
        job.unique_key = Some(format!("cron:{}:{slot}", task.as_str()));
        job
    }
}

/// The periodic tasks (payload `task`; stable names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceTask {
    /// Pending CRM deliveries past the retry horizon → DLQ.
    DlqPromotion,
    /// Expired idempotency keys (and week-old cron slots) → deleted.
    IdempotencyCleanup,
    /// Long-lived Instagram tokens close to expiry → refreshed.
    TokenRefresh,
    /// Message content older than `RETENTION_DAYS` → erased.
    Retention,
    /// Recent hours → `analytics_hourly` rollups (`router_core::analytics`).
    AnalyticsRollup,
}

impl MaintenanceTask {
    /// Every task.
    pub const ALL: [Self; 5] =
        [Self::DlqPromotion, Self::IdempotencyCleanup, Self::TokenRefresh, Self::Retention, Self::AnalyticsRollup];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DlqPromotion => "dlq_promotion",
            Self::IdempotencyCleanup => "idempotency_cleanup",
            Self::TokenRefresh => "token_refresh",
            Self::Retention => "retention",
            Self::AnalyticsRollup => "analytics_rollup",
        }
    }

    /// The task of a stored name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn payloads_keep_the_stored_shapes() {
        let id = Uuid::nil();
        assert_eq!(SendMessage { message_id: id }.new_job().payload, json!({"message_id": id}));
        assert_eq!(DeliverWebhook { delivery_id: id }.new_job().payload, json!({"delivery_id": id}));
        let cron = Maintenance::for_slot(MaintenanceTask::TokenRefresh, 3600);
        assert_eq!(cron.payload, json!({"task": "token_refresh", "slot": 3600}));
        assert_eq!(cron.unique_key.as_deref(), Some("cron:token_refresh:3600"));
        assert_eq!(cron.max_attempts, 5);
        // Rows enqueued by hand carry no slot.
        let m: Maintenance = serde_json::from_value(json!({"task": "retention"})).unwrap();
        assert_eq!(m, Maintenance { task: MaintenanceTask::Retention, slot: None });
        for t in MaintenanceTask::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
            assert_eq!(MaintenanceTask::parse(t.as_str()), Some(t));
        }
        let send = SendMessage { message_id: id }.for_message(id, id, "17841");
        assert_eq!(send.ordering_key.as_deref(), Some(&*format!("send:{id}:17841")));
        assert_eq!(send.max_attempts, 15);
    }
}
