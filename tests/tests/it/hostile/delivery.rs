//! Hostile-input tests: delivery (see docs/SECURITY.md).
