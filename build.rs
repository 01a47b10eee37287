//! Deflates `swagger.yaml` into the build directory; `routes/service.rs` embeds the result
//! and inflates it only when `GET /api/v1/openapi.yaml` asks for it.
//!
//! Why: Spin copies a component's data into every new instance, so embedded bytes cost
//! on every instance whether used or not. The plain document was about two thirds of the
//! component's data and ~6 µs of host CPU per instance (BENCHMARKS.md, "Profiles",
//! measured when every request was a new instance); deflated it is a sixth of that.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=swagger.yaml");
    let document = std::fs::read("swagger.yaml").expect("reading swagger.yaml");
    let deflated = miniz_oxide::deflate::compress_to_vec(&document, 10);
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    std::fs::write(out_dir.join("swagger.yaml.deflate"), deflated)
        .expect("writing the deflated document");
}
