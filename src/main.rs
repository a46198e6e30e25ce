use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = boxoffice::cli::Cli::parse();
    match actix::System::new().block_on(cli.run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("boxoffice: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
