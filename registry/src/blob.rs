// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Blob operations of the registry client: existence checks, streamed pulls verified against
//! their digest (resumed with a range request after a transient failure) and, when a
//! descriptor gives the size, never read past it; uploads from files
//! (streamed, never read whole) or from memory that skip blobs the registry already has,
//! several uploads at once, and cross-repository mounts.

use std::path::PathBuf;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use oci_client::RegistryOperation;
use oci_client::errors::OciErrorCode;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::answer::Answer;
use super::body::limit_text;
use super::error::classify_reqwest;
use super::{Reference, RegistryClient, RegistryError};

/// Read size when streaming a file to the registry.
const FILE_READ_SIZE: usize = 256 * 1024;

/// Something to upload as a blob.
#[derive(Debug, Clone)]
pub enum BlobSource {
    /// A file on disk whose digest and size are already known (a layer just written).
    File {
        /// The file.
        path: PathBuf,
        /// `sha256:<hex>` of its content.
        digest: String,
        /// Its size in bytes.
        size: u64,
    },
    /// A small blob in memory (a config); its digest is computed.
    Bytes(Bytes),
}

/// What an upload reads: a file (opened per attempt) or bytes in memory.
enum Body {
    File(PathBuf),
    Bytes(Bytes),
}

impl Body {
    /// The source, for errors.
    fn describe(&self) -> String {
        match self {
            Body::File(path) => path.display().to_string(),
            Body::Bytes(_) => "memory".to_string(),
        }
    }

    /// A fresh stream of the body's bytes; a file must still be `size` bytes long.
    async fn stream(
        &self,
        size: u64,
        what: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, LocalRead>>, RegistryError> {
        match self {
            Body::Bytes(data) => {
                let data = data.clone();
                Ok(futures::stream::once(futures::future::ready(Ok(data))).boxed())
            }
            Body::File(path) => {
                let io_error = |source| RegistryError::Io {
                    what: format!("reading {} for {what}", path.display()),
                    source,
                };
                let file = tokio::fs::File::open(path).await.map_err(io_error)?;
                let actual_size = file.metadata().await.map_err(io_error)?.len();
                if actual_size != size {
                    return Err(RegistryError::Io {
                        what: format!("{} for {what}", path.display()),
                        source: std::io::Error::other(format!(
                            "file is {actual_size} bytes, expected {size}"
                        )),
                    });
                }
                Ok(
                    tokio_util::io::ReaderStream::with_capacity(file, FILE_READ_SIZE)
                        .map_err(LocalRead)
                        .boxed(),
                )
            }
        }
    }
}

/// Whether an upload was needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// The blob was sent.
    Uploaded,
    /// The registry already had it; nothing was sent.
    Skipped,
}

/// The result of pushing one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedBlob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Whether it was uploaded or already there.
    pub outcome: BlobPush,
}

/// `sha256:<hex>` of `data`.
pub(crate) fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Checks that `digest` is `sha256:` and 64 lowercase hex digits, the only form this client
/// verifies.
pub(crate) fn check_digest(reference: &Reference, digest: &str) -> Result<(), RegistryError> {
    let valid = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if valid {
        Ok(())
    } else {
        Err(RegistryError::protocol(
            reference.whole(),
            format!("unsupported or malformed digest {digest:?} (want sha256:<64 hex>)"),
        ))
    }
}

/// A blob pull in progress, across its attempts.
struct BlobPull<'a> {
    reference: &'a Reference,
    digest: &'a str,
    /// `config sha256:...`, for messages.
    what: &'a str,
    /// The descriptor's size, when known: nothing past it is read.
    size: Option<u64>,
    /// Bytes written to the output so far.
    written: u64,
    /// sha256 of those bytes.
    hasher: Sha256,
}

/// How one pull attempt ended badly: a registry failure (maybe retried) or a local one.
enum PullFailure {
    Registry(RegistryError),
    Local(RegistryError),
}

impl From<RegistryError> for PullFailure {
    fn from(err: RegistryError) -> Self {
        PullFailure::Registry(err)
    }
}

impl RegistryClient {
    /// Whether the repository of `reference` has the blob `digest` (a `HEAD`).
    pub async fn blob_exists(
        &self,
        reference: &Reference,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        check_digest(reference, digest)?;
        let what = format!("blob {digest}");
        self.inner
            .options
            .retry
            .run(&format!("check {what} in {reference}"), |_| async {
                self.blob_head(reference, digest, &what).await
            })
            .await
    }

