//! Token counting, fast enough for every request: pre-call context-window checks and cost
//! estimates for answers that came without usage.
//!
//! Tokenizer per family (the encoders are built once, on first use, and shared):
//!
//! | models | tokenizer |
//! | --- | --- |
//! | `gpt-4o*`, `chatgpt-4o*`, `gpt-4.1*`, `gpt-4.5*`, `gpt-5*`, `o1*`, `o3*`, `o4*`, `gpt-oss*`, `codex-*` | `o200k_base` (exact) |
//! | `gpt-4`, `gpt-4-turbo`, `gpt-3.5*`, `text-embedding-*` | `cl100k_base` (exact) |
//! | everything else (Claude, Gemini, Llama, Mistral, Qwen, DeepSeek, ...) | `cl100k_base`, an approximation: these tokenizers are not public or not BPE-compatible; counts are typically within 10–20 % |
//!
//! Chat overhead follows OpenAI's cookbook: 3 tokens per message, 1 more for a `name`, and
//! 3 to prime the reply. Images follow OpenAI's tile rule (85 tokens at `detail: low`;
//! otherwise 85 + 170 per 512-px tile after scaling to fit 2048×2048 and then to a 768-px
//! short side); when the size cannot be read from a `data:` URL header, an image counts as
//! a 1024×1024 one at high detail ([`DEFAULT_IMAGE_TOKENS`]). Tools count as the JSON of
//! their function definitions plus [`TOOLS_OVERHEAD_TOKENS`].

use tiktoken_rs::CoreBPE;

use crate::catalog;
use crate::error::{ErrorKind, LlmError};
use crate::types::{ChatRequest, ContentPart, Message, MessageContent, Tool};

/// Tokens added per message (role and separators).
pub const TOKENS_PER_MESSAGE: u64 = 3;
/// Tokens added when a message has a `name`.
pub const TOKENS_PER_NAME: u64 = 1;
/// Tokens that prime the assistant's reply.
pub const REPLY_PRIMING_TOKENS: u64 = 3;
/// Tokens for the preamble that introduces tool definitions.
pub const TOOLS_OVERHEAD_TOKENS: u64 = 9;
/// An image whose size is unknown: a 1024×1024 image at high detail.
pub const DEFAULT_IMAGE_TOKENS: u64 = 765;
/// An image at `detail: "low"`, and the base of every high-detail image.
pub const LOW_DETAIL_IMAGE_TOKENS: u64 = 85;
/// Tokens per 512-px tile at high detail.
pub const TOKENS_PER_IMAGE_TILE: u64 = 170;

/// A BPE vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GPT-4o and later OpenAI models.
    O200kBase,
    /// GPT-4, GPT-3.5 and the embedding models; the approximation for other families.
    Cl100kBase,
    /// No vocabulary: one token per UTF-8 byte. An upper bound of every BPE count (a BPE
    /// token is at least one byte), for estimates that must not load a vocabulary's tables
    /// (tens of MB on first use).
    Bytes,
}

impl Encoding {
    /// tiktoken's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
            Encoding::Bytes => "bytes",
        }
    }

    fn bpe(self) -> Option<&'static CoreBPE> {
        match self {
            Encoding::O200kBase => Some(tiktoken_rs::o200k_base_singleton()),
            Encoding::Cl100kBase => Some(tiktoken_rs::cl100k_base_singleton()),
            Encoding::Bytes => None,
        }
    }

    /// Tokens in `text` (special-token markers count as ordinary text).
    pub fn count(self, text: &str) -> u64 {
        if text.is_empty() {
            return 0;
        }
        match self.bpe() {
            Some(bpe) => bpe.encode_ordinary(text).len() as u64,
            None => text.len() as u64,
        }
    }
}

const O200K_PREFIXES: &[&str] = &[
    "gpt-4o",
    "chatgpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-5",
    "o1",
    "o3",
    "o4",
    "gpt-oss",
    "codex-",
];

