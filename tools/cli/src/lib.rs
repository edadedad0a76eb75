//! The `csm` command's building blocks: the all-in-one launcher, development tokens, typed clients,
//! the demo walk, and the subcommands operators' platform and data staff run against running
//! services. The integration tests start the system through the same launcher and run the
//! subcommands through [`cli::run_args`].

pub mod cases;
pub mod cli;
pub mod clients;
pub mod connect;
pub mod demo;
pub mod feed;
pub mod import;
pub mod launch;
pub mod model;
pub mod output;
pub mod report;
pub mod rows;
pub mod schema;
pub mod system;
pub mod taxonomy;
pub mod tokens;
pub mod tokens_file;
