// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A real 3-node nats-server cluster with JetStream on loopback: each node a process with
//! its own `server_name`, client, monitoring and route ports (free ones), its JetStream store
//! in its own directory (kept across restarts), and routes to the other two. Clients get the
//! three URLs comma-separated ([`NatsCluster::urls`]). A node can be killed (`SIGKILL`) and
//! started again on the same ports and store.
//!
//! Ready means every running node's monitoring `/healthz` answers ok, it greets clients, and
//! its `/jsz` names a JetStream meta leader (the cluster has elected one). The binary is
//! [`crate::nats_server_binary`], as for the single server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::nats::{greets, nats_server_binary};
use crate::process::{Service, free_port, http_get, start_with_attempts};

/// How many nodes the cluster has.
pub const NODES: usize = 3;
/// The cluster's name in each node's `cluster { name }`.
const CLUSTER_NAME: &str = "kaniko";
/// How long the cluster (or a restarted node) may take to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One node: its process, ports and directory.
struct Node {
    name: String,
    service: Service,
    port: u16,
    monitor_port: u16,
    route_port: u16,
    dir: PathBuf,
}

impl Node {
    fn config(&self, routes: &[u16]) -> String {
        let routes: Vec<String> = routes
            .iter()
            .filter(|port| **port != self.route_port)
            .map(|port| format!("\"nats-route://127.0.0.1:{port}\""))
            .collect();
        format!(
            "server_name: \"{name}\"\n\
             listen: \"127.0.0.1:{port}\"\n\
             http: \"127.0.0.1:{monitor}\"\n\
             jetstream {{\n  store_dir: \"{store}\"\n}}\n\
             cluster {{\n  name: \"{CLUSTER_NAME}\"\n  listen: \"127.0.0.1:{route}\"\n  \
             routes: [{routes}]\n}}\n",
            name = self.name,
            port = self.port,
            monitor = self.monitor_port,
            store = self.dir.join("jetstream").display(),
            route = self.route_port,
            routes = routes.join(", "),
        )
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("nats.conf")
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(nats_server_binary());
        command.arg("-c").arg(self.config_path());
        self.service.spawn(command)
    }
}

/// Whether the node on `port`/`monitor_port` is healthy, greets clients and knows a meta
/// leader.
fn node_ready(port: u16, monitor_port: u16) -> bool {
    let healthy = matches!(
        http_get(monitor_port, "/healthz", Duration::from_secs(1)),
        Some((200, body)) if body.contains("ok")
    );
    healthy && greets(port) && meta_leader(monitor_port).is_some()
}

/// The JetStream meta leader `/jsz` on `monitor_port` names, if any.
fn meta_leader(monitor_port: u16) -> Option<String> {
    let (status, body) = http_get(monitor_port, "/jsz", Duration::from_secs(1))?;
    if status != 200 {
        return None;
    }
    let jsz: serde_json::Value = serde_json::from_str(&body).ok()?;
    let leader = jsz["meta_cluster"]["leader"].as_str()?;
    (!leader.is_empty()).then(|| leader.to_string())
}

/// A running 3-node cluster; every node killed (and reaped) on drop, its log tail printed
/// when a test panics.
pub struct NatsCluster {
    // Fields drop in order: the processes before the directory.
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Starts three nodes on free ports and waits until the cluster is ready.
    pub fn start() -> anyhow::Result<NatsCluster> {
        let dir = tempfile::Builder::new()
            .prefix("kaniko-nats-cluster-")
            .tempdir()
            .context("creating the cluster directory")?;
        let mut nodes = Vec::new();
        for index in 0..NODES {
            let name = format!("n{}", index + 1);
            let node_dir = dir.path().join(&name);
            std::fs::create_dir_all(&node_dir)
                .with_context(|| format!("creating {}", node_dir.display()))?;
            nodes.push(Node {
                service: Service::new("nats-server (cluster node)", node_dir.join("nats.log")),
                name,
                port: 0,
                monitor_port: 0,
                route_port: 0,
                dir: node_dir,
            });
        }
        let mut cluster = NatsCluster { nodes, dir };
        start_with_attempts("nats-server cluster", Duration::from_millis(200), || {
            cluster.launch_all()
        })?;
        Ok(cluster)
    }

