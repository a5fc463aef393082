//! The `zonecast` binary: the command line of [`app`] with the process's arguments.

#[path = "app.rs"]
mod app;

fn main() {
    std::process::exit(app::main_with(std::env::args_os().collect()));
}
