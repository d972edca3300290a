//! AWS's binary event-stream framing (`application/vnd.amazon.eventstream`), decoded and
//! encoded with `aws-smithy-eventstream`, which checks both CRCs of every message.
//!
//! A message is a prelude (total length, headers length, prelude CRC), typed headers, a
//! payload and a message CRC. Bedrock sends `:message-type` `event` messages named by
//! `:event-type` with a JSON payload, `exception` messages named by `:exception-type`, and
//! `error` messages with `:error-code` / `:error-message` headers.

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;

use super::OwnedFrame;

/// Size of the prelude: total length, headers length, prelude CRC.
const PRELUDE_LEN: usize = 12;
/// Messages larger than this are taken for corruption (AWS's limit is 16 MiB of payload
/// plus 128 KiB of headers).
const MAX_MESSAGE_LEN: usize = 24 * 1024 * 1024;

/// Incremental decoder: bytes in, frames out.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Feed bytes; complete messages become frames. A corrupt message (bad length,
    /// checksum mismatch, undecodable headers, a payload that is not UTF-8) is an error.
    pub(super) fn push(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<OwnedFrame>,
        limit: usize,
    ) -> Result<(), String> {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while self.buf.len() - start >= PRELUDE_LEN {
            let rest = &self.buf[start..];
            let total = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if !(PRELUDE_LEN + 4..=MAX_MESSAGE_LEN).contains(&total) {
                return Err(format!("an event-stream message declares {total} bytes"));
            }
            if total > limit {
                return Err(format!(
                    "an event-stream message declares {total} bytes, more than \
                     max_response_bytes ({limit} bytes)"
                ));
            }
            if rest.len() < total {
                break;
            }
            let message = read_message_from(&rest[..total])
                .map_err(|e| format!("an event-stream message failed its checks ({e})"))?;
            out.push(to_frame(&message)?);
            start += total;
        }
        self.buf.drain(..start);
        Ok(())
    }

    /// Bytes held for a message not complete yet.
    pub(super) fn pending(&self) -> usize {
        self.buf.len()
    }

    /// End of input: leftover bytes are a message cut short.
    pub(super) fn finish(&mut self) -> Result<(), String> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the event stream ended inside a message ({} bytes left over)",
                self.buf.len()
            ))
        }
    }
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

fn to_frame(message: &Message) -> Result<OwnedFrame, String> {
    let payload = || {
        std::str::from_utf8(message.payload())
            .map(str::to_owned)
            .map_err(|_| "an event-stream payload is not UTF-8 text".to_owned())
    };
    match header(message, ":message-type").unwrap_or("event") {
        "exception" => Ok(OwnedFrame {
            event: Some(format!(
                "exception:{}",
                header(message, ":exception-type").unwrap_or("UnknownException")
            )),
            data: payload()?,
        }),
        "error" => Ok(OwnedFrame {
            event: Some(format!(
                "error:{}",
                header(message, ":error-code").unwrap_or("UnknownError")
            )),
            data: header(message, ":error-message")
                .unwrap_or_default()
                .to_owned(),
        }),
        _ => Ok(OwnedFrame {
            event: header(message, ":event-type").map(str::to_owned),
            data: payload()?,
        }),
    }
}

fn encode(headers: Vec<Header>, payload: impl Into<Bytes>) -> Bytes {
    let message = Message::new_from_parts(headers, payload);
    let mut out = Vec::new();
    // Writing to a Vec only fails for a message over the format's limits.
    if write_message_to(&message, &mut out).is_err() {
        out.clear();
    }
    Bytes::from(out)
}

fn string(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_owned().into()))
}

/// An `event` message as Bedrock sends it (`:event-type`, JSON `:content-type`).
pub fn encode_event(event_type: &str, payload: impl Into<Bytes>) -> Bytes {
    encode(
        vec![
            string(":event-type", event_type),
            string(":content-type", "application/json"),
            string(":message-type", "event"),
        ],
        payload,
    )
}

/// An `exception` message (`ThrottlingException`, `ValidationException`, ...).
pub fn encode_exception(exception_type: &str, payload: impl Into<Bytes>) -> Bytes {
    encode(
        vec![
            string(":exception-type", exception_type),
            string(":content-type", "application/json"),
            string(":message-type", "exception"),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], step: usize) -> Result<Vec<OwnedFrame>, String> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for piece in bytes.chunks(step.max(1)) {
            d.push(piece, &mut out, usize::MAX)?;
        }
        d.finish()?;
        Ok(out)
    }

    #[test]
    fn round_trips_events_and_exceptions_in_any_split() {
        let mut bytes = encode_event("messageStart", r#"{"role":"assistant"}"#).to_vec();
        bytes.extend_from_slice(&encode_exception(
            "throttlingException",
            r#"{"message":"slow down"}"#,
        ));
        for step in [1, 3, 7, 64, bytes.len()] {
            let frames = decode_all(&bytes, step).unwrap();
            assert_eq!(frames.len(), 2, "step {step}");
            assert_eq!(frames[0].event.as_deref(), Some("messageStart"));
            assert_eq!(frames[0].data, r#"{"role":"assistant"}"#);
            assert_eq!(
                frames[1].event.as_deref(),
                Some("exception:throttlingException")
            );
        }
    }

    #[test]
    fn a_corrupted_frame_is_an_error_never_text() {
        let good = encode_event("contentBlockDelta", r#"{"delta":{"text":"hello"}}"#);
        // A flipped payload byte: the message CRC no longer matches.
        let mut bad = good.to_vec();
        let at = bad.len() - 8;
        bad[at] ^= 0x20;
        let e = decode_all(&bad, 5).unwrap_err();
        assert!(e.contains("failed its checks"), "{e}");
        assert!(
            e.to_lowercase().contains("checksum") || e.contains("crc"),
            "{e}"
        );
        // A flipped prelude byte: the prelude CRC (or the length) no longer matches.
        let mut bad = good.to_vec();
        bad[6] ^= 0x01;
        assert!(decode_all(&bad, 64).is_err());
        // An absurd length.
        let mut bad = good.to_vec();
        bad[0] = 0x7f;
        assert!(decode_all(&bad, 64).unwrap_err().contains("declares"));
        // Cut short.
        assert!(decode_all(&good[..good.len() - 3], 64)
            .unwrap_err()
            .contains("ended inside a message"));
        // Not an event stream at all (a JSON error body).
        assert!(decode_all(br#"{"message":"The security token is invalid"}"#, 64).is_err());
    }
}
