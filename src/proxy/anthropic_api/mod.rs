//! The Anthropic Messages API in front of any model: `POST /v1/messages` requests
//! translated to the OpenAI chat format the core speaks, and the core's answers (JSON, or
//! a stream of chunks) translated back into Anthropic's message and SSE events.
//!
//! This is the inverse of [`crate::providers::anthropic`] (OpenAI → Anthropic on the way
//! out, Anthropic → OpenAI on the way back), with the same mappings of stop reasons,
//! usage and content blocks. A request whose deployment is Anthropic's own API is not
//! translated at all (see the route), so nothing is lost there.

mod request;
mod response;
mod stream;

pub use request::{to_openai, Thinking};
pub use response::{stop_reason, to_anthropic, usage_to_anthropic};
pub use stream::EventWriter;
