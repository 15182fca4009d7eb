// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! One shell-style path pattern, compiled once and matched against `/`-separated relative
//! paths. Two dialects share the code: Go's `filepath.Match` (what COPY/ADD sources use, where
//! `**` is just two `*`) and moby's `patternmatcher` (what `.dockerignore` uses, where `**`
//! crosses directories). Syntax errors follow `filepath.Match`'s `ErrBadPattern` rules.

use std::fmt;

/// Why a pattern could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Which wildcard dialect a pattern is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Go's `filepath.Match`: `*` and `?` never match `/`; `**` is the same as `*`.
    FilepathMatch,
    /// moby `patternmatcher` (`.dockerignore`): as above, plus `**` matches any number of
    /// directories (`**/` is "zero or more leading directories", a trailing `**` is anything).
    DockerIgnore,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// One exact character.
    Literal(char),
    /// `?`: any one character but `/`.
    Any,
    /// `*`: any run of characters without `/`.
    Star,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**/` (or `**` inside a segment): `(.*/)?`, zero or more whole leading directories.
    AnyDirs,
    /// A trailing `**`: any characters at all, `/` included.
    AnyAll,
}

/// The live NFA states: `entry[i]` means "token `i` is next" (`entry[n]`: all matched);
/// `inside[i]` means "inside the `.*` of the `(.*/)?` at token `i`, waiting for a `/`".
struct States {
    entry: Vec<bool>,
    inside: Vec<bool>,
}

/// A compiled pattern. Matching is linear in the path length (an NFA simulation, no
/// backtracking), so hostile patterns such as `a*a*a*a*b` stay cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    tokens: Vec<Token>,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Pattern {
    /// Compiles `source` in the given dialect. The pattern is used as given: callers clean it
    /// first when their format asks for it (`.dockerignore` does).
    pub fn new(source: &str, dialect: Dialect) -> Result<Pattern, PatternError> {
        let bad = |reason| PatternError {
            pattern: source.to_string(),
            reason,
        };
        let chars: Vec<char> = source.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            i += 1;
            match c {
                '*' if dialect == Dialect::DockerIgnore && chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    tokens.push(if i >= chars.len() {
                        Token::AnyAll
                    } else {
                        Token::AnyDirs
                    });
                }
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::Any),
                '\\' => match chars.get(i) {
                    Some(&next) => {
                        i += 1;
                        tokens.push(Token::Literal(next));
                    }
                    None => return Err(bad("trailing backslash escapes nothing")),
                },
                '[' => {
                    let (class, next) = parse_class(&chars, i).map_err(bad)?;
                    tokens.push(class);
                    i = next;
                }
                other => tokens.push(Token::Literal(other)),
            }
        }
        Ok(Pattern {
            source: source.to_string(),
            tokens,
        })
    }

    /// Whether the whole of `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        match self.run(path) {
            Some(states) => states.entry.last().copied().unwrap_or(false),
            None => false,
        }
    }

    /// Whether some path strictly below directory `dir` could match: `a/*/c` could match
    /// below `a/b`, `a/b` could not match below `a/b` (it names the directory itself).
    pub fn could_match_below(&self, dir: &str) -> bool {
        let prefix = if dir.is_empty() || dir == "." {
            String::new()
        } else {
            format!("{dir}/")
        };
        match self.run(&prefix) {
            Some(states) => {
                states.entry.iter().take(self.tokens.len()).any(|&s| s)
                    || states.inside.iter().any(|&s| s)
            }
            None => false,
        }
    }

    /// Feeds `text` through the NFA; returns the live states, or `None` once none is live.
    fn run(&self, text: &str) -> Option<States> {
        let n = self.tokens.len();
        let mut cur = States {
            entry: vec![false; n + 1],
            inside: vec![false; n],
        };
        if let Some(first) = cur.entry.first_mut() {
            *first = true;
        }
        self.close(&mut cur.entry);
        for c in text.chars() {
            let mut next = States {
                entry: vec![false; n + 1],
                inside: vec![false; n],
            };
            for (i, token) in self.tokens.iter().enumerate() {
                let at_entry = cur.entry.get(i).copied().unwrap_or(false);
                let in_dirs = cur.inside.get(i).copied().unwrap_or(false);
                if !at_entry && !in_dirs {
                    continue;
                }
                let (stay, advance) = match token {
                    Token::Literal(l) => (false, *l == c),
                    Token::Any => (false, c != '/'),
                    Token::Class { negated, ranges } => {
                        let inside = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                        (false, inside != *negated)
                    }
                    Token::Star => (c != '/', false),
                    Token::AnyAll => (true, false),
                    Token::AnyDirs => {
                        // `(.*/)?`: once a character is consumed, only a `/` can leave.
                        next.inside[i] = true;
                        (false, c == '/')
                    }
                };
                if stay {
                    next.entry[i] = true;
                }
                if advance {
                    next.entry[i + 1] = true;
                }
            }
            self.close(&mut next.entry);
            if !next.entry.iter().chain(&next.inside).any(|&s| s) {
                return None;
            }
            cur = next;
        }
        Some(cur)
    }

    /// Epsilon closure: `*`, `**` and `**/` may match nothing.
    fn close(&self, states: &mut [bool]) {
        for (i, token) in self.tokens.iter().enumerate() {
            let skippable = matches!(token, Token::Star | Token::AnyAll | Token::AnyDirs);
            if skippable && states.get(i).copied().unwrap_or(false) {
                states[i + 1] = true;
            }
        }
    }
}

