//! Building the app's components the way `spin build` does (the manifest's build
//! commands, as one cargo invocation).

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

/// The workspace packages behind `spin.toml`'s components: the API and the console.
/// A component added to the manifest adds its package here.
const COMPONENT_PACKAGES: &[&str] = &["inventory-api", "inventory-console"];

/// Where `cargo build --target wasm32-wasip2 --release` puts the API component (the
/// manifest's `source` for the catch-all route).
pub fn default_component_path() -> PathBuf {
    target_dir().join("wasm32-wasip2/release/inventory_api.wasm")
}

/// Runs `cargo build --target wasm32-wasip2 --release -p <package>...` for every
/// component in the project directory, once per process, and returns the API
/// component's path (the others are where the manifest's `source` says).
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
        .args(
            COMPONENT_PACKAGES
                .iter()
                .flat_map(|package| ["-p", package]),
        )
        .current_dir(project_dir())
        .output()
        .with_context(|| format!("failed to run {}", Path::new(&cargo).display()))?;
    anyhow::ensure!(
        output.status.success(),
        "`cargo build --target wasm32-wasip2 --release -p {}` failed ({}):\n{}",
        COMPONENT_PACKAGES.join(" -p "),
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
