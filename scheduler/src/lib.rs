//! `router-scheduler`: periodic work.
//!
//! tokio-cron-scheduler fires on every replica, so a tick never does work itself when the work
//! must happen once: it enqueues a `maintenance` job keyed by its time slot
//! (`cron:{task}:{slot}`, unique), and N replicas produce one job. Gauges (queue depth, oldest job
//! age, DLQ size) are cheap reads and are refreshed by whichever replica holds leadership.
//!
//! # Layout
//! - [`schedule`]: the task table and the tick → enqueue logic.
//! - [`gauges`]: queue and DLQ gauges.

pub mod gauges;
pub mod schedule;
