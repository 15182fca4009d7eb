// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The coordinator's authorization policy (`coordinator serve --policy FILE`): which
//! identities may use the API, which repositories each may push its images to and pull its
//! bases from, and who may see or cancel which build. The actors call it; it does no IO after
//! loading, so every decision is a plain function of the policy and the request.
//!
//! An identity is the token of the subject a request arrived on (`kaniko.api.<identity>.<verb>`),
//! which nats-server lets only that submitter publish on (the layout `coordinator nats-config`
//! writes); a header or a field a client sets is never taken as identity. Without a policy the
//! coordinator is open (anonymous requests on `kaniko.api.<verb>`, every build visible to
//! everyone) and identity requests are refused; with one, anonymous requests are refused.
//!
//! The policy file is JSON:
//!
//! ```json
//! {"identities": {
//!   "alice": {"push": ["registry.example/team-a/*"], "pull": ["registry.example/base/*", "docker.io/library/*"]},
//!   "ops":   {"push": ["*"], "pull": ["*"], "admin": true}
//! }}
//! ```
//!
//! `push` and `pull` are lists of [`RepoPattern`]s, both required (`["*"]` says "any" out
//! loud); `admin` (default false) may see, follow and cancel every build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kaniko_common::dockerfile::{BaseRef, BuildArgs, Dockerfile};
use kaniko_common::messages::{BuildRequest, ErrorKind, WireError};
use kaniko_common::platform::Platform;
use kaniko_common::scope::{RepoPattern, any_matches, describe, repository_of};
use kaniko_common::subjects::{INBOX_ROOT, Names, validate_identity};
use serde::Deserialize;

/// Why a policy file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("reading the policy {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not the JSON the policy expects.
    #[error("policy {path}: line {line}, column {column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde said.
        message: String,
    },
    /// An identity or one of its entries is not acceptable.
    #[error("policy {path}: identity {identity:?}: {reason}")]
    Identity {
        /// The file.
        path: PathBuf,
        /// The identity at fault.
        identity: String,
        /// What is wrong.
        reason: String,
    },
    /// The file names no identity.
    #[error("policy {path}: it names no identity")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    identities: BTreeMap<String, GrantFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantFile {
    push: Option<Vec<String>>,
    pull: Option<Vec<String>>,
    #[serde(default)]
    admin: bool,
}

/// What one identity may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Repositories its images may be pushed to.
    pub push: Vec<RepoPattern>,
    /// Repositories its builds may pull images from (bases, `COPY --from`, `RUN --mount
    /// from=`).
    pub pull: Vec<RepoPattern>,
    /// May see, follow and cancel every build.
    pub admin: bool,
}

/// A loaded policy: each identity and its grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    identities: BTreeMap<String, Grant>,
}

/// Who sent a request: nobody in particular (the open API) or an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// `kaniko.api.<verb>`.
    Anonymous,
    /// `kaniko.api.<identity>.<verb>`.
    Identity(&'a str),
}

impl<'a> Caller<'a> {
    /// The identity, `None` when anonymous.
    pub fn identity(self) -> Option<&'a str> {
        match self {
            Caller::Anonymous => None,
            Caller::Identity(identity) => Some(identity),
        }
    }
}

fn unauthorized(message: String) -> WireError {
    WireError::new(ErrorKind::Unauthorized, message)
}

