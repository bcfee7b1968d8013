use std::process::ExitCode;

fn main() -> ExitCode {
    cajahub::cli::main()
}
