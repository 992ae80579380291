//! `cargo xtask <task>`: Mosaic's build system, in Rust (no shell scripts).
//!
//! - `build-plugins [--release]`: build every plugin crate under `plugins/` as a cdylib with
//!   its `export` feature and copy the libraries to `target/<profile>/plugins/` (next to the
//!   `mosaic` binary, where the host looks); test-only plugins go to
//!   `target/<profile>/test-plugins/`, and the out-of-tree template plugin is built with its
//!   own `cargo build` into `target/<profile>/template-plugin/`.
//! - `test`: build-plugins, then `cargo test --workspace`, the template's own tests, clippy
//!   with `-D warnings` and `cargo fmt --check`.
//! - `demo`: build the production plugins and the CLI (one cargo invocation; no test-only
//!   plugins, no template), then run `mosaic plugins` and `mosaic demo`.
//! - `bench [NAME]`: criterion benchmarks (`cargo bench`), or one named bench
//!   (`bench nas`: the NAS strategy comparison on NAS-Bench-Graph, [`nas::bench`]).
//! - `fetch-benchmarks`: download and convert the NAS-Bench-Graph tables into
//!   `target/benchmarks/nas-bench-graph/` ([`nas::fetch_benchmarks`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod nas;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    let release = rest.iter().any(|a| a == "--release");
    let profile = if release {
        Profile::Release
    } else {
        Profile::Debug
    };
    match task {
        "build-plugins" => build_plugins(profile).map(|_| ()),
        "test" => test(),
        "demo" => demo(profile),
        "bench" => bench(rest),
        "fetch-benchmarks" => nas::fetch_benchmarks().map(|_| ()),
        "help" | "--help" | "-h" => {
            println!("{}", HELP);
            Ok(())
        }
        other => bail!("unknown task `{other}`\n\n{HELP}"),
    }
}

const HELP: &str = "usage: cargo xtask <task>

tasks:
  build-plugins [--release]  build plugin cdylibs into target/<profile>/plugins/
  test                       build plugins, run every test, clippy -D warnings, fmt --check
  demo [--release]           build the plugins and the CLI, then list plugins and run each family
  bench [NAME]               run benchmarks (`merge`, `optim`, `ldp`, `ldp-accuracy`, `nas`, or criterion ones)
  fetch-benchmarks           download (pip) and convert the NAS-Bench-Graph tables into
                             target/benchmarks/nas-bench-graph/";

#[derive(Clone, Copy, PartialEq)]
enum Profile {
    Debug,
    Release,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

pub(crate) fn run(mut cmd: Command) -> Result<()> {
    eprintln!("xtask: running {:?}", cmd);
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("command failed ({status}): {cmd:?}");
    }
    Ok(())
}

/// A plugin crate of the workspace: its package name and whether it is test-only.
struct PluginCrate {
    package: String,
    test_only: bool,
}

fn package_name(manifest: &Path) -> Result<String> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(v) = line.strip_prefix("name") {
                let v = v
                    .trim_start()
                    .trim_start_matches('=')
                    .trim()
                    .trim_matches('"');
                return Ok(v.to_string());
            }
        }
    }
    bail!("{}: no [package] name", manifest.display())
}

fn plugin_crates() -> Result<Vec<PluginCrate>> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("plugins"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if name == "template" {
            continue;
        }
        out.push(PluginCrate {
            package: package_name(&dir.join("Cargo.toml"))?,
            test_only: name.starts_with("test-"),
        });
    }
    Ok(out)
}

