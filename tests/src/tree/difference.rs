// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! One difference between two images (a path or config field present on one side only, or a
//! field whose values differ) and the list of them, printed so a failing parity test says
//! exactly what differs and which side holds which value.

use std::fmt;

/// Where a difference was found and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The path (`/etc/passwd`) or config field (`Env`) at fault.
    pub at: String,
    /// What differs there.
    pub kind: DifferenceKind,
}

/// What differs at one path or field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DifferenceKind {
    /// Only the left side has it; the summary says what it is there.
    OnlyLeft(String),
    /// Only the right side has it; the summary says what it is there.
    OnlyRight(String),
    /// Both have it, but `field` differs.
    Field {
        /// `type`, `mode`, `uid`, `gid`, `size`, `sha256`, `target`, `link`, `device`, or a
        /// config field.
        field: &'static str,
        /// The left side's value.
        left: String,
        /// The right side's value.
        right: String,
    },
}

impl Difference {
    /// `field` differs at `at`.
    pub fn field(
        at: impl Into<String>,
        field: &'static str,
        left: impl Into<String>,
        right: impl Into<String>,
    ) -> Difference {
        Difference {
            at: at.into(),
            kind: DifferenceKind::Field {
                field,
                left: left.into(),
                right: right.into(),
            },
        }
    }

    /// The name of the field that differs, or `None` for a one-sided difference.
    pub fn field_name(&self) -> Option<&'static str> {
        match self.kind {
            DifferenceKind::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Every difference found by a comparison, in path (or field) order, with the names of the two
/// sides for printing (`left` and `right` unless [`Differences::labeled`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Differences {
    /// The differences.
    pub list: Vec<Difference>,
    left: String,
    right: String,
}

impl Differences {
    /// A list printed with the sides called `left` and `right`.
    pub fn new(list: Vec<Difference>) -> Differences {
        Differences {
            list,
            left: "left".into(),
            right: "right".into(),
        }
    }

    /// The same list, printed with the sides called `left` and `right` (e.g. `kaniko`,
    /// `buildah`).
    pub fn labeled(mut self, left: &str, right: &str) -> Differences {
        self.left = left.into();
        self.right = right.into();
        self
    }

    /// Whether the two sides are the same.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many differences there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The paths (or fields) where something differs, in order, each once.
    pub fn places(&self) -> Vec<&str> {
        let mut places: Vec<&str> = self.list.iter().map(|d| d.at.as_str()).collect();
        places.dedup();
        places
    }
}

impl fmt::Display for Differences {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.list.is_empty() {
            return write!(f, "no differences between {} and {}", self.left, self.right);
        }
        write!(
            f,
            "{} difference(s) between {} and {}:",
            self.list.len(),
            self.left,
            self.right
        )?;
        for d in &self.list {
            match &d.kind {
                DifferenceKind::OnlyLeft(what) => {
                    write!(f, "\n  {}: only in {} ({what})", d.at, self.left)?
                }
                DifferenceKind::OnlyRight(what) => {
                    write!(f, "\n  {}: only in {} ({what})", d.at, self.right)?
                }
                DifferenceKind::Field { field, left, right } => write!(
                    f,
                    "\n  {}: {field} {left} ({}) != {right} ({})",
                    d.at, self.left, self.right
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_prints_both_sides_with_their_names() {
        fn check(list: Vec<Difference>, expected: &str) {
            let shown = Differences::new(list)
                .labeled("kaniko", "buildah")
                .to_string();
            assert_eq!(shown, expected);
        }
        check(vec![], "no differences between kaniko and buildah");
        check(
            vec![
                Difference {
                    at: "/a".into(),
                    kind: DifferenceKind::OnlyLeft("file 0644 0:0".into()),
                },
                Difference::field("/b", "mode", "0644", "0755"),
                Difference {
                    at: "/c".into(),
                    kind: DifferenceKind::OnlyRight("dir".into()),
                },
            ],
            "3 difference(s) between kaniko and buildah:\n  \
             /a: only in kaniko (file 0644 0:0)\n  \
             /b: mode 0644 (kaniko) != 0755 (buildah)\n  \
             /c: only in buildah (dir)",
        );
    }

    #[test]
    fn places_are_listed_once_each() {
        let d = Differences::new(vec![
            Difference::field("/b", "mode", "0644", "0755"),
            Difference::field("/b", "uid", "0", "1"),
            Difference::field("/c", "uid", "0", "1"),
        ]);
        assert_eq!(d.places(), ["/b", "/c"]);
        assert_eq!(d.len(), 3);
    }
}
