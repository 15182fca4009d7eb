// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `worker` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    // The RUN sandbox's helper: must start before anything spawns a thread.
    kaniko_worker::sandbox::helper::main_if_asked();
    kaniko_registry::install_crypto_provider();
    let cli = kaniko_worker::cli::parse_command_line::<kaniko_worker::cli::Cli>();
    match kaniko_worker::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
