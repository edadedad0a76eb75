//! The `csm` command's building blocks: the all-in-one launcher, development tokens, typed clients
//! and the demo walk. The integration tests start the system through the same launcher.

pub mod clients;
pub mod demo;
pub mod system;
pub mod tokens;
