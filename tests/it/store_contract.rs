//! Store contract tests (in-process and Redis backends); filled in by the store work.
