// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `coordinator nats-config`: the least-privilege NATS account layout, written as a
//! nats-server `authorization` block. Three roles, each an nkey user with exact subject
//! permissions (see [`coordinator`], [`worker`], [`submitter`] and docs/security.md):
//!
//! * the **coordinator** serves the API, publishes tasks, events and cancels, and owns every
//!   stream, bucket and object store of the prefix (and nothing else on the server);
//! * the **worker** pulls tasks, reads contexts, publishes results, its heartbeats and the
//!   `platform_started`/`log` events of the builds it runs;
//! * one **submitter** per policy identity publishes only its own requests
//!   (`<prefix>.api.<identity>.*`), receives only its own replies, writes and reads only its
//!   own contexts store and reads only its own events stream (an admin identity reads every
//!   identity's events stream too).
//!
//! Nothing else connects: there is no user without permissions and no `no_auth_user`, so a
//! RUN command that reaches the server over the host's loopback cannot authenticate.
//!
//! The keys: `<dir>/coordinator.nk`, `<dir>/worker.nk` and `<dir>/identity-<name>.nk` hold
//! the users' seeds (mode 0600); a missing one is generated, an existing one is kept, so the
//! command can run again after the policy changes (then restart nats-server or send it
//! `--signal reload`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use kaniko_common::subjects::{Names, Role, kv_stream, object_stream};

use crate::authz::Policy;

/// `coordinator nats-config` flags.
#[derive(Debug, Clone, Args)]
pub struct NatsConfigArgs {
    /// The policy `coordinator serve --policy` uses: one submitter user per identity.
    #[arg(long, env = "KANIKO_POLICY", value_name = "FILE")]
    pub policy: PathBuf,
    /// Directory of the users' nkey seeds (`coordinator.nk`, `worker.nk`,
    /// `identity-<name>.nk`); missing ones are generated (mode 0600), existing ones kept.
    #[arg(long, value_name = "DIR")]
    pub keys: PathBuf,
    /// Subject, stream and bucket prefix: `--prefix` (`KANIKO_PREFIX`), the same flag as
    /// every command that talks to NATS.
    #[command(flatten)]
    pub prefix: kaniko_nats::PrefixArgs,
    /// Write the configuration here (atomically) instead of to stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// What one user may publish and subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permissions {
    /// Subjects it may publish on.
    pub publish: Vec<String>,
    /// Subjects it may subscribe to.
    pub subscribe: Vec<String>,
}

