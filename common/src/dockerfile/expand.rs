// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Variable expansion with BuildKit's shell-lexer rules (`frontend/dockerfile/shell`):
//! `$V`, `${V}`, `${V:-x}`, `${V-x}`, `${V:+x}`, `${V+x}`, `${V:?msg}`, `${V?msg}`, the escape
//! character, single quotes (literal) and double quotes (expanding), and word splitting of
//! unquoted text and unquoted variable values.

use thiserror::Error;

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    /// `${V?msg}` / `${V:?msg}` with `V` unset (or empty).
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message from the reference, or a default one.
        message: String,
    },
    /// A quote opened and never closed.
    #[error("unterminated {kind} quote in {word:?}")]
    UnterminatedQuote {
        /// `single` or `double`.
        kind: &'static str,
        /// The word being expanded.
        word: String,
    },
    /// `${` without the closing brace.
    #[error("missing '}}' in {word:?}")]
    MissingBrace {
        /// The word being expanded.
        word: String,
    },
    /// `${}` or a modifier this lexer does not support.
    #[error("bad substitution {reference:?} in {word:?}")]
    BadSubstitution {
        /// The offending reference text.
        reference: String,
        /// The word being expanded.
        word: String,
    },
    /// A value that is invalid once expanded (a bad `--chmod`, port, ...).
    #[error("{0}")]
    Invalid(String),
}

/// How quotes are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Instruction arguments: quotes group and are removed.
    Words,
    /// Heredoc bodies: quotes are ordinary characters; only `$` and the escape character are
    /// special.
    Heredoc,
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    mode: Mode,
    word: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

/// The expansion of a piece of text: the whole string and its split words.
#[derive(Default)]
struct Output {
    text: String,
    words: Vec<String>,
    current: String,
    in_word: bool,
}

impl Output {
    fn push_quoted(&mut self, c: char) {
        self.text.push(c);
        self.current.push(c);
        self.in_word = true;
    }

    fn push_unquoted(&mut self, c: char) {
        self.text.push(c);
        if c.is_whitespace() {
            self.end_word();
        } else {
            self.current.push(c);
            self.in_word = true;
        }
    }

    fn mark_word(&mut self) {
        self.in_word = true;
    }

    fn end_word(&mut self) {
        if self.in_word {
            self.words.push(std::mem::take(&mut self.current));
            self.in_word = false;
        }
    }
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes until `stop` (consumed) or the end of the text.
    fn process(&mut self, stop: Option<char>) -> Result<(Output, bool), ExpandError> {
        let mut out = Output::default();
        while let Some(c) = self.next() {
            if Some(c) == stop {
                out.end_word();
                return Ok((out, true));
            }
            match c {
                '\'' if self.mode == Mode::Words => {
                    out.mark_word();
                    self.single_quoted(&mut out)?;
                }
                '"' if self.mode == Mode::Words => {
                    out.mark_word();
                    self.double_quoted(&mut out)?;
                }
                '$' => {
                    let value = self.dollar()?;
                    for v in value.chars() {
                        out.push_unquoted(v);
                    }
                }
                c if c == self.escape => match self.mode {
                    Mode::Words => {
                        if let Some(n) = self.next() {
                            out.push_quoted(n);
                        }
                    }
                    Mode::Heredoc => match self.peek() {
                        Some(n) if n == '$' || n == self.escape => {
                            self.pos += 1;
                            out.push_quoted(n);
                        }
                        _ => out.push_quoted(c),
                    },
                },
                c => out.push_unquoted(c),
            }
        }
        out.end_word();
        Ok((out, false))
    }

    fn single_quoted(&mut self, out: &mut Output) -> Result<(), ExpandError> {
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError::UnterminatedQuote {
                        kind: "single",
                        word: self.word.to_string(),
                    });
                }
                Some('\'') => return Ok(()),
                Some(c) => out.push_quoted(c),
            }
        }
    }

    fn double_quoted(&mut self, out: &mut Output) -> Result<(), ExpandError> {
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError::UnterminatedQuote {
                        kind: "double",
                        word: self.word.to_string(),
                    });
                }
                Some('"') => return Ok(()),
                Some('$') => {
                    let value = self.dollar()?;
                    for v in value.chars() {
                        out.push_quoted(v);
                    }
                }
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.pos += 1;
                        out.push_quoted(n);
                    }
                    _ => out.push_quoted(c),
                },
                Some(c) => out.push_quoted(c),
            }
        }
    }

    /// A name after `$`: letters, digits and `_`; a leading digit run is a positional name.
    fn name(&mut self) -> String {
        let mut name = String::new();
        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            while let Some(c) = self.peek().filter(|c| c.is_ascii_digit()) {
                name.push(c);
                self.pos += 1;
            }
            return name;
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            name.push(c);
            self.pos += 1;
        }
        name
    }

    /// After a `$`: the value it stands for.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok((self.lookup)(&name).unwrap_or_default());
        }
        let open = self.pos;
        self.pos += 1;
        let name = self.name();
        let bad = |me: &Self| ExpandError::BadSubstitution {
            reference: me.chars[open.saturating_sub(1)..me.pos.min(me.chars.len())]
                .iter()
                .collect(),
            word: me.word.to_string(),
        };
        let missing = || ExpandError::MissingBrace {
            word: self.word.to_string(),
        };
        if name.is_empty() {
            if self.peek().is_none() {
                return Err(missing());
            }
            self.pos += 1;
            return Err(bad(self));
        }
        let value = (self.lookup)(&name);
        let (colon, op) = match self.next() {
            None => return Err(missing()),
            Some('}') => return Ok(value.unwrap_or_default()),
            Some(':') => match self.next() {
                Some(op @ ('-' | '+' | '?')) => (true, op),
                None => return Err(missing()),
                Some(_) => return Err(bad(self)),
            },
            Some(op @ ('-' | '+' | '?')) => (false, op),
            Some(_) => return Err(bad(self)),
        };
        let (word, closed) = self.process(Some('}'))?;
        if !closed {
            return Err(missing());
        }
        let word = word.text;
        // With a colon, an empty value counts as unset.
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        Ok(match op {
            '-' => {
                if set {
                    value.unwrap_or_default()
                } else {
                    word
                }
            }
            '+' => {
                if set {
                    word
                } else {
                    String::new()
                }
            }
            _ => {
                if set {
                    value.unwrap_or_default()
                } else {
                    let message = if !word.is_empty() {
                        word
                    } else if colon {
                        "is not allowed to be empty".to_string()
                    } else {
                        "is not allowed to be unset".to_string()
                    };
                    return Err(ExpandError::Required { name, message });
                }
            }
        })
    }
}