/// Whether a path segment holds a wildcard (`*`, `?`, `[`), skipping `\`-escaped characters,
/// like Docker's `containsWildcards`.
pub fn has_wildcard(segment: &str) -> bool {
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Removes `\` escapes from a pattern without wildcards, giving the literal path it names.
pub fn unescape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses a character class whose `[` is just before `chars[start]`; returns the token and
/// the index after the closing `]`. Grammar and errors of Go's `filepath.Match`.
fn parse_class(chars: &[char], start: usize) -> Result<(Token, usize), &'static str> {
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        match chars.get(i) {
            None => return Err("unclosed character class"),
            Some(']') if !ranges.is_empty() => {
                return Ok((Token::Class { negated, ranges }, i + 1));
            }
            _ => {}
        }
        let (lo, next) = class_char(chars, i)?;
        i = next;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            let (h, next) = class_char(chars, i + 1)?;
            hi = h;
            i = next;
        }
        ranges.push((lo, hi));
    }
}

/// One (possibly `\`-escaped) character of a class; an unescaped `-` or `]` here is an error,
/// as is running off the end.
fn class_char(chars: &[char], i: usize) -> Result<(char, usize), &'static str> {
    match chars.get(i) {
        None => Err("unclosed character class"),
        Some('-') => Err("'-' must be escaped or form a range inside a character class"),
        Some(']') => Err("empty character class or range"),
        Some('\\') => match chars.get(i + 1) {
            Some(&c) if i + 2 < chars.len() => Ok((c, i + 2)),
            _ => Err("unclosed character class"),
        },
        Some(&c) if i + 1 < chars.len() => Ok((c, i + 1)),
        Some(_) => Err("unclosed character class"),
    }
}

/// Lexically cleans a `/`-separated path like Go's `path.Clean`: no empty or `.` segments,
/// `..` folded into its parent, no trailing `/`; `""` becomes `.`; `..` above a rooted path is
/// dropped.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => match out.last() {
                Some(&last) if last != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's own `filepath.Match` table (as copied into moby's patternmatcher tests).
    #[test]
    fn filepath_match_table() {
        #[track_caller]
        fn check(pattern: &str, text: &str, expected: Result<bool, ()>) {
            let got = Pattern::new(pattern, Dialect::FilepathMatch)
                .map(|p| p.matches(text))
                .map_err(|_| ());
            assert_eq!(got, expected, "pattern {pattern:?} text {text:?}");
        }
        let bad = Err(());
        check("abc", "abc", Ok(true));
        check("*", "abc", Ok(true));
        check("*c", "abc", Ok(true));
        check("a*", "a", Ok(true));
        check("a*", "abc", Ok(true));
        check("a*", "ab/c", Ok(false));
        check("a*/b", "abc/b", Ok(true));
        check("a*/b", "a/c/b", Ok(false));
        check("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true));
        check("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true));
        check("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false));
        check("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false));
        check("a*b?c*x", "abxbbxdbxebxczzx", Ok(true));
        check("a*b?c*x", "abxbbxdbxebxczzy", Ok(false));
        check("ab[c]", "abc", Ok(true));
        check("ab[b-d]", "abc", Ok(true));
        check("ab[e-g]", "abc", Ok(false));
        check("ab[^c]", "abc", Ok(false));
        check("ab[^b-d]", "abc", Ok(false));
        check("ab[^e-g]", "abc", Ok(true));
        check("a\\*b", "a*b", Ok(true));
        check("a\\*b", "ab", Ok(false));
        check("a?b", "a☺b", Ok(true));
        check("a[^a]b", "a☺b", Ok(true));
        check("a???b", "a☺b", Ok(false));
        check("a[^a][^a][^a]b", "a☺b", Ok(false));
        check("[a-ζ]*", "α", Ok(true));
        check("*[a-ζ]", "A", Ok(false));
        check("a?b", "a/b", Ok(false));
        check("a*b", "a/b", Ok(false));
        check("[\\]a]", "]", Ok(true));
        check("[\\-]", "-", Ok(true));
        check("[x\\-]", "x", Ok(true));
        check("[x\\-]", "-", Ok(true));
        check("[x\\-]", "z", Ok(false));
        check("[\\-x]", "x", Ok(true));
        check("[\\-x]", "-", Ok(true));
        check("[\\-x]", "a", Ok(false));
        check("[]a]", "]", bad);
        check("[-]", "-", bad);
        check("[x-]", "x", bad);
        check("[-x]", "x", bad);
        check("\\", "a", bad);
        check("[a-b-c]", "a", bad);
        check("[", "a", bad);
        check("[^", "a", bad);
        check("[^bc", "a", bad);
        check("a[", "a", bad);
        check("*x", "xxx", Ok(true));
        // In COPY sources `**` is two stars: it does not cross directories.
        check("**", "a/b", Ok(false));
        check("**/*.go", "a/b.go", Ok(true));
        check("**/*.go", "a/b/c.go", Ok(false));
    }

    /// moby patternmatcher's `MatchesExact` table (the `**` dialect).
    #[test]
    fn dockerignore_dialect_table() {
        #[track_caller]
        fn check(pattern: &str, text: &str, expected: bool) {
            let p = Pattern::new(&clean(pattern), Dialect::DockerIgnore).unwrap();
            assert_eq!(
                p.matches(text),
                expected,
                "pattern {pattern:?} text {text:?}"
            );
        }
        check("**", "file", true);
        check("**/", "file", true);
        check("**", "dir/file", true);
        check("**/", "dir/file", true);
        check("**/**", "dir/file", true);
        check("dir/**", "dir/file", true);
        check("dir/**", "dir/dir2/file", true);
        check("**/dir", "dir", true);
        check("**/dir", "dir/file", false);
        check("**/dir2/*", "dir/dir2/file", true);
        check("**/dir2/**", "dir/dir2/dir3/file", true);
        check("**file", "file", true);
        check("**file", "dir/file", true);
        check("**/file", "dir/file", true);
        check("**file", "dir/dir/file", true);
        check("**/file*", "dir/dir/file.txt", true);
        check("**/file*txt", "dir/dir/file.txt", true);
        check("**/file*.txt*", "dir/dir/file.txt", true);
        check("**/**/*.txt", "dir/dir/file.txt", true);
        check("**/**/*.txt2", "dir/dir/file.txt", false);
        check("**/*.txt", "file.txt", true);
        check("**/**/*.txt", "file.txt", true);
        check("a**/*.txt", "a/file.txt", true);
        check("a**/*.txt", "a/dir/file.txt", true);
        check("a**/*.txt", "a/dir/dir/file.txt", true);
        check("a/*.txt", "a/dir/file.txt", false);
        check("a/*.txt", "a/file.txt", true);
        check("a/*.txt**", "a/file.txt", true);
        check("a[b-d]e", "ae", false);
        check("a[b-d]e", "ace", true);
        check("a[b-d]e", "aae", false);
        check("a[^b-d]e", "aze", true);
        check(".*", ".foo", true);
        check(".*", "foo", false);
        check("abc.def", "abcdef", false);
        check("abc.def", "abc.def", true);
        check("abc?def", "abcZdef", true);
        check("abc?def", "abcdef", false);
        check("**/foo/bar", "foo/bar", true);
        check("**/foo/bar", "dir/dir2/foo/bar", true);
        check("abc/**", "abc", false);
        check("abc/**", "abc/def/ghi", true);
        check("**/.foo", ".foo", true);
        check("**/.foo", "bar.foo", false);
        check("a(b)c/def", "a(b)c/def", true);
        check("a.|)$(}+{bc", "a.|)$(}+{bc", true);
        check(
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        );
        check("a\\\\", "a\\", true);
        check("a\\*b", "a*b", true);
    }

    #[test]
    fn could_match_below_answers_for_directories() {
        #[track_caller]
        fn check(pattern: &str, dir: &str, expected: bool) {
            let p = Pattern::new(pattern, Dialect::DockerIgnore).unwrap();
            assert_eq!(
                p.could_match_below(dir),
                expected,
                "{pattern:?} below {dir:?}"
            );
        }
        check("docs/README.md", "docs", true);
        check("docs/README.md", "doc", false);
        check("docs", "docs", false);
        check("*/keep", "anything", true);
        check("*/keep", "a/b", false);
        check("**/keep", "a/b/c", true);
        check("a/[bc]/x", "a/c", true);
        check("a/[bc]/x", "a/d", false);
        check("x", ".", true);
    }

    proptest::proptest! {
        /// Any input compiles or is refused, and matching never panics, in both dialects.
        #[test]
        fn arbitrary_patterns_never_panic(pattern in "\\PC{0,24}", text in "\\PC{0,24}") {
            for dialect in [Dialect::FilepathMatch, Dialect::DockerIgnore] {
                if let Ok(p) = Pattern::new(&pattern, dialect) {
                    let _ = p.matches(&text);
                    let _ = p.could_match_below(&text);
                }
            }
        }

        /// A fully escaped pattern is a literal: it matches itself and nothing else.
        #[test]
        fn escaped_text_is_a_literal(text in "[a-z*?\\[\\]/.]{1,12}", other in "[a-z*?/.]{1,12}") {
            let escaped: String = text.chars().flat_map(|c| ['\\', c]).collect();
            let p = Pattern::new(&escaped, Dialect::DockerIgnore).unwrap();
            proptest::prop_assert!(p.matches(&text));
            proptest::prop_assert_eq!(p.matches(&other), other == text);
        }
    }

    #[test]
    fn clean_is_go_path_clean() {
        #[track_caller]
        fn check(input: &str, expected: &str) {
            assert_eq!(clean(input), expected, "clean({input:?})");
        }
        check("", ".");
        check(".", ".");
        check("a/b/", "a/b");
        check("./a//b/./c", "a/b/c");
        check("a/../b", "b");
        check("a/../..", "..");
        check("../a", "../a");
        check("/../a", "/a");
        check("/", "/");
        check("/a/b/..", "/a");
    }

    #[test]
    fn wildcard_detection_skips_escapes() {
        #[track_caller]
        fn check(input: &str, wild: bool, literal: &str) {
            assert_eq!(has_wildcard(input), wild, "has_wildcard({input:?})");
            assert_eq!(unescape(input), literal, "unescape({input:?})");
        }
        check("file.txt", false, "file.txt");
        check("*.txt", true, "*.txt");
        check("a\\*b", false, "a*b");
        check("a[bc]", true, "a[bc]");
        check("what?", true, "what?");
    }
}
