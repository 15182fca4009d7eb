// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The stage graph: which stages a target needs (through `FROM <stage>`, `COPY --from` and
//! `RUN --mount=from=`), in execution order, on which platform each runs, and the cross-safe
//! query — whether building for the target platform must execute `RUN` on a platform other
//! than the builder's own.
//!
//! Limits: ONBUILD triggers of *external* base images are not known before the base is
//! resolved, so a plan only sees triggers declared by earlier stages of the same Dockerfile;
//! the executor must check the base image's `OnBuild` list itself. The environment of an
//! external base image is also unknown here, so a `COPY --from=$VAR` that relies on the base
//! image's `ENV` resolves with `VAR` unset.

use std::collections::BTreeSet;

use thiserror::Error;

use super::args::{ALLOWED_UNDECLARED_ARGS, BuildArgs, Expanded, Scope};
use super::expand::ExpandError;
use super::instruction::{Dockerfile, InstructionKind};
use super::mount::{Mount, MountError};
use crate::platform::Platform;

/// What a stage is built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseRef {
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference (expanded).
    Image(String),
    /// `FROM scratch`.
    Scratch,
}

/// Where a stage executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StagePlatform {
    /// The build platform (`FROM --platform=$BUILDPLATFORM ...`).
    Build,
    /// The target platform (no `--platform`, or one naming the target).
    Target,
    /// Some other platform named by `--platform` (expanded text).
    Other(String),
}

/// One stage of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStage {
    /// Index of the stage in the Dockerfile.
    pub index: usize,
    /// Its name, if any.
    pub name: Option<String>,
    /// 1-based line of its `FROM`.
    pub line: usize,
    /// What it is built on.
    pub base: BaseRef,
    /// Where it executes.
    pub platform: StagePlatform,
    /// Earlier stages it copies or mounts from (not counting its base), ascending.
    pub stage_deps: Vec<usize>,
    /// External images it copies or mounts from.
    pub images: Vec<String>,
    /// The first `RUN` the stage executes: `(line, trigger_stage)`, where `trigger_stage` is
    /// `Some(parent)` when it is an ONBUILD trigger declared by the parent stage.
    pub first_run: Option<(usize, Option<usize>)>,
}

/// The stages needed to build a target, in execution order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    /// Index of the target stage.
    pub target: usize,
    /// The needed stages, ascending by index (every dependency comes first).
    pub stages: Vec<PlannedStage>,
    /// `--build-arg` names that no needed stage nor meta-ARG declares (BuildKit's "build-args
    /// were not consumed" warning); the predefined proxy args never count.
    pub unused_build_args: Vec<String>,
    target_platform: String,
    build_platform: String,
}

/// A `RUN` that must execute on a platform other than the build platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeRun {
    /// Index of the stage where it executes.
    pub stage: usize,
    /// That stage's name.
    pub stage_name: Option<String>,
    /// Line of the `RUN` (of the `ONBUILD` declaring it, for a trigger).
    pub line: usize,
    /// The platform it executes on.
    pub platform: String,
    /// The stage that declared it with ONBUILD, when it is a trigger.
    pub trigger_stage: Option<usize>,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// `--target` names no stage.
    #[error("unknown target stage {name:?}")]
    UnknownTarget {
        /// The requested name.
        name: String,
    },
    /// A stage refers to itself or a stage defined after it.
    #[error("dockerfile:{line}: stage {reference:?} is used before it is defined")]
    LaterStage {
        /// Line of the reference.
        line: usize,
        /// The stage name or index used.
        reference: String,
    },
    /// A meta-ARG could not be expanded.
    #[error("meta ARG: {0}")]
    MetaArg(ExpandError),
    /// An instruction of a needed stage could not be expanded.
    #[error("dockerfile:{line}: {source}")]
    Expand {
        /// Line of the instruction.
        line: usize,
        /// What went wrong.
        source: ExpandError,
    },
    /// A `RUN --mount` value that does not parse.
    #[error("dockerfile:{line}: RUN --mount={text}: {source}")]
    Mount {
        /// Line of the instruction.
        line: usize,
        /// The value (expanded).
        text: String,
        /// What is wrong.
        source: MountError,
    },
    /// A dependency loop (impossible for parsed Dockerfiles; guarded anyway).
    #[error("dependency cycle through stage {stage}")]
    Cycle {
        /// A stage on the cycle.
        stage: usize,
    },
}

struct StageInfo {
    planned: PlannedStage,
    env: Vec<(String, String)>,
    declared: BTreeSet<String>,
}