impl Policy {
    /// Reads and checks the policy at `path`.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Policy::parse(&text, path)
    }

    /// Parses the policy `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let file: PolicyFile = serde_json::from_str(text).map_err(|err| PolicyError::Syntax {
            path: path.to_path_buf(),
            line: err.line(),
            column: err.column(),
            message: err.to_string(),
        })?;
        if file.identities.is_empty() {
            return Err(PolicyError::Empty {
                path: path.to_path_buf(),
            });
        }
        let mut identities = BTreeMap::new();
        for (identity, grant) in file.identities {
            let refuse = |reason: String| PolicyError::Identity {
                path: path.to_path_buf(),
                identity: identity.clone(),
                reason,
            };
            validate_identity(&identity).map_err(|err| refuse(err.to_string()))?;
            let patterns = |what: &str, list: Option<Vec<String>>| {
                let list = list.ok_or_else(|| {
                    refuse(format!(
                        "\"{what}\" is missing: list the repositories it may {what} (\"*\" for any)"
                    ))
                })?;
                list.iter()
                    .map(|text| {
                        text.parse::<RepoPattern>()
                            .map_err(|err| refuse(format!("\"{what}\": {err}")))
                    })
                    .collect::<Result<Vec<_>, _>>()
            };
            let grant = Grant {
                push: patterns("push", grant.push)?,
                pull: patterns("pull", grant.pull)?,
                admin: grant.admin,
            };
            identities.insert(identity, grant);
        }
        Ok(Policy { identities })
    }

    /// Every identity, sorted.
    pub fn identities(&self) -> impl Iterator<Item = (&str, &Grant)> {
        self.identities
            .iter()
            .map(|(id, grant)| (id.as_str(), grant))
    }

    /// The grant of `identity`; an identity the policy does not name is refused.
    pub fn grant(&self, identity: &str) -> Result<&Grant, WireError> {
        self.identities
            .get(identity)
            .ok_or_else(|| unauthorized(format!("identity {identity:?} is not in the policy")))
    }

    /// Whether `identity` may push the image of `request` to every destination, and pull
    /// every image its Dockerfile names for every requested platform.
    pub fn authorize_build(
        &self,
        identity: &str,
        request: &BuildRequest,
        dockerfile: &Dockerfile,
    ) -> Result<(), WireError> {
        self.authorize_push(identity, request)?;
        self.authorize_pull(identity, request, dockerfile)
    }

    /// Whether `identity` may push to every destination of `request`.
    pub fn authorize_push(&self, identity: &str, request: &BuildRequest) -> Result<(), WireError> {
        let grant = self.grant(identity)?;
        for destination in &request.destinations {
            if !any_matches(&grant.push, destination) {
                let repository = repository_of(destination).unwrap_or_else(|| destination.clone());
                return Err(unauthorized(format!(
                    "identity {identity:?} may not push to {repository} (destination \
                     {destination:?}); it may push to {}",
                    describe(&grant.push)
                )));
            }
        }
        Ok(())
    }

    /// Whether `identity` may pull every image `dockerfile` names for every platform of
    /// `request` ([`pulled_images`]).
    pub fn authorize_pull(
        &self,
        identity: &str,
        request: &BuildRequest,
        dockerfile: &Dockerfile,
    ) -> Result<(), WireError> {
        let grant = self.grant(identity)?;
        for platform in &request.platforms {
            for (line, image) in pulled_images(dockerfile, request, platform)? {
                if !any_matches(&grant.pull, &image) {
                    let repository = repository_of(&image).unwrap_or_else(|| image.clone());
                    return Err(unauthorized(format!(
                        "identity {identity:?} may not pull {repository} ({}:{line}, image \
                         {image:?}, platform {platform}); it may pull {}",
                        request.dockerfile,
                        describe(&grant.pull)
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The external images a build of `platform` pulls: each stage's base and the images its
/// `COPY --from` and `RUN --mount from=` name, with the line of the stage's `FROM`, ARGs
/// expanded with the request's build args. ONBUILD triggers of external bases are not known
/// before the base is pulled; they are not in this list (see docs/security.md).
pub fn pulled_images(
    dockerfile: &Dockerfile,
    request: &BuildRequest,
    platform: &Platform,
) -> Result<Vec<(usize, String)>, WireError> {
    let mut args = BuildArgs::new(platform.clone(), platform.clone());
    args.values = request.build_args.clone();
    let plan = dockerfile
        .plan(request.target.as_deref(), &args)
        .map_err(|e| WireError::refused(format!("{}: {e}", request.dockerfile)))?;
    let mut images = Vec::new();
    for stage in &plan.stages {
        if let BaseRef::Image(image) = &stage.base {
            images.push((stage.line, image.clone()));
        }
        for image in &stage.images {
            images.push((stage.line, image.clone()));
        }
    }
    Ok(images)
}

/// Admits a request of `caller` by whether the coordinator has a policy: open without one
/// (identity requests refused), identities only with one (anonymous requests and identities
/// the policy does not name refused).
pub fn admit(policy: Option<&Policy>, names: &Names, caller: Caller<'_>) -> Result<(), WireError> {
    match (policy, caller) {
        (None, Caller::Anonymous) => Ok(()),
        (None, Caller::Identity(identity)) => Err(unauthorized(format!(
            "identity {identity:?}: this coordinator runs without a policy (coordinator serve \
             --policy); send requests without an identity, on {}.api.<verb>",
            names.prefix()
        ))),
        (Some(_), Caller::Anonymous) => Err(unauthorized(format!(
            "this coordinator has a policy: requests must come as an identity, on \
             {}.api.<identity>.<verb> (coordinator --identity NAME)",
            names.prefix()
        ))),
        (Some(policy), Caller::Identity(identity)) => policy.grant(identity).map(|_| ()),
    }
}

/// What a caller wants to do with an existing build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `status`, and following its events.
    Read,
    /// `cancel`.
    Cancel,
}

/// Whether `caller` may read or cancel a build `owner` submitted: everyone without a policy;
/// with one, its owner and admins.
pub fn may_access(
    policy: Option<&Policy>,
    caller: Caller<'_>,
    build_id: &str,
    owner: Option<&str>,
    access: Access,
) -> Result<(), WireError> {
    let Some(policy) = policy else {
        return Ok(());
    };
    let Caller::Identity(identity) = caller else {
        return Err(unauthorized(
            "this coordinator has a policy: anonymous requests are refused".to_string(),
        ));
    };
    if policy.grant(identity)?.admin || owner == Some(identity) {
        return Ok(());
    }
    let verb = match access {
        Access::Read => "see",
        Access::Cancel => "cancel",
    };
    Err(unauthorized(format!(
        "identity {identity:?} may not {verb} build {build_id}: another identity submitted it"
    )))
}

/// Whether `caller` sees a build of `owner` in a `list`: everyone without a policy; with one,
/// its owner and admins.
pub fn lists(policy: Option<&Policy>, caller: Caller<'_>, owner: Option<&str>) -> bool {
    may_access(policy, caller, "", owner, Access::Read).is_ok()
}

/// Whether the coordinator may publish its answer to `caller` on `reply`. The coordinator's
/// NATS permissions are wider than a submitter's (it publishes tasks, cancels builds, writes
/// streams), so a reply subject the submitter chose must never aim them elsewhere: an
/// identity's answers go only below its own inbox (`_INBOX.<prefix>.user.<identity>.`), and an
/// anonymous answer never to a `$` subject (JetStream, KV, object store, system), a subject
/// under the prefix, or the inboxes of identities and daemons.
pub fn reply_allowed(names: &Names, caller: Caller<'_>, reply: &str) -> bool {
    match caller {
        Caller::Identity(identity) => names.identity_inbox(identity).is_ok_and(|inbox| {
            reply
                .strip_prefix(inbox.as_str())
                .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1)
        }),
        Caller::Anonymous => {
            let under = |root: &str| reply == root || reply.starts_with(&format!("{root}."));
            !reply.is_empty()
                && !reply.starts_with('$')
                && !under(names.prefix())
                && !under(&format!("{INBOX_ROOT}.{}", names.prefix()))
        }
    }
}

#[cfg(test)]
mod tests;