    /// One `HEAD /v2/<name>/blobs/<digest>`: whether the repository has the blob.
    async fn blob_head(
        &self,
        reference: &Reference,
        digest: &str,
        what: &str,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", reference.repository());
        let response = self
            .api_request(reference, &path, RegistryOperation::Pull, |http, url| {
                http.head(url)
            })
            .await?;
        match response.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(unexpected(response, &reference.whole(), what).await),
        }
    }

    /// Streams the blob `digest` of `reference`'s repository into `out`, verifying its sha256;
    /// a mismatch is a [`RegistryError::Protocol`]. After a transient failure mid-way the pull
    /// resumes where it stopped (range request), so `out` receives every byte exactly once.
    /// Returns the number of bytes written. Prefer [`RegistryClient::pull_blob_sized`] when a
    /// descriptor says the size: this one reads as long as the registry sends.
    pub async fn pull_blob_to_writer<W: AsyncWrite + Unpin>(
        &self,
        reference: &Reference,
        digest: &str,
        out: W,
    ) -> Result<u64, RegistryError> {
        self.pull_blob(reference, digest, None, "blob", out).await
    }

    /// [`RegistryClient::pull_blob_to_writer`] for a blob whose descriptor says it is `size`
    /// bytes: reading stops as soon as the registry sends more (nothing past `size` reaches
    /// `out`), and a shorter blob is refused too. `what` names the blob in errors (`config`,
    /// `layer`).
    pub async fn pull_blob_sized<W: AsyncWrite + Unpin>(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
        what: &str,
        out: W,
    ) -> Result<u64, RegistryError> {
        self.pull_blob(reference, digest, Some(size), what, out)
            .await
    }

    async fn pull_blob<W: AsyncWrite + Unpin>(
        &self,
        reference: &Reference,
        digest: &str,
        size: Option<u64>,
        what: &str,
        mut out: W,
    ) -> Result<u64, RegistryError> {
        check_digest(reference, digest)?;
        let what = format!("{what} {digest}");
        let operation = format!("pull {what} from {reference}");
        let mut pull = BlobPull {
            reference,
            digest,
            what: &what,
            size,
            written: 0,
            hasher: Sha256::new(),
        };
        let mut retrying = self.inner.options.retry.start(&operation);
        loop {
            match self.pull_blob_attempt(&mut pull, &mut out).await {
                Ok(()) => break,
                Err(PullFailure::Local(err)) => return Err(err),
                Err(PullFailure::Registry(err)) => {
                    if !(err.is_transient() && retrying.again_after(&err, err.retry_after()).await)
                    {
                        return Err(err);
                    }
                }
            }
        }
        let written = pull.written;
        if let Some(size) = size.filter(|s| *s != written) {
            return Err(RegistryError::protocol(
                reference.whole(),
                format!("{what} is {written} bytes, not the {size} bytes its descriptor says"),
            ));
        }
        let actual = format!("sha256:{}", hex::encode(pull.hasher.finalize()));
        if actual != digest {
            return Err(RegistryError::protocol(
                reference.whole(),
                format!("digest mismatch for {what}: expected {digest}, got {actual}"),
            ));
        }
        Ok(written)
    }

    /// `GET /v2/<name>/blobs/<digest>`, from `offset` on when it is not 0, with the
    /// registry's authentication. Sent here rather than through oci-client, which reads an
    /// error response's body whole. A redirect to storage on another host is followed without
    /// the `Authorization` header (reqwest drops it across hosts), so credentials stay with
    /// the registry.
    async fn blob_get(
        &self,
        reference: &Reference,
        digest: &str,
        offset: u64,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let (clients, auth) = self.prepare(reference).await?;
        let url = format!(
            "{}/v2/{}/blobs/{digest}",
            self.base_url(reference),
            reference.repository()
        );
        let mut request = clients.http.get(url);
        if offset > 0 {
            request = request.header(http::header::RANGE, format!("bytes={offset}-"));
        }
        if let Some(header) = self
            .authorization(clients, &auth, reference, RegistryOperation::Pull)
            .await?
        {
            request = request.header(http::header::AUTHORIZATION, header);
        }
        clients
            .send(request)
            .await
            .map_err(|err| classify_reqwest(&reference.whole(), what, &err))
    }

    /// One attempt of a blob pull: from the start, or from `pull.written` on after a failure.
    async fn pull_blob_attempt<W: AsyncWrite + Unpin>(
        &self,
        pull: &mut BlobPull<'_>,
        out: &mut W,
    ) -> Result<(), PullFailure> {
        let whole = pull.reference.whole();
        let what = pull.what;
        if pull.written > 0 {
            tracing::debug!(digest = %pull.digest, offset = pull.written, "resuming blob pull");
        }
        let mut response = self
            .blob_get(pull.reference, pull.digest, pull.written, what)
            .await?;
        let status = response.status().as_u16();
        let mut skip = match status {
            206 if pull.written > 0 => 0,
            // The registry ignored the range (or none was asked for): drop what was already
            // written.
            200 => pull.written,
            _ => {
                return Err(Answer::read(response).await.by_status(&whole, what).into());
            }
        };
        let too_large = |size: u64| {
            PullFailure::Local(RegistryError::protocol(
                &whole,
                format!(
                    "{what} is larger than its descriptor's {}",
                    limit_text(size)
                ),
            ))
        };
        let announced = response
            .content_length()
            .map(|length| pull.written.saturating_add(length).saturating_sub(skip));
        if let (Some(size), Some(total)) = (pull.size, announced)
            && total > size
        {
            return Err(too_large(size));
        }
        while let Some(mut chunk) = response
            .chunk()
            .await
            .map_err(|err| classify_reqwest(&whole, what, &err))?
        {
            if skip > 0 {
                let dropped = usize::try_from(skip).unwrap_or(usize::MAX).min(chunk.len());
                let _ = chunk.split_to(dropped);
                skip -= dropped as u64;
                if chunk.is_empty() {
                    continue;
                }
            }
            if let Some(size) = pull.size
                && pull.written + chunk.len() as u64 > size
            {
                return Err(too_large(size));
            }
            pull.hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(|source| {
                PullFailure::Local(RegistryError::Io {
                    what: format!("writing {what} of {whole}"),
                    source,
                })
            })?;
            pull.written += chunk.len() as u64;
        }
        if skip > 0 {
            return Err(
                RegistryError::protocol(&whole, format!("{what} is shorter than before")).into(),
            );
        }
        out.flush().await.map_err(|source| {
            PullFailure::Local(RegistryError::Io {
                what: format!("writing {what} of {whole}"),
                source,
            })
        })?;
        Ok(())
    }

    /// Pushes the file at `path` as the blob `digest` of `size` bytes into `reference`'s
    /// repository: skipped when the registry already has it, otherwise streamed from disk
    /// (re-opened on each retry). The registry checks the digest.
    pub async fn push_blob_file(
        &self,
        reference: &Reference,
        path: impl Into<PathBuf>,
        digest: &str,
        size: u64,
    ) -> Result<PushedBlob, RegistryError> {
        check_digest(reference, digest)?;
        let body = Body::File(path.into());
        let outcome = self.push_body(reference, &body, digest, size).await?;
        tracing::debug!(%digest, size, ?outcome, "blob pushed");
        Ok(PushedBlob {
            digest: digest.to_string(),
            size,
            outcome,
        })
    }

    /// Pushes a small in-memory blob (a config) into `reference`'s repository, skipped when
    /// already there. Its digest is computed here.
    pub async fn push_blob_bytes(
        &self,
        reference: &Reference,
        data: impl Into<Bytes>,
    ) -> Result<PushedBlob, RegistryError> {
        let data: Bytes = data.into();
        let digest = sha256_digest(&data);
        let size = data.len() as u64;
        let outcome = self
            .push_body(reference, &Body::Bytes(data), &digest, size)
            .await?;
        Ok(PushedBlob {
            digest,
            size,
            outcome,
        })
    }

    /// Uploads `body` as the blob `digest` of `size` bytes unless the registry has it, with
    /// the client's retry policy (a file is re-opened on each attempt).
    async fn push_body(
        &self,
        reference: &Reference,
        body: &Body,
        digest: &str,
        size: u64,
    ) -> Result<BlobPush, RegistryError> {
        let what = format!("blob {digest}");
        self.inner
            .options
            .retry
            .run(&format!("push {what} to {reference}"), |_| async {
                if self.blob_head(reference, digest, &what).await? {
                    return Ok(BlobPush::Skipped);
                }
                self.upload(reference, body, digest, size, &what).await?;
                Ok(BlobPush::Uploaded)
            })
            .await
    }

    /// Pushes several blobs, at most `max_concurrent_uploads` at a time; results in the order
    /// of `blobs`. The first failure cancels the uploads still running.
    pub async fn push_blobs(
        &self,
        reference: &Reference,
        blobs: Vec<BlobSource>,
    ) -> Result<Vec<PushedBlob>, RegistryError> {
        let limit = self.inner.options.max_concurrent_uploads.max(1);
        futures::stream::iter(blobs)
            .map(|blob| async move {
                match blob {
                    BlobSource::File { path, digest, size } => {
                        self.push_blob_file(reference, path, &digest, size).await
                    }
                    BlobSource::Bytes(data) => self.push_blob_bytes(reference, data).await,
                }
            })
            .buffered(limit)
            .try_collect()
            .await
    }

    /// Asks the registry to mount the blob `digest` from `from_repository` (same registry)
    /// into `target`'s repository, with a token that may push the target and pull the source. `Ok(false)` when the registry declines, so that the caller
    /// uploads the blob: a `202` with an upload session (GHCR, Docker Hub without pull scope
    /// on the source; the session is cancelled) or a refusal (`401`, `403`, `404` or another
    /// 4xx but 408 and 429). Transient failures are retried.
    pub async fn mount_blob(
        &self,
        target: &Reference,
        from_repository: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        check_digest(target, digest)?;
        let what = format!("blob {digest}");
        let source = Reference::with_tag(
            target.registry().to_string(),
            from_repository.to_string(),
            "latest".to_string(),
        );
        self.inner
            .options
            .retry
            .run(
                &format!("mount {what} from {from_repository} into {target}"),
                |_| async {
                    let path = format!(
                        "/v2/{}/blobs/uploads/?mount={digest}&from={}",
                        target.repository(),
                        source.repository()
                    );
                    // The token may pull the source too, or GHCR and Docker Hub do not mount.
                    let response = self
                        .api_request_with_source(
                            target,
                            &path,
                            RegistryOperation::Push,
                            Some(source.repository()),
                            |http, url| http.post(url).header(http::header::CONTENT_LENGTH, 0),
                        )
                        .await;
                    let response = match response {
                        Ok(response) => response,
                        // A token service that refuses the pair of scopes (rather than
                        // granting what it can): no mount, the upload asks for its own token.
                        Err(err @ RegistryError::Unauthorized { .. }) => {
                            tracing::debug!(%digest, from = %from_repository, to = %target, error = %err, "no token for the mount: uploading instead");
                            return Ok(false);
                        }
                        Err(err) => return Err(err),
                    };
                    match response.status().as_u16() {
                        201 => Ok(true),
                        // The registry opened an upload session instead (GHCR and Docker Hub
                        // do so when the token may not pull the source): not used, cancelled.
                        202 => {
                            let session = response
                                .headers()
                                .get(http::header::LOCATION)
                                .and_then(|v| v.to_str().ok())
                                .and_then(|location| response.url().join(location).ok());
                            if let Some(session) = session {
                                self.cancel_upload(target, session).await;
                            }
                            tracing::debug!(%digest, from = %from_repository, to = %target, "mount declined with an upload session: uploading instead");
                            Ok(false)
                        }
                        // Refused (no pull scope on the source, a source the registry does
                        // not know, a mount it does not allow): an upload does instead.
                        status @ 400..=499 if ![408, 429].contains(&status) => {
                            let answer = Answer::read(response).await;
                            tracing::debug!(%digest, from = %from_repository, to = %target, answer = %answer.shown(), "mount refused: uploading instead");
                            Ok(false)
                        }
                        _ => Err(unexpected(response, &target.whole(), &what).await),
                    }
                },
            )
            .await
    }
}

