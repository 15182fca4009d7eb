// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The IndexActor: publishes a finished build's index through [`publish`], the one
//! publishing path (its order and refusals are documented in [`crate::policy::publish`]).

use actix::prelude::*;
use kaniko_registry::RegistryClient;

use crate::policy::publish::{PublishFailure, PublishIndex, Published, publish};

/// Builds and pushes indexes.
pub struct IndexActor {
    registry: RegistryClient,
}

impl IndexActor {
    /// An index actor pushing through `registry`.
    pub fn new(registry: RegistryClient) -> Self {
        IndexActor { registry }
    }
}

impl Actor for IndexActor {
    type Context = Context<Self>;
}

impl Message for PublishIndex {
    type Result = Result<Published, Box<PublishFailure>>;
}

impl Handler<PublishIndex> for IndexActor {
    type Result = ResponseFuture<Result<Published, Box<PublishFailure>>>;

    fn handle(&mut self, msg: PublishIndex, _ctx: &mut Self::Context) -> Self::Result {
        let registry = self.registry.clone();
        Box::pin(async move { publish(&registry, msg).await })
    }
}
