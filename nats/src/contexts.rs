// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Build contexts in the contexts object store: a tarball is uploaded once under
//! `sha256:<hex>` with its digest checked while it streams, and downloaded with its digest
//! checked again, so a worker never builds a context that is not the one submitted. An
//! object already stored under that name is read back and hashed before the upload is
//! skipped: one whose bytes do not hash to its name (planted by whoever else can write the
//! store) is replaced, so it cannot make someone's upload skip and their builds fail.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::{Bus, BusError};
use kaniko_common::messages::ContextRef;

/// Why a context could not be uploaded or downloaded.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The sha256 given is not 64 lowercase hex digits.
    #[error("context sha256 {0:?} is not 64 lowercase hex digits")]
    InvalidDigest(String),
    /// No context of that digest is stored.
    #[error("context sha256:{sha256} is not in the object store")]
    NotFound {
        /// The digest asked for.
        sha256: String,
    },
    /// The bytes do not hash to the name they travel under.
    #[error("context sha256:{expected} has sha256:{actual}")]
    DigestMismatch {
        /// The digest it should have.
        expected: String,
        /// The digest of the bytes.
        actual: String,
    },
    /// The bytes are not as long as declared.
    #[error("context sha256:{sha256} is {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The digest.
        sha256: String,
        /// The size declared.
        expected: u64,
        /// The size of the bytes.
        actual: u64,
    },
    /// The object store failed.
    #[error("object store, context sha256:{sha256}: {message}")]
    Store {
        /// The digest.
        sha256: String,
        /// What went wrong.
        message: String,
    },
    /// Reading the source or writing the destination failed.
    #[error("context sha256:{sha256}: {source}")]
    Io {
        /// The digest.
        sha256: String,
        /// The IO error.
        source: std::io::Error,
    },
}

/// Whether an upload stored the bytes or found them already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// The context was stored.
    Stored,
    /// An object of that digest was already stored and its bytes hash to it; nothing was
    /// read from the source.
    AlreadyPresent,
    /// An object stored under that digest did not hash to it (or could not be read back):
    /// it was replaced by the uploaded bytes.
    Replaced,
}

/// An [`AsyncRead`] that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: AsyncRead + Unpin> AsyncRead for Hashing<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let new = &buf.filled()[before..];
            this.hasher.update(new);
            this.size += new.len() as u64;
        }
        poll
    }
}

fn check_digest(sha256: &str) -> Result<ContextRef, ContextError> {
    let context = ContextRef {
        sha256: sha256.to_string(),
        size: 0,
    };
    context
        .validate()
        .map_err(|_| ContextError::InvalidDigest(sha256.to_string()))?;
    Ok(context)
}

/// The sha256 (hex) of the object `name` as stored, read back in full; a size other than
/// `expected_size` is reported without reading. An error says why it could not be read.
async fn stored_digest(
    store: &async_nats::jetstream::object_store::ObjectStore,
    name: &str,
    stored_size: usize,
    expected_size: u64,
) -> Result<String, String> {
    if stored_size as u64 != expected_size {
        return Ok(format!(
            "unknown (it is {stored_size} bytes, not {expected_size})"
        ));
    }
    let mut last = String::new();
    // Another submit of the same context may replace the object while it is read: its old
    // chunks are purged and the read stalls. Read the object that is there now instead.
    for _ in 0..2 {
        let mut object = store.get(name).await.map_err(|err| err.to_string())?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 128 * 1024];
        let read = loop {
            match read_or_stall(&mut object, &mut buf).await {
                Ok(0) => break Ok(()),
                Ok(n) => hasher.update(buf.get(..n).unwrap_or_default()),
                Err(err) => break Err(err),
            }
        };
        match read {
            Ok(()) => return Ok(hex::encode(hasher.finalize())),
            Err(err) => last = err.to_string(),
        }
    }
    Err(last)
}

/// How long a read of a stored context may go without a byte before it is given up: the
/// chunks of an object replaced while it is read are purged, and the client would wait for
/// them for ever (only idle heartbeats arrive).
const READ_STALL: Duration = Duration::from_secs(5);

/// One read of `object`, failed after [`READ_STALL`] without data.
async fn read_or_stall(
    object: &mut async_nats::jetstream::object_store::Object,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match tokio::time::timeout(READ_STALL, object.read(buf)).await {
        Ok(read) => read,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no data for {}s: the stored object was replaced while it was read",
                READ_STALL.as_secs()
            ),
        )),
    }
}