/// The tokenizer for `model` (the provider does not matter: `openrouter/openai/gpt-4o` and
/// `azure/gpt-4o` tokenize as OpenAI's `gpt-4o`).
pub fn encoding_for(_provider: &str, model: &str) -> Encoding {
    let name = model.rsplit('/').next().unwrap_or(model);
    let lower_starts = |prefix: &str| {
        name.len() >= prefix.len()
            && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    if O200K_PREFIXES.iter().any(|p| lower_starts(p)) {
        Encoding::O200kBase
    } else {
        Encoding::Cl100kBase
    }
}

/// Tokens in a plain text for `model`.
pub fn count_text_tokens(provider: &str, model: &str, text: &str) -> u64 {
    encoding_for(provider, model).count(text)
}

/// Prompt tokens of a whole request for `model`: messages, tools and a JSON-schema
/// response format.
pub fn count_request_tokens(provider: &str, model: &str, req: &ChatRequest) -> u64 {
    count_request_tokens_with(encoding_for(provider, model), req)
}

/// At least [`count_request_tokens`] for any model, without a vocabulary
/// ([`Encoding::Bytes`]): a bound for admission that costs no tokenizer tables.
pub fn request_token_bound(req: &ChatRequest) -> u64 {
    count_request_tokens_with(Encoding::Bytes, req)
}

fn count_request_tokens_with(enc: Encoding, req: &ChatRequest) -> u64 {
    let mut total = count_messages(enc, &req.messages);
    if let Some(tools) = &req.params.tools {
        total += count_tools(enc, tools);
    }
    if let Some(schema) = req
        .params
        .response_format
        .as_ref()
        .and_then(|f| f.json_schema.as_ref())
        .and_then(|s| s.schema.as_ref())
    {
        total += enc.count(&schema.to_string());
    }
    total
}

/// Prompt tokens of `messages` with OpenAI's chat overhead.
pub fn count_messages(enc: Encoding, messages: &[Message]) -> u64 {
    let mut total = 0;
    for m in messages {
        total += TOKENS_PER_MESSAGE + enc.count(m.role.as_str());
        match &m.content {
            Some(MessageContent::Text(text)) => total += enc.count(text),
            Some(MessageContent::Parts(parts)) => {
                total += parts.iter().map(|p| count_part(enc, p)).sum::<u64>()
            }
            None => {}
        }
        if let Some(name) = &m.name {
            total += TOKENS_PER_NAME + enc.count(name);
        }
        for call in m.tool_calls.iter().flatten() {
            total += enc.count(&call.function.name) + enc.count(&call.function.arguments);
        }
        if let Some(id) = &m.tool_call_id {
            total += enc.count(id);
        }
    }
    if !messages.is_empty() {
        total += REPLY_PRIMING_TOKENS;
    }
    total
}

fn count_part(enc: Encoding, part: &ContentPart) -> u64 {
    if let Some(image) = &part.image_url {
        return image_tokens_for_url(&image.url, image.detail.as_deref());
    }
    part.text.as_deref().map_or(0, |t| enc.count(t))
}

/// Tokens of tool definitions: their functions' JSON plus a fixed preamble.
pub fn count_tools(enc: Encoding, tools: &[Tool]) -> u64 {
    if tools.is_empty() {
        return 0;
    }
    let mut total = TOOLS_OVERHEAD_TOKENS;
    for tool in tools {
        total += serde_json::to_string(&tool.function).map_or(0, |json| enc.count(&json));
    }
    total
}

/// OpenAI's image token rule for a `width`×`height` image at `detail` (`low`, `high`,
/// `auto`/none = high).
pub fn image_tokens(width: u32, height: u32, detail: Option<&str>) -> u64 {
    if detail == Some("low") || width == 0 || height == 0 {
        return LOW_DETAIL_IMAGE_TOKENS;
    }
    let (mut w, mut h) = (f64::from(width), f64::from(height));
    let fit = 2048.0 / w.max(h);
    if fit < 1.0 {
        w *= fit;
        h *= fit;
    }
    let short = 768.0 / w.min(h);
    if short < 1.0 {
        w *= short;
        h *= short;
    }
    let tiles = (w / 512.0).ceil() as u64 * (h / 512.0).ceil() as u64;
    LOW_DETAIL_IMAGE_TOKENS + TOKENS_PER_IMAGE_TILE * tiles
}

/// Tokens of an image given by URL: sized from a `data:` URL's header when it can be read,
/// else [`DEFAULT_IMAGE_TOKENS`] (no image is ever downloaded to count it).
pub fn image_tokens_for_url(url: &str, detail: Option<&str>) -> u64 {
    if detail == Some("low") {
        return LOW_DETAIL_IMAGE_TOKENS;
    }
    match image_size_from_data_url(url) {
        Some((w, h)) => image_tokens(w, h, detail),
        None => DEFAULT_IMAGE_TOKENS,
    }
}

/// Width and height from the header of a `data:image/...;base64,` URL (PNG, GIF, WebP,
/// JPEG). Only the first few kilobytes are decoded.
pub fn image_size_from_data_url(url: &str) -> Option<(u32, u32)> {
    use base64::Engine;
    let rest = url.strip_prefix("data:")?;
    let (_, payload) = rest.split_once(";base64,")?;
    // JPEG size markers can sit after EXIF data; 64 KiB covers practically every file.
    let take = payload.len().min(87_384) / 4 * 4;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&payload.as_bytes()[..take])
        .ok()?;
    image_size(&bytes)
}