/// Normalises a platform string with containerd's rules ([`Platform::parse`]), for comparison.
/// A bare architecture (`arm64`) means that architecture on linux, as containerd reads it; a
/// string that does not parse is kept (lowercased) so that it simply matches nothing.
fn normalise(platform: &str) -> String {
    let text = platform.trim().to_ascii_lowercase();
    Platform::parse(&text)
        .or_else(|_| Platform::parse(&format!("linux/{text}")))
        .map(|p| p.to_string())
        .unwrap_or(text)
}

impl Dockerfile {
    /// The stages needed to build `target` (a stage name; the last stage when `None`), in
    /// execution order, unneeded stages skipped.
    pub fn plan(&self, target: Option<&str>, args: &BuildArgs) -> Result<BuildPlan, PlanError> {
        self.plan_stages(target, args, true)
    }

    /// [`Dockerfile::plan`]; with `skip_unused` false every stage up to the target is built,
    /// needed or not (Kaniko's `--skip-unused-stages=false`).
    pub fn plan_stages(
        &self,
        target: Option<&str>,
        args: &BuildArgs,
        skip_unused: bool,
    ) -> Result<BuildPlan, PlanError> {
        let global = self.global_scope(args).map_err(PlanError::MetaArg)?;
        let target_platform = normalise(&args.target.to_string());
        let build_platform = normalise(&args.build.to_string());
        let mut infos: Vec<Result<StageInfo, PlanError>> = Vec::new();
        for index in 0..self.stages.len() {
            let info = self.stage_info(index, &global, &infos, &target_platform, &build_platform);
            infos.push(info);
        }
        let target_index = match target {
            None => self.stages.len().saturating_sub(1),
            Some(name) => {
                let lower = name.to_ascii_lowercase();
                self.stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(lower.as_str()))
                    .ok_or_else(|| PlanError::UnknownTarget {
                        name: name.to_string(),
                    })?
            }
        };
        // Dependencies always point to earlier stages, so a walk down from the target ends.
        let mut needed = BTreeSet::new();
        let mut todo: Vec<usize> = if skip_unused {
            vec![target_index]
        } else {
            (0..=target_index).collect()
        };
        while let Some(i) = todo.pop() {
            if !needed.insert(i) {
                continue;
            }
            let info = match infos.get(i) {
                Some(Ok(info)) => info,
                Some(Err(e)) => return Err(e.clone()),
                None => return Err(PlanError::Cycle { stage: i }),
            };
            let p = &info.planned;
            let base = match p.base {
                BaseRef::Stage(j) => Some(j),
                _ => None,
            };
            for dep in p.stage_deps.iter().copied().chain(base) {
                if dep >= i {
                    return Err(PlanError::Cycle { stage: i });
                }
                todo.push(dep);
            }
        }
        let mut declared = global.declared().clone();
        let mut stages = Vec::new();
        for i in &needed {
            if let Some(Ok(info)) = infos.get(*i) {
                declared.extend(info.declared.iter().cloned());
                stages.push(info.planned.clone());
            }
        }
        let unused_build_args = args
            .values
            .keys()
            .filter(|k| !declared.contains(*k) && !ALLOWED_UNDECLARED_ARGS.contains(&k.as_str()))
            .cloned()
            .collect();
        Ok(BuildPlan {
            target: target_index,
            stages,
            unused_build_args,
            target_platform,
            build_platform,
        })
    }

    /// Whether building `target` for `args.target` on a builder of platform `args.build`
    /// executes any `RUN` on a platform other than `args.build` (then only a native worker of
    /// that platform can build it). `None` means cross-safe. See [`BuildPlan::native_execution`].
    pub fn needs_native_execution(
        &self,
        target: Option<&str>,
        args: &BuildArgs,
    ) -> Result<Option<NativeRun>, PlanError> {
        Ok(self.plan(target, args)?.native_execution())
    }

    /// A reference to a stage from stage `current` at `line`: `Ok(Some(index))` for an
    /// earlier stage, `Ok(None)` for something else (an image), an error for itself or a
    /// later stage.
    fn stage_ref(
        &self,
        reference: &str,
        current: usize,
        line: usize,
    ) -> Result<Option<usize>, PlanError> {
        let later = || PlanError::LaterStage {
            line,
            reference: reference.to_string(),
        };
        if let Ok(n) = reference.parse::<usize>() {
            return if n < current {
                Ok(Some(n))
            } else {
                Err(later())
            };
        }
        let lower = reference.to_ascii_lowercase();
        match self
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            Some(j) if j < current => Ok(Some(j)),
            Some(_) => Err(later()),
            None => Ok(None),
        }
    }

    fn stage_info(
        &self,
        index: usize,
        global: &Scope,
        infos: &[Result<StageInfo, PlanError>],
        target_platform: &str,
        build_platform: &str,
    ) -> Result<StageInfo, PlanError> {
        let Some(stage) = self.stages.get(index) else {
            return Err(PlanError::Cycle { stage: index });
        };
        let at = |line: usize| move |source| PlanError::Expand { line, source };
        let base_text = global.expand(&stage.base).map_err(at(stage.line))?;
        let lower = base_text.to_ascii_lowercase();
        let earlier = self.stages[..index]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()));
        let later = self.stages[index + 1..]
            .iter()
            .any(|s| s.name.as_deref() == Some(lower.as_str()));
        let base = match earlier {
            Some(j) => BaseRef::Stage(j),
            None if later => {
                return Err(PlanError::LaterStage {
                    line: stage.line,
                    reference: base_text,
                });
            }
            None if lower == "scratch" => BaseRef::Scratch,
            None => BaseRef::Image(base_text),
        };
        let platform = match &stage.platform {
            None => StagePlatform::Target,
            Some(p) => {
                let text = normalise(&global.expand(p).map_err(at(stage.line))?);
                if text == build_platform {
                    StagePlatform::Build
                } else if text == target_platform {
                    StagePlatform::Target
                } else {
                    StagePlatform::Other(text)
                }
            }
        };
        let mut scope = global.stage();
        let mut first_run = None;
        if let BaseRef::Stage(j) = base {
            if let Some(Ok(parent)) = infos.get(j) {
                scope = scope.with_base_env(parent.env.clone());
            }
            let trigger = self.stages.get(j).and_then(|s| {
                s.instructions.iter().find(|i| {
                    matches!(&i.kind, InstructionKind::Onbuild(t) if matches!(t.kind, InstructionKind::Run(_)))
                })
            });
            first_run = trigger.map(|t| (t.line, Some(j)));
        }
        let mut stage_deps = BTreeSet::new();
        let mut images = Vec::new();
        let mut add_ref = |reference: &str, line: usize, me: &Self| -> Result<(), PlanError> {
            match me.stage_ref(reference, index, line)? {
                Some(j) => {
                    stage_deps.insert(j);
                }
                None => {
                    if !images.iter().any(|i| i == reference) {
                        images.push(reference.to_string());
                    }
                }
            }
            Ok(())
        };
        for instruction in &stage.instructions {
            let expanded = scope.apply(instruction).map_err(at(instruction.line))?;
            match &expanded {
                Expanded::Copy(c) => {
                    if let Some(from) = &c.from {
                        add_ref(from, instruction.line, self)?;
                    }
                }
                Expanded::Run(run) => {
                    if first_run.is_none() {
                        first_run = Some((instruction.line, None));
                    }
                    for text in &run.mounts {
                        let mount = Mount::parse(text).map_err(|source| PlanError::Mount {
                            line: instruction.line,
                            text: text.clone(),
                            source,
                        })?;
                        if let Some(from) = mount.from.as_deref().filter(|f| !f.is_empty()) {
                            add_ref(from, instruction.line, self)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(StageInfo {
            planned: PlannedStage {
                index,
                name: stage.name.clone(),
                line: stage.line,
                base,
                platform,
                stage_deps: stage_deps.into_iter().collect(),
                images,
                first_run,
            },
            env: scope.env().to_vec(),
            declared: scope.declared().clone(),
        })
    }
}

impl BuildPlan {
    /// The platform a planned stage executes on (normalised `os/arch[/variant]`).
    pub fn platform_of(&self, stage: &PlannedStage) -> String {
        match &stage.platform {
            StagePlatform::Build => self.build_platform.clone(),
            StagePlatform::Target => self.target_platform.clone(),
            StagePlatform::Other(p) => p.clone(),
        }
    }

    /// The first `RUN` (or inherited ONBUILD `RUN` trigger of an earlier stage) that executes
    /// on a platform other than the build platform; `None` when the build is cross-safe: a
    /// worker of the build platform can build the target platform without executing foreign
    /// code. ONBUILD triggers of external base images are not known here (see the module
    /// docs).
    pub fn native_execution(&self) -> Option<NativeRun> {
        self.stages.iter().find_map(|stage| {
            let platform = self.platform_of(stage);
            if platform == self.build_platform {
                return None;
            }
            stage.first_run.map(|(line, trigger_stage)| NativeRun {
                stage: stage.index,
                stage_name: stage.name.clone(),
                line,
                platform,
                trigger_stage,
            })
        })
    }
}

#[cfg(test)]
mod tests;