impl RegistryClient {
    /// Whether this client may push to `reference`'s repository, asked as Kaniko's executor
    /// asks before a build: an upload session is opened (`POST /v2/<name>/blobs/uploads/`,
    /// with the push credentials) and cancelled at once. A refusal is the error the first
    /// upload would have met, before any work is done.
    pub async fn check_push_permission(&self, reference: &Reference) -> Result<(), RegistryError> {
        let whole = reference.whole();
        let what = "a push";
        self.inner
            .options
            .retry
            .run(
                &format!("checking push permission for {whole}"),
                |_| async {
                    let url = self.open_upload(reference, what).await?;
                    // The session is not needed.
                    self.cancel_upload(reference, url).await;
                    Ok(())
                },
            )
            .await
    }

    /// Cancels the upload session at `url` (`DELETE`), best effort: a registry forgets an
    /// idle session anyway.
    async fn cancel_upload(&self, reference: &Reference, url: reqwest::Url) {
        let Ok((clients, auth)) = self.prepare(reference).await else {
            return;
        };
        let mut request = clients.http.delete(url);
        if let Ok(Some(header)) = self
            .authorization(clients, &auth, reference, RegistryOperation::Push)
            .await
        {
            request = request.header(http::header::AUTHORIZATION, header);
        }
        if let Err(err) = clients.send(request).await {
            tracing::debug!(reference = %reference.whole(), error = %err, "cancelling an upload session");
        }
    }