/// Width and height from an image file's first bytes.
pub fn image_size(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u32::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le16 = |i: usize| Some(u32::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le24 = |i: usize| {
        Some(
            u32::from(*b.get(i)?)
                | u32::from(*b.get(i + 1)?) << 8
                | u32::from(*b.get(i + 2)?) << 16,
        )
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"GIF8") {
        return Some((le16(6)?, le16(8)?));
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return match b.get(12..16)? {
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            b"VP8 " => Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff)),
            b"VP8L" => {
                let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
            }
            _ => None,
        };
    }
    if b.starts_with(&[0xff, 0xd8]) {
        let mut i = 2;
        while i + 9 < b.len() {
            if b[i] != 0xff {
                return None;
            }
            let marker = b[i + 1];
            if marker == 0xff {
                i += 1;
                continue;
            }
            let len = usize::try_from(be16(i + 2)?).ok()?;
            // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc).
            if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
                return Some((be16(i + 7)?, be16(i + 5)?));
            }
            i += 2 + len;
        }
    }
    None
}

/// Check that a request fits `model`'s context window (prompt tokens, plus the requested
/// output tokens when given, against the catalogue's limits). Returns the prompt token
/// count; a model without known limits always passes.
pub fn check_context_window(
    provider: &str,
    model: &str,
    req: &ChatRequest,
) -> Result<u64, LlmError> {
    let prompt = count_request_tokens(provider, model, req);
    let Some(info) = catalog::model_info(provider, model) else {
        return Ok(prompt);
    };
    if let Some(limit) = info.input_limit() {
        if prompt > limit {
            return Err(LlmError::new(
                ErrorKind::ContextWindowExceeded,
                format!(
                    "The prompt is about {prompt} tokens, over {model}'s context window of {limit} tokens. Shorten the messages or use a model with a larger context window."
                ),
            )
            .context(provider, model));
        }
    }
    if let (Some(limit), Some(asked)) = (info.output_limit(), req.max_output_tokens()) {
        if u64::from(asked) > limit {
            return Err(LlmError::new(
                ErrorKind::ContextWindowExceeded,
                format!("max_tokens={asked} is over {model}'s output limit of {limit} tokens."),
            )
            .context(provider, model));
        }
    }
    Ok(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodings_per_family() {
        assert_eq!(encoding_for("openai", "gpt-4o-mini"), Encoding::O200kBase);
        assert_eq!(encoding_for("openai", "o3-mini"), Encoding::O200kBase);
        assert_eq!(encoding_for("openai", "gpt-5"), Encoding::O200kBase);
        assert_eq!(
            encoding_for("openrouter", "openai/gpt-4.1"),
            Encoding::O200kBase
        );
        assert_eq!(encoding_for("openai", "gpt-4"), Encoding::Cl100kBase);
        assert_eq!(
            encoding_for("openai", "gpt-3.5-turbo"),
            Encoding::Cl100kBase
        );
        assert_eq!(
            encoding_for("anthropic", "claude-sonnet-4"),
            Encoding::Cl100kBase
        );
    }

    #[test]
    fn known_tiktoken_counts() {
        // Token ids from OpenAI's tiktoken cookbook / reference implementation.
        let (Some(cl), Some(o2)) = (Encoding::Cl100kBase.bpe(), Encoding::O200kBase.bpe()) else {
            unreachable!("both are vocabularies")
        };
        assert_eq!(cl.encode_ordinary("hello world"), vec![15339, 1917]);
        assert_eq!(o2.encode_ordinary("hello world"), vec![24912, 2375]);
        assert_eq!(
            cl.encode_ordinary("tiktoken is great!"),
            vec![83, 1609, 5963, 374, 2294, 0]
        );
        assert_eq!(
            o2.encode_ordinary("tiktoken is great!"),
            vec![83, 8251, 2488, 382, 2212, 0]
        );
        assert_eq!(Encoding::O200kBase.count("tiktoken is great!"), 6);
        assert_eq!(Encoding::Cl100kBase.count(""), 0);
        // Special-token markers are ordinary text.
        assert!(Encoding::Cl100kBase.count("<|endoftext|>") > 1);
    }

    #[test]
    fn chat_overhead_matches_openai_cookbook() {
        let req = ChatRequest::new("gpt-4o", vec![Message::user("hi")]);
        // 3 per message + "user" (1) + "hi" (1) + 3 reply priming.
        assert_eq!(count_request_tokens("openai", "gpt-4o", &req), 8);
        let named: Message =
            serde_json::from_value(json!({"role": "user", "content": "hi", "name": "bob"}))
                .unwrap();
        let req = ChatRequest::new("gpt-4o", vec![named]);
        assert_eq!(count_request_tokens("openai", "gpt-4o", &req), 8 + 1 + 1);
    }

    #[test]
    fn images_by_tile_rule() {
        assert_eq!(image_tokens(1024, 1024, Some("low")), 85);
        // 1024² → 768² → 2×2 tiles.
        assert_eq!(image_tokens(1024, 1024, Some("high")), 765);
        // 2048×4096 → 1024×2048 → 768×1536 → 2×3 tiles.
        assert_eq!(image_tokens(2048, 4096, None), 85 + 170 * 6);
        assert_eq!(image_tokens(100, 100, None), 85 + 170);
        let part: Message = serde_json::from_value(json!({"role": "user", "content": [
            {"type": "text", "text": "hi"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
        ]}))
        .unwrap();
        let req = ChatRequest::new("gpt-4o", vec![part]);
        assert_eq!(
            count_request_tokens("openai", "gpt-4o", &req),
            3 + 1 + 1 + DEFAULT_IMAGE_TOKENS + 3
        );
    }

    #[test]
    fn image_sizes_from_headers() {
        use base64::Engine;
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&2048u32.to_be_bytes());
        png.extend_from_slice(&4096u32.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0]);
        assert_eq!(image_size(&png), Some((2048, 4096)));
        let url = format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&png)
        );
        assert_eq!(image_size_from_data_url(&url), Some((2048, 4096)));
        assert_eq!(image_tokens_for_url(&url, None), 85 + 170 * 6);
        assert_eq!(image_tokens_for_url(&url, Some("low")), 85);
        let gif = b"GIF89a\x40\x01\xf0\x00";
        assert_eq!(image_size(gif), Some((320, 240)));
        // JPEG: SOI, an APP0 segment, then SOF0 with height 480 and width 640.
        let jpeg = [
            0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x01,
            0xe0, 0x02, 0x80, 0x03, 0x01, 0x22, 0x00,
        ];
        assert_eq!(image_size(&jpeg), Some((640, 480)));
        assert_eq!(image_size(b"not an image"), None);
        assert_eq!(image_size_from_data_url("https://x/y.png"), None);
    }

    #[test]
    fn tools_are_counted() {
        let mut req = ChatRequest::new("gpt-4o", vec![Message::user("hi")]);
        let base = count_request_tokens("openai", "gpt-4o", &req);
        req.params.tools = Some(vec![serde_json::from_value(
            json!({"type": "function", "function": {
            "name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}),
        )
        .unwrap()]);
        let with_tools = count_request_tokens("openai", "gpt-4o", &req);
        assert!(
            with_tools > base + TOOLS_OVERHEAD_TOKENS + 10,
            "{with_tools}"
        );
    }

    #[test]
    fn the_byte_bound_is_never_below_a_vocabulary_count() {
        let mut req = ChatRequest::new(
            "gpt-4o",
            vec![
                Message::user("You are terse. Réponds en français. 日本語も大丈夫です。"),
                Message::user("word ".repeat(200)),
            ],
        );
        req.params.tools = Some(vec![serde_json::from_value(json!({"type": "function",
            "function": {"name": "f", "parameters": {"type": "object"}}}))
        .unwrap()]);
        let bound = request_token_bound(&req);
        for model in ["gpt-4o", "gpt-4", "claude-3-5-sonnet"] {
            let exact = count_request_tokens("openai", model, &req);
            assert!(bound >= exact, "{model}: {bound} < {exact}");
        }
    }

    #[test]
    fn context_window_check() {
        let req = ChatRequest::new("gpt-4o", vec![Message::user("hi")]);
        assert_eq!(check_context_window("openai", "gpt-4o", &req).unwrap(), 8);
        let big = ChatRequest::new("gpt-4o", vec![Message::user("word ".repeat(130_000))]);
        let e = check_context_window("openai", "gpt-4o", &big).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ContextWindowExceeded);
        let mut many = req.clone();
        many.params.max_tokens = Some(1_000_000);
        assert!(check_context_window("openai", "gpt-4o", &many).is_err());
        // Unknown models pass.
        assert!(check_context_window("groq", "unknown-model-x", &big).is_ok());
    }
}
