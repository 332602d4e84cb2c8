use std::process::ExitCode;

fn main() -> ExitCode {
    samverkan::cli::main()
}