    /// Opens an upload session (`POST /v2/<name>/blobs/uploads/`, push credentials): the
    /// session's URL, from the `Location` the registry answers. A `404` or `NAME_UNKNOWN`
    /// (ECR's answer for a repository nobody created) is [`RegistryError::NoRepository`].
    async fn open_upload(
        &self,
        reference: &Reference,
        what: &str,
    ) -> Result<reqwest::Url, RegistryError> {
        let whole = reference.whole();
        let path = format!("/v2/{}/blobs/uploads/", reference.repository());
        let response = self
            .api_request(reference, &path, RegistryOperation::Push, |http, url| {
                http.post(url).header(http::header::CONTENT_LENGTH, 0)
            })
            .await?;
        if response.status().as_u16() != 202 {
            let answer = Answer::read(response).await;
            if answer.status == 404 || answer.first_code() == Some(OciErrorCode::NameUnknown) {
                // ECR answers so for a repository nobody created: say how to create it.
                return Err(RegistryError::no_repository(
                    whole,
                    reference.resolve_registry(),
                    reference.repository(),
                    &answer.shown(),
                ));
            }
            return Err(answer.by_code(&whole, what));
        }
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                RegistryError::protocol(&whole, format!("{what}: upload opened without a Location"))
            })?;
        response.url().join(location).map_err(|err| {
            RegistryError::protocol(
                &whole,
                format!("{what}: upload Location {location:?}: {err}"),
            )
        })
    }

    /// One monolithic upload: `POST /v2/<name>/blobs/uploads/` opens a session, one streamed
    /// `PUT <location>?digest=<digest>` sends the bytes and closes it.
    async fn upload(
        &self,
        reference: &Reference,
        body: &Body,
        digest: &str,
        size: u64,
        what: &str,
    ) -> Result<(), RegistryError> {
        let whole = reference.whole();
        let mut url = self.open_upload(reference, what).await?;
        url.query_pairs_mut().append_pair("digest", digest);
        let (clients, auth) = self.prepare(reference).await?;
        let stream = body.stream(size, what).await?;
        let mut request = clients
            .http
            .put(url)
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .header(http::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream));
        if let Some(header) = self
            .authorization(clients, &auth, reference, RegistryOperation::Push)
            .await?
        {
            request = request.header(http::header::AUTHORIZATION, header);
        }
        let response = clients
            .send(request)
            .await
            .map_err(|err| match local_read(&err) {
                // The local file failed, not the registry.
                Some(LocalRead(source)) => RegistryError::Io {
                    what: format!("reading {} for {what}", body.describe()),
                    source: std::io::Error::new(source.kind(), source.to_string()),
                },
                None => classify_reqwest(&whole, what, &err),
            })?;
        if response.status().as_u16() != 201 {
            return Err(unexpected(response, &whole, what).await);
        }
        Ok(())
    }
}

