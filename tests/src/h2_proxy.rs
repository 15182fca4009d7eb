// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A TLS-terminating proxy that breaks HTTP/2, in front of a TLS registry
//! ([`crate::Registry::start_tls`]), as some corporate proxies and load balancers do: it
//! offers `h2` and `http/1.1` through ALPN with the test CA's server certificate; a client
//! that picks HTTP/1.1 is passed through to the registry (over TLS, so the registry's
//! `Location`s name the proxy's https address), a client that picks HTTP/2 meets the
//! [`H2Fault`]. It counts the connections of each kind.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::nats_secure::TlsFiles;

/// What an HTTP/2 client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2Fault {
    /// Every stream is reset with `HTTP_1_1_REQUIRED` (RFC 9113, 8.3.3).
    ResetHttp11Required,
    /// `h2` is negotiated, then bytes that are not HTTP/2 arrive and the connection closes.
    Garbage,
    /// `h2` is negotiated, then the connection closes without a byte.
    Close,
}

/// The running proxy; stops on drop.
pub struct H2BreakingProxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    h2: Arc<AtomicUsize>,
    http1: Arc<AtomicUsize>,
}

impl H2BreakingProxy {
    /// Starts the proxy on a free loopback port in front of the TLS registry at `upstream`.
    pub async fn start(
        tls: &TlsFiles,
        upstream: SocketAddr,
        fault: H2Fault,
    ) -> anyhow::Result<H2BreakingProxy> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certs = CertificateDer::pem_file_iter(&tls.server_cert)
            .context("server certificate")?
            .collect::<Result<Vec<_>, _>>()
            .context("server certificate")?;
        let key = PrivateKeyDer::from_pem_file(&tls.server_key).context("server key")?;
        let mut server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(&tls.ca).context("CA certificate")? {
            roots.add(ca.context("CA certificate")?)?;
        }
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(server));
        let connector = TlsConnector::from(Arc::new(client));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (h2, http1) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let counters = (Arc::clone(&h2), Arc::clone(&http1));
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (acceptor, connector) = (acceptor.clone(), connector.clone());
                let (h2, http1) = (Arc::clone(&counters.0), Arc::clone(&counters.1));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                        h2.fetch_add(1, Ordering::SeqCst);
                        break_h2(tls, fault).await;
                    } else {
                        http1.fetch_add(1, Ordering::SeqCst);
                        let _ = pass_through(tls, upstream, &connector).await;
                    }
                });
            }
        });
        Ok(H2BreakingProxy {
            addr,
            task,
            h2,
            http1,
        })
    }

    /// `127.0.0.1:PORT`, the registry part of references through the proxy.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Connections that negotiated HTTP/2 (and met the fault).
    pub fn h2_connections(&self) -> usize {
        self.h2.load(Ordering::SeqCst)
    }

    /// Connections that negotiated HTTP/1.1 (passed through to the registry).
    pub fn http1_connections(&self) -> usize {
        self.http1.load(Ordering::SeqCst)
    }
}

impl Drop for H2BreakingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn break_h2(mut tls: tokio_rustls::server::TlsStream<TcpStream>, fault: H2Fault) {
    match fault {
        H2Fault::ResetHttp11Required => {
            let Ok(mut connection) = h2::server::handshake(tls).await else {
                return;
            };
            while let Some(Ok((_request, mut respond))) = connection.accept().await {
                respond.send_reset(h2::Reason::HTTP_1_1_REQUIRED);
            }
        }
        H2Fault::Garbage => {
            let _ = tls
                .write_all(b"HTTP/1.0 400 this is not HTTP/2\r\n\r\n")
                .await;
            let _ = tls.shutdown().await;
        }
        H2Fault::Close => {
            let _ = tls.shutdown().await;
        }
    }
}

async fn pass_through(
    mut client: tokio_rustls::server::TlsStream<TcpStream>,
    upstream: SocketAddr,
    connector: &TlsConnector,
) -> anyhow::Result<()> {
    let tcp = TcpStream::connect(upstream).await?;
    let name = ServerName::IpAddress(upstream.ip().into());
    let mut registry = connector.connect(name, tcp).await?;
    tokio::io::copy_bidirectional(&mut client, &mut registry).await?;
    Ok(())
}
