//! Hostile tenants and hostile input: one test per defence listed in `docs/SECURITY.md`.
//!
//! Each test plays the attacker from outside (HTTP against the real router, the worker against
//! loopback fakes) and asserts what the victim would notice: nothing forged reaches another
//! tenant's CRM, nothing unbounded is read or kept, nothing one tenant sends fails another's.

mod console;
mod delivery;
mod inbound;
mod ops;
mod review;
mod tenancy;
