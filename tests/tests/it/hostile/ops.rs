//! Hostile-input tests: ops (see docs/SECURITY.md).
