// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The line layer of the parser, after BuildKit's `parser` package: parser directives, comments,
//! blank lines, line continuations, heredoc bodies, and the raw word and flag splitting that
//! the instruction parser builds on. Every piece of text keeps a way back to its line and
//! column for error messages.

use super::ParseError;
use super::instruction::{Directive, Heredoc};

/// Directives BuildKit knows; any other `# name=value` line ends the directive block.
const DIRECTIVES: [&str; 3] = ["syntax", "escape", "check"];

/// Where a run of logical-line text came from.
#[derive(Debug, Clone)]
struct Segment {
    /// Byte offset in the logical text where the run starts.
    offset: usize,
    /// 1-based source line.
    line: usize,
    /// 1-based column (in characters) of the run's first character.
    column: usize,
}

/// One instruction's text: its lines joined without the continuation characters.
#[derive(Debug, Clone)]
pub(crate) struct LogicalLine {
    /// 1-based first line.
    pub line: usize,
    /// The joined text, leading whitespace of the first line removed.
    pub text: String,
    /// The lines as written, joined with `\n`.
    pub original: String,
    /// Heredoc bodies that follow the instruction.
    pub heredocs: Vec<Heredoc>,
    segments: Vec<Segment>,
}

impl LogicalLine {
    /// The line and column of a byte offset in `text`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.offset <= offset)
            .or(self.segments.first());
        match seg {
            Some(seg) => {
                let chars = self
                    .text
                    .get(seg.offset..offset.min(self.text.len()))
                    .map_or(0, |s| s.chars().count());
                (seg.line, seg.column + chars)
            }
            None => (self.line, 1),
        }
    }

    /// An error at a byte offset of `text`.
    pub fn error(&self, offset: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = self.position(offset);
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }
}

/// The result of the line layer.
#[derive(Debug)]
pub(crate) struct Lexed {
    pub directives: Vec<Directive>,
    pub escape: char,
    pub lines: Vec<LogicalLine>,
    /// Number of source lines (for errors at the end of the file).
    pub line_count: usize,
}

fn is_ws(c: char) -> bool {
    c.is_whitespace()
}

/// A `# name=value` directive line, as `(name, value)`.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphabetic() || (*i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, after) = rest.split_at(name_len);
    let value = after.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a trailing escape character (plus trailing blanks) from a line; `true` when the
/// line continues on the next one.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(before) => (before, true),
        None => (line, false),
    }
}

/// Splits a Dockerfile into directives and logical lines (with their heredoc bodies).
pub(crate) fn lex(input: &str) -> Result<Lexed, ParseError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut lines: Vec<&str> = input
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    if input.ends_with('\n') {
        lines.pop();
    }
    let mut directives: Vec<Directive> = Vec::new();
    let mut escape = '\\';
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        let Some((name, value)) = directive(line) else {
            break;
        };
        if !DIRECTIVES.contains(&name.as_str()) {
            break;
        }
        let err = |message: String| ParseError {
            line: i + 1,
            column: line.len() - line.trim_start().len() + 1,
            message,
        };
        if directives.iter().any(|d| d.name == name) {
            return Err(err(format!("only one {name} parser directive can be used")));
        }
        if name == "escape" {
            escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(err(format!(
                        "invalid escape directive {other:?}: must be \\ or `"
                    )));
                }
            };
        }
        directives.push(Directive { name, value });
        i += 1;
    }

    let mut out = Vec::new();
    while let Some(first) = lines.get(i) {
        let start = i;
        i += 1;
        let body = first.trim_start();
        if body.is_empty() || is_comment(body) {
            continue;
        }
        let lead = first.len() - body.len();
        let (head, mut cont) = trim_continuation(body, escape);
        let mut text = head.to_string();
        let mut segments = vec![Segment {
            offset: 0,
            line: start + 1,
            column: first[..lead].chars().count() + 1,
        }];
        while cont {
            let Some(next) = lines.get(i) else { break };
            i += 1;
            if is_comment(next) || next.trim().is_empty() {
                continue;
            }
            let (part, more) = trim_continuation(next, escape);
            segments.push(Segment {
                offset: text.len(),
                line: i,
                column: 1,
            });
            text.push_str(part);
            cont = more;
        }
        if text.trim().is_empty() {
            continue;
        }
        let original = lines[start..i].join("\n");
        let mut logical = LogicalLine {
            line: start + 1,
            text,
            original,
            heredocs: Vec::new(),
            segments,
        };
        for (offset, mut heredoc) in heredoc_markers(&logical.text, escape) {
            let mut terminated = false;
            while let Some(body_line) = lines.get(i) {
                i += 1;
                let candidate = if heredoc.chomp {
                    body_line.trim_start_matches('\t')
                } else {
                    body_line
                };
                if candidate == heredoc.name {
                    terminated = true;
                    break;
                }
                heredoc.content.push_str(candidate);
                heredoc.content.push('\n');
            }
            if !terminated {
                return Err(
                    logical.error(offset, format!("unterminated heredoc {:?}", heredoc.name))
                );
            }
            logical.heredocs.push(heredoc);
        }
        out.push(logical);
    }
    Ok(Lexed {
        directives,
        escape,
        lines: out,
        line_count: lines.len(),
    })
}

