// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Dockerfiles: the parser (BuildKit's syntax: directives, continuations, heredocs, exec and
//! shell forms, every instruction and its flags), a printer that writes the syntax tree back
//! as a canonical Dockerfile, variable expansion with BuildKit's shell-lexer rules, the
//! ARG/ENV scope of a stage, and the stage graph (which stages a target needs, in which order,
//! on which platform, and whether any of them must execute `RUN` natively).
//!
//! Pure code: callers pass the text in and get values back.
//!
//! ```
//! use kaniko_common::dockerfile::{BuildArgs, Dockerfile};
//! use kaniko_common::platform::Platform;
//!
//! let df = Dockerfile::parse(
//!     "FROM --platform=$BUILDPLATFORM golang AS build\nRUN go build\n\
//!      FROM alpine\nCOPY --from=build /out /bin/app\n",
//! )
//! .unwrap();
//! let arm64 = Platform { os: "linux".into(), architecture: "arm64".into(), variant: None };
//! let amd64 = Platform { os: "linux".into(), architecture: "amd64".into(), variant: None };
//! let args = BuildArgs::new(arm64, amd64);
//! let plan = df.plan(None, &args).unwrap();
//! assert_eq!(plan.stages.len(), 2);
//! // The only RUN runs on the build platform: any amd64 worker can build linux/arm64.
//! assert!(plan.native_execution().is_none());
//! ```

mod args;
mod expand;
mod instruction;
mod lexer;
mod mount;
mod parse;
mod print;
mod stages;

use std::fmt;

pub use args::{ALLOWED_UNDECLARED_ARGS, BuildArgs, Expanded, ExpandedCopyAdd, Scope};
pub use expand::{ExpandError, expand_heredoc, expand_word, expand_words};
pub use instruction::{
    ArgDecl, Command, CopyAdd, Directive, Dockerfile, Healthcheck, Heredoc, Instruction,
    InstructionKind, KeyValue, KeyValues, Run, Stage,
};
pub use mount::{Mount, MountError, MountType, Sharing};
pub use parse::parse_duration as parse_go_duration;
pub use stages::{BaseRef, BuildPlan, NativeRun, PlanError, PlannedStage, StagePlatform};

/// A syntax error, with the 1-based line and column it was found at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong, lowercase, naming the thing at fault.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dockerfile:{}:{}: {}",
            self.line, self.column, self.message
        )
    }
}

impl Dockerfile {
    /// Parses Dockerfile text. Nothing is expanded; see [`Dockerfile::global_scope`] and
    /// [`Scope`] for that, and [`Dockerfile::plan`] for the stage graph.
    pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
        parse::parse(text)
    }
}