fn lib_file(package: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

fn copy_into(src: &Path, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let dst = dir.join(src.file_name().unwrap());
    // Copy to a temporary name and rename, so a running host never sees half a library.
    let tmp = dir.join(format!(
        ".{}.tmp",
        src.file_name().unwrap().to_string_lossy()
    ));
    std::fs::copy(src, &tmp)
        .with_context(|| format!("copying {} to {}", src.display(), tmp.display()))?;
    std::fs::rename(&tmp, &dst)?;
    Ok(dst)
}

/// `cargo build` of `crates` as exporting cdylibs, plus the `extra` packages in the same
/// invocation (one feature resolution, so shared dependencies are built once).
fn build_cmd(profile: Profile, crates: &[PluginCrate], extra: &[&str]) -> Command {
    let mut cmd = cargo();
    cmd.arg("build");
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    let mut features = Vec::new();
    for c in crates {
        cmd.args(["-p", &c.package]);
        features.push(format!("{}/export", c.package));
    }
    for p in extra {
        cmd.args(["-p", p]);
    }
    cmd.args(["--features", &features.join(",")]);
    cmd
}

/// Build every plugin and return the folder holding the production plugins.
fn build_plugins(profile: Profile) -> Result<PathBuf> {
    let crates = plugin_crates()?;
    let out = target_dir().join(profile.dir());
    run(build_cmd(profile, &crates, &[]))?;
    let plugins_dir = out.join("plugins");
    let test_dir = out.join("test-plugins");
    // Start clean so a removed plugin does not linger.
    for d in [&plugins_dir, &test_dir] {
        if d.exists() {
            std::fs::remove_dir_all(d)?;
        }
    }
    for c in &crates {
        let src = out.join(lib_file(&c.package));
        let dir = if c.test_only { &test_dir } else { &plugins_dir };
        copy_into(&src, dir)?;
    }
    // The faulty plugin once more, claiming another ABI version.
    if let Some(c) = crates
        .iter()
        .find(|c| c.package == "mosaic-plugin-test-faulty")
    {
        let mut cmd = cargo();
        cmd.args(["build", "-p", &c.package]);
        if profile == Profile::Release {
            cmd.arg("--release");
        }
        cmd.args(["--features", "export,wrong-abi"]);
        run(cmd)?;
        copy_into(&out.join(lib_file(&c.package)), &test_dir.join("wrong-abi"))?;
        // And without the `export` feature: a real Rust cdylib that is not a Mosaic plugin.
        let mut cmd = cargo();
        cmd.args(["build", "-p", &c.package]);
        if profile == Profile::Release {
            cmd.arg("--release");
        }
        run(cmd)?;
        copy_into(
            &out.join(lib_file(&c.package)),
            &test_dir.join("not-a-plugin"),
        )?;
    }
    build_template(profile, &out)?;
    eprintln!("xtask: plugins in {}", plugins_dir.display());
    Ok(plugins_dir)
}

/// Build the out-of-tree template plugin with its own cargo invocation (it is not a
/// workspace member) and copy its library to `target/<profile>/template-plugin/`.
fn build_template(profile: Profile, out: &Path) -> Result<()> {
    let manifest = root().join("plugins/template/Cargo.toml");
    let target = target_dir().join("template");
    let mut cmd = cargo();
    cmd.current_dir(root().join("plugins/template"));
    cmd.args(["build", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target);
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    run(cmd)?;
    let lib = target
        .join(profile.dir())
        .join(lib_file(&package_name(&manifest)?));
    let dir = out.join("template-plugin");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    copy_into(&lib, &dir)?;
    Ok(())
}

fn test() -> Result<()> {
    // The NAS-Bench-Graph tables: tests that need them skip (with a message) without them.
    if let Err(e) = nas::fetch_benchmarks() {
        eprintln!(
            "xtask: warning: NAS-Bench-Graph tables not fetched ({e:#}); the tests that need \
             them will print SKIPPED"
        );
    }
    let plugins = build_plugins(Profile::Debug)?;
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"]);
    cmd.env("MOSAIC_TEST_PLUGIN_DIR", &plugins);
    run(cmd)?;
    // The dfdx bridge is behind a feature: test it explicitly.
    let mut cmd = cargo();
    cmd.args(["test", "-p", "mosaic-tensor", "--features", "dfdx", "--lib"]);
    run(cmd)?;
    // So is the optimizers' dfdx adapter (its tests train an MLP and follow dfdx's Adam).
    let mut cmd = cargo();
    cmd.args(["test", "-p", "mosaic-optim", "--features", "dfdx"]);
    cmd.env("MOSAIC_TEST_PLUGIN_DIR", &plugins);
    run(cmd)?;
    // The facade's per-family entry points are behind features (only `merge` is on by
    // default): run every family's doctests (and the README's) in one build.
    let mut cmd = cargo();
    cmd.args([
        "test",
        "-p",
        "mosaic",
        "--features",
        "full,dfdx,dp-train",
        "--doc",
    ]);
    run(cmd)?;
    // The template's own tests (it runs our conformance suite on itself), out of tree.
    let mut cmd = cargo();
    cmd.current_dir(root().join("plugins/template"));
    cmd.arg("test")
        .arg("--manifest-path")
        .arg(root().join("plugins/template/Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir().join("template"));
    run(cmd)?;
    let mut cmd = cargo();
    cmd.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(cmd)?;
    let mut cmd = cargo();
    cmd.args([
        "clippy",
        "-p",
        "mosaic-optim",
        "-p",
        "mosaic",
        "--features",
        "mosaic/dfdx",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(cmd)?;
    let mut cmd = cargo();
    cmd.args(["fmt", "--all", "--check"]);
    run(cmd)?;
    let mut cmd = cargo();
    cmd.args(["fmt", "--check", "--manifest-path"])
        .arg(root().join("plugins/template/Cargo.toml"));
    run(cmd)?;
    eprintln!("xtask: all tests, clippy and fmt passed");
    Ok(())
}

/// Build only what the demo runs — the production plugins and the CLI, in one cargo
/// invocation — then list the plugins and run the demo. The test-only plugins and the
/// out-of-tree template are for the tests (`build-plugins`, `test`).
fn demo(profile: Profile) -> Result<()> {
    let crates: Vec<PluginCrate> = plugin_crates()?
        .into_iter()
        .filter(|c| !c.test_only)
        .collect();
    run(build_cmd(profile, &crates, &["mosaic-cli"]))?;
    let out = target_dir().join(profile.dir());
    let plugins_dir = out.join("plugins");
    if plugins_dir.exists() {
        std::fs::remove_dir_all(&plugins_dir)?;
    }
    for c in &crates {
        copy_into(&out.join(lib_file(&c.package)), &plugins_dir)?;
    }
    let exe = out.join(format!("mosaic{}", std::env::consts::EXE_SUFFIX));
    let mut cmd = Command::new(&exe);
    cmd.arg("plugins");
    run(cmd)?;
    let mut cmd = Command::new(&exe);
    cmd.arg("demo");
    run(cmd)
}

fn bench(rest: &[String]) -> Result<()> {
    let name = rest.iter().find(|a| !a.starts_with('-'));
    // The LDP benches link their plugins statically: no plugin libraries to build.
    if let Some(n) = name.filter(|n| *n == "ldp" || *n == "ldp-accuracy") {
        let mut cmd = cargo();
        if n == "ldp" {
            cmd.args(["bench", "-p", "mosaic-ldp", "--bench", "ldp"]);
        } else {
            cmd.args([
                "test",
                "--release",
                "-p",
                "mosaic-ldp",
                "--test",
                "accuracy",
                "--",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ]);
        }
        return run(cmd);
    }
    // DP-SGD links its optimizer and accountant plugins statically: no plugin files needed.
    if rest.first().is_some_and(|a| a == "dp-sgd") {
        let mut cmd = cargo();
        cmd.args([
            "bench",
            "-p",
            "mosaic-dp",
            "--features",
            "train",
            "--bench",
            "dp-sgd",
        ]);
        return run(cmd);
    }
    let plugins = build_plugins(Profile::Release)?;
    let mut cmd = cargo();
    cmd.arg("bench");
    cmd.env("MOSAIC_TEST_PLUGIN_DIR", &plugins);
    if rest.iter().any(|a| a == "nas") {
        return nas::bench(&plugins, rest);
    }
    match rest.iter().find(|a| !a.starts_with('-')) {
        // The merge bench (crates/cli/benches/merge.rs) runs the release `mosaic` binary that
        // `cargo bench` builds for its own package; only that package is built.
        Some(name) if name == "merge" => {
            cmd.args(["-p", "mosaic-cli", "--bench", "merge"]);
        }
        // The optimizer bench compares with dfdx's Adam: it needs mosaic-optim's `dfdx`.
        Some(name) if name == "optim" => {
            cmd.args([
                "-p",
                "mosaic-optim",
                "--features",
                "dfdx",
                "--bench",
                "optim",
            ]);
        }
        // Exact Gaussian noise, with the rayon variant (mosaic-dp's `parallel` feature).
        Some(name) if name == "dp-noise" => {
            cmd.args([
                "-p",
                "mosaic-dp",
                "--features",
                "parallel",
                "--bench",
                "dp-noise",
            ]);
        }
        Some(name) => {
            cmd.args(["--workspace", "--bench", name]);
        }
        None => {
            cmd.arg("--workspace");
        }
    }
    run(cmd)
}
