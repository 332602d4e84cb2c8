use std::process::ExitCode;

fn main() -> ExitCode {
    samverkan::app::cli::main()
}
