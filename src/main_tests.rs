//! Unit tests of main.rs: the command line documents itself.

use super::Cli;
use clap::CommandFactory;

#[test]
fn every_command_and_option_has_help_text() {
    let cli = Cli::command();
    for cmd in cli.get_subcommands() {
        let name = cmd.get_name();
        assert!(
            cmd.get_about().is_some(),
            "`pcchip {name}` has no help text"
        );
        for arg in cmd.get_arguments() {
            assert!(
                arg.get_help().is_some(),
                "`pcchip {name}`: `{}` has no help text",
                arg.get_id()
            );
        }
    }
    cli.debug_assert();
}
