//! Small text helpers every layer uses: the edit distance behind "did you mean", and a message on
//! one line. Imports nothing of tollgate.

/// Levenshtein distance between `a` and `b`, in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// A message on one line: each line's runs of whitespace made one space, empty lines dropped, the
/// lines joined with `; `.
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("kube.scael", "kube.scale"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("drak", "dark"), 2);
    }

    #[test]
    fn one_line_joins_lines_and_collapses_spaces() {
        assert_eq!(one_line("  a   b \n\n  c\t d  "), "a b; c d");
        assert_eq!(one_line("plain"), "plain");
    }
}
