//! Checks run on a workflow body before it is lowered: one file per family of checks.
