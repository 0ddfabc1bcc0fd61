//! Hostile-input tests: inbound (see docs/SECURITY.md).