impl Bus {
    /// Stores the tarball read from `reader` as `sha256:<sha256>` in this bus's contexts
    /// store ([`Bus::contexts`]), unless an object of that name whose bytes hash to it is
    /// already stored; one that does not is replaced. The bytes are hashed as they stream;
    /// when they do not hash to `sha256` or are not `size` bytes long, the stored object is
    /// deleted again and the upload fails.
    pub async fn upload_context<R: AsyncRead + Unpin>(
        &self,
        reader: R,
        sha256: &str,
        size: u64,
    ) -> Result<Upload, BusError> {
        let context = check_digest(sha256)?;
        let name = context.object_name();
        let store = self.contexts().await?;
        let store_err = |message: String| ContextError::Store {
            sha256: sha256.to_string(),
            message,
        };
        let mut replaced = false;
        match store.info(&name).await {
            Ok(info) if !info.deleted => {
                match stored_digest(&store, &name, info.size, size).await {
                    Ok(actual) if actual == sha256 => {
                        tracing::debug!(context = %name, "context already stored and verified");
                        return Ok(Upload::AlreadyPresent);
                    }
                    Ok(actual) => {
                        tracing::warn!(context = %name, actual = %actual, "the stored object does not hash to its name: replacing it");
                        replaced = true;
                    }
                    Err(reason) => {
                        tracing::warn!(context = %name, %reason, "the stored object cannot be verified: replacing it");
                        replaced = true;
                    }
                }
            }
            Ok(_) => {}
            Err(err)
                if err.kind() == async_nats::jetstream::object_store::InfoErrorKind::NotFound => {}
            Err(err) => return Err(store_err(err.to_string()).into()),
        }
        let mut hashing = Hashing {
            inner: reader,
            hasher: Sha256::new(),
            size: 0,
        };
        store
            .put(name.as_str(), &mut hashing)
            .await
            .map_err(|err| store_err(err.to_string()))?;
        let actual = hex::encode(hashing.hasher.finalize());
        let failure = if actual != sha256 {
            Some(ContextError::DigestMismatch {
                expected: sha256.to_string(),
                actual,
            })
        } else if hashing.size != size {
            Some(ContextError::SizeMismatch {
                sha256: sha256.to_string(),
                expected: size,
                actual: hashing.size,
            })
        } else {
            None
        };
        if let Some(failure) = failure {
            if let Err(err) = store.delete(&name).await {
                tracing::warn!(context = %name, error = %err, "deleting a mismatched context");
            }
            return Err(failure.into());
        }
        tracing::info!(context = %name, size, replaced, "context uploaded");
        Ok(if replaced {
            Upload::Replaced
        } else {
            Upload::Stored
        })
    }

    /// Writes the context `sha256:<sha256>` to `writer` and checks that the bytes hash to
    /// `sha256`; returns their size. On a mismatch the writer holds bytes that must not be
    /// used: the caller discards them.
    pub async fn download_context<W: AsyncWrite + Unpin>(
        &self,
        sha256: &str,
        mut writer: W,
    ) -> Result<u64, BusError> {
        let context = check_digest(sha256)?;
        let name = context.object_name();
        let store = self.contexts().await?;
        let mut object = match store.get(&name).await {
            Ok(object) => object,
            Err(err)
                if err.kind() == async_nats::jetstream::object_store::GetErrorKind::NotFound =>
            {
                return Err(ContextError::NotFound {
                    sha256: sha256.to_string(),
                }
                .into());
            }
            Err(err) => {
                return Err(ContextError::Store {
                    sha256: sha256.to_string(),
                    message: err.to_string(),
                }
                .into());
            }
        };
        let io_err = |source| ContextError::Io {
            sha256: sha256.to_string(),
            source,
        };
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = match read_or_stall(&mut object, &mut buf).await {
                Ok(n) => n,
                // The client checks the object's own digest at the end; a tampered object
                // fails there. Report it as the mismatch it is.
                Err(err) if err.to_string().contains("digest") => {
                    return Err(ContextError::DigestMismatch {
                        expected: sha256.to_string(),
                        actual: format!("unknown ({err})"),
                    }
                    .into());
                }
                Err(err) => return Err(io_err(err).into()),
            };
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            size += n as u64;
            writer.write_all(chunk).await.map_err(io_err)?;
        }
        writer.flush().await.map_err(io_err)?;
        let actual = hex::encode(hasher.finalize());
        if actual != sha256 {
            return Err(ContextError::DigestMismatch {
                expected: sha256.to_string(),
                actual,
            }
            .into());
        }
        Ok(size)
    }
}