/// The heredocs a logical line opens (`<<EOF`, `<<-EOF`, `<<"EOF"`), with the byte offset of
/// each marker. Only `RUN`, `COPY` and `ADD` (also as an `ONBUILD` trigger) in shell form
/// take heredocs.
fn heredoc_markers(text: &str, escape: char) -> Vec<(usize, Heredoc)> {
    if !text.contains("<<") {
        return Vec::new();
    }
    let words = split_raw(text, escape);
    let mut rest = words.as_slice();
    if let Some((_, kw)) = rest.first()
        && kw.eq_ignore_ascii_case("onbuild")
    {
        rest = &rest[1..];
    }
    match rest.first() {
        Some((_, kw)) if ["run", "copy", "add"].contains(&kw.to_ascii_lowercase().as_str()) => {}
        _ => return Vec::new(),
    }
    let args = &rest[1..];
    let first_arg = args.iter().find(|(_, w)| !w.starts_with("--"));
    if let Some((offset, _)) = first_arg
        && text
            .get(*offset..)
            .is_some_and(|t| matches!(parse_json_array(t), Ok(Some(_))))
    {
        return Vec::new();
    }
    args.iter()
        .filter_map(|(offset, word)| parse_heredoc_marker(word).map(|h| (*offset, h)))
        .collect()
}

/// `<<EOF` → a heredoc named `EOF`; `None` when the word is not a heredoc marker.
pub(crate) fn parse_heredoc_marker(word: &str) -> Option<Heredoc> {
    let rest = word.strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let quoted = ['"', '\'']
        .iter()
        .find_map(|q| rest.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)));
    let (name, expand) = match quoted {
        Some(inner) => (inner, false),
        None => (rest, true),
    };
    if name.is_empty() || name.contains(['"', '\'']) {
        return None;
    }
    Some(Heredoc {
        name: name.to_string(),
        content: String::new(),
        expand,
        chomp,
    })
}

/// Splits text into whitespace-separated words, keeping quotes and escapes in the words
/// (BuildKit's `parseWords`), with the byte offset of each word. Never fails: an unterminated
/// quote runs to the end of the text.
pub(crate) fn split_raw(text: &str, escape: char) -> Vec<(usize, String)> {
    split_words(text, escape).unwrap_or_else(|(words, _)| words)
}

/// Like [`split_raw`] but an unterminated quote is an error, given as the words so far and
/// the offset of the opening quote.
#[allow(clippy::type_complexity)]
pub(crate) fn split_words(
    text: &str,
    escape: char,
) -> Result<Vec<(usize, String)>, (Vec<(usize, String)>, (usize, char))> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<(usize, char)> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if quote.is_none() && is_ws(c) {
            if let Some(s) = start.take() {
                words.push((s, std::mem::take(&mut word)));
            }
            continue;
        }
        start.get_or_insert(i);
        word.push(c);
        if c == escape && quote.is_none_or(|(_, q)| q == '"') {
            if let Some((_, next)) = chars.next() {
                word.push(next);
            }
            continue;
        }
        match quote {
            Some((_, q)) if q == c => quote = None,
            None if c == '"' || c == '\'' => quote = Some((i, c)),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, word));
    }
    match quote {
        Some(q) => Err((words, q)),
        None => Ok(words),
    }
}

