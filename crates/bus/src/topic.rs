//! AMQP topic-exchange pattern matching: words separated by `.`, `*` matches
//! exactly one word, `#` matches zero or more words.

/// Whether `routing_key` matches the binding `pattern`.
pub fn matches(pattern: &str, routing_key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = routing_key.split('.').collect();
    match_words(&pattern, &key)
}

fn match_words(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|skip| match_words(rest, &key[skip..])),
        Some((&"*", rest)) => !key.is_empty() && match_words(rest, &key[1..]),
        Some((word, rest)) => key.first() == Some(word) && match_words(rest, &key[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn table() {
        for (pattern, key, expected) in [
            ("#", "meeting.created", true),
            ("#", "", true),
            ("meeting.*", "meeting.created", true),
            ("meeting.*", "meeting.created.x", false),
            ("meeting.#", "meeting", true),
            ("meeting.#", "meeting.a.b", true),
            ("*.created", "meeting.created", true),
            ("*.created", "created", false),
            ("user.updated", "user.updated", true),
            ("user.updated", "user.deleted", false),
            ("#.deleted", "meeting.deleted", true),
            ("a.#.z", "a.z", true),
            ("a.#.z", "a.b.c.z", true),
            ("a.#.z", "a.b.c", false),
        ] {
            assert_eq!(matches(pattern, key), expected, "{pattern} vs {key}");
        }
    }
}
