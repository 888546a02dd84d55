//! The Zoom apps of a deployment (compatibility path: they live in
//! `rectoken_zoom::apps`, shared by every role).

pub use rectoken_zoom::apps::*;
