//! Fuzzy matching for the command palette: every query character must appear
//! in order; consecutive runs and word starts score higher.

pub fn score(query: &str, candidate: &str) -> Option<i64> {
    let query: Vec<char> = query
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if query.is_empty() {
        return Some(0);
    }
    let text: Vec<char> = candidate.to_lowercase().chars().collect();
    let mut score = 0i64;
    let mut qi = 0;
    let mut last: Option<usize> = None;
    for (i, ch) in text.iter().enumerate() {
        if qi < query.len() && *ch == query[qi] {
            score += 1;
            if last.is_some_and(|l| l + 1 == i) {
                score += 5;
            }
            if i == 0 || !text[i - 1].is_alphanumeric() {
                score += 3;
            }
            last = Some(i);
            qi += 1;
        }
    }
    (qi == query.len()).then(|| score * 100 - text.len() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsequences_match_and_tighter_ones_rank_higher() {
        assert!(score("snd", "send").is_some());
        assert!(score("xyz", "send").is_none());
        assert!(score("seq", "sequences") > score("seq", "set_category reply"));
        assert_eq!(score("", "anything"), Some(0));
    }
}
