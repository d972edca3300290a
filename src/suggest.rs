//! "Did you mean ...?": the closest of a set of known names to a mistyped one.

/// Edits between `a` and `b`: insertions, deletions, substitutions and swaps of two
/// adjacent characters (optimal string alignment), so `opneai` is one edit from `openai`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the dynamic-programming table: two back (for swaps), one back, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The candidate closest to `word`, if one is at most `max_edits` away (the first of
/// equally close ones).
pub fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max_edits: usize,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= max_edits)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_kind_of_edit_once() {
        assert_eq!(edit_distance("temperature", "temperature"), 0);
        assert_eq!(edit_distance("temprature", "temperature"), 1);
        assert_eq!(edit_distance("temperaturee", "temperature"), 1);
        assert_eq!(edit_distance("temperatura", "temperature"), 1);
        assert_eq!(edit_distance("opneai", "openai"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("top_k", "top_p"), 1);
        assert_eq!(edit_distance("antropic", "anthropic"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_within_reach() {
        let names = ["openai", "anthropic", "gemini"];
        assert_eq!(closest("opneai", names, 2), Some("openai"));
        assert_eq!(closest("gemni", names, 2), Some("gemini"));
        assert_eq!(closest("zzz", names, 2), None);
    }
}
