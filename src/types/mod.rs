//! The OpenAI chat-completions and embeddings wire formats: the lingua franca every provider
//! translates to and from. Unknown fields are kept in `extra` maps so nothing a caller or
//! provider sends is silently lost.

mod chunk;
mod embedding;
mod request;
mod response;
mod strict_schema;

pub use chunk::{ChatChunk, ChunkChoice, Delta, FunctionDelta, ToolCallDelta};
pub use embedding::{
    float32_base64, Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse,
    EmbeddingVector, EncodingFormat, InputItem, EMBEDDING_PARAMS,
};
pub use request::{
    ChatParams, ChatRequest, ContentPart, FunctionCall, FunctionDef, ImageUrl, JsonSchemaFormat,
    Message, MessageContent, ParamReader, ResponseFormat, Role, StopSequences, StreamOptions, Tool,
    ToolCall, ToolChoice, OPENAI_PARAMS,
};
pub use response::{
    openai_service_tier, ChatResponse, Choice, CompletionTokensDetails, PromptTokensDetails,
    ResponseMessage, Usage, OPENAI_SERVICE_TIERS,
};

/// Current UNIX time in seconds, as OpenAI's `created` field has it.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A fresh OpenAI-style id such as `chatcmpl-3kD9...`.
pub fn new_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 25);
    id.push_str(prefix);
    for _ in 0..24 {
        id.push(fastrand::alphanumeric());
    }
    id
}
