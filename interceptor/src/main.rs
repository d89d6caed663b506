//! `rampart-preload`: run a command with the Rampart preload library.
//!
//! OWNER: helper "interceptor".
#![forbid(unsafe_code)]

fn main() {
    eprintln!("rampart-preload: not built yet");
    std::process::exit(2);
}
