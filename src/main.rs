fn main() -> std::process::ExitCode {
    harbor_bridge::cli::main()
}
