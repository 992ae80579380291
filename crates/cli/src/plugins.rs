//! `mosaic plugins`.

use std::io::Write;

use abi_stable::std_types::ROption;
use mosaic_abi::ParamScope;
use mosaic_host::Registry;
use serde_json::json;

/// How a parameter's scope is spelled, in the table and in JSON alike.
fn scope_name(scope: ParamScope) -> &'static str {
    match scope {
        ParamScope::Global => "global",
        ParamScope::PerModel => "per_model",
    }
}

/// Print the registry as a table or as JSON.
pub fn list(reg: &Registry, json_out: bool, verbose: bool) -> anyhow::Result<()> {
    let mut out = crate::output::stdout();
    if json_out {
        let algos: Vec<_> = reg
            .algorithms()
            .map(|e| {
                let p = reg.plugin_of(e);
                let d = &e.descriptor;
                json!({
                    "family": d.family.as_str(),
                    "name": d.name.as_str(),
                    "doc": d.doc.as_str(),
                    "plugin": p.name,
                    "version": p.version,
                    "library": p.origin.to_string(),
                    "tags": d.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                    "params": d.params.iter().map(|s| json!({
                        "name": s.name.as_str(),
                        "kind": s.kind.to_string(),
                        "scope": scope_name(s.scope),
                        "default": match &s.default { ROption::RSome(v) => json!(v.to_string()), ROption::RNone => json!(null) },
                        "doc": s.doc.as_str(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let doc = json!({
            "plugins": reg.plugins().iter().map(|p| json!({
                "name": p.name, "version": p.version, "library": p.origin.to_string(),
            })).collect::<Vec<_>>(),
            "algorithms": algos,
        });
        crate::output::json(&mut out, &doc)?;
        return Ok(());
    }
    if reg.plugins().is_empty() {
        writeln!(
            out,
            "no plugins found (build them with `cargo xtask build-plugins`, or pass --plugin-dir)"
        )?;
        return Ok(());
    }
    let rows: Vec<[String; 4]> = reg
        .algorithms()
        .map(|e| {
            let p = reg.plugin_of(e);
            [
                e.descriptor.family.to_string(),
                e.descriptor.name.to_string(),
                format!("{} {}", p.name, p.version),
                p.origin.to_string(),
            ]
        })
        .collect();
    let header = ["FAMILY", "NAME", "PLUGIN", "LIBRARY"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: [&str; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    writeln!(out, "{}", line(header))?;
    for (r, e) in rows.iter().zip(reg.algorithms()) {
        writeln!(out, "{}", line([&r[0], &r[1], &r[2], &r[3]]))?;
        if verbose {
            writeln!(out, "    {}", e.descriptor.doc)?;
            for s in e.descriptor.params.iter() {
                let default = match &s.default {
                    ROption::RSome(v) => format!("default {v}"),
                    ROption::RNone => "required".to_string(),
                };
                writeln!(
                    out,
                    "    --{} ({}, {}, {default}): {}",
                    s.name,
                    s.kind,
                    scope_name(s.scope),
                    s.doc
                )?;
            }
        }
    }
    writeln!(
        out,
        "{} algorithms from {} plugins",
        rows.len(),
        reg.plugins().len()
    )?;
    Ok(())
}
