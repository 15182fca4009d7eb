// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The `coordinator` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    // The local driver builds in-process; RUN's sandbox helper re-runs this binary.
    kaniko_worker::sandbox::helper::main_if_asked();
    kaniko_registry::install_crypto_provider();
    let cli = kaniko_worker::cli::parse_command_line::<kaniko_coordinator::cli::Cli>();
    // `submit` may build in-process (the local driver): an ordinary user with a subordinate
    // id range works as root of a user namespace, as `worker build` does.
    if matches!(cli.command, kaniko_coordinator::cli::Command::Submit(_))
        && let Some(code) = kaniko_worker::rootless::enter()
    {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    match kaniko_coordinator::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
