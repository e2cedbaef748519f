//! dsconsole entry point: parse the command line and hand over.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    dsconsole::tune_allocator();
    let cli = dsconsole::cli::Cli::parse();
    dsconsole::tui::install_panic_hook();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!(
                "dsconsole: {}",
                dsconsole::tui::unexpected_error_report("cannot start the async runtime", e)
            );
            return ExitCode::from(1);
        }
    };
    rt.block_on(dsconsole::cli::main_with(cli))
}
