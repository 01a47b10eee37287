//! Building the component the way `spin build` does (the manifest's build command).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::Context as _;

/// The project root: the directory holding `Cargo.toml` and `spin.toml`.
pub fn project_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The project's target directory; [`build_component`] always builds there so that
/// [`default_component_path`] is where the component ends up, whatever target directory
/// the calling `cargo` used.
fn target_dir() -> PathBuf {
    project_dir().join("target")
}

/// Where `cargo build --target wasm32-wasip2 --release` puts the component (the
/// manifest's `source`).
pub fn default_component_path() -> PathBuf {
    target_dir().join("wasm32-wasip2/release/inventory_api.wasm")
}

/// Runs `cargo build --target wasm32-wasip2 --release` in the project directory, once per
/// process, and returns the component's path.
///
/// Cargo decides whether anything needs rebuilding, so an up-to-date build costs well
/// under a second. Running it from inside `cargo test` does not deadlock: cargo (1.95)
/// releases its build-directory locks once compilation is done, before it runs the test
/// binaries, so the nested build gets them even under `cargo test --release`, which
/// builds host artifacts into the same `target/release`. Under cargo-nextest every test
/// process builds once; concurrent builds just queue on cargo's lock.
pub fn build_component() -> anyhow::Result<PathBuf> {
    // A failed build is remembered too: every test would otherwise rerun it.
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| run_cargo_build().map_err(|err| format!("{err:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn run_cargo_build() -> anyhow::Result<PathBuf> {
    // `cargo` sets CARGO for the processes it runs, which keeps the toolchain the same.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args([
            "build",
            "--target",
            "wasm32-wasip2",
            "--release",
            "--target-dir",
        ])
        .arg(target_dir())
        .current_dir(project_dir())
        .output()
        .with_context(|| format!("failed to run {}", Path::new(&cargo).display()))?;
    anyhow::ensure!(
        output.status.success(),
        "`cargo build --target wasm32-wasip2 --release` failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let component = default_component_path();
    anyhow::ensure!(
        component.is_file(),
        "the build succeeded but produced no {}",
        component.display()
    );
    Ok(component)
}
