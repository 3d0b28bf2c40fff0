//! Citus readiness: distributing tenant tables by their tenant column.
