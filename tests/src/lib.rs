//! Shared harness for the end-to-end tests: build artefacts, temporary daemons.
//!
//! OWNER: helper "interceptor".