/// A failure reading an upload's local file, told apart from the network's failures in the
/// chain of the request's error.
#[derive(Debug)]
struct LocalRead(std::io::Error);

impl std::fmt::Display for LocalRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for LocalRead {}

/// The [`LocalRead`] under a failed upload, when reading the body is what failed.
fn local_read(err: &reqwest::Error) -> Option<&LocalRead> {
    let mut source = std::error::Error::source(err);
    while let Some(current) = source {
        if let Some(local) = current.downcast_ref::<LocalRead>() {
            return Some(local);
        }
        source = current.source();
    }
    None
}

/// A response that is not the one expected, as the kind of error a caller branches on: the
/// registry's error codes when the body carries them, else the status.
async fn unexpected(response: reqwest::Response, reference: &str, what: &str) -> RegistryError {
    Answer::read(response).await.by_code(reference, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_sha256_digests_are_accepted() {
        let reference: Reference = "r.io/app:1".parse().unwrap();
        fn check(reference: &Reference, digest: &str, ok: bool) {
            assert_eq!(check_digest(reference, digest).is_ok(), ok, "{digest}");
        }
        let good = sha256_digest(b"x");
        check(&reference, &good, true);
        check(&reference, &good.to_uppercase(), false);
        check(&reference, &good[..good.len() - 1], false);
        check(&reference, "sha512:abcd", false);
        check(&reference, "", false);
        check(&reference, &good.replace("sha256:", "sha256:/"), false);
        let err = check_digest(&reference, "md5:00").unwrap_err();
        assert!(err.to_string().contains("r.io/app:1"), "{err}");
        assert!(err.to_string().contains("md5:00"), "{err}");
    }

    #[test]
    fn digests_of_known_content() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_digest(b"{}"),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
