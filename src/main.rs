//! The `buildgate` binary: parse the command line, set up logging, serve (or run
//! `buildgate check`).

use clap::Parser;

use buildgate::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    match cli.command.take() {
        Some(Command::Check(args)) => return buildgate::cli::check::main(args),
        Some(Command::Reap(args)) => return buildgate::cli::reap::main(args),
        None => {}
    }
    let _flusher = buildgate::cli::logging::init(cli.log_format, &cli.log_level);
    let config = match cli.into_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("buildgate: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    // Only accepting and signals run here; connections run on the worker threads
    // (`buildgate::server::workers`).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("buildgate: cannot start the runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(buildgate::server::run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("buildgate: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
