//! The gateway (`llmswitch proxy`).

pub mod state;