/// A flag word `--name[=value]` with quotes removed from the value.
#[derive(Debug, Clone)]
pub(crate) struct FlagWord {
    /// Byte offset of the `--` in the logical text.
    pub offset: usize,
    /// The name without `--`.
    pub name: String,
    /// The value after `=`, if any.
    pub value: Option<String>,
}

/// Takes the leading `--flag` words off `text` (BuildKit's `extractBuilderFlags`: quotes in a
/// flag are removed, `\` escapes the next character, a lone `--` ends the flags). Returns the
/// flags and the byte offset where the rest of the text starts.
pub(crate) fn extract_flags(text: &str, base: usize) -> (Vec<FlagWord>, usize) {
    let mut flags = Vec::new();
    let bytes = text.as_bytes();
    let mut pos = 0;
    loop {
        while pos < text.len() && bytes.get(pos).is_some_and(|b| b.is_ascii_whitespace()) {
            pos += 1;
        }
        if !text[pos..].starts_with("--") {
            return (flags, base + pos);
        }
        let start = pos;
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut chars = text[pos..].char_indices();
        let mut end = text.len();
        while let Some((i, c)) = chars.next() {
            match quote {
                None if c.is_whitespace() => {
                    end = pos + i;
                    break;
                }
                None if c == '"' || c == '\'' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ if c == '\\' => {
                    if let Some((_, n)) = chars.next() {
                        word.push(n);
                    }
                }
                _ => word.push(c),
            }
        }
        pos = end;
        if word == "--" {
            return (flags, base + pos);
        }
        let body = word.strip_prefix("--").unwrap_or(&word);
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        flags.push(FlagWord {
            offset: base + start,
            name,
            value,
        });
    }
}

/// Parses text as a JSON array of strings, BuildKit's exec-form test: after leading white
/// space the text must open with `[`; the first JSON value is decoded and whatever follows it
/// is ignored (`["x"] # note` is `["x"]`, as Docker's and buildah's parsers read it). `Ok(None)`
/// when the text is not a JSON array (it is shell form, or a word list); an array holding
/// anything but strings is an error, not shell form.
pub(crate) fn parse_json_array(text: &str) -> Result<Option<Vec<String>>, NotStringArray> {
    use serde::Deserialize;
    let trimmed = text.trim_start();
    if !trimmed.starts_with('[') {
        return Ok(None);
    }
    let mut first_value = serde_json::Deserializer::from_str(trimmed);
    let Ok(items) = Vec::<serde_json::Value>::deserialize(&mut first_value) else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(NotStringArray),
        })
        .collect::<Result<Vec<String>, NotStringArray>>()
        .map(Some)
}

/// A JSON array with an element that is not a string, where an exec form or a JSON list
/// is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotStringArray;

impl NotStringArray {
    /// BuildKit's message for it.
    pub(crate) const MESSAGE: &'static str =
        "when using JSON array syntax, arrays must be comprised of strings only";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_lines_join_continuations_and_skip_comments() {
        fn check(input: &str, expected: &[(usize, &str)]) {
            let lexed = lex(input).unwrap();
            let got: Vec<(usize, &str)> = lexed
                .lines
                .iter()
                .map(|l| (l.line, l.text.as_str()))
                .collect();
            assert_eq!(got, expected, "input {input:?}");
        }
        check("FROM a\nRUN b", &[(1, "FROM a"), (2, "RUN b")]);
        check("FROM a\r\nRUN b\r\n", &[(1, "FROM a"), (2, "RUN b")]);
        check("\u{feff}FROM a", &[(1, "FROM a")]);
        check("  # c\n\n  FROM a", &[(3, "FROM a")]);
        check("RUN a \\\n  b", &[(1, "RUN a   b")]);
        check("RUN a \\\n# c\n\n  b\nX", &[(1, "RUN a   b"), (5, "X")]);
        check("RUN a \\", &[(1, "RUN a ")]);
        check("RUN a \\  \n b", &[(1, "RUN a  b")]);
        check("# escape=`\nRUN a `\n b \\", &[(2, "RUN a  b \\")]);
    }

