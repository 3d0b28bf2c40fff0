//! A migration step that adds a tenant column to an existing table.
