//! Hostile-input tests: tenancy (see docs/SECURITY.md).
