//! Wildcard model groups (LiteLLM's pattern router): a deployment whose `model_name` holds
//! `*` (`"openai/*"`, `"*"`, `"claude-*-latest"`) serves every requested model its pattern
//! matches, and a `*` in its `litellm_params.model` is replaced by what the request's `*`
//! matched (`"openai/*"` asked for `"openai/gpt-4o"` calls `openai/gpt-4o`).
//!
//! As in LiteLLM, each `*` matches any text (greedily, the first `*` taking as much as
//! the rest allows), the match is anchored at the start of the requested name only, and
//! when several patterns match, the most specific wins: the longest pattern (measured as
//! LiteLLM's regex), then the one with most wildcards and escapes, then the first listed.

/// What a request's `*`s matched in one pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The name matched (the requested model, or it with its provider prefixed).
    pub text: String,
    /// What each `*` matched, in order.
    pub segments: Vec<String>,
}

impl Match {
    /// `model` (a deployment's `litellm_params.model`) with its `*`s replaced by the
    /// matched segments, in order; the matched name itself when there are more segments
    /// than `*`s (LiteLLM's rule).
    pub fn fill(&self, model: &str) -> String {
        let stars = model.matches('*').count();
        if stars == 0 {
            return model.to_owned();
        }
        if self.segments.len() > stars {
            return self.text.clone();
        }
        let mut out = model.to_owned();
        for segment in &self.segments {
            if let Some(at) = out.find('*') {
                out.replace_range(at..at + 1, segment);
            }
        }
        out
    }
}

/// One wildcard `model_name`.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub name: String,
    /// The literal pieces between the `*`s (one more than there are `*`s).
    pieces: Vec<String>,
    /// LiteLLM's ordering key: (length of the regex, count of regex metacharacters).
    specificity: (usize, usize),
}

/// Characters Python's `re.escape` escapes.
const ESCAPED: &str = "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}";
/// Characters LiteLLM counts as a pattern's complexity.
const COMPLEX: &str = "*+?\\^$|()";

impl Pattern {
    /// The pattern of `name`, or None when it holds no `*`.
    pub fn new(name: &str) -> Option<Pattern> {
        if !name.contains('*') {
            return None;
        }
        let mut regex = String::new();
        for c in name.chars() {
            if c == '*' {
                regex.push_str("(.*)");
            } else {
                if ESCAPED.contains(c) {
                    regex.push('\\');
                }
                regex.push(c);
            }
        }
        let specificity = (
            regex.chars().count(),
            regex.chars().filter(|c| COMPLEX.contains(*c)).count(),
        );
        Some(Pattern {
            name: name.to_owned(),
            pieces: name.split('*').map(str::to_owned).collect(),
            specificity,
        })
    }

    /// What `text` matches, if it does.
    pub fn matches(&self, text: &str) -> Option<Match> {
        let rest = text.strip_prefix(self.pieces[0].as_str())?;
        let mut segments = Vec::with_capacity(self.pieces.len() - 1);
        if match_from(rest, &self.pieces[1..], &mut segments) {
            Some(Match {
                text: text.to_owned(),
                segments,
            })
        } else {
            None
        }
    }
}

/// Match `pieces` (each preceded by a `*`) against `text`, each `*` as long as possible.
fn match_from(text: &str, pieces: &[String], segments: &mut Vec<String>) -> bool {
    let Some((piece, rest)) = pieces.split_first() else {
        return true;
    };
    if rest.is_empty() && piece.is_empty() {
        // A trailing `*` takes everything left.
        segments.push(text.to_owned());
        return true;
    }
    // Longest segment first: every position where `piece` occurs, from the last.
    let mut ends: Vec<usize> = text.match_indices(piece.as_str()).map(|(i, _)| i).collect();
    if piece.is_empty() {
        ends = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
    }
    for &at in ends.iter().rev() {
        segments.push(text[..at].to_owned());
        if match_from(&text[at + piece.len()..], rest, segments) {
            return true;
        }
        segments.pop();
    }
    false
}

/// The wildcard groups of a router, most specific first.
#[derive(Debug, Clone, Default)]
pub struct Patterns(Vec<Pattern>);

impl Patterns {
    /// The patterns of `names` (those holding a `*`), in LiteLLM's order.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Patterns {
        let mut list: Vec<Pattern> = names.into_iter().filter_map(Pattern::new).collect();
        // Stable: equally specific patterns keep their model_list order.
        list.sort_by_key(|p| std::cmp::Reverse(p.specificity));
        Patterns(list)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first pattern matching `requested`, else `provider/requested` (a bare name
    /// whose provider is known, as `"gpt-4o"` for `"openai/*"`).
    pub fn find(&self, requested: &str, provider: Option<&str>) -> Option<(&Pattern, Match)> {
        let first = self
            .0
            .iter()
            .find_map(|p| p.matches(requested).map(|m| (p, m)));
        first.or_else(|| {
            let prefixed = format!("{}/{requested}", provider?);
            self.0
                .iter()
                .find_map(|p| p.matches(&prefixed).map(|m| (p, m)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> Option<Vec<String>> {
        Pattern::new(pattern)
            .unwrap()
            .matches(text)
            .map(|m| m.segments)
    }

    #[test]
    fn stars_match_greedily_from_the_start() {
        assert_eq!(m("openai/*", "openai/gpt-4o"), Some(vec!["gpt-4o".into()]));
        assert_eq!(m("openai/*", "anthropic/claude"), None);
        assert_eq!(
            m("*", "anything/at-all"),
            Some(vec!["anything/at-all".into()])
        );
        assert_eq!(
            m("a/*::static::*", "a/foo::static::bar"),
            Some(vec!["foo".into(), "bar".into()])
        );
        // Anchored at the start only, as Python's re.match.
        assert_eq!(m("gpt-*-mini", "gpt-4o-mini-x"), Some(vec!["4o".into()]));
        assert_eq!(
            m("*llama3*", "hello-meta.llama3-70b"),
            Some(vec!["hello-meta.".into(), "-70b".into()])
        );
    }

    #[test]
    fn fill_replaces_stars_in_order() {
        let one = Match {
            text: "openai/gpt-4o".into(),
            segments: vec!["gpt-4o".into()],
        };
        assert_eq!(one.fill("openai/*"), "openai/gpt-4o");
        assert_eq!(one.fill("azure/fixed"), "azure/fixed");
        assert_eq!(one.fill("*"), "gpt-4o");
        let two = Match {
            text: "x/a::b".into(),
            segments: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            two.fill("y/*"),
            "x/a::b",
            "more segments than stars: the request"
        );
        let all = Match {
            text: "gpt-4o".into(),
            segments: vec!["gpt-4o".into()],
        };
        assert_eq!(all.fill("openai/*"), "openai/gpt-4o");
    }

    #[test]
    fn the_most_specific_pattern_wins() {
        let p = Patterns::new(["*", "openai/*", "openai/gpt-*"]);
        assert_eq!(
            p.find("openai/gpt-4o", None).unwrap().0.name,
            "openai/gpt-*"
        );
        assert_eq!(p.find("openai/o3", None).unwrap().0.name, "openai/*");
        assert_eq!(p.find("groq/llama", None).unwrap().0.name, "*");
        let p = Patterns::new(["openai/*"]);
        let (_, m) = p.find("gpt-4o", Some("openai")).unwrap();
        assert_eq!(m.text, "openai/gpt-4o");
        assert!(p.find("claude", Some("anthropic")).is_none());
    }
}