fn run(
    word: &str,
    escape: char,
    mode: Mode,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Output, ExpandError> {
    let mut lexer = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        mode,
        word,
        lookup,
    };
    lexer.process(None).map(|(out, _)| out)
}

/// Expands one word: quotes removed, variables substituted, whitespace kept (BuildKit's
/// `ProcessWord`). `lookup` answers `None` for an unset variable.
pub fn expand_word(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    run(word, escape, Mode::Words, lookup).map(|o| o.text)
}

/// Expands text and splits it into words on unquoted whitespace, including whitespace that
/// comes from unquoted variable values (BuildKit's `ProcessWords`).
pub fn expand_words(
    text: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ExpandError> {
    run(text, escape, Mode::Words, lookup).map(|o| o.words)
}

/// Expands a heredoc body: only `$` references and the escape character are special, quotes
/// are kept as written.
pub fn expand_heredoc(
    body: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    run(body, escape, Mode::Heredoc, lookup).map(|o| o.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("a".into()),
            "E" => Some(String::new()),
            "S" => Some("x  y".into()),
            "P" => Some("/p".into()),
            _ => None,
        }
    }

    #[test]
    fn expand_word_table() {
        fn check(input: &str, expected: &str) {
            assert_eq!(
                expand_word(input, '\\', &env).as_deref(),
                Ok(expected),
                "input {input:?}"
            );
        }
        check("plain", "plain");
        check("$A", "a");
        check("${A}b", "ab");
        check("$Ab", "");
        check("$U", "");
        check("x$", "x$");
        check("$1", "");
        check("${A:-d}", "a");
        check("${E:-d}", "d");
        check("${U:-d}", "d");
        check("${E-d}", "");
        check("${U-d}", "d");
        check("${A:+r}", "r");
        check("${E:+r}", "");
        check("${E+r}", "r");
        check("${U+r}", "");
        check("${U:-$P/x}", "/p/x");
        check("${U:-\"q d\"}", "q d");
        check("${A:?boom}", "a");
        check("${E?boom}", "");
        check("\\$A", "$A");
        check("'$A'", "$A");
        check("\"$A\"", "a");
        check("\"a\\\"b\"", "a\"b");
        check("\"a\\nb\"", "a\\nb");
        check("\"\\$A\"", "$A");
        check("a\\ b", "a b");
        check("it''s", "its");
        check("a b", "a b");
        check("$S", "x  y");
        check("trailing\\", "trailing");
    }

    #[test]
    fn backtick_escape() {
        assert_eq!(expand_word("`$A\\x", '`', &env).as_deref(), Ok("$A\\x"));
        assert_eq!(expand_word("C:\\$A", '`', &env).as_deref(), Ok("C:\\a"));
    }

    #[test]
    fn expand_words_table() {
        fn check(input: &str, expected: &[&str]) {
            assert_eq!(
                expand_words(input, '\\', &env),
                Ok(expected.iter().map(|s| s.to_string()).collect()),
                "input {input:?}"
            );
        }
        check("a b  c", &["a", "b", "c"]);
        check("$S z", &["x", "y", "z"]);
        check("\"$S\" z", &["x  y", "z"]);
        check("'' a", &["", "a"]);
        check("$U a", &["a"]);
        check("a\\ b c", &["a b", "c"]);
    }

    #[test]
    fn expansion_errors() {
        fn check(input: &str, expected: &str) {
            match expand_word(input, '\\', &env) {
                Err(e) => assert_eq!(e.to_string(), expected, "input {input:?}"),
                Ok(v) => panic!("input {input:?} expanded to {v:?}"),
            }
        }
        check("${U:?need it}", "U: need it");
        check("${E:?}", "E: is not allowed to be empty");
        check("${U?}", "U: is not allowed to be unset");
        check("'abc", "unterminated single quote in \"'abc\"");
        check("\"abc", "unterminated double quote in \"\\\"abc\"");
        check("${A", "missing '}' in \"${A\"");
        check("${A:-x", "missing '}' in \"${A:-x\"");
        check("${}", "bad substitution \"${}\" in \"${}\"");
        check("${A#x}", "bad substitution \"${A#\" in \"${A#x}\"");
    }

    #[test]
    fn heredoc_keeps_quotes() {
        assert_eq!(
            expand_heredoc("echo \"$A\" '$A' \\$A\n", '\\', &env).as_deref(),
            Ok("echo \"a\" 'a' $A\n")
        );
    }
}