/// The JetStream API subjects that read one stream through consumers: create (the plain and
/// the named forms), info, next message, delete, and the flow control replies of ordered
/// consumers.
fn consume(stream: &str) -> Vec<String> {
    vec![
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.>"),
        format!("$JS.API.CONSUMER.INFO.{stream}.*"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.*"),
        format!("$JS.API.CONSUMER.DELETE.{stream}.*"),
        format!("$JS.FC.{stream}.>"),
    ]
}

/// The subjects that read objects of store `store`: the stream's info, an object's info
/// (direct get of its metadata) and the consumer that reads its chunks.
fn read_objects(store: &str) -> Vec<String> {
    let stream = object_stream(store);
    let mut out = consume(&stream);
    out.push(format!("$JS.API.DIRECT.GET.{stream}.>"));
    out
}

/// The subjects that write objects of store `store`: chunks and metadata, and the purge of
/// the chunks of a replaced or deleted object.
fn write_objects(store: &str) -> Vec<String> {
    vec![
        format!("$O.{store}.>"),
        format!("$JS.API.STREAM.PURGE.{}", object_stream(store)),
    ]
}

/// Every stream of the prefix: the anonymous ones and each identity's.
fn every_stream(names: &Names, identities: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut streams = vec![
        names.tasks_stream(),
        names.results_stream(),
        names.events_stream(),
        kv_stream(&names.builds_bucket()),
        kv_stream(&names.workers_bucket()),
        object_stream(&names.contexts_store()),
    ];
    for identity in identities {
        streams.push(names.events_stream_for(Some(identity))?);
        streams.push(object_stream(&names.contexts_store_for(Some(identity))?));
    }
    Ok(streams)
}

/// Every contexts store: the anonymous one and each identity's.
fn every_store(names: &Names, identities: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut stores = vec![names.contexts_store()];
    for identity in identities {
        stores.push(names.contexts_store_for(Some(identity))?);
    }
    Ok(stores)
}

/// The coordinator: the API (anonymous and per identity), heartbeats, `platform_started`
/// events; tasks, events and cancels; every JetStream operation on the prefix's streams and
/// no other stream; answers only to identities' inboxes.
pub fn coordinator(names: &Names, identities: &[&str]) -> anyhow::Result<Permissions> {
    let p = names.prefix();
    let mut publish = vec![
        format!("{p}.tasks.>"),
        format!("{p}.events.>"),
        format!("{p}.user.*.events.>"),
        format!("{p}.cancel.*"),
        format!("$KV.{}.>", names.builds_bucket()),
        format!("_INBOX.{p}.user.*.>"),
        "$JS.API.INFO".to_string(),
    ];
    for stream in every_stream(names, identities)? {
        publish.push(format!("$JS.API.STREAM.CREATE.{stream}"));
        publish.push(format!("$JS.API.STREAM.MSG.GET.{stream}"));
        publish.push(format!("$JS.API.DIRECT.GET.{stream}"));
        publish.push(format!("$JS.API.DIRECT.GET.{stream}.>"));
        publish.extend(consume(&stream));
    }
    for store in every_store(names, identities)? {
        publish.extend(write_objects(&store));
    }
    let subscribe = vec![
        format!("{p}.api.*"),
        format!("{p}.api.*.*"),
        format!("{p}.workers.*"),
        format!("{p}.events.*.platform_started"),
        format!("{p}.user.*.events.*.platform_started"),
        format!("{}.>", names.role_inbox(Role::Coordinator)),
    ];
    Ok(Permissions { publish, subscribe })
}

/// A worker: its tasks consumers, contexts (read only), results, heartbeats (subject and
/// KV), the `platform_started` and `log` events of the builds it runs, cancel broadcasts;
/// the info of every stream it checks at start.
pub fn worker(names: &Names, identities: &[&str]) -> anyhow::Result<Permissions> {
    let p = names.prefix();
    let tasks = names.tasks_stream();
    let mut publish = vec![
        format!("{p}.results.*"),
        format!("{p}.workers.*"),
        format!("{p}.events.*.platform_started"),
        format!("{p}.events.*.log"),
        format!("{p}.user.*.events.*.platform_started"),
        format!("{p}.user.*.events.*.log"),
        format!("$KV.{}.*", names.workers_bucket()),
        "$JS.API.INFO".to_string(),
        format!("$JS.API.CONSUMER.CREATE.{tasks}.>"),
        format!("$JS.API.CONSUMER.INFO.{tasks}.*"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{tasks}.*"),
        format!("$JS.ACK.{tasks}.>"),
    ];
    for stream in every_stream(names, &[])? {
        publish.push(format!("$JS.API.STREAM.INFO.{stream}"));
    }
    for store in every_store(names, identities)? {
        publish.extend(read_objects(&store));
    }
    let subscribe = vec![
        format!("{p}.cancel.*"),
        format!("{}.>", names.role_inbox(Role::Worker)),
    ];
    publish.dedup();
    Ok(Permissions { publish, subscribe })
}

/// A submitter of identity `identity`: its own requests and replies, its own contexts store
/// (write and read back) and its own events stream (read); an admin reads every identity's
/// events stream.
pub fn submitter(
    names: &Names,
    identity: &str,
    admin: bool,
    identities: &[&str],
) -> anyhow::Result<Permissions> {
    let p = names.prefix();
    let store = names.contexts_store_for(Some(identity))?;
    let mut publish = vec![format!("{p}.api.{identity}.*")];
    publish.extend(write_objects(&store));
    publish.extend(read_objects(&store));
    let readable: Vec<&str> = if admin {
        identities.to_vec()
    } else {
        vec![identity]
    };
    for owner in readable {
        publish.extend(consume(&names.events_stream_for(Some(owner))?));
    }
    let subscribe = vec![format!("{}.>", names.identity_inbox(identity)?)];
    Ok(Permissions { publish, subscribe })
}

/// One user of the generated block.
struct User {
    comment: String,
    public_key: String,
    permissions: Permissions,
}

/// The nkey user's public key of the seed in `path`; a missing file gets a new seed (mode
/// 0600, never overwritten).
pub fn public_key(path: &Path) -> anyhow::Result<String> {
    let seed = match std::fs::read_to_string(path) {
        Ok(text) => text.trim().to_string(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let pair = nkeys::KeyPair::new_user();
            let seed = pair.seed().map_err(|err| {
                anyhow::anyhow!("making an nkey seed for {}: {err}", path.display())
            })?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            file.write_all(format!("{seed}\n").as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            seed
        }
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let pair = nkeys::KeyPair::from_seed(&seed).map_err(|err| {
        anyhow::anyhow!(
            "{} does not hold an nkey user seed (SU...): {err}",
            path.display()
        )
    })?;
    anyhow::ensure!(
        pair.public_key().starts_with('U'),
        "{} holds the seed of an nkey that is not a user (SU...)",
        path.display()
    );
    Ok(pair.public_key())
}

/// The seed file of the coordinator, the worker or an identity under `dir`.
pub fn seed_file(dir: &Path, user: SeedOf<'_>) -> PathBuf {
    match user {
        SeedOf::Role(role) => dir.join(format!("{}.nk", role.token())),
        SeedOf::Identity(identity) => dir.join(format!("identity-{identity}.nk")),
    }
}

/// Whose seed file.
#[derive(Debug, Clone, Copy)]
pub enum SeedOf<'a> {
    /// The coordinator's or the worker's.
    Role(Role),
    /// A submitter's.
    Identity(&'a str),
}

/// The `authorization` block for `policy` under `names`, with the public keys of the seeds
/// in `keys` (generated when missing).
pub fn render(
    names: &Names,
    policy: &Policy,
    policy_path: &Path,
    keys: &Path,
) -> anyhow::Result<String> {
    std::fs::create_dir_all(keys).with_context(|| format!("creating {}", keys.display()))?;
    let identities: Vec<&str> = policy.identities().map(|(id, _)| id).collect();
    let mut users = vec![
        User {
            comment: "coordinator (coordinator serve)".to_string(),
            public_key: public_key(&seed_file(keys, SeedOf::Role(Role::Coordinator)))?,
            permissions: coordinator(names, &identities)?,
        },
        User {
            comment: "worker (worker serve)".to_string(),
            public_key: public_key(&seed_file(keys, SeedOf::Role(Role::Worker)))?,
            permissions: worker(names, &identities)?,
        },
    ];
    for (identity, grant) in policy.identities() {
        users.push(User {
            comment: format!(
                "submitter {identity}{} (coordinator --identity {identity})",
                if grant.admin { ", admin" } else { "" }
            ),
            public_key: public_key(&seed_file(keys, SeedOf::Identity(identity)))?,
            permissions: submitter(names, identity, grant.admin, &identities)?,
        });
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# kaniko-rs NATS authorization for prefix {:?}, generated by `coordinator nats-config`\n\
         # from the policy {}. Roles: coordinator, worker, and one submitter per identity, each\n\
         # an nkey user (seeds in {}). Every connection must authenticate: add no user without\n\
         # permissions and no no_auth_user.",
        names.prefix(),
        policy_path.display(),
        keys.display()
    );
    out.push_str("authorization {\n  users = [\n");
    for user in &users {
        let list = |subjects: &[String]| {
            subjects
                .iter()
                .map(|s| format!("          {s:?}\n"))
                .collect::<String>()
        };
        let _ = write!(
            out,
            "    # {}\n    {{\n      nkey: {:?}\n      permissions: {{\n        publish: {{ allow: [\n{}        ] }}\n        subscribe: {{ allow: [\n{}        ] }}\n      }}\n    }}\n",
            user.comment,
            user.public_key,
            list(&user.permissions.publish),
            list(&user.permissions.subscribe),
        );
    }
    out.push_str("  ]\n}\n");
    Ok(out)
}

/// Runs `coordinator nats-config`.
pub fn run(args: &NatsConfigArgs) -> anyhow::Result<()> {
    let names = Names::new(args.prefix.prefix()?)?;
    let policy = Policy::load(&args.policy)?;
    let text = render(&names, &policy, &args.policy, &args.keys)?;
    match &args.output {
        Some(path) => kaniko_image::outfile::write(
            path,
            text.as_bytes(),
            kaniko_image::outfile::Overwrite::Always,
        )
        .with_context(|| format!("writing {}", path.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
