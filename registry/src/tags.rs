// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tag listing (`GET /v2/<name>/tags/list`), following the registry's pagination (`Link:
//! <...>; rel="next"`) page by page, each page read with a cap and retried on its own.

use oci_client::RegistryOperation;
use serde::Deserialize;

use super::answer::Answer;
use super::body::{Capped, MAX_MANIFEST_SIZE, read_capped};
use super::error::classify_reqwest;
use super::{Reference, RegistryClient, RegistryError};

/// Tags asked for per page.
const PAGE_SIZE: usize = 1000;

/// The most pages followed: a registry whose `next` never ends is refused, not followed for
/// ever.
const MAX_PAGES: usize = 10_000;

/// One page of a tag list.
#[derive(Deserialize)]
struct TagPage {
    /// `null` for a repository without tags (distribution answers so).
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// The path and query of the `rel="next"` link in a `Link` header, if there is one. A full
/// URL is cut to its path: the next page is asked of the same registry.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if !is_next {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let path = match target.find("://") {
            Some(scheme_end) => {
                let after = &target[scheme_end + 3..];
                &after[after.find('/')?..]
            }
            None => target,
        };
        path.starts_with("/v2/").then(|| path.to_string())
    })
}

impl RegistryClient {
    /// Every tag of `reference`'s repository (its tag or digest is ignored), page after page.
    /// A repository the registry does not know is [`RegistryError::NotFound`].
    pub async fn list_tags(&self, reference: &Reference) -> Result<Vec<String>, RegistryError> {
        let mut tags = Vec::new();
        let mut path = Some(format!(
            "/v2/{}/tags/list?n={PAGE_SIZE}",
            reference.repository()
        ));
        let mut pages = 0;
        while let Some(current) = path.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(RegistryError::protocol(
                    reference.whole(),
                    format!("the tag list goes on past {MAX_PAGES} pages"),
                ));
            }
            let (page, next) = self
                .inner
                .options
                .retry
                .run(&format!("list tags of {reference}"), |_| {
                    self.tag_page(reference, &current)
                })
                .await?;
            tags.extend(page);
            path = next;
        }
        Ok(tags)
    }

    /// One page: its tags and the path of the next one.
    async fn tag_page(
        &self,
        reference: &Reference,
        path: &str,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let whole = reference.whole();
        let response = self
            .api_request(reference, path, RegistryOperation::Pull, |http, url| {
                http.get(url)
            })
            .await?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(Answer::read(response).await.by_status(&whole, "repository"));
        }
        let next = response
            .headers()
            .get(http::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let bytes = match read_capped(response, MAX_MANIFEST_SIZE)
            .await
            .map_err(|err| classify_reqwest(&whole, "tag list", &err))?
        {
            Capped::Complete(bytes) => bytes,
            Capped::TooLarge => {
                return Err(RegistryError::protocol(
                    &whole,
                    "a tag list page is larger than 8 MiB",
                ));
            }
        };
        let page: TagPage = serde_json::from_slice(&bytes).map_err(|err| {
            RegistryError::protocol(&whole, format!("tag list is not json: {err}"))
        })?;
        Ok((page.tags.unwrap_or_default(), next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links() {
        let check = |header: &str, expected: Option<&str>| {
            assert_eq!(next_link(header).as_deref(), expected, "{header}");
        };
        check(
            r#"</v2/cache/tags/list?last=b&n=2>; rel="next""#,
            Some("/v2/cache/tags/list?last=b&n=2"),
        );
        check(
            r#"<https://reg.example/v2/c/tags/list?n=1&last=x>; rel="next""#,
            Some("/v2/c/tags/list?n=1&last=x"),
        );
        check(r#"</v2/c/tags/list?n=1>; rel="prev""#, None);
        check(
            r#"</v2/c/tags/list?p=1>; rel="prev", </v2/c/tags/list?n=1&last=y>; rel=next"#,
            Some("/v2/c/tags/list?n=1&last=y"),
        );
        // Only the registry's own API is followed.
        check(r#"</elsewhere>; rel="next""#, None);
        check("", None);
    }
}
