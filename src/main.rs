//! The `buildgate` binary: parse the command line, set up logging, serve (or run
//! `buildgate check`).

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use buildgate::cli::{Cli, Command, LogFormat};

fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    if let Some(Command::Check(args)) = cli.command.take() {
        return buildgate::cli::check::main(args);
    }
    init_logging(cli.log_format, &cli.log_level);
    let config = match cli.into_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("buildgate: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    // Only accepting and signals run here; connections run on the worker threads
    // (`buildgate::workers`).
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

fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|err| {
        eprintln!("buildgate: --log-level {level:?} is not a valid filter ({err}); using info");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