    #[test]
    fn directives_only_at_the_top() {
        fn check(input: &str, expected: &[(&str, &str)], escape: char) {
            let lexed = lex(input).unwrap();
            let got: Vec<(&str, &str)> = lexed
                .directives
                .iter()
                .map(|d| (d.name.as_str(), d.value.as_str()))
                .collect();
            assert_eq!(got, expected, "input {input:?}");
            assert_eq!(lexed.escape, escape, "input {input:?}");
        }
        check(
            "# syntax=docker/dockerfile:1\n#ESCAPE = `\nFROM a",
            &[("syntax", "docker/dockerfile:1"), ("escape", "`")],
            '`',
        );
        check("# check=skip=all\nFROM a", &[("check", "skip=all")], '\\');
        check("\n# escape=`\nFROM a", &[], '\\');
        check("# hello\n# escape=`\nFROM a", &[], '\\');
        check("# foo=bar\n# escape=`\nFROM a", &[], '\\');
        check("FROM a\n# escape=`", &[], '\\');
    }

    #[test]
    fn positions_follow_continuations() {
        let lexed = lex("RUN a \\\n  bcd").unwrap();
        let line = &lexed.lines[0];
        let at = line.text.find("bcd").unwrap();
        assert_eq!(line.position(at), (2, 3));
        assert_eq!(line.position(4), (1, 5));
    }

    #[test]
    fn heredoc_bodies() {
        fn check(input: &str, expected: &[(&str, &str, bool)]) {
            let lexed = lex(input).unwrap();
            let got: Vec<(&str, &str, bool)> = lexed.lines[0]
                .heredocs
                .iter()
                .map(|h| (h.name.as_str(), h.content.as_str(), h.expand))
                .collect();
            assert_eq!(got, expected, "input {input:?}");
        }
        check("RUN <<EOF\necho hi\nEOF", &[("EOF", "echo hi\n", true)]);
        check(
            "RUN <<-EOF\n\techo hi\n\tEOF",
            &[("EOF", "echo hi\n", true)],
        );
        check("COPY <<'X' /d\n$a\nX", &[("X", "$a\n", false)]);
        check(
            "COPY <<a.txt <<\"b.txt\" /dst/\nA\na.txt\nB\nb.txt",
            &[("a.txt", "A\n", true), ("b.txt", "B\n", false)],
        );
        check("run cat <<EOF > f\n\nEOF\n", &[("EOF", "\n", true)]);
        check("ONBUILD RUN <<E\nx\nE", &[("E", "x\n", true)]);
        check("RUN [\"a\", \"<<EOF\"]", &[]);
        check("ENV a=<<EOF", &[]);
    }

    #[test]
    fn split_words_keeps_quotes() {
        fn check(input: &str, expected: &[&str]) {
            let got: Vec<String> = split_raw(input, '\\').into_iter().map(|w| w.1).collect();
            assert_eq!(got, expected, "input {input:?}");
        }
        check("a  b", &["a", "b"]);
        check("a=\"x y\" b='c d'", &["a=\"x y\"", "b='c d'"]);
        check("a\\ b c", &["a\\ b", "c"]);
        check("\"a\\\" b\" c", &["\"a\\\" b\"", "c"]);
        assert!(split_words("a=\"x", '\\').is_err());
    }

    #[test]
    fn flags_are_unquoted() {
        fn check(input: &str, expected: &[(&str, Option<&str>)], rest: &str) {
            let (flags, at) = extract_flags(input, 0);
            let got: Vec<(&str, Option<&str>)> = flags
                .iter()
                .map(|f| (f.name.as_str(), f.value.as_deref()))
                .collect();
            assert_eq!(got, expected, "input {input:?}");
            assert_eq!(&input[at..], rest, "input {input:?}");
        }
        check("--from=a b c", &[("from", Some("a"))], "b c");
        check(
            "--link --chown=\"a b\" x",
            &[("link", None), ("chown", Some("a b"))],
            "x",
        );
        check("-- --x y", &[], " --x y");
        check("x --y", &[], "x --y");
    }
}