    /// Picks fresh ports for every node, writes the configurations, starts all three and
    /// waits for them.
    fn launch_all(&mut self) -> anyhow::Result<()> {
        for node in &mut self.nodes {
            node.service.stop();
        }
        let mut ports = Vec::new();
        while ports.len() < 3 * NODES {
            let port = free_port()?;
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let routes: Vec<u16> = ports[2 * NODES..].to_vec();
        for (index, node) in self.nodes.iter_mut().enumerate() {
            node.port = ports[index];
            node.monitor_port = ports[NODES + index];
            node.route_port = routes[index];
            let path = node.config_path();
            std::fs::write(&path, node.config(&routes))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        for node in &mut self.nodes {
            node.spawn()?;
        }
        for index in 0..NODES {
            self.await_node(index)?;
        }
        Ok(())
    }

    fn await_node(&mut self, index: usize) -> anyhow::Result<()> {
        let node = &mut self.nodes[index];
        let (port, monitor_port) = (node.port, node.monitor_port);
        let failure = format!(
            "{} became healthy on ports {port}/{monitor_port} with a JetStream meta leader",
            node.name
        );
        node.service
            .await_ready(READY_TIMEOUT, &failure, || node_ready(port, monitor_port))
    }

    /// Every node's client URL, comma-separated: what `--nats` takes.
    pub fn urls(&self) -> String {
        let urls: Vec<String> = (0..NODES).map(|index| self.url(index)).collect();
        urls.join(",")
    }

    /// Node `index`'s client URL.
    pub fn url(&self, index: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[index].port)
    }

    /// Node `index`'s `server_name` (`n1`, `n2`, `n3`).
    pub fn name(&self, index: usize) -> &str {
        &self.nodes[index].name
    }

    /// The index of the node called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|node| node.name == name)
    }

    /// Node `index`'s monitoring port.
    pub fn monitor_port(&self, index: usize) -> u16 {
        self.nodes[index].monitor_port
    }

    /// The node a client connection named `connection_name` is connected to (from each
    /// running node's `/connz`), if any.
    pub fn node_of_connection(&self, connection_name: &str) -> Option<usize> {
        let quoted = serde_json::to_string(connection_name).ok()?;
        (0..NODES).find(|index| {
            matches!(
                http_get(self.nodes[*index].monitor_port, "/connz?limit=1024", Duration::from_secs(1)),
                Some((200, body)) if body.contains(&format!("\"name\":{quoted}")) || body.contains(&format!("\"name\": {quoted}"))
            )
        })
    }

    /// Kills node `index` (`SIGKILL`); its store stays.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].service.stop();
    }

    /// Starts node `index` again on its ports and store, and waits until it is ready (it has
    /// rejoined and sees a meta leader).
    pub fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        self.kill(index);
        start_with_attempts(
            "nats-server cluster node",
            Duration::from_millis(200),
            || {
                self.nodes[index].spawn()?;
                self.await_node(index)
            },
        )
    }

    /// Waits until every running node sees a meta leader (after a kill, the survivors elect
    /// one).
    pub fn wait_for_meta_leader(&self, within: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let mut leaders = Vec::new();
            for node in &self.nodes {
                if let Some(port) = self.running_monitor(node) {
                    leaders.push(meta_leader(port));
                }
            }
            if let Some(Some(leader)) = leaders.first()
                && leaders.iter().all(|seen| seen.as_ref() == Some(leader))
            {
                return Ok(leader.clone());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "no JetStream meta leader agreed on within {within:?}: {leaders:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn running_monitor(&self, node: &Node) -> Option<u16> {
        http_get(node.monitor_port, "/healthz", Duration::from_millis(500))
            .is_some()
            .then_some(node.monitor_port)
    }

    /// The cluster's directory (each node's store and log under `n1/`, `n2/`, `n3/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every node's log so far, each under a heading.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("--- nats {} ---\n{}", node.name, node.service.logs()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
