//! Generates Rust code for every contract under `proto/` with protox, a pure-Rust protobuf
//! compiler, so a fresh machine needs nothing but cargo. The encoded descriptor set is kept in
//! OUT_DIR for gRPC server reflection.

use std::{env, fs, io, path::PathBuf};

use prost::Message;

fn main() -> io::Result<()> {
    // Read when the script runs, not when it is compiled: a target directory shared by two
    // checkouts may run a script compiled in the other one.
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(io::Error::other)?).join("../../proto");
    let mut files = Vec::new();
    collect_protos(&root, &mut files)?;
    files.sort();

    let fds = protox::Compiler::new([&root])
        .map_err(io::Error::other)?
        .include_imports(true)
        .include_source_info(true)
        .open_files(&files)
        .map_err(io::Error::other)?
        .file_descriptor_set();

    let out = PathBuf::from(env::var("OUT_DIR").map_err(io::Error::other)?);
    fs::write(out.join("csm_descriptor.bin"), fds.encode_to_vec())?;

    let mut config = prost_build::Config::new();
    // Type names let feed payloads travel as google.protobuf.Any and be decoded by name.
    config.enable_type_names();
    config.type_name_domain(["."], "type.googleapis.com");
    config.include_file("csm.rs");
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds_with_config(fds, config)?;

    println!("cargo:rerun-if-changed={}", root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    Ok(())
}

/// Every `.proto` below `dir`, as a path relative to the proto root.
fn collect_protos(root: &PathBuf, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "proto") {
                let relative = path.strip_prefix(root).map_err(io::Error::other)?;
                files.push(relative.to_path_buf());
            }
        }
    }
    Ok(())
}
