// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `worker` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The RUN sandbox's helper: must start before anything spawns a thread.
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() == Some(std::ffi::OsStr::new(kaniko_worker::sandbox::HELPER_ARG))
        && let Some(spec) = args.next()
    {
        kaniko_worker::sandbox::helper::main(&spec);
    }
    kaniko_registry::install_crypto_provider();
    let cli = kaniko_worker::cli::Cli::parse();
    match kaniko_worker::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
