//! Policy-author subcommands: `check`, `eval`, `policy lint`, `test`.
//!
//! OWNER: helper "cli".

pub mod check;
pub mod eval;
pub mod policy;
pub mod test;
